import * as tf from '@tensorflow/tfjs';
import { lgamma } from './special-functions.js';

/**
 * Ensemble Distribution Distillation (EnD², Malinin, Mlodozeniec & Gales 2020; docs/design.md §2.6):
 * the student outputs log-concentrations z, α = e^z, and is fitted by maximum likelihood to the
 * teacher samples' probability vectors π_s under Dir(α). Its mean α/α₀ = softmax(z) is the predictive.
 */

/** Weight ε of the uniform distribution mixed into the teacher's probabilities, so log π stays finite. */
export const TARGET_SMOOTHING = 1e-4;

/**
 * log Dir(π | α) = log Γ(α₀) − Σ_k log Γ(α_k) + Σ_k (α_k − 1) log π_k, α₀ = Σ_k α_k, over the last axis.
 *
 * @param logAlpha log-concentrations z, [..., K]
 * @param logPi log-probabilities log π, broadcastable against `logAlpha`, [..., K]
 * @returns the log-densities, the broadcast shape without its last axis.
 */
export function dirichletLogDensity(logAlpha: tf.Tensor, logPi: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const alpha = tf.exp(logAlpha);
    const alpha0 = tf.sum(alpha, -1);
    const norm = tf.sub(lgamma(alpha0), tf.sum(lgamma(alpha), -1));
    return tf.add(norm, tf.sum(tf.mul(tf.sub(alpha, 1), logPi), -1));
  });
}

/**
 * The EnD² loss at temperature T: −mean_{s,b} log Dir(π̃_{s,b} | α_b(T)), where the teacher's
 * probabilities are heated and smoothed, π̃ = (1 − ε)·softmax(z_t/T) + ε/K (ε = TARGET_SMOOTHING),
 * and the student's concentrations are heated alike, α(T) = e^{z/T}. At T = 1 it is the plain
 * negative log-likelihood of the samples' probability vectors.
 *
 * @param teacherLogits [S, B, K]
 * @param studentLogAlpha [1, B, K] or [B, K]
 */
export function end2Loss(
  teacherLogits: tf.Tensor,
  studentLogAlpha: tf.Tensor,
  temperature: number,
): tf.Scalar {
  if (!(temperature > 0)) throw new Error(`end2Loss: temperature must be positive, got ${temperature}`);
  const K = teacherLogits.shape[teacherLogits.rank - 1];
  return tf.tidy(() => {
    const pi = tf.softmax(tf.div(teacherLogits, temperature), -1);
    const logPi = tf.log(tf.add(tf.mul(pi, 1 - TARGET_SMOOTHING), TARGET_SMOOTHING / K));
    const student = studentLogAlpha.rank === 2 ? tf.expandDims(studentLogAlpha, 0) : studentLogAlpha;
    return tf.neg(tf.mean(dirichletLogDensity(tf.div(student, temperature), logPi))) as tf.Scalar;
  });
}

/**
 * The temperature of step `step` (0-based) of `steps`: T₀ at the start, falling linearly to 1 at the
 * middle of the run, and 1 from then on (the annealing of EnD², docs/design.md §2.6).
 */
export function annealedTemperature(start: number, step: number, steps: number): number {
  const half = steps / 2;
  if (start === 1 || step >= half) return 1;
  return start + (1 - start) * (step / half);
}
