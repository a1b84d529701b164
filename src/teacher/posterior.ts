import * as tf from '@tensorflow/tfjs';
import { channelPair, joinChannelPair } from '../model/channel-pairs.js';
import { linearCombination } from '../model/fused-ops.js';
import { forward } from '../model/forward.js';
import type { Analysis } from '../model/spec.js';
import type { GradientEstimate } from './sgmcmc.js';
import { denseStack, denseStackPass } from './dense-gradient.js';

/**
 * The Bayesian model a teacher samples (docs/design.md §1): prior θ ~ N(0, α⁻¹I); classification
 * p(y|x,θ) = softmax(f(x,θ))_y; regression y ~ N(f(x,θ), τ⁻¹) with the noise precision τ either
 * fixed or sampled as s = log τ under a Gamma(a₀, b₀) prior on τ (log p(s) = a₀·s − b₀·eˢ + const,
 * the Jacobian included).
 *
 * Positions are the network's parameter tensors [C, ...shape] in layout order, followed for a sampled
 * τ by s with shape [C, 1].
 */
export interface PosteriorModel {
  analysis: Analysis;
  task: 'regression' | 'classification';
  /** N, the number of training examples (the likelihood is scaled by N/M). */
  dataSize: number;
  /** α, the prior precision of every weight. */
  priorPrecision: number;
  /**
   * Regression: a fixed τ, the Gamma(shape, rate) prior of a sampled τ, or `heteroscedastic`: the
   * network has two outputs, the mean μ(x) and the log-variance a(x), y ~ N(μ(x), e^a(x)).
   */
  noise?: { fixed: number } | { shape: number; rate: number } | 'heteroscedastic';
  /**
   * Heteroscedastic regression: α_v, the prior precision of the output layer's weights into the
   * log-variance a(x) (absent: α). A large α_v shrinks a(x) towards its bias, the homoscedastic model.
   */
  variancePriorPrecision?: number;
}

/** Per network: the kernels whose last column feeds a two-unit output (its log-variance), found once. */
const outputKernels = new WeakMap<Analysis, Set<number>>();
const NO_KERNELS: ReadonlySet<number> = new Set();

/**
 * Indices of the kernels whose last column feeds the log-variance output: dense edges into the output
 * node of a heteroscedastic network, when α_v differs from α (else none).
 */
function varianceKernels(m: PosteriorModel): ReadonlySet<number> {
  if (m.noise !== 'heteroscedastic' || m.variancePriorPrecision === undefined) return NO_KERNELS;
  if (m.variancePriorPrecision === m.priorPrecision) return NO_KERNELS;
  let found = outputKernels.get(m.analysis);
  if (!found) {
    const { spec, params } = m.analysis;
    found = new Set(
      params.flatMap((p, i) =>
        p.role === 'kernel' && spec.edges[p.edge].to === spec.output && p.shape[p.shape.length - 1] === 2
          ? [i]
          : [],
      ),
    );
    outputKernels.set(m.analysis, found);
  }
  return found;
}
/** −α·θ, with α_v for the log-variance column of a kernel in `variance`. */
function priorTerm(m: PosteriorModel, p: tf.Tensor, i: number, variance: ReadonlySet<number>): tf.Tensor {
  if (!variance.has(i)) return tf.mul(p, -m.priorPrecision);
  return tf.mul(p, tf.tensor1d([-m.priorPrecision, -m.variancePriorPrecision!]));
}

/**
 * The regression noise model of a teacher's settings: per-input (the network's second output) when
 * heteroscedastic, else a fixed τ when given, else its Gamma prior.
 */
export function noiseModel(
  task: 'regression' | 'classification',
  noisePrecision: number | null,
  noisePrior: { shape: number; rate: number },
  heteroscedastic = false,
): PosteriorModel['noise'] {
  if (task !== 'regression') return undefined;
  if (heteroscedastic) return 'heteroscedastic';
  return noisePrecision ? { fixed: noisePrecision } : noisePrior;
}

/** The `variancePriorPrecision` of a heteroscedastic teacher's model, absent otherwise. */
export const variancePrior = (c: {
  heteroscedastic?: boolean;
  variancePriorPrecision?: number;
}): { variancePriorPrecision?: number } =>
  c.heteroscedastic && c.variancePriorPrecision !== undefined
    ? { variancePriorPrecision: c.variancePriorPrecision }
    : {};

/** Units of a teacher network's output: K logits, the regression mean, or mean and log-variance. */
export function teacherOutputUnits(
  task: 'regression' | 'classification',
  classCount: number | null,
  heteroscedastic = false,
): number {
  if (task === 'classification') return classCount!;
  return heteroscedastic ? 2 : 1;
}

