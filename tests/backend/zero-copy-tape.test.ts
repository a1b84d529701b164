import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installZeroCopyTape, uninstallZeroCopyTape } from '../../src/backend/zero-copy-tape.js';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { dataMatMul2d } from '../../src/model/fast-matmul.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  registerWasmConvGradKernels();
});
afterAll(() => uninstallZeroCopyTape());

const x0 = [0.3, -1.2, 0.8, 2.1, -0.4, 0.05];

/** A loss with matmuls (a custom gradient among them), activations and reductions. */
function loss(w: tf.Tensor, v: tf.Tensor): tf.Scalar {
  const x = tf.tensor2d(x0, [2, 3]);
  const h = tf.softplus(dataMatMul2d(x, w as tf.Tensor2D));
  const o = tf.tanh(tf.matMul(h, v as tf.Tensor2D));
  return tf.sum(tf.mul(tf.square(o), tf.sigmoid(o)));
}

function gradients(): number[][] {
  const w = tf.tensor2d([0.5, -0.3, 0.2, 0.1, 0.9, -0.7, 0.4, 0.6, -0.2, 0.3, -0.1, 0.8], [3, 4]);
  const v = tf.tensor2d([0.2, -0.5, 0.7, 0.1, -0.3, 0.4, 0.6, -0.8], [4, 2]);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a, b))([w, v]);
  const out = g.map((t) => Array.from(t.dataSync()));
  tf.dispose([w, v, ...g]);
  return out;
}

async function identityKernels(f: () => unknown): Promise<number> {
  const info = await tf.profile(() => {
    tf.dispose(f() as tf.Tensor[]);
  });
  return info.kernels.filter((k) => k.name === 'Identity').length;
}

describe('zero-copy saved tensors on the gradient tape', () => {
  it('gives bit-identical gradients without the Identity copies', async () => {
    uninstallZeroCopyTape();
    const before = gradients();
    const copies = await identityKernels(() => {
      const w = tf.ones([3, 4]);
      const v = tf.ones([4, 2]);
      return [w, v, ...tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a, b))([w, v])];
    });
    expect(installZeroCopyTape()).toBe(true);
    expect(installZeroCopyTape()).toBe(true); // idempotent
    const after = gradients();
    expect(after).toEqual(before);
    const aliased = await identityKernels(() => {
      const w = tf.ones([3, 4]);
      const v = tf.ones([4, 2]);
      return [w, v, ...tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a, b))([w, v])];
    });
    // What remains are clones inside gradient functions, not saved tensors.
    expect(copies - aliased).toBe(9); // one per saved tensor of the loss above
  });

  it('keeps a saved intermediate alive after the forward pass disposed it', () => {
    installZeroCopyTape();
    const x = tf.tensor1d([0.1, -0.7, 1.3]);
    // exp(x) is saved by the product and disposed by the inner tidy before the backward pass.
    const g = tf.grad((t: tf.Tensor) =>
      tf.sum(
        tf.tidy(() => {
          const a = tf.exp(t);
          return tf.mul(a, a);
        }),
      ),
    )(x);
    const expected = [0.1, -0.7, 1.3].map((v) => 2 * Math.exp(2 * v));
    Array.from(g.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    tf.dispose([x, g]);
  });

  it('leaves nested (second-order) gradients to tfjs: d²/dx² Σx³ = 6x', () => {
    installZeroCopyTape();
    const x = tf.tensor1d([0.5, -2, 3]);
    const second = tf.grad((t: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(u, 3)))(t)))(x);
    expect(Array.from(second.dataSync())).toEqual([3, -12, 18].map((v) => Math.fround(v)));
    tf.dispose([x, second]);
  });

  it('frees every alias: the tensor and byte counts are flat over repeated gradients', () => {
    installZeroCopyTape();
    gradients();
    const { numTensors, numBytes } = tf.memory();
    for (let i = 0; i < 50; i++) gradients();
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(tf.memory().numBytes).toBe(numBytes);
  });
});
