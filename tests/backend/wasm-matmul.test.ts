import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { bdkWasm, type WasmBackend } from '../../src/backend/bdk-wasm.js';
import { BACKEND_BATCH_MATMUL, hasWasmMatMul, registerWasmMatMul } from '../../src/backend/wasm-matmul.js';
import { Rng } from '../../src/core/rng.js';

beforeAll(async () => {
  registerWasmMatMul();
  registerWasmMatMul(); // idempotent
  await tf.setBackend('wasm');
});

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  new Rng(seed).fillStandardNormal32(a);
  return a;
}

/** op(a)·op(b) in float64 for a [Ba, ...] and b [Bb, ...] stored as the flags say; Ba, Bb ∈ {1, B}. */
function reference(
  a: Float32Array,
  b: Float32Array,
  batch: [number, number],
  m: number,
  k: number,
  n: number,
  ta: boolean,
  tb: boolean,
): Float64Array {
  const B = Math.max(...batch);
  const out = new Float64Array(B * m * n);
  for (let q = 0; q < B; q++) {
    const ao = batch[0] === 1 ? 0 : q * m * k;
    const bo = batch[1] === 1 ? 0 : q * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++)
          s += a[ao + (ta ? p * m + i : i * k + p)] * b[bo + (tb ? j * k + p : p * n + j)];
        out[(q * m + i) * n + j] = s;
      }
  }
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

describe('wasm BatchMatMul (bdk SIMD kernel)', () => {
  it('replaces the backend kernel on wasm and keeps the original under its own name', () => {
    expect(hasWasmMatMul()).toBe(true);
    expect(tf.getKernel(BACKEND_BATCH_MATMUL, 'wasm')).toBeDefined();
  });

  // Tile edges: rows in 4s then singles, columns in 8s, a 4, then dot products; k blocked by 256.
  const sizes = { m: [1, 3, 4, 5, 9], n: [1, 2, 3, 4, 5, 7, 8, 9, 17], k: [1, 2, 13, 300] };
  const batches: [number, number][] = [
    [1, 1],
    [3, 3],
    [1, 3],
    [3, 1],
  ];
  const flags: [boolean, boolean][] = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];

  it('equals a float64 product for every tile edge, transpose flag and batch broadcast', () => {
    let seed = 1;
    let cases = 0;
    for (const [ta, tb] of flags)
      for (const batch of batches)
        for (const m of sizes.m)
          for (const n of sizes.n)
            for (const k of sizes.k) {
              if ((m * n * k) % 3 !== seed % 3 && k !== 300) {
                seed++;
                continue; // a third of the small grid, all the k-blocked cases: about 600 products
              }
              const av = values(batch[0] * m * k, seed++);
              const bv = values(batch[1] * k * n, seed++);
              const a = tf.tensor3d(av, ta ? [batch[0], k, m] : [batch[0], m, k]);
              const b = tf.tensor3d(bv, tb ? [batch[1], n, k] : [batch[1], k, n]);
              const c = tf.matMul(a, b, ta, tb);
              expect(c.shape).toEqual([Math.max(...batch), m, n]);
              const want = reference(av, bv, batch, m, k, n, ta, tb);
              const err = maxAbsDiff(c.dataSync(), want);
              expect(err, `ta=${ta} tb=${tb} batch=${batch} m=${m} n=${n} k=${k}`).toBeLessThan(
                2e-6 * Math.sqrt(k) * 4,
              );
              // Inputs untouched.
              expect(maxAbsDiff(a.dataSync(), av)).toBe(0);
              expect(maxAbsDiff(b.dataSync(), bv)).toBe(0);
              tf.dispose([a, b, c]);
              cases++;
            }
    expect(cases).toBeGreaterThan(500);
  });

  it('flattens leading dimensions and broadcasts them like tfjs', () => {
    const av = values(2 * 3 * 5 * 6, 7);
    const bv = values(6 * 4, 8);
    const a = tf.tensor4d(av, [2, 3, 5, 6]);
    const b = tf.tensor2d(bv, [6, 4]);
    const c = tf.matMul(a, tf.reshape(b, [1, 1, 6, 4]) as tf.Tensor4D);
    expect(c.shape).toEqual([2, 3, 5, 4]);
    expect(maxAbsDiff(c.dataSync(), reference(av, bv, [6, 1], 5, 6, 4, false, false))).toBeLessThan(1e-5);
    const d = tf.matMul(tf.tensor2d(av.subarray(0, 30), [5, 6]), b);
    expect(d.shape).toEqual([5, 4]);
    expect(maxAbsDiff(d.dataSync(), reference(av, bv, [1, 1], 5, 6, 4, false, false))).toBeLessThan(1e-5);
    tf.dispose([a, b, c, d]);
  });

  it('agrees with the backend kernel it replaces', () => {
    const a = tf.tensor3d(values(4 * 33 * 70, 9), [4, 33, 70]);
    const b = tf.tensor3d(values(4 * 70 * 21, 10), [4, 70, 21]);
    const ours = tf.matMul(a, b);
    const theirs = tf.engine().runKernel(BACKEND_BATCH_MATMUL, { a, b }, {
      transposeA: false,
      transposeB: false,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    expect(maxAbsDiff(ours.dataSync(), theirs.dataSync())).toBeLessThan(1e-4);
    tf.dispose([a, b, ours, theirs]);
  });

  it('gives tfjs gradients equal to the cpu backend’s, through every transpose form', async () => {
    for (const [ta, tb] of flags) {
      const run = () => {
        const a = tf.tensor3d(values(2 * 7 * 11, 11), ta ? [2, 11, 7] : [2, 7, 11]);
        // tfjs's gradient does not sum over a broadcast batch, so both have the batch here.
        const b = tf.tensor3d(values(2 * 11 * 6, 12), tb ? [2, 6, 11] : [2, 11, 6]);
        const w = tf.tensor3d(values(2 * 7 * 6, 13), [2, 7, 6]);
        const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
          tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb), w)),
        )([a, b]);
        const out = [Array.from(da.dataSync()), Array.from(db.dataSync()), da.shape, db.shape];
        tf.dispose([a, b, w, da, db]);
        return out as [number[], number[], number[], number[]];
      };
      await tf.setBackend('cpu');
      const want = run();
      await tf.setBackend('wasm');
      const got = run();
      expect(got[2]).toEqual(want[2]);
      expect(got[3]).toEqual(want[3]);
      expect(maxAbsDiff(got[0], want[0])).toBeLessThan(1e-4);
      expect(maxAbsDiff(got[1], want[1])).toBeLessThan(1e-4);
    }
  });

  it('declines a shared memory (the multi-threaded build of tfjs-wasm), leaving the backend kernels', () => {
    // The project's lib (ES2022, no DOM) has no WebAssembly types.
    const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => object } })
      .WebAssembly;
    const memory = new Memory({ initial: 1, maximum: 4, shared: true });
    expect(bdkWasm({ wasm: { asm: { memory } } } as unknown as WasmBackend)).toBeNull();
    expect(bdkWasm(tf.backend() as unknown as WasmBackend)).not.toBeNull();
  });

  it('does not leak tensors', () => {
    const a = tf.ones([3, 5, 6]) as tf.Tensor3D;
    const b = tf.ones([3, 6, 2]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) tf.dispose(tf.matMul(a, b, false, false));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });
});
