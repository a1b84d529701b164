/**
 * Elementwise updates that run as one fused kernel where bdk registered one for the backend (wasm:
 * `src/backend/wasm-fused.ts`) and as the equivalent chain of tfjs kernels elsewhere; both give the
 * same float32 results, bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { bdkWasmUsable } from '../backend/bdk-wasm.js';
import { ADAM_UPDATE, LINEAR_COMBINATION, type AdamUpdateAttrs } from '../backend/wasm-fused.js';

function fused(kernel: string): boolean {
  const name = tf.getBackend();
  return tf.getKernel(kernel, name) !== undefined && (name !== 'wasm' || bdkWasmUsable(tf.backend()));
}

/**
 * Σ cᵢ·xᵢ over two or three tensors of one shape, summed left to right: ((x₀c₀ + x₁c₁) + x₂c₂). A
 * coefficient of 1 leaves its term unscaled (multiplying by 1 is exact, so both forms agree).
 */
export function linearCombination(xs: tf.Tensor[], coefficients: number[]): tf.Tensor {
  if (xs.length !== coefficients.length || xs.length < 2 || xs.length > 3)
    throw new Error(
      `linearCombination: 2 or 3 tensors with one coefficient each, got ${xs.length}/${coefficients.length}`,
    );
  if (fused(LINEAR_COMBINATION)) {
    const inputs = Object.fromEntries(xs.map((x, i) => [`x${i}`, x]));
    return tf
      .engine()
      .runKernel(LINEAR_COMBINATION, inputs, { coefficients } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.tidy(() => {
    const terms = xs.map((x, i) => (coefficients[i] === 1 ? x : tf.mul(x, coefficients[i])));
    return terms.slice(1).reduce((acc, t) => tf.add(acc, t), terms[0]);
  });
}

/** Whether {@link fusedAdamUpdate} runs on the current backend. */
export function hasFusedAdamUpdate(): boolean {
  return fused(ADAM_UPDATE);
}

/**
 * One Adam update of one variable (tfjs's `tf.train.adam` arithmetic) as one kernel: returns the
 * variable's new value, and updates the optimizer's flat moment vectors m and v in place from
 * `attrs.offset`, so they must belong to the caller alone. acc1, acc2: β₁ᵗ and β₂ᵗ as scalars.
 */
export function fusedAdamUpdate(
  g: tf.Tensor,
  value: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  acc1: tf.Tensor,
  acc2: tf.Tensor,
  attrs: AdamUpdateAttrs,
): tf.Tensor {
  return tf
    .engine()
    .runKernel(ADAM_UPDATE, { g, value, m, v, acc1, acc2 }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
