import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batcher } from '../../src/serve/batcher.js';
import type { RowOutput } from '../../src/serve/row-outputs.js';
import { createService, type Service } from '../../src/serve/server.js';
import type { ExportManifest } from '../../src/stages/export.js';
import { tempDir } from '../helpers.js';
import { TABULAR_SPEC, inputRows, writeExport } from '../runtime/exports.js';
import { asColumns, expectClose, postJson, reference } from './fixtures.js';

/** A fake model of 2 inputs: each row's output is the sum of its values; a row holding -1 fails. */
function sumModel() {
  const calls: number[] = [];
  const predict = async (values: Float64Array, count: number): Promise<RowOutput[]> => {
    calls.push(count);
    if (values.includes(-1)) throw new Error('a bad row');
    return Array.from({ length: count }, (_, i) => ({ sum: values[2 * i] + values[2 * i + 1] }));
  };
  return { calls, predict };
}

describe('Batcher', () => {
  it('joins concurrent requests into one call and hands each its own rows', async () => {
    const { calls, predict } = sumModel();
    const b = new Batcher(predict, { maxBatch: 20, waitMs: 60_000 });
    const out = await Promise.all(
      Array.from({ length: 20 }, (_, i) => b.run(Float64Array.of(i, 100 * i), 1)),
    );
    expect(calls).toEqual([20]);
    expect(b.calls).toBe(1);
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => [{ sum: 101 * i }]));
  });

  it('keeps whole requests together, up to maxBatch rows a call, and a larger one alone', async () => {
    const { calls, predict } = sumModel();
    const b = new Batcher(predict, { maxBatch: 4, waitMs: 0 });
    const sizes = [3, 2, 6, 1, 1];
    const out = await Promise.all(
      sizes.map((n, r) =>
        b.run(
          Float64Array.from({ length: 2 * n }, (_, k) => r + k),
          n,
        ),
      ),
    );
    expect(calls).toEqual([3, 2, 6, 2]);
    out.forEach((rows, r) =>
      expect(rows).toEqual(Array.from({ length: sizes[r] }, (_, i) => ({ sum: 2 * r + 4 * i + 1 }))),
    );
  });

  it('a request that fails the joined call fails alone; the others get their answers', async () => {
    const { calls, predict } = sumModel();
    const b = new Batcher(predict, { maxBatch: 5, waitMs: 60_000 });
    const results = await Promise.allSettled([1, 2, -1, 4, 5].map((v) => b.run(Float64Array.of(v, 1), 1)));
    expect(calls).toEqual([5, 1, 1, 1, 1, 1]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      [{ sum: 2 }],
      [{ sum: 3 }],
      'a bad row',
      [{ sum: 5 }],
      [{ sum: 6 }],
    ]);
  });

  it('requests that arrive during a call join the next one', async () => {
    const { calls, predict } = sumModel();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher(
      async (v, n) => {
        if (calls.length === 0) await gate;
        return predict(v, n);
      },
      { maxBatch: 100, waitMs: 0 },
    );
    const first = b.run(Float64Array.of(1, 1), 1);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 7 }, (_, i) => b.run(Float64Array.of(i, 0), 1));
    release();
    expect(await first).toEqual([{ sum: 2 }]);
    expect(await Promise.all(rest)).toEqual(Array.from({ length: 7 }, (_, i) => [{ sum: i }]));
    expect(calls).toEqual([1, 7]);
  });
});

describe('bdk serve batches concurrent HTTP requests', () => {
  let scratch: string;
  let dir: string;
  let m: ExportManifest;
  let service: Service;
  let url: string;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    scratch = await tempDir('bdk-serve-batch-');
    dir = path.join(scratch, 'model');
    m = await writeExport(dir, { spec: TABULAR_SPEC, task: 'regression', seed: 4 });
    // A call starts only when 20 rows are queued: the 20 requests below make exactly one.
    service = await createService({ model: dir, bodyLimit: 1 << 20, maxBatch: 20, batchWaitMs: 60_000 });
    url = await service.listen(0, '127.0.0.1');
  });

  afterAll(() => service.close());

  it('20 concurrent one-row requests: one tensor call, each answer its own row', async () => {
    const rows = inputRows(m, 20, 21);
    const want = (await reference(dir, m, rows, scratch)).rows;
    const before = service.batcher!.calls;
    const res = await Promise.all(rows.map((r) => postJson(url, { rows: [r] })));
    expect(service.batcher!.calls - before).toBe(1);
    expect(res.map((r) => r.status)).toEqual(Array(20).fill(200));
    expectClose(
      res.map((r) => asColumns(m, r.json.predictions as Record<string, unknown>[])[0]),
      want,
    );
  });

  it('bad requests among them get 400 and do not disturb the batch', async () => {
    const rows = inputRows(m, 20, 22);
    const want = (await reference(dir, m, rows, scratch)).rows;
    const before = service.batcher!.calls;
    const bad = [{ rows: [rows[0].slice(1)] }, { rows: [{ CRIM: 1 }] }, '{"rows": [[1,'];
    const res = await Promise.all([
      ...rows.slice(0, 10).map((r) => postJson(url, { rows: [r] })),
      ...bad.map((b) => postJson(url, b)),
      ...rows.slice(10).map((r) => postJson(url, { rows: [r] })),
    ]);
    expect(service.batcher!.calls - before).toBe(1);
    const good = [...res.slice(0, 10), ...res.slice(13)];
    expect(good.map((r) => r.status)).toEqual(Array(20).fill(200));
    expectClose(
      good.map((r) => asColumns(m, r.json.predictions as Record<string, unknown>[])[0]),
      want,
    );
    expect(res.slice(10, 13).map((r) => r.status)).toEqual([400, 400, 400]);
  });
});
