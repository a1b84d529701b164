import * as tf from '@tensorflow/tfjs';
import { hasWasmMatMul } from '../backend/wasm-matmul.js';

/**
 * Products with hand-written gradients for the three cases tfjs's own BatchMatMul gradient handles
 * badly or wastefully. On wasm every product, transposed or not, runs on bdk's SIMD kernel
 * (`src/backend/wasm-matmul.ts`), which reads transposed operands in place; before it, tfjs-wasm ran
 * `transposeA` products many times slower than a transpose followed by a plain product, and batched
 * ones at about 2 GFLOP/s, which is why these once transposed explicitly and split batched products.
 */

/**
 * Σ over the middle axis of [C, M, N] → [C, N] (a bias gradient). On wasm as the product
 * 1ᵀ·x with bdk's kernel, about 4× faster there than `tf.sum`, which transposes first.
 */
export function sumOverRows(x: tf.Tensor3D): tf.Tensor2D {
  if (!hasWasmMatMul()) return tf.sum(x, 1);
  const [c, m, n] = x.shape;
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, 1, m]) as tf.Tensor3D, x), [c, n]));
}

/** Sums a gradient over the chain axis when its input was broadcast over it (leading dimension 1). */
function unbroadcast(g: tf.Tensor, like: tf.Tensor): tf.Tensor {
  return like.shape[0] === g.shape[0] ? g : tf.sum(g, 0, true);
}

/**
 * Batched matmul [C|1, B, n] × [C|1, n, m] → [C, B, m] with the gradient dA = dY·Bᵀ, dB = Aᵀ·dY, and
 * a side broadcast over the chain axis (leading dimension 1) getting its gradient summed over that
 * axis (tfjs's own matMul gradient fails on such a broadcast).
 */
export const chainMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor3D;
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      return [unbroadcast(tf.matMul(g, sb, false, true), sa), unbroadcast(tf.matMul(sa, g, true, false), sb)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * The same product when `a` is data (the network's input), which is never differentiated: the
 * gradient skips dA = dY·Bᵀ, a third of the first layer's backward work, and reports zeros for it.
 */
export const dataMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      return [tf.zerosLike(sa), unbroadcast(tf.matMul(sa, dy as tf.Tensor3D, true, false), sb)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** 2-D [B, n] × [n, m] when `a` is data, never differentiated: the gradient skips dA = dY·Bᵀ. */
export const dataMatMul2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa] = saved as [tf.Tensor2D];
      return [tf.zerosLike(sa), tf.matMul(sa, dy as tf.Tensor2D, true, false)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
