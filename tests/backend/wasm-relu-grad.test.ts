/**
 * The one-pass ReLU gradient on wasm (src/backend/wasm-relu-grad.ts): bit-identical to tfjs's
 * dy · cast(step(x)) on the same backend, NaN, ±0 and ±∞ included, and a gradient of a gradient still
 * differentiates tfjs's formula.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmReluGrad, RELU_GRAD } from '../../src/backend/wasm-relu-grad.js';
import { onBackend, uniform } from './conv-grad-fixtures.js';

beforeAll(async () => {
  registerWasmReluGrad();
  registerWasmReluGrad(); // idempotent
  await tf.setBackend('wasm');
});

/** [x, dy] of n values with the special cases at the front. */
function inputs(n: number): [Float32Array, Float32Array] {
  const x = uniform(n, 1);
  const dy = uniform(n, 2);
  x.set([NaN, 0, -0, Infinity, -Infinity, 1e-40, -1e-40, 3, -3, 2]);
  dy.set([1, -2, 3, -4, 5, -6, 7, -8, 9, NaN]);
  return [x, dy];
}

describe('the Relu gradient on wasm', () => {
  for (const n of [10, 13, 301]) {
    it(`is bit-identical to dy · cast(step(x)) (${n} values)`, async () => {
      const [xv, dyv] = inputs(n);
      const [fused, formula] = await onBackend('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor(xv);
          const dy = tf.tensor(dyv);
          const grad = tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy);
          const reference = tf.mul(dy, tf.cast(tf.step(x), 'float32'));
          return [Array.from(grad.dataSync()), Array.from(reference.dataSync())];
        }),
      );
      const info = await tf.profile(() =>
        tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor(xv), tf.tensor(dyv)),
      );
      expect(info.kernelNames).toContain(RELU_GRAD);
      expect(info.kernelNames).not.toContain('Step');
      expect(fused.map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual(
        formula.map((v) => (Object.is(v, -0) ? '-0' : v)),
      );
    });
  }

  it('matches the cpu backend inside a network', async () => {
    const xv = uniform(4 * 6, 3);
    const wv = uniform(6 * 5, 4);
    const run = () =>
      tf.tidy(() => {
        const w = tf.tensor(wv, [6, 5]);
        const g = tf.grad((t: tf.Tensor) =>
          tf.sum(tf.square(tf.relu(tf.matMul(tf.tensor(xv, [4, 6]), t as tf.Tensor2D)))),
        )(w);
        return Array.from(g.dataSync());
      });
    const wasm = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    for (let i = 0; i < wasm.length; i++) expect(Math.abs(wasm[i] - cpu[i])).toBeLessThan(1e-5);
  });

  it('keeps tfjs’s formula under a gradient of a gradient', async () => {
    const xv = Float32Array.from([-1.5, -0.5, 0.5, 1.5]);
    // f(x) = Σ relu(x)²: f′ = 2·relu(x), f″ = 2·step(x) on the diagonal.
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(xv);
        const second = tf.grad((t: tf.Tensor) =>
          tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.square(tf.relu(u))))(t)),
        )(x);
        return Array.from(second.dataSync());
      });
    expect(await onBackend('wasm', run)).toEqual([0, 0, 2, 2]);
    expect(await onBackend('cpu', run)).toEqual([0, 0, 2, 2]);
  });
});
