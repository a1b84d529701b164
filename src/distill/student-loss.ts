import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { channelPair } from '../model/channel-pairs.js';
import { denseDag, denseDagPass } from '../model/dense-dag.js';
import { forward } from '../model/forward.js';
import type { Analysis } from '../model/spec.js';
import { hasVarianceOutput } from '../teacher/posterior.js';
import { annealedTemperature, end2Loss } from './dirichlet.js';
import type { StudentHead } from './heads.js';
import type { DistillSettings } from './settings.js';
import { gaussianStudentLoss, temperedKl, type KlDirection } from './losses.js';
import { twoVarianceLoss } from './two-variance.js';

/** What the distillation loss needs besides the networks' weights and the inputs. */
export interface StudentLossSettings {
  task: 'regression' | 'classification';
  /** The KL's temperature; with the `dirichlet` head, this step's annealed temperature. */
  temperature: number;
  klDirection: KlDirection;
  /** Absent: the task's default head (`softmax` or `gaussian`). */
  head?: StudentHead;
}

/**
 * The loss settings of step `step` (0-based) of `steps`: the run's, with the `dirichlet` head's
 * temperature annealed from `settings.temperature` to 1 over the first half of the run.
 */
export function lossSettingsAt(
  settings: Pick<DistillSettings, 'temperature' | 'klDirection' | 'studentHead'>,
  task: 'regression' | 'classification',
  step: number,
  steps: number,
): StudentLossSettings {
  const head = settings.studentHead;
  return {
    task,
    temperature:
      head === 'dirichlet' ? annealedTemperature(settings.temperature, step, steps) : settings.temperature,
    klDirection: settings.klDirection,
    ...(head ? { head } : {}),
  };
}

/** One minibatch of distillation targets: the inputs and the teacher samples' outputs on them. */
export interface TeacherBatch {
  /** inputs [1, B, ...example] */
  xin: tf.Tensor;
  /** teacher outputs [k, B, units] (regression: the means [k, B, 1]) */
  outputs: tf.Tensor;
  /** regression: [k] predictive variances σ²_s = τ_s⁻¹, or [k, B] per input (heteroscedastic); else null */
  variances: tf.Tensor1D | tf.Tensor2D | null;
}

/** Teacher samples on the JavaScript side: in memory, or read from their files on demand. */
export interface TeacherRows {
  /** S */
  rows: number;
  parameterCount: number;
  /** Copies weights [offset, offset + dest.length) of sample `row` into `dest`. */
  read(row: number, offset: number, dest: Float32Array): void;
  /**
   * Regression: [S] predictive variances σ²_s = τ_s⁻¹, or `per-input` when the teacher is
   * heteroscedastic (its second output is the log-variance a_s(x), σ²_s(x) = e^a); else null.
   */
  variances: Float32Array | 'per-input' | null;
}

/**
 * The `variances` of a teacher's rows: per input for a heteroscedastic regression teacher (two
 * outputs), τ_s⁻¹ of each sample for a homoscedastic one, null for classification.
 */
export function teacherVariances(
  task: 'regression' | 'classification',
  teacherA: Analysis,
  noisePrecision: ArrayLike<number>,
): TeacherRows['variances'] {
  if (task !== 'regression') return null;
  if (hasVarianceOutput(teacherA, task)) return 'per-input';
  return Float32Array.from(noisePrecision, (t) => 1 / t);
}

/** `TeacherRows` over flat weights [S, P] held in memory. */
export function teacherRowsOf(
  weights: Float32Array,
  parameterCount: number,
  variances: Float32Array | 'per-input' | null,
): TeacherRows {
  return {
    rows: weights.length / parameterCount,
    parameterCount,
    variances,
    read: (row, offset, dest) =>
      dest.set(weights.subarray(row * parameterCount + offset, row * parameterCount + offset + dest.length)),
  };
}

/**
 * Assembles a minibatch and runs the teacher on it, outside any gradient tape. The rows of the
 * inputs and of the sample matrix are copied on the JavaScript side: `tf.gather` on wasm is slow, and
 * a gather recorded on the tape copies its whole input for the backward pass (for MNIST the training
 * set and the [S, P] sample matrix, every step).
 *
 * @param x inputs [N, ...example], row-major, `d` values per row
 * @param rows the minibatch's rows of `x`
 * @param noise optional standard normal draws (at least B·d of them) scaled by σ and added to the inputs
 * @param pick the teacher samples to use (k of them), or null for all
 */
export function teacherBatch(
  teacherA: Analysis,
  x: Float32Array,
  exampleShape: number[],
  rows: ArrayLike<number>,
  noise: { values: Float32Array; sigma: number } | null,
  teacher: TeacherRows,
  pick: ArrayLike<number> | null,
): TeacherBatch {
  const d = exampleShape.reduce((a, b) => a * b, 1);
  const B = rows.length;
  const xRows = new Float32Array(B * d);
  for (let i = 0; i < B; i++) xRows.set(x.subarray(rows[i] * d, (rows[i] + 1) * d), i * d);
  const picked = pick ?? Array.from({ length: teacher.rows }, (_, i) => i);
  const params = teacherA.params.map((p) => {
    const buf = new Float32Array(picked.length * p.size);
    for (let j = 0; j < picked.length; j++)
      teacher.read(picked[j], p.offset, buf.subarray(j * p.size, (j + 1) * p.size));
    return tf.tensor(buf, [picked.length, ...p.shape]);
  });
  const perInput = teacher.variances === 'per-input';
  const [xin, outputs, perInputVariances] = tf.tidy((): tf.Tensor[] => {
    let xb = tf.tensor(xRows, [B, ...exampleShape]);
    if (noise) xb = tf.add(xb, tf.mul(tf.tensor(noise.values.subarray(0, xb.size), xb.shape), noise.sigma));
    const xin = tf.expandDims(xb, 0);
    const out = forward(teacherA, params, xin);
    if (!perInput) return [xin, out];
    const [mu, logVar] = channelPair(out);
    return [xin, tf.expandDims(mu, 2), tf.exp(logVar)];
  });
  tf.dispose(params);
  const tv = teacher.variances;
  const variances =
    tv instanceof Float32Array
      ? tf.tensor1d(Float32Array.from(picked, (j) => tv[j]))
      : ((perInputVariances as tf.Tensor2D | undefined) ?? null);
  return { xin, outputs, variances };
}

