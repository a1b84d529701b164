import * as tf from '@tensorflow/tfjs';
import { forward, unflatten } from '../model/forward.js';
import type { Analysis } from '../model/spec.js';
import { gaussianStudentLoss, temperedKl, type KlDirection } from './losses.js';

/** What the distillation loss needs besides the networks' weights and the inputs. */
export interface StudentLossSettings {
  task: 'regression' | 'classification';
  temperature: number;
  klDirection: KlDirection;
}

/**
 * The distillation loss of one minibatch (DESIGN §2), shared by offline and online distillation:
 * the teacher samples' outputs on the inputs against the student's, tempered KL (×T²) between
 * softmaxes for classification, the Gaussian student's expected negative log-likelihood under each
 * sample's Gaussian N(μ_s, σ²_s) for regression. The teacher is not differentiated.
 *
 * @param teacherWeights flat weights [k, P] of k teacher samples.
 * @param teacherVariances [k] predictive variances σ²_s = τ_s⁻¹ (regression).
 * @param xin inputs [1, B, ...example].
 */
export function studentLoss(
  s: StudentLossSettings,
  teacherA: Analysis,
  studentA: Analysis,
  studentParams: tf.Tensor[],
  teacherWeights: tf.Tensor2D,
  teacherVariances: tf.Tensor1D | null,
  xin: tf.Tensor,
): tf.Scalar {
  const tOut = forward(teacherA, unflatten(teacherA, teacherWeights), xin); // [k, B, units]
  const sOut = forward(studentA, studentParams, xin); // [1, B, units]
  if (s.task === 'classification')
    return temperedKl(tOut, sOut, { temperature: s.temperature, direction: s.klDirection });
  const [mu, logVar] = tf.split(tf.squeeze(sOut, [0]), 2, 1);
  return gaussianStudentLoss(
    tf.squeeze(tOut, [2]),
    tf.expandDims(teacherVariances!, 1),
    tf.squeeze(mu, [1]),
    tf.squeeze(logVar, [1]),
  );
}
