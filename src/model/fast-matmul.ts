import * as tf from '@tensorflow/tfjs';

const SWAP_LAST = [0, 2, 1];

/**
 * Batched matmul [C|1, B, n] × [C|1, n, m] → [C, B, m] with a hand-written gradient:
 * dA = dY·Bᵀ and dB = Aᵀ·dY, each with an explicit transpose first. tfjs's own matMul gradient uses
 * the transposeA/transposeB forms, which the wasm backend runs about 7–10× slower than a transpose
 * followed by a plain matmul (measured in `npm run bench`). A side broadcast over the chain axis
 * (leading dimension 1) gets its gradient summed over that axis (tfjs's own matMul gradient fails on
 * such a broadcast).
 */
export const chainMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor3D;
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      let da: tf.Tensor = tf.matMul(g, tf.transpose(sb, SWAP_LAST));
      let db: tf.Tensor = tf.matMul(tf.transpose(sa, SWAP_LAST), g);
      if (sa.shape[0] !== da.shape[0]) da = tf.sum(da, 0, true);
      if (sb.shape[0] !== db.shape[0]) db = tf.sum(db, 0, true);
      return [da, db];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * The same product when `a` is data (the network's input), which is never differentiated: the
 * gradient skips dA = dY·Bᵀ, a third of the first layer's backward work, and reports zeros for it.
 */
export const dataMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      let db: tf.Tensor = tf.matMul(tf.transpose(sa, SWAP_LAST), dy as tf.Tensor3D);
      if (sb.shape[0] !== db.shape[0]) db = tf.sum(db, 0, true);
      return [tf.zerosLike(sa), db];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