/** Whether a teacher network is heteroscedastic: a regression network with two outputs [μ, a]. */
export function hasVarianceOutput(analysis: Analysis, task: 'regression' | 'classification'): boolean {
  return task === 'regression' && analysis.outputShape[0] === 2;
}

/** Whether the regression noise precision τ is a sampled parameter (a Gamma prior, not fixed or per-input). */
export function samplesNoise(m: PosteriorModel): boolean {
  return m.task === 'regression' && typeof m.noise === 'object' && !('fixed' in m.noise);
}

/** The fixed τ of a model, NaN when τ is sampled, per-input, or the task is classification. */
export function fixedNoisePrecision(m: PosteriorModel): number {
  return typeof m.noise === 'object' && 'fixed' in m.noise ? m.noise.fixed : NaN;
}

/**
 * Per-chain log-likelihood Σ_batch log p(y|x,θ_c) → [C], for outputs [C, M, units] and targets
 * [C, M] (float for regression, int32 labels for classification).
 */
export function batchLogLikelihood(
  m: PosteriorModel,
  outputs: tf.Tensor,
  y: tf.Tensor,
  logNoisePrecision: tf.Tensor | null,
): tf.Tensor1D {
  return tf.tidy(() => {
    if (m.task === 'classification') {
      const k = outputs.shape[outputs.rank - 1];
      const logp = tf.logSoftmax(outputs);
      return tf.sum(tf.mul(logp, tf.oneHot(tf.cast(y, 'int32'), k)), [1, 2]) as tf.Tensor1D;
    }
    if (m.noise === 'heteroscedastic') {
      // −½a − ½log 2π − ½e^(−a)(y − μ)² with [μ, a] the two outputs.
      const [mu, logVar] = channelPair(outputs);
      const r2 = tf.square(tf.sub(y, mu));
      const perExample = tf.sub(
        tf.sub(tf.mul(logVar, -0.5), 0.5 * Math.log(2 * Math.PI)),
        tf.mul(tf.mul(tf.exp(tf.neg(logVar)), r2), 0.5),
      );
      return tf.sum(perExample, 1) as tf.Tensor1D;
    }
    const mean = tf.squeeze(outputs, [2]);
    const s = logNoisePrecision ?? tf.scalar(Math.log((m.noise as { fixed: number }).fixed));
    const r2 = tf.square(tf.sub(y, mean));
    const perExample = tf.sub(
      tf.sub(tf.mul(s, 0.5), 0.5 * Math.log(2 * Math.PI)),
      tf.mul(tf.mul(tf.exp(s), r2), 0.5),
    );
    return tf.sum(perExample, 1) as tf.Tensor1D;
  });
}

/** ∇log p(θ): −α·θ for the weights (α_v on the log-variance column, see `variancePriorPrecision`), a₀ − b₀·eˢ for s = log τ (positions from index `first` on). */
export function priorGradient(m: PosteriorModel, positions: tf.Tensor[], first = 0): tf.Tensor[] {
  const nNet = m.analysis.params.length;
  const variance = varianceKernels(m);
  return positions.map((p, j) =>
    tf.tidy(() => {
      const i = first + j;
      if (i < nNet) return priorTerm(m, p, i, variance);
      const g = m.noise as { shape: number; rate: number };
      return tf.sub(tf.scalar(g.shape), tf.mul(tf.exp(p), g.rate));
    }),
  );
}

/**
 * ∇log p̃(θ) = g + ∇log p(θ) from the likelihood part g (already scaled by N/M): for the weights one
 * fused g + (−α)·θ (the same float32 result as adding the prior gradient), for log τ the sum.
 */
function addPrior(m: PosteriorModel, g: tf.Tensor[], positions: tf.Tensor[]): tf.Tensor[] {
  const nNet = m.analysis.params.length;
  const variance = varianceKernels(m);
  return g.map((gi, i) =>
    i < nNet && !variance.has(i)
      ? linearCombination([gi, positions[i]], [1, -m.priorPrecision])
      : tf.add(gi, priorGradient(m, [positions[i]], i)[0]),
  );
}

export interface GradientResult {
  grad: GradientEstimate;
  /** Mean per-example log-likelihood on the minibatch, per chain [C]. */
  logLikelihood: tf.Tensor1D;
}