/**
 * The distillation loss of one minibatch (docs/design.md §2), shared by offline and online distillation:
 * the teacher samples' outputs on the inputs against the student's, tempered KL (×T²) between
 * softmaxes for classification, the Gaussian student's expected negative log-likelihood under each
 * sample's Gaussian N(μ_s, σ²_s) for regression; with the `dirichlet` head the EnD² loss (§2.6), with
 * the `two-variance` head its loss of §2.7. The teacher's side is data (see `teacherBatch`).
 */
export function studentLoss(
  s: StudentLossSettings,
  studentA: Analysis,
  studentParams: tf.Tensor[],
  batch: TeacherBatch,
): tf.Scalar {
  return lossOfStudentOutputs(s, forward(studentA, studentParams, batch.xin), batch);
}

/** {@link studentLoss} from the student's outputs [1, B, units] on `batch.xin`. */
export function lossOfStudentOutputs(
  s: StudentLossSettings,
  sOut: tf.Tensor,
  batch: TeacherBatch,
): tf.Scalar {
  const tOut = batch.outputs;
  if (s.head === 'dirichlet') return end2Loss(tOut, sOut, s.temperature);
  if (s.task === 'classification')
    return temperedKl(tOut, sOut, { temperature: s.temperature, direction: s.klDirection });
  const variances = batch.variances!.rank === 1 ? tf.expandDims(batch.variances!, 1) : batch.variances!;
  if (s.head === 'two-variance') {
    const [mu, logAle, logEpi] = tf.unstack(tf.transpose(tf.squeeze(sOut, [0])), 0);
    return twoVarianceLoss(tf.squeeze(tOut, [2]), variances, mu, logAle, logEpi);
  }
  const [mu, logVar] = channelPair(tf.squeeze(sOut, [0]));
  return gaussianStudentLoss(tf.squeeze(tOut, [2]), variances, mu, logVar);
}

/**
 * The loss of one minibatch and its gradient with respect to every student parameter, in the
 * analysis' order. A student made of dense layers with sum aggregation (stacks, and the searched
 * students with skip edges) takes the hand-written backward pass of `denseDagPass`, with the tape
 * only over the loss of its outputs; any other student goes through tfjs's tape.
 */
export function studentGradients(
  s: StudentLossSettings,
  studentA: Analysis,
  studentParams: tf.Variable[],
  batch: TeacherBatch,
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  const plan = denseDag(studentA);
  if (!plan) {
    const { value, grads } = tf.variableGrads(
      () => studentLoss(s, studentA, studentParams, batch),
      studentParams,
    );
    return { loss: value, grads: studentParams.map((p) => grads[p.name]) };
  }
  const out = tf.tidy(() => {
    const pass = denseDagPass(studentA, plan, studentParams, batch.xin);
    const { value, grad } = tf.valueAndGrad((o: tf.Tensor) => lossOfStudentOutputs(s, o, batch))(
      pass.outputs,
    );
    return [value, ...pass.backward(grad)];
  });
  return { loss: out[0] as tf.Scalar, grads: out.slice(1) };
}

/**
 * One optimizer step of the student on `batch` ({@link studentGradients}, then the update); disposes
 * the batch and returns the minibatch's loss, or stops the distillation when it is not finite
 * ({@link finiteLoss}; `at` says where: epoch and step, 1-based, and the learning rate).
 */
export function studentStep(
  s: StudentLossSettings,
  studentA: Analysis,
  studentParams: tf.Variable[],
  optimizer: tf.Optimizer,
  batch: TeacherBatch,
  at: { epoch: number; step: number; steps: number; learningRate: number },
): number {
  const { loss, grads } = studentGradients(s, studentA, studentParams, batch);
  optimizer.applyGradients(studentParams.map((p, i) => ({ name: p.name, tensor: grads[i] })));
  tf.dispose([batch.xin, batch.outputs, batch.variances ?? [], ...grads]);
  const value = loss.dataSync()[0];
  loss.dispose();
  return finiteLoss(value, at, at.learningRate);
}

/**
 * `loss` when it is finite, else the one-line error that stops a distillation (the non-finite guard,
 * docs/cli.md): which epoch and step (1-based), and what to change.
 */
export function finiteLoss(
  loss: number,
  at: { epoch: number; step: number; steps: number },
  learningRate: number,
): number {
  if (Number.isFinite(loss)) return loss;
  throw new UserError(
    `distill: the loss is ${loss} at epoch ${at.epoch}, step ${at.step} of ${at.steps}; the teacher's predictions are not finite (check it with bdk evaluate) or --learning-rate ${learningRate} is too large`,
  );
}
