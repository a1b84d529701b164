/**
 * Distillation losses for Bayesian dark knowledge (Korattikara et al. 2015, "Bayesian Dark
 * Knowledge") with Hinton et al. (2015) temperature scaling.
 *
 * A student S(y | x, w) is trained to match the predictive p(y | x, θˢ) of every teacher posterior
 * sample θˢ, s = 1..S. Tensors that depend on the teacher sample carry a leading axis of length S.
 *
 * All functions are built from differentiable tfjs ops, so `tf.grad` / `tf.variableGrads` through
 * them give the student's gradients. Gradients also flow into the teacher inputs; callers that only
 * differentiate with respect to the student parameters are unaffected. Every function runs inside
 * `tf.tidy`, so only the returned tensors stay allocated.
 */
import * as tf from '@tensorflow/tfjs';

/** ½·log(2π), the constant of the Gaussian negative log-likelihood. */
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** Which KL divergence {@link temperedKl} computes. */
export type KlDirection = 'forward' | 'reverse';

export interface TemperedKlOptions {
  /** Softmax temperature T > 0; both teacher and student logits are divided by it. */
  temperature: number;
  /**
   * `'forward'`: KL(teacher ‖ student), the BDK objective (mode covering; the default in BDK).
   * `'reverse'`: KL(student ‖ teacher) (mode seeking).
   */
  direction: KlDirection;
}

function checkTemperature(temperature: number, fn: string): void {
  if (!Number.isFinite(temperature) || temperature <= 0) {
    throw new Error(`${fn}: temperature must be a positive finite number, got ${temperature}`);
  }
}

function shapeStr(t: tf.Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

/**
 * Brings student logits to rank 3 `[1, B, K]` (or `[S, B, K]` when one student output per sample
 * is given), checking that they are compatible with the teacher's `[S, B, K]`.
 */
function studentAsRank3(teacher: tf.Tensor, student: tf.Tensor, fn: string): tf.Tensor {
  if (teacher.rank !== 3) {
    throw new Error(`${fn}: teacher logits must be [S, B, K], got ${shapeStr(teacher)}`);
  }
  const [S, B, K] = teacher.shape;
  let s3: tf.Tensor;
  if (student.rank === 2) s3 = student.expandDims(0);
  else if (student.rank === 3) s3 = student;
  else throw new Error(`${fn}: student logits must be [B, K] or [1, B, K], got ${shapeStr(student)}`);
  const [s0, sb, sk] = s3.shape;
  if ((s0 !== 1 && s0 !== S) || sb !== B || sk !== K) {
    throw new Error(
      `${fn}: student logits ${shapeStr(student)} do not match teacher logits ${shapeStr(teacher)}`,
    );
  }
  return s3;
}

/**
 * Temperature-scaled KL divergence between every teacher sample's predictive and the student's.
 *
 * With p_t^{s,b} = softmax(z_t^{s,b} / T) for teacher sample s and example b, and
 * p_s^b = softmax(z_s^b / T) for the student (shared across samples):
 *
 *   forward:  L = T² · 1/(S·B) · Σ_s Σ_b Σ_k p_t^{s,b,k} · (log p_t^{s,b,k} − log p_s^{b,k})
 *             = T² · mean_{s,b} KL(p_t^{s,b} ‖ p_s^b)
 *   reverse:  L = T² · mean_{s,b} KL(p_s^b ‖ p_t^{s,b})
 *             = T² · 1/(S·B) · Σ_s Σ_b Σ_k p_s^{b,k} · (log p_s^{b,k} − log p_t^{s,b,k})
 *
 * The T² factor (Hinton et al. 2015) keeps gradient magnitudes comparable across temperatures:
 * for the forward direction ∂L/∂z_s^{b} = T · (p_s^b − (1/S) Σ_s p_t^{s,b}) / B, whose scale does not
 * shrink like 1/T as the temperature grows. The log-probabilities come from `tf.logSoftmax`, so
 * large logits do not overflow.
 *
 * @param teacherLogits `[S, B, K]` logits of S teacher samples on B examples with K classes.
 * @param studentLogits `[B, K]` or `[1, B, K]` student logits (an `[S, B, K]` tensor pairing one
 *   student output with each sample is accepted too).
 * @returns scalar loss.
 */
export function temperedKl(
  teacherLogits: tf.Tensor,
  studentLogits: tf.Tensor,
  opts: TemperedKlOptions,
): tf.Scalar {
  const { temperature: T, direction } = opts;
  checkTemperature(T, 'temperedKl');
  if (direction !== 'forward' && direction !== 'reverse') {
    throw new Error(`temperedKl: direction must be 'forward' or 'reverse', got '${String(direction)}'`);
  }
  return tf.tidy(() => {
    const student = studentAsRank3(teacherLogits, studentLogits, 'temperedKl');
    const logPt = tf.logSoftmax(tf.div(teacherLogits, T), -1); // [S, B, K]
    const logPs = tf.logSoftmax(tf.div(student, T), -1); // [1 or S, B, K]
    const [logP, logQ] = direction === 'forward' ? [logPt, logPs] : [logPs, logPt];
    // Σ_k p (log p − log q); broadcasting makes this [S, B] in both directions.
    const kl = tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), -1);
    return tf.mul(tf.mean(kl), T * T) as tf.Scalar;
  });
}

