import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM_UPDATE, LINEAR_COMBINATION, registerWasmFusedKernels } from '../../src/backend/wasm-fused.js';
import { Rng } from '../../src/core/rng.js';
import { FlatAdam } from '../../src/model/flat-adam.js';
import { linearCombination } from '../../src/model/fused-ops.js';

beforeAll(async () => {
  registerWasmFusedKernels();
  registerWasmFusedKernels(); // idempotent
  await tf.setBackend('wasm');
});

function values(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  new Rng(seed).fillStandardNormal32(a);
  for (let i = 0; i < n; i++) a[i] *= scale;
  return a;
}

/** Runs `f` with the fused kernel registered and again with tfjs's kernels, on wasm both times. */
function fusedAndUnfused(kernel: string, f: () => tf.Tensor[]): [Float32Array[], Float32Array[]] {
  const read = () => {
    const out = f();
    const v = out.map((t) => t.dataSync() as Float32Array);
    tf.dispose(out);
    return v;
  };
  const fused = read();
  const config = tf.getKernel(kernel, 'wasm')!;
  tf.unregisterKernel(kernel, 'wasm');
  try {
    return [fused, read()];
  } finally {
    tf.registerKernel(config);
  }
}

function expectBitIdentical(a: Float32Array[], b: Float32Array[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => {
    expect(x.length).toBe(b[i].length);
    expect(
      Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
        Buffer.from(b[i].buffer, b[i].byteOffset, b[i].byteLength),
      ),
    ).toBe(true);
  });
}

describe('fused wasm kernels', () => {
  it('linear combination: bit-identical to tfjs mul/add kernels, 2 and 3 terms, every length mod 4', () => {
    for (const n of [0, 1, 3, 4, 7, 1001])
      for (const coefficients of [
        [1, 0.5e-6, 1.3e-3],
        [0.95, 2e-6, 0.02],
        [1, -5],
      ]) {
        const xs = coefficients.map((_, i) => tf.tensor1d(values(n, 10 * n + i, 10 ** i)));
        const [fused, plain] = fusedAndUnfused(LINEAR_COMBINATION, () => [
          linearCombination(xs, coefficients),
        ]);
        expectBitIdentical(fused, plain);
        tf.dispose(xs);
      }
  });

  it('linear combination keeps the shape and refuses mismatched shapes', () => {
    const a = tf.ones([2, 3]);
    const b = tf.ones([2, 3]);
    const c = linearCombination([a, b], [2, 3]);
    expect(c.shape).toEqual([2, 3]);
    expect(Array.from(c.dataSync())).toEqual([5, 5, 5, 5, 5, 5]);
    expect(() => linearCombination([a, tf.ones([3, 2])], [1, 1])).toThrow(/shapes differ/);
    tf.dispose([a, b, c]);
  });

  it('Adam: FlatAdam with the fused update is bit-identical to tf.train.adam, ascending too', () => {
    for (const maximize of [false, true]) {
      const shapes = [[7, 5], [5], [1], [5, 3]];
      const init = shapes.map((sh, i) => values(sh[0] * (sh[1] ?? 1), 20 + i, 0.5));
      const target = tf.tensor1d(values(3, 30));
      const x = tf.tensor2d(values(4 * 7, 31), [4, 7]);
      // FlatAdam(maximize) ascends L; tfjs's Adam only descends, so it is given −L.
      const run = (optimizer: tf.Optimizer, tag: string, negate: boolean) => {
        const vars = shapes.map((sh, i) =>
          tf.variable(tf.tensor(init[i], sh), true, `adam_${tag}_${maximize}_${i}`),
        );
        for (let step = 0; step < 25; step++)
          optimizer.minimize(() => {
            const h = tf.tanh(tf.add(tf.matMul(x, vars[0] as tf.Tensor2D), vars[1]));
            const o = tf.mul(tf.add(tf.matMul(h, vars[3] as tf.Tensor2D), vars[2]), 1);
            const loss = tf.mean(tf.square(tf.sub(o, target)));
            return (negate ? tf.neg(loss) : loss) as tf.Scalar;
          });
        const out = vars.map((v) => v.dataSync() as Float32Array);
        tf.dispose(vars);
        optimizer.dispose();
        return out;
      };
      const ours = run(new FlatAdam(0.01, 0.9, 0.999, null, maximize), 'flat', false);
      expect(tf.getKernel(ADAM_UPDATE, 'wasm')).toBeDefined();
      const theirs = run(tf.train.adam(0.01), 'tfjs', maximize);
      expectBitIdentical(ours, theirs);
      tf.dispose([target, x]);
    }
  });
});
