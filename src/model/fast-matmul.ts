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
/** Per-chain products at least this large (B·n·m multiply-adds) avoid wasm's batched kernel. */
const LARGE = 1 << 16;

/**
 * [Ca, B, n] × [Cb, n, m] → [C, B, m] with Ca, Cb ∈ {1, C}. On the wasm backend a batched matMul runs
 * at about 2 GFLOP/s against about 27 for a plain 2-D one (measured by `npm run bench`), so large
 * products are rewritten as 2-D ones: a side shared by every chain is folded into one wide product
 * ([B, n] × [n, C·m], or [C·B, n] × [n, m]), and per-chain products run one 2-D product per chain.
 * Small products (the tabular networks) keep the batched kernel, whose per-call overhead is lower.
 */
export function batchedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [ca, rows, n] = a.shape;
  const [cb, , m] = b.shape;
  if (tf.getBackend() !== 'wasm' || rows * n * m < LARGE || (ca === 1 && cb === 1)) return tf.matMul(a, b);
  return tf.tidy(() => {
    if (ca === 1) {
      const wide = tf.reshape(tf.transpose(b, SWAP_FIRST), [n, cb * m]);
      const y = tf.matMul(tf.reshape(a, [rows, n]), wide);
      return tf.transpose(tf.reshape(y, [rows, cb, m]), SWAP_FIRST) as tf.Tensor3D;
    }
    if (cb === 1)
      return tf.reshape(tf.matMul(tf.reshape(a, [ca * rows, n]), tf.reshape(b, [n, m])), [ca, rows, m]);
    const as = tf.unstack(a) as tf.Tensor2D[];
    const bs = tf.unstack(b) as tf.Tensor2D[];
    return tf.stack(as.map((ac, c) => tf.matMul(ac, bs[c]))) as tf.Tensor3D;
  });
}

const SWAP_FIRST = [1, 0, 2];

export const chainMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: batchedMatMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const g = dy as tf.Tensor3D;
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      let da: tf.Tensor = batchedMatMul(g, tf.transpose(sb, SWAP_LAST));
      let db: tf.Tensor = batchedMatMul(tf.transpose(sa, SWAP_LAST), g);
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
    value: batchedMatMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      let db: tf.Tensor = batchedMatMul(tf.transpose(sa, SWAP_LAST), dy as tf.Tensor3D);
      if (sb.shape[0] !== db.shape[0]) db = tf.sum(db, 0, true);
      return [tf.zerosLike(sa), db];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * 2-D [B, n] × [n, m] with the same explicit-transpose gradient as {@link chainMatMul}: tfjs's own
 * gradient asks wasm for `transposeA` / `transposeB` products, which it runs many times slower
 * (`dW = xᵀ·dY` of a 784-wide MNIST layer was most of a search step).
 */
export const matMul2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, tf.transpose(sb)), tf.matMul(tf.transpose(sa), g)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** {@link matMul2d} when `a` is data, never differentiated: the gradient skips dA = dY·Bᵀ. */
export const dataMatMul2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa] = saved as [tf.Tensor2D];
      return [tf.zerosLike(sa), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