/**
 * Cross-entropy from a fixed target distribution (the full ensemble average
 * p̄^b = (1/S) Σ_s p(y | x_b, θˢ)) to the tempered student:
 *
 *   L = T² · 1/B · Σ_b ( − Σ_k p̄^{b,k} · log softmax(z_s^b / T)_k )
 *
 * It differs from T² · mean_b KL(p̄^b ‖ p_s^b) only by T² · mean_b H(p̄^b), which does not depend on
 * the student, so both have the same gradient. `teacherProbs` are used as given (no temperature is
 * applied to them).
 *
 * @param teacherProbs `[B, K]` target probabilities, already averaged over samples.
 * @param studentLogits `[B, K]` or `[1, B, K]` student logits.
 * @param temperature T > 0.
 * @returns scalar loss.
 */
export function crossEntropyToTeacher(
  teacherProbs: tf.Tensor,
  studentLogits: tf.Tensor,
  temperature: number,
): tf.Scalar {
  checkTemperature(temperature, 'crossEntropyToTeacher');
  if (teacherProbs.rank !== 2) {
    throw new Error(
      `crossEntropyToTeacher: teacher probabilities must be [B, K], got ${shapeStr(teacherProbs)}`,
    );
  }
  return tf.tidy(() => {
    const student = studentAsRank3(teacherProbs.expandDims(0), studentLogits, 'crossEntropyToTeacher');
    const logPs = tf.logSoftmax(tf.div(student.squeeze([0]), temperature), -1); // [B, K]
    const ce = tf.neg(tf.sum(tf.mul(teacherProbs, logPs), -1)); // [B]
    return tf.mul(tf.mean(ce), temperature * temperature) as tf.Scalar;
  });
}

/** Shapes the teacher variances `[S, B]`, `[S, 1]` or `[S]` so they broadcast against `[S, B]`. */
function varianceAsRank2(teacherMeans: tf.Tensor, teacherVariances: tf.Tensor, fn: string): tf.Tensor {
  if (teacherMeans.rank !== 2) {
    throw new Error(`${fn}: teacher means must be [S, B], got ${shapeStr(teacherMeans)}`);
  }
  const [S, B] = teacherMeans.shape;
  const v = teacherVariances.rank === 1 ? teacherVariances.expandDims(1) : teacherVariances;
  if (v.rank !== 2 || v.shape[0] !== S || (v.shape[1] !== 1 && v.shape[1] !== B)) {
    throw new Error(
      `${fn}: teacher variances must be [S, B], [S, 1] or [S] for means ${shapeStr(teacherMeans)}, ` +
        `got ${shapeStr(teacherVariances)}`,
    );
  }
  return v;
}

