import * as tf from '@tensorflow/tfjs';

/**
 * The `two-variance` regression student (docs/design.md §2.7): outputs [μ, a, e] per input with the
 * aleatoric variance σ²_ale = e^a and the epistemic variance σ²_epi = e^e; its predictive is
 * N(μ, σ²_ale + σ²_epi).
 */

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * L = mean_{s,b} [ ½ log 2π + ½ e_b + ½ e^{−e_b} (μ_{s,b} − μ_b)² ] + mean_{s,b} [ ½ a_b + ½ e^{−a_b} σ²_{s,b} ]:
 * the negative log-likelihood of the samples' means under N(μ, σ²_epi), plus a term whose minimiser
 * over a is σ²_ale = mean_s σ²_s. Minimised by {@link twoVarianceOptimum}.
 *
 * @param teacherMeans [S, B]
 * @param teacherVariances [S, B] or [S, 1]
 * @param mean, logAleatoric, logEpistemic [B] each
 */
export function twoVarianceLoss(
  teacherMeans: tf.Tensor,
  teacherVariances: tf.Tensor,
  mean: tf.Tensor,
  logAleatoric: tf.Tensor,
  logEpistemic: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const e = tf.expandDims(logEpistemic, 0);
    const a = tf.expandDims(logAleatoric, 0);
    const spread = tf.square(tf.sub(teacherMeans, tf.expandDims(mean, 0)));
    const epistemic = tf.mul(0.5, tf.add(e, tf.mul(tf.exp(tf.neg(e)), spread)));
    const aleatoric = tf.mul(0.5, tf.add(a, tf.mul(tf.exp(tf.neg(a)), teacherVariances)));
    return tf.add(tf.add(tf.mean(epistemic), tf.mean(aleatoric)), HALF_LOG_2PI) as tf.Scalar;
  });
}

/**
 * The minimiser of {@link twoVarianceLoss}, per input b: μ* = mean_s μ_s, σ²_epi* = mean_s (μ_s − μ*)²
 * (= Var[μ] of the ensemble), σ²_ale* = mean_s σ²_s (= E[σ²]). Float64, from [S][B] arrays (variances [S][B] or [S][1]).
 */
export function twoVarianceOptimum(
  means: number[][],
  variances: number[][],
): { mean: number[]; aleatoric: number[]; epistemic: number[] } {
  const S = means.length;
  const B = means[0].length;
  const mean = Array.from({ length: B }, (_, b) => means.reduce((t, m) => t + m[b], 0) / S);
  return {
    mean,
    epistemic: mean.map((m, b) => means.reduce((t, r) => t + (r[b] - m) ** 2, 0) / S),
    aleatoric: mean.map((_, b) => variances.reduce((t, v) => t + v[v.length === 1 ? 0 : b], 0) / S),
  };
}