/**
 * Gradient estimator: ∇log p̃(θ) = ∇log p(θ) + (N/M)·Σ_{(x,y)∈D_M} ∇log p(y|x,θ), for every chain at
 * once (chains are independent, so the gradient of the sum over chains is each chain's gradient).
 * `x` is [C, M, ...example], `y` [C, M]. The caller disposes the result.
 */
export function estimateGradient(
  m: PosteriorModel,
  positions: tf.Tensor[],
  x: tf.Tensor,
  y: tf.Tensor,
  forwardOpts: { training?: boolean; dropoutSeed?: number } = {},
  /** Also return ∇log p(θ) alone (pSGLD needs it; the others get an empty list). */
  withPrior = true,
): GradientResult {
  const nNet = m.analysis.params.length;
  const batch = x.shape[1] as number;
  const scale = m.dataSize / batch;
  let logLik: tf.Tensor1D | null = null;
  const stack = forwardOpts.training ? null : denseStack(m.analysis);
  if (stack) {
    const grads = tf.tidy(() => {
      const s = positions.length > nNet ? positions[nNet] : null;
      const pass = denseStackPass(stack, positions.slice(0, nNet), x);
      const ll = batchLogLikelihood(m, pass.outputs, y, s);
      logLik = tf.keep(tf.div(ll, batch)) as tf.Tensor1D;
      const { dOut, dS } = logLikelihoodOutputGradient(m, pass.outputs, y, s);
      const g = pass.backward(tf.mul(dOut, scale));
      if (s) g.push(tf.mul(dS!, scale));
      return {
        logPosterior: addPrior(m, g, positions),
        logPrior: withPrior ? priorGradient(m, positions) : [],
      };
    });
    return { grad: grads, logLikelihood: logLik! };
  }
  const grads = tf.tidy(() => {
    const f = (...ps: tf.Tensor[]) => {
      const out = forward(m.analysis, ps.slice(0, nNet), x, forwardOpts);
      const ll = batchLogLikelihood(m, out, y, ps.length > nNet ? ps[nNet] : null);
      logLik = tf.keep(tf.div(ll, batch)) as tf.Tensor1D;
      return tf.mul(tf.sum(ll), scale) as tf.Scalar;
    };
    const g = tf.grads(f)(positions);
    return {
      logPosterior: addPrior(m, g, positions),
      logPrior: withPrior ? priorGradient(m, positions) : [],
    };
  });
  return { grad: grads, logLikelihood: logLik! };
}

/**
 * ∂/∂outputs of Σ_batch log p(y|x,θ) for outputs [C, M, units] (the likelihood of `batchLogLikelihood`),
 * and for a sampled τ its derivative with respect to s = log τ [C, 1]:
 * classification onehot(y) − softmax(f); regression τ·(y − f) and Σ_batch (½ − ½·τ·(y − f)²);
 * heteroscedastic regression e^(−a)·(y − μ) and −½ + ½·e^(−a)·(y − μ)² for the outputs [μ, a].
 */
export function logLikelihoodOutputGradient(
  m: PosteriorModel,
  outputs: tf.Tensor,
  y: tf.Tensor,
  logNoisePrecision: tf.Tensor | null,
): { dOut: tf.Tensor; dS: tf.Tensor | null } {
  if (m.task === 'classification') {
    const k = outputs.shape[outputs.rank - 1];
    return { dOut: tf.sub(tf.oneHot(tf.cast(y, 'int32'), k), tf.softmax(outputs)), dS: null };
  }
  if (m.noise === 'heteroscedastic') {
    // ∂/∂μ = e^(−a)·(y − μ), ∂/∂a = −½ + ½·e^(−a)·(y − μ)².
    const [mu, a] = channelPair(outputs);
    const r = tf.sub(y, mu);
    const precision = tf.exp(tf.neg(a));
    const dMu = tf.mul(precision, r);
    const dA = tf.sub(tf.mul(tf.mul(precision, tf.square(r)), 0.5), 0.5);
    return { dOut: joinChannelPair(dMu, dA), dS: null };
  }
  const r = tf.sub(y, tf.squeeze(outputs, [2]));
  const tau = logNoisePrecision ? tf.exp(logNoisePrecision) : tf.scalar((m.noise as { fixed: number }).fixed);
  const dOut = tf.expandDims(tf.mul(tau, r), 2);
  const dS = logNoisePrecision ? tf.sum(tf.sub(0.5, tf.mul(tf.mul(tau, tf.square(r)), 0.5)), 1, true) : null;
  return { dOut, dS };
}

export function disposeGradient(r: GradientResult): void {
  tf.dispose([...r.grad.logPosterior, ...r.grad.logPrior, r.logLikelihood]);
}