/**
 * Expected negative log-likelihood of a Gaussian student N(y; μ_b, e^{a_b}) under each teacher
 * sample's Gaussian predictive N(y; μ_{s,b}, σ_s²) (σ_s² = τ_s⁻¹, the sample's noise variance, or a
 * per-example variance σ_{s,b}²):
 *
 *   E_{y∼N(μ_{s,b}, σ²_{s,b})}[ −log N(y; μ_b, e^{a_b}) ]
 *     = ½·log 2π + ½·a_b + ½·e^{−a_b}·((μ_b − μ_{s,b})² + σ²_{s,b})
 *
 *   L = 1/(S·B) · Σ_s Σ_b [ ½·log 2π + ½·a_b + ½·e^{−a_b}·((μ_b − μ_{s,b})² + σ²_{s,b}) ]
 *
 * The ½·log 2π constant is included, so L is a true expected NLL (in nats), not just up to a
 * constant. It equals the cross-entropy from the teacher mixture to the student and is minimised by
 * {@link gaussianStudentOptimum}.
 *
 * @param teacherMeans `[S, B]` predictive means μ_{s,b}.
 * @param teacherVariances `[S, B]` or `[S, 1]` (or `[S]`) predictive variances σ², e.g. τ_s⁻¹.
 * @param studentMean `[B]` student means μ_b.
 * @param studentLogVar `[B]` student log-variances a_b.
 * @returns scalar loss.
 */
export function gaussianStudentLoss(
  teacherMeans: tf.Tensor,
  teacherVariances: tf.Tensor,
  studentMean: tf.Tensor,
  studentLogVar: tf.Tensor,
): tf.Scalar {
  const fn = 'gaussianStudentLoss';
  return tf.tidy(() => {
    const variances = varianceAsRank2(teacherMeans, teacherVariances, fn);
    const B = teacherMeans.shape[1];
    for (const [name, t] of [
      ['student mean', studentMean],
      ['student log-variance', studentLogVar],
    ] as const) {
      if (t.rank !== 1 || t.shape[0] !== B) {
        throw new Error(`${fn}: ${name} must be [${B}], got ${shapeStr(t)}`);
      }
    }
    const diff = tf.sub(studentMean.expandDims(0), teacherMeans); // [S, B]
    const spread = tf.add(tf.square(diff), variances); // (μ − μ_s)² + σ_s²
    const a = studentLogVar.expandDims(0); // [1, B]
    const nll = tf.add(tf.mul(0.5, a), tf.mul(0.5, tf.mul(tf.exp(tf.neg(a)), spread)));
    return tf.add(tf.mean(nll), HALF_LOG_2PI) as tf.Scalar;
  });
}

/**
 * The minimiser of {@link gaussianStudentLoss} over (μ, a), per example b — the mean and variance of
 * the teacher's Gaussian mixture (1/S) Σ_s N(μ_{s,b}, σ²_{s,b}):
 *
 *   μ*_b       = (1/S) Σ_s μ_{s,b}
 *   e^{a*_b}   = (1/S) Σ_s ( σ²_{s,b} + (μ_{s,b} − μ*_b)² )
 *
 * (Setting ∂L/∂μ_b = 0 gives the first line; ∂L/∂a_b = 0 gives e^{a_b} = mean_s((μ_b − μ_{s,b})² + σ²).)
 *
 * @returns `mean` and `variance`, each `[B]`.
 */
export function gaussianStudentOptimum(
  teacherMeans: tf.Tensor,
  teacherVariances: tf.Tensor,
): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  return tf.tidy(() => {
    const variances = varianceAsRank2(teacherMeans, teacherVariances, 'gaussianStudentOptimum');
    const mean = tf.mean(teacherMeans, 0) as tf.Tensor1D; // [B]
    const spread = tf.add(tf.square(tf.sub(teacherMeans, mean.expandDims(0))), variances); // [S, B]
    const variance = tf.mean(spread, 0) as tf.Tensor1D;
    return { mean, variance };
  });
}
