/**
 * The wasm kernels for a bias (src/backend/wasm-bias-sum.ts: Add of a bias broadcast along leading axes,
 * Sum over leading axes) and the copy-free ones (src/backend/wasm-copy-free.ts: Slice, Unpack, PadV2,
 * Cast): the same floats as tfjs (a bias add is one float32 addition; a sum adds the rows in order, from
 * 0), buffers shared only where nothing changes, every other case left to the kernel they replace, and
 * no leaked tensors or buffers.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmBiasSum } from '../../src/backend/wasm-bias-sum.js';
import { registerWasmCopyFree } from '../../src/backend/wasm-copy-free.js';
import { onBackend, size, uniform } from './conv-grad-fixtures.js';

beforeAll(async () => {
  registerWasmBiasSum();
  registerWasmBiasSum(); // idempotent
  registerWasmCopyFree();
  registerWasmCopyFree();
  await tf.setBackend('wasm');
});

/** Runs `f` on both backends with the same inputs; returns [wasm, cpu] values and shapes. */
async function both(f: () => tf.Tensor): Promise<Array<{ v: number[]; shape: number[] }>> {
  const run = () =>
    tf.tidy(() => {
      const t = f();
      return { v: Array.from(t.dataSync()), shape: t.shape };
    });
  return [await onBackend('wasm', run), await onBackend('cpu', run)];
}

