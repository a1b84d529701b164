/** Sample store: torn tails are ignored by the readers and cut off when a run resumes. */
import { promises as fs } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { UserError } from '../../src/core/errors.js';
import { readAllSamples, readSamples, SampleWriter, scanSamples } from '../../src/samples/index.js';
import { expectRows, range, rec, useTempDir, writeSamples } from './fixtures.js';

const { fresh } = useTempDir();

describe('sample store: torn tails and resuming', () => {
  it('reads exactly k-1 samples from a file cut anywhere inside sample k, and resumes from it', async () => {
    const p = 10;
    const src = fresh();
    const ends = await writeSamples(src, p, [1, 1, 1, 1]); // ends[k] = end of sample k (1-based)
    const k = 4;
    const whole = await fs.readFile(src);
    const copy = fresh();
    for (let len = ends[k - 1]; len < ends[k]; len++) {
      await fs.writeFile(copy, whole.subarray(0, len));
      const scan = await scanSamples(copy);
      expect(scan, `length ${len}`).toMatchObject({
        records: k - 1,
        completeBytes: ends[k - 1],
        fileBytes: len,
      });
      const all = await readAllSamples([copy]);
      expect(all.rows).toBe(k - 1);
      expectRows(all, range(0, k - 1, p));
    }
    // Resume on a sample of the cut lengths: the torn bytes are dropped and appends read back.
    for (let len = ends[k - 1]; len < ends[k]; len += 13) {
      await fs.writeFile(copy, whole.subarray(0, len));
      const w = await SampleWriter.openForAppend(copy, k - 1);
      expect((await fs.stat(copy)).size).toBe(ends[k - 1]);
      await w.append([rec(k - 1, p), rec(k, p)]);
      await w.close();
      const all = await readAllSamples([copy]);
      expect(all.rows).toBe(k + 1);
      expectRows(all, range(0, k + 1, p));
    }
  });

  it('handles torn tails of large samples (sampled offsets)', async () => {
    const p = 3000;
    const src = fresh();
    const ends = await writeSamples(src, p, [2, 3]);
    const whole = await fs.readFile(src);
    const copy = fresh();
    const lens = new Set<number>();
    for (let len = ends[1]; len < ends[2]; len += 997) lens.add(len);
    for (let d = 0; d < 400; d++) lens.add(ends[1] + d).add(ends[2] - 1 - d);
    for (const len of lens) {
      await fs.writeFile(copy, whole.subarray(0, len));
      expect((await scanSamples(copy)).records, `length ${len}`).toBe(2);
      const chunks: number[] = [];
      for await (const c of readSamples([copy], { batchRecords: 1 })) chunks.push(c.rows);
      expect(chunks).toEqual([1, 1]);
    }
  });

  it('stops at an end-of-stream marker and at a zero-filled tail', async () => {
    const p = 6;
    const file = fresh();
    await writeSamples(file, p, [2]);
    await fs.appendFile(file, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    expect((await scanSamples(file)).records).toBe(2);
    const zeros = fresh();
    await writeSamples(zeros, p, [2]);
    await fs.appendFile(zeros, new Uint8Array(4096));
    expect((await scanSamples(zeros)).records).toBe(2);
    const w = await SampleWriter.openForAppend(zeros, 2);
    await w.append([rec(2, p)]);
    await w.close();
    expectRows(await readAllSamples([zeros]), range(0, 3, p));
  });

  it('openForAppend cuts off samples beyond keepRecords, also inside a record batch', async () => {
    const p = 9;
    const file = fresh();
    const ends = await writeSamples(file, p, [1, 1, 1, 1, 1, 1]);
    let w = await SampleWriter.openForAppend(file, 4);
    expect(w.records).toBe(4);
    expect((await fs.stat(file)).size).toBe(ends[4]);
    await w.append([rec(4, p)]);
    await w.close();
    expect((await scanSamples(file)).records).toBe(5);
    expectRows(await readAllSamples([file]), range(0, 5, p));

    const grouped = fresh();
    await writeSamples(grouped, p, [5, 5]);
    w = await SampleWriter.openForAppend(grouped, 7);
    expect((await scanSamples(grouped)).records).toBe(7);
    await w.append([rec(7, p), rec(8, p)]);
    await w.close();
    const all = await readAllSamples([grouped]);
    expect(all.rows).toBe(9);
    expectRows(all, range(0, 9, p));

    w = await SampleWriter.openForAppend(grouped, 0);
    await w.close();
    expect((await scanSamples(grouped)).records).toBe(0);
  });

  it('openForAppend refuses to keep more samples than the file holds', async () => {
    const file = fresh();
    await writeSamples(file, 4, [3]);
    await expect(SampleWriter.openForAppend(file, 4)).rejects.toThrow(
      new UserError(
        `${file}: holds 3 complete samples, but the chain state accounts for 4; the samples file does not belong to this state`,
      ),
    );
  });
});
