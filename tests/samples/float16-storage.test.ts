/** Sample store: weights stored at half precision, and SampleRowReader over mixed shards. */
import { promises as fs } from 'node:fs';

import * as A from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import { decodeFloat16, encodeFloat16 } from '../../src/core/float16.js';
import {
  readAllSamples,
  readSamples,
  SampleRowReader,
  SampleWriter,
  scanSamples,
  type SampleRecord,
} from '../../src/samples/index.js';
import { bitsEqual, expectRows, range, rec, useTempDir } from './fixtures.js';

const { fresh } = useTempDir();

describe('sample store: float16 storage', () => {
  /** What a float16 file gives back for a record: its weights rounded to the nearest half. */
  const rounded = (r: SampleRecord): SampleRecord => ({
    ...r,
    weights: decodeFloat16(encodeFloat16(r.weights)) as Float32Array,
  });

  it('stores rounded weights at half the size and reads them back as float32', async () => {
    const p = 1000;
    const f32 = fresh();
    const f16 = fresh();
    const records = range(0, 5, p);
    for (const [file, dtype] of [
      [f32, 'float32'],
      [f16, 'float16'],
    ] as const) {
      const w = await SampleWriter.create(file, p, { run: 'h' }, { weightDtype: dtype });
      expect(w.weightDtype).toBe(dtype);
      await w.append(records.slice(0, 2));
      await w.append(records.slice(2));
      await w.close();
    }
    const scan = await scanSamples(f16);
    expect(scan).toMatchObject({ parameterCount: p, records: 5, weightDtype: 'float16' });
    expect((await scanSamples(f32)).weightDtype).toBe('float32');
    const body32 = (await fs.stat(f32)).size;
    const body16 = (await fs.stat(f16)).size;
    // The halved weight buffers, give or take the few bytes by which the two schemas differ.
    expect(Math.abs(body32 - body16 - 5 * p * 2)).toBeLessThanOrEqual(16);
    const all = await readAllSamples([f16]);
    expectRows(all, records.map(rounded));
    // Rounding error is at most half a unit in the last place of a half: 2^-11 relative (normal range).
    const exact = await readAllSamples([f32]);
    for (let i = 0; i < exact.weights.length; i++) {
      const x = exact.weights[i];
      if (Math.abs(x) >= 2 ** -14)
        expect(Math.abs(all.weights[i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
    }
    // Streaming in chunks that cut record batches gives the same rows.
    let at = 0;
    for await (const chunk of readSamples([f16], { batchRecords: 3 })) {
      expectRows(chunk, records.slice(at, at + chunk.rows).map(rounded));
      at += chunk.rows;
    }
    expect(at).toBe(5);
  });

  it('apache-arrow reads a float16 file as a FixedSizeList<Float16>', async () => {
    const file = fresh();
    const p = 6;
    const w = await SampleWriter.create(file, p, {}, { weightDtype: 'float16' });
    await w.append(range(0, 2, p));
    await w.close();
    const table = A.tableFromIPC(await fs.readFile(file));
    const type = table.schema.fields[4].type as A.FixedSizeList;
    expect((type.children[0].type as A.Float).precision).toBe(A.Precision.HALF);
    const row = table.get(1)!;
    const want = rounded(rec(1, p)).weights;
    for (let j = 0; j < p; j++) expect(row.weights.get(j)).toBe(want[j]);
  });

  it('openForAppend keeps the dtype, also when it cuts inside a record batch', async () => {
    const p = 9;
    const file = fresh();
    const w0 = await SampleWriter.create(file, p, {}, { weightDtype: 'float16' });
    await w0.append(range(0, 5, p));
    await w0.close();
    const w = await SampleWriter.openForAppend(file, 3);
    expect(w.weightDtype).toBe('float16');
    await w.append(range(3, 6, p));
    await w.close();
    expect((await scanSamples(file)).weightDtype).toBe('float16');
    expectRows(await readAllSamples([file]), range(0, 6, p).map(rounded));
    // A torn tail of a float16 file: every cut inside the last message reads the complete samples before it.
    const size = (await fs.stat(file)).size;
    const torn = fresh();
    for (const cut of [size - 1, size - 20, size - 2 * p]) {
      await fs.writeFile(torn, (await fs.readFile(file)).subarray(0, cut));
      expect((await scanSamples(torn)).records).toBe(3);
    }
  });

  it('SampleRowReader reads any part of any sample of mixed float16 and float32 shards, torn tails ignored', async () => {
    const p = 7;
    const a = fresh();
    const b = fresh();
    const c = fresh();
    for (const [file, dtype, from, n] of [
      [a, 'float16', 0, 3],
      [b, 'float32', 3, 2],
      [c, 'float16', 5, 3],
    ] as const) {
      const w = await SampleWriter.create(file, p, {}, { weightDtype: dtype });
      await w.append(range(from, from + 2, p)); // a record batch of two, then one per sample
      for (let k = from + 2; k < from + n; k++) await w.append([rec(k, p)]);
      await w.close();
    }
    await fs.truncate(c, (await fs.stat(c)).size - 3); // sample 7 is torn
    const expected = [...range(0, 3, p).map(rounded), ...range(3, 5, p), ...range(5, 7, p).map(rounded)];
    const reader = await SampleRowReader.open([a, b, c]);
    expect(reader.rows).toBe(7);
    expect(reader.parameterCount).toBe(p);
    expect(Array.from(reader.logLikelihood)).toEqual(expected.map((r) => r.logLikelihood));
    expected.forEach((r, i) => expect(Object.is(reader.noisePrecision[i], r.noisePrecision)).toBe(true));
    for (const i of [6, 0, 4, 2, 3, 5, 1]) {
      const whole = new Float32Array(p);
      reader.readWeights(i, 0, whole);
      expect(bitsEqual(whole, expected[i].weights), `sample ${i}`).toBe(true);
      const part = new Float32Array(9).fill(-1);
      reader.readWeights(i, 2, part.subarray(3, 7));
      expect(Array.from(part.subarray(3, 7))).toEqual(Array.from(expected[i].weights.subarray(2, 6)));
      expect([part[2], part[7]]).toEqual([-1, -1]);
    }
    const all = reader.readAllWeights();
    expect(all.length).toBe(7 * p);
    expected.forEach((r, i) =>
      expect(bitsEqual(all.subarray(i * p, (i + 1) * p), r.weights), `sample ${i} of readAllWeights`).toBe(
        true,
      ),
    );
    expect(() => reader.readWeights(7, 0, new Float32Array(1))).toThrow(
      'sample 7, weights 0..1: out of range',
    );
    expect(() => reader.readWeights(0, 5, new Float32Array(3))).toThrow(
      'sample 0, weights 5..8: out of range',
    );
    reader.close();
    expect(() => reader.readWeights(0, 0, new Float32Array(1))).toThrow('SampleRowReader is closed');
    reader.close();
  });
});