describe('wasm Add of a bias', () => {
  const CASES: Array<[number[], number[]]> = [
    [[64, 7, 7, 6], [6]],
    [[6], [3, 5, 6]],
    [
      [2, 3, 16],
      [1, 1, 16],
    ],
    [
      [1, 5, 120],
      [1, 1, 120],
    ],
    [
      [4, 5],
      [1, 5],
    ],
    [
      [3, 4, 5],
      [4, 5],
    ],
    [[7, 3], []],
    [[9], [1]],
  ];
  for (const [i, [a, b]] of CASES.entries()) {
    it(`equals the cpu backend bit for bit: [${a}] + [${b}]`, async () => {
      const av = uniform(size(a), 10 + i);
      const bv = uniform(size(b), 20 + i);
      const [wasm, cpu] = await both(() => tf.add(tf.tensor(av, a), tf.tensor(bv, b)));
      expect(wasm.shape).toEqual(cpu.shape);
      expect(wasm.v).toEqual(cpu.v);
    });
  }

  it('leaves other broadcasts and dtypes to the kernel it replaced', async () => {
    for (const [a, b] of [
      [
        [3, 1, 4],
        [1, 5, 4],
      ],
      [
        [2, 3],
        [2, 1],
      ],
      [
        [2, 3],
        [2, 3],
      ],
    ]) {
      const [wasm, cpu] = await both(() =>
        tf.add(tf.tensor(uniform(size(a), 1), a), tf.tensor(uniform(size(b), 2), b)),
      );
      expect(wasm).toEqual(cpu);
    }
    const [wi, ci] = await both(() =>
      tf.add(tf.tensor([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor([5, 6], [2], 'int32')),
    );
    expect(wi).toEqual(ci);
    expect(wi.v).toEqual([6, 8, 8, 10]);
  });
});

/** Σ over the leading `r` axes, float32 additions in the order of the rows, from 0. */
function sequentialSum(v: Float32Array, shape: number[], r: number): number[] {
  const n = size(shape.slice(r));
  const out = new Float32Array(n);
  for (let i = 0; i < v.length / n; i++)
    for (let j = 0; j < n; j++) out[j] = Math.fround(out[j] + v[i * n + j]);
  return Array.from(out);
}

describe('wasm Sum over leading axes', () => {
  const CASES: Array<[number[], number[], boolean]> = [
    [[64, 7, 7, 6], [0, 1, 2], false],
    [[5, 17], [0], false],
    [[3, 4, 21], [1, 0], true],
    [[2, 3, 2], [-3, -2], false],
    [[1, 3], [0], true],
  ];
  for (const [i, [shape, axes, keepDims]] of CASES.entries()) {
    it(`adds the rows in order: [${shape}] over [${axes}]${keepDims ? ', keepDims' : ''}`, async () => {
      const v = uniform(size(shape), 40 + i);
      const [wasm, cpu] = await both(() => tf.sum(tf.tensor(v, shape), axes, keepDims));
      expect(wasm.shape).toEqual(cpu.shape);
      const r = axes.length;
      expect(wasm.v).toEqual(sequentialSum(v, shape, r));
    });
  }

  it('leaves trailing, middle and all-axes sums and int32 to the kernel it replaced', async () => {
    for (const axes of [[1], [2], [0, 2], [0, 1, 2]]) {
      const v = uniform(24, 7);
      const [wasm, cpu] = await both(() => tf.sum(tf.tensor(v, [2, 3, 4]), axes));
      expect(wasm.shape).toEqual(cpu.shape);
      for (let k = 0; k < wasm.v.length; k++) expect(Math.abs(wasm.v[k] - cpu.v[k])).toBeLessThan(1e-5);
    }
    const [wi] = await both(() => tf.sum(tf.tensor([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0));
    expect(wi.v).toEqual([9, 12]);
  });
});

describe('copy-free Slice, Unpack, PadV2 and Cast', () => {
  it('give the values tfjs gives', async () => {
    const v = uniform(2 * 3 * 4, 3);
    const cases: Array<() => tf.Tensor> = [
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [0, 0, 0], [2, 3, 4]),
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [1, 0, 0], [1, 3, 4]),
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [0, 1, 0], [1, 2, 4]),
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [0, 1, 1], [2, 2, 2]),
      // Strided: along the last axis (a concatenation's gradient), a middle one, and several at once.
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [0, 0, 1], [2, 3, 2]),
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [0, 2, 0], [2, 1, 4]),
      () => tf.slice(tf.tensor(v, [2, 3, 4]), [1, 1, 3], [1, 2, 1]),
      () => tf.split(tf.tensor(v, [1, 2, 3, 4]), [1, 3], 3)[1],
      () => tf.split(tf.tensor(v, [1, 2, 3, 4]), [1, 3], 3)[0],
      // Concatenations along the last, a middle and the first axis; int32; an empty part.
      () => tf.concat([tf.tensor(v.slice(0, 12), [2, 3, 2]), tf.tensor(v.slice(12), [2, 3, 2])], 2),
      () => tf.concat([tf.tensor(v.slice(0, 8), [2, 1, 4]), tf.tensor(v.slice(8), [2, 2, 4])], 1),
      () => tf.concat([tf.tensor(v.slice(0, 4), [1, 4]), tf.tensor(v.slice(4), [5, 4])], 0),
      () =>
        tf.concat(
          [
            tf.tensor([1, 2, 3, 4], [2, 2], 'int32'),
            tf.tensor([5, 6], [2, 1], 'int32'),
            tf.zeros([2, 0], 'int32'),
          ],
          1,
        ),
      () => tf.concat([tf.tensor(v, [4, 6, 1]), tf.tensor(v, [4, 6, 1]).mul(2), tf.tensor(v, [4, 6, 1])], -1),
      () =>
        tf.slice(
          tf.tensor(
            Int32Array.from(v, (x) => Math.round(10 * x)),
            [6, 4],
            'int32',
          ),
          [2, 0],
          [3, 4],
        ),
      () => tf.unstack(tf.tensor(v, [1, 6, 4]))[0],
      () => tf.unstack(tf.tensor(v, [6, 1, 4]), 1)[0],
      () => tf.unstack(tf.tensor(v, [2, 12]))[1],
      () =>
        tf.pad(tf.tensor(v, [6, 4]), [
          [0, 0],
          [0, 0],
        ]),
      () =>
        tf.pad(
          tf.tensor(v, [6, 4]),
          [
            [1, 0],
            [0, 2],
          ],
          3,
        ),
      () => tf.cast(tf.tensor(v, [6, 4]), 'float32'),
      () => tf.cast(tf.tensor(v, [6, 4]), 'int32'),
      () => tf.cast(tf.tensor([0, 2, -1], [3], 'int32'), 'float32'),
    ];
    for (const f of cases) {
      const [wasm, cpu] = await both(f);
      expect(wasm).toEqual(cpu);
    }
  });

  it('share a buffer that outlives whichever tensor is disposed first, and leak nothing', async () => {
    await onBackend('wasm', () => undefined);
    const before = tf.memory();
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const views = [
      tf.slice(x, [0, 0, 0], [1, 2, 3]),
      tf.unstack(x)[0],
      tf.pad(x, [
        [0, 0],
        [0, 0],
        [0, 0],
      ]),
      tf.cast(x, 'float32'),
    ];
    // One buffer for x and its four views.
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers + 1);
    x.dispose();
    for (const t of views) expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    views[0].dispose();
    expect(Array.from(views[3].dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    tf.dispose(views);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('have the gradients tfjs has (slice, stack and pad in a taped computation)', async () => {
    const v = uniform(2 * 3 * 4, 9);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(v, [1, 2, 3, 4]);
        const g = tf.grad((t: tf.Tensor) => {
          const s = tf.squeeze(tf.slice(t, [0], [1]), [0]);
          const y = tf.stack([tf.mul(s, s)]);
          return tf.sum(
            tf.mul(
              tf.pad(y, [
                [0, 0],
                [0, 0],
                [0, 0],
                [0, 0],
              ]),
              tf.cast(y, 'float32'),
            ),
          );
        })(x);
        return g;
      });
    const [wasm, cpu] = await both(run);
    expect(wasm.shape).toEqual([1, 2, 3, 4]);
    for (let k = 0; k < wasm.v.length; k++) expect(Math.abs(wasm.v[k] - cpu.v[k])).toBeLessThan(1e-5);
  });
});
