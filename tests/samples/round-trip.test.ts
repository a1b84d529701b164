/** Sample store: what the writer appends, the readers give back bit for bit, as a standard Arrow stream. */
import { promises as fs } from 'node:fs';

import * as A from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import { readAllSamples, readSamples, SampleWriter, scanSamples } from '../../src/samples/index.js';
import { expectRows, oddRec, range, rec, useTempDir, writeSamples } from './fixtures.js';

const { fresh } = useTempDir();

describe('sample store: round trip', () => {
  it('reads back what was appended, bit for bit, with the metadata', async () => {
    const file = fresh();
    const p = 37;
    const w = await SampleWriter.create(file, p, { run: 'abc', seed: 7 });
    const odd = oddRec(p);
    await w.append([rec(0, p)]);
    await w.append([rec(1, p), rec(2, p), rec(3, p)]);
    await w.append([odd]);
    await w.append([]);
    expect(w.records).toBe(5);
    await w.close();
    await w.close();

    const scan = await scanSamples(file);
    expect(scan).toMatchObject({ parameterCount: p, records: 5 });
    expect(scan.completeBytes).toBe(scan.fileBytes);
    expect(scan.meta).toEqual({ run: 'abc', seed: 7, format: 'bdk-samples', version: 1, parameterCount: p });

    // The store keeps any bits; its readers refuse a non-finite weight unless asked not to.
    await expect(readAllSamples([file])).rejects.toThrow(`${file}: sample 4 has weight 2 = Infinity`);
    const all = await readAllSamples([file], { allowNonFinite: true });
    expect(all.rows).toBe(5);
    expect(all.weights.length).toBe(5 * p);
    expectRows(all, [...range(0, 4, p), odd]);
  });

  it('writes a standard Arrow IPC stream that apache-arrow itself reads', async () => {
    const file = fresh();
    const p = 5;
    await writeSamples(file, p, [2, 1]);
    const table = A.tableFromIPC(await fs.readFile(file));
    expect(table.numRows).toBe(3);
    expect(table.schema.fields.map((f) => f.name)).toEqual([
      'chain',
      'step',
      'logLikelihood',
      'noisePrecision',
      'weights',
    ]);
    expect(JSON.parse(table.schema.metadata.get('bdk')!)).toMatchObject({ parameterCount: p });
    for (let i = 0; i < 3; i++) {
      const row = table.get(i)!;
      const r = rec(i, p);
      expect(row.chain).toBe(r.chain);
      expect(row.step).toBe(r.step);
      expect(row.logLikelihood).toBe(r.logLikelihood);
      expect(Object.is(row.noisePrecision, r.noisePrecision)).toBe(true);
      expect(Array.from(row.weights.toArray() as Float32Array)).toEqual(Array.from(r.weights));
    }
  });

  it('streams several shards in order, in chunks of batchRecords', async () => {
    const p = 11;
    const files = [fresh(), fresh(), fresh()];
    await writeSamples(files[0], p, [3, 2], 0); // records 0..4
    await writeSamples(files[1], p, [], 5); // empty shard
    await writeSamples(files[2], p, [1, 4, 1], 5); // records 5..10
    const sizes: number[] = [];
    let at = 0;
    for await (const chunk of readSamples(files, { batchRecords: 4 })) {
      sizes.push(chunk.rows);
      expect(chunk.parameterCount).toBe(p);
      expectRows(chunk, range(at, at + chunk.rows, p));
      at += chunk.rows;
    }
    expect(sizes).toEqual([4, 4, 3]);
    const all = await readAllSamples(files);
    expect(all.rows).toBe(11);
    expectRows(all, range(0, 11, p));
    expect((await readAllSamples([files[1]])).rows).toBe(0);
  });

  it('lets callers reuse their arrays as soon as append returns, and serializes unawaited appends', async () => {
    const file = fresh();
    const p = 8;
    const w = await SampleWriter.create(file, p, {});
    const shared = rec(0, p);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      shared.weights.set(rec(i, p).weights);
      pending.push(w.append([{ ...rec(i, p), weights: shared.weights }]));
    }
    await Promise.all(pending);
    await w.close();
    expectRows(await readAllSamples([file]), range(0, 20, p));
  });

  it('rejects records of the wrong shape', async () => {
    const w = await SampleWriter.create(fresh(), 4, {});
    expect(() => w.append([{ ...rec(0, 4), weights: new Float32Array(3) }])).toThrow(/length 4/);
    expect(() => w.append([{ ...rec(0, 4), step: 1.5 }])).toThrow(/32-bit integer/);
    await w.close();
  });
});
