import * as tf from '@tensorflow/tfjs';

/**
 * The log-gamma and digamma functions for x > 0, as differentiable tfjs ops (tfjs has neither) and in
 * float64 on the JavaScript side. Both shift the argument up by the recurrences
 * lgamma(x) = lgamma(x + n) − Σ_{i<n} log(x + i) and ψ(x) = ψ(x + n) − Σ_{i<n} 1/(x + i), then use the
 * asymptotic (Stirling) series at x + n, whose first omitted terms are below 1e-8 for x + n ≥ 6
 * (float32) and below 1e-15 for x + n ≥ 12 (float64). The gradient of the tf `lgamma` is the
 * derivative of its series, which approximates ψ to the same accuracy.
 */

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);
/** The shift of the tf ops: float32 needs x + n ≥ 6. */
const SHIFT_32 = 6;

/** log Γ(x) element-wise for x > 0. */
export function lgamma(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let logs: tf.Tensor = tf.log(x);
    for (let i = 1; i < SHIFT_32; i++) logs = tf.add(logs, tf.log(tf.add(x, i)));
    const y = tf.add(x, SHIFT_32);
    const inv = tf.reciprocal(y);
    const inv2 = tf.square(inv);
    // 1/(12y) − 1/(360y³) + 1/(1260y⁵)
    const series = tf.mul(inv, tf.add(1 / 12, tf.mul(inv2, tf.add(-1 / 360, tf.mul(inv2, 1 / 1260)))));
    const stirling = tf.add(tf.sub(tf.mul(tf.sub(y, 0.5), tf.log(y)), y), tf.add(series, HALF_LOG_2PI));
    return tf.sub(stirling, logs);
  });
}

/** ψ(x) = d/dx log Γ(x) element-wise for x > 0. */
export function digamma(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let recips: tf.Tensor = tf.reciprocal(x);
    for (let i = 1; i < SHIFT_32; i++) recips = tf.add(recips, tf.reciprocal(tf.add(x, i)));
    const y = tf.add(x, SHIFT_32);
    const inv = tf.reciprocal(y);
    const inv2 = tf.square(inv);
    // ln y − 1/(2y) − 1/(12y²) + 1/(120y⁴) − 1/(252y⁶)
    const series = tf.mul(inv2, tf.add(-1 / 12, tf.mul(inv2, tf.add(1 / 120, tf.mul(inv2, -1 / 252)))));
    return tf.sub(tf.add(tf.sub(tf.log(y), tf.mul(0.5, inv)), series), recips);
  });
}

export { digamma64, lgamma64 } from '../core/special-functions64.js';
