/**
 * Continuous relaxations of a categorical structure variable γ on the (K−1)-simplex (docs/design.md §3):
 * the deterministic softmax of DARTS (Liu et al. 2018), Gumbel-softmax / concrete (Jang et al. 2017;
 * Maddison et al. 2017), the logit-normal, and the Dirichlet.
 *
 * Every relaxation comes twice:
 * - a plain-JS float64 version on one vector of K values, for tests and plots; the `…FromNoise`
 *   functions take the noise explicitly, the `sample…` functions draw it from a seeded {@link Rng};
 * - a tfjs version on logits of shape [..., K] (softmax over the last axis) that takes a pre-drawn
 *   noise tensor of the same shape, so the caller owns the seeded randomness. These are built from
 *   differentiable ops: `tf.grad` through them gives the reparameterization gradient with respect to
 *   the logits (and σ). Each runs inside `tf.tidy`; only the returned tensor stays allocated.
 *
 * Given the same noise, the JS and tfjs versions compute the same function (up to float32 rounding).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/rng.js';

/** The relaxations of γ that the structure search can use. */
export type RelaxationKind = 'softmax' | 'gumbel-softmax' | 'logit-normal' | 'dirichlet';

export const RELAXATION_KINDS: readonly RelaxationKind[] = [
  'softmax',
  'gumbel-softmax',
  'logit-normal',
  'dirichlet',
];

/**
 * Smallest and largest uniform noise value used in the Gumbel transform g = −log(−log U): U is clamped
 * to [2⁻⁴⁰, 1 − 2⁻²⁴] so that g stays finite in float32 and float64 alike (g ∈ [−3.3, 16.6]).
 */
const U_MIN = 2 ** -40;
const U_MAX = 1 - 2 ** -24;

function checkTemperature(temperature: number, fn: string): void {
  if (!(Number.isFinite(temperature) && temperature > 0))
    throw new Error(`${fn}: temperature must be a positive finite number, got ${temperature}`);
}

function checkLength(a: ArrayLike<number>, k: number, what: string, fn: string): void {
  if (a.length !== k) throw new Error(`${fn}: ${what} has ${a.length} values, expected ${k}`);
}

// ---------------------------------------------------------------------------------------------------
// Plain-JS float64 versions
// ---------------------------------------------------------------------------------------------------

/** softmax(z) in float64, shifted by max(z) so large logits do not overflow. */
export function softmax64(z: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let k = 0; k < z.length; k++) m = Math.max(m, z[k]);
  const out = new Float64Array(z.length);
  let s = 0;
  for (let k = 0; k < z.length; k++) {
    out[k] = Math.exp(z[k] - m);
    s += out[k];
  }
  for (let k = 0; k < z.length; k++) out[k] /= s;
  return out;
}

/** The Gumbel(0, 1) transform g = −log(−log U) of uniform noise U (clamped away from 0 and 1). */
export function gumbelFromUniform(u: number): number {
  const v = Math.min(U_MAX, Math.max(U_MIN, u));
  return -Math.log(-Math.log(v));
}

/** DARTS relaxation, deterministic: γ = softmax(α / λ). */
export function softmaxRelaxation(logits: ArrayLike<number>, temperature = 1): Float64Array {
  checkTemperature(temperature, 'softmaxRelaxation');
  return softmax64(Array.from(logits, (a) => a / temperature));
}

/**
 * Gumbel-softmax / concrete GS(s, λ) from given uniform noise: γ_k = softmax((log s_k + g_k)/λ) with
 * g_k = −log(−log U_k). `logits` are log s (any additive constant cancels).
 */
export function gumbelSoftmaxFromNoise(
  logits: ArrayLike<number>,
  temperature: number,
  uniform: ArrayLike<number>,
): Float64Array {
  checkTemperature(temperature, 'gumbelSoftmaxFromNoise');
  checkLength(uniform, logits.length, 'uniform noise', 'gumbelSoftmaxFromNoise');
  return softmax64(Array.from(logits, (a, k) => (a + gumbelFromUniform(uniform[k])) / temperature));
}

/** One draw of GS(s, λ) (see {@link gumbelSoftmaxFromNoise}) with K uniforms from `rng`. */
export function sampleGumbelSoftmax(logits: ArrayLike<number>, temperature: number, rng: Rng): Float64Array {
  const u = Array.from(logits, () => rng.uniform());
  return gumbelSoftmaxFromNoise(logits, temperature, u);
}

/** Logit-normal from given standard normals: γ = softmax(μ + σ ⊙ ε), σ a scalar or one value per k. */
export function logitNormalFromNoise(
  mu: ArrayLike<number>,
  sigma: number | ArrayLike<number>,
  normal: ArrayLike<number>,
): Float64Array {
  checkLength(normal, mu.length, 'normal noise', 'logitNormalFromNoise');
  if (typeof sigma !== 'number') checkLength(sigma, mu.length, 'sigma', 'logitNormalFromNoise');
  const sd = (k: number) => (typeof sigma === 'number' ? sigma : sigma[k]);
  return softmax64(Array.from(mu, (m, k) => m + sd(k) * normal[k]));
}

/** One draw of the logit-normal softmax(N(μ, diag σ²)) with K standard normals from `rng`. */
export function sampleLogitNormal(
  mu: ArrayLike<number>,
  sigma: number | ArrayLike<number>,
  rng: Rng,
): Float64Array {
  const eps = Array.from(mu, () => rng.normal());
  return logitNormalFromNoise(mu, sigma, eps);
}

/**
 * log G for G ~ Gamma(shape, 1), exact: Marsaglia & Tsang (2000) for shape ≥ 1; for shape < 1 the
 * boost G = G′·U^(1/shape) with G′ ~ Gamma(shape + 1), kept in log space so that tiny shapes do not
 * underflow to 0.
 */
export function sampleLogGamma(shape: number, rng: Rng): number {
  if (!(Number.isFinite(shape) && shape > 0))
    throw new Error(`sampleLogGamma: shape must be a positive finite number, got ${shape}`);
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.uniform();
    return sampleLogGamma(shape + 1, rng) + Math.log(u) / shape;
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x) return Math.log(d * v);
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return Math.log(d * v);
  }
}

/** Gamma(shape, 1) draw; see {@link sampleLogGamma}. */
export function sampleGamma(shape: number, rng: Rng): number {
  return Math.exp(sampleLogGamma(shape, rng));
}

/**
 * One exact draw of Dir(α): γ_k = G_k / Σ_j G_j with G_k ~ Gamma(α_k, 1) (normalized in log space,
 * i.e. γ = softmax(log G), so even very small α give a valid point of the simplex).
 */
export function sampleDirichlet(alpha: ArrayLike<number>, rng: Rng): Float64Array {
  return softmax64(Array.from(alpha, (a) => sampleLogGamma(a, rng)));
}

/**
 * Moments of the Laplace approximation of Dir(α) in the softmax basis (MacKay 1998, "Choice of basis
 * for Laplace approximation"): γ = softmax(x), x ~ N(μ, diag σ²) with
 *   μ_k = log α_k − (1/K) Σ_j log α_j,
 *   σ²_k = (1/α_k)(1 − 2/K) + (1/K²) Σ_j 1/α_j.
 * The mean and mode match the Dirichlet's well for large α and poorly for α_k < 1.
 */
export function dirichletLaplaceMoments(alpha: ArrayLike<number>): { mu: Float64Array; sigma: Float64Array } {
  const K = alpha.length;
  let meanLog = 0;
  let sumInv = 0;
  for (let k = 0; k < K; k++) {
    if (!(Number.isFinite(alpha[k]) && alpha[k] > 0))
      throw new Error(`dirichletLaplaceMoments: concentration must be positive, got ${alpha[k]}`);
    meanLog += Math.log(alpha[k]) / K;
    sumInv += 1 / alpha[k];
  }
  const mu = new Float64Array(K);
  const sigma = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    mu[k] = Math.log(alpha[k]) - meanLog;
    sigma[k] = Math.sqrt((1 / alpha[k]) * (1 - 2 / K) + sumInv / (K * K));
  }
  return { mu, sigma };
}

/**
 * The reparameterizable approximation of Dir(α/τ) used by the tfjs path, from given standard normals:
 * the logit-normal with the moments of {@link dirichletLaplaceMoments} for α/τ. `logAlpha` = log α.
 */
export function dirichletLaplaceFromNoise(
  logAlpha: ArrayLike<number>,
  temperature: number,
  normal: ArrayLike<number>,
): Float64Array {
  checkTemperature(temperature, 'dirichletLaplaceFromNoise');
  const { mu, sigma } = dirichletLaplaceMoments(Array.from(logAlpha, (a) => Math.exp(a) / temperature));
  return logitNormalFromNoise(mu, sigma, normal);
}

// ---------------------------------------------------------------------------------------------------
// tfjs versions (differentiable; softmax over the last axis)
// ---------------------------------------------------------------------------------------------------

function checkNoiseShape(
  logits: tf.Tensor,
  noise: tf.Tensor | undefined,
  what: string,
  fn: string,
): tf.Tensor {
  if (!noise) throw new Error(`${fn}: needs ${what} noise of shape [${logits.shape.join(', ')}]`);
  if (noise.shape.length !== logits.shape.length || noise.shape.some((d, i) => d !== logits.shape[i]))
    throw new Error(
      `${fn}: ${what} noise has shape [${noise.shape.join(', ')}], expected [${logits.shape.join(', ')}]`,
    );
  return noise;
}

/** DARTS relaxation γ = softmax(α / λ) over the last axis; logits [..., K] → γ [..., K]. */
export function softmaxRelaxationTf(logits: tf.Tensor, temperature = 1): tf.Tensor {
  checkTemperature(temperature, 'softmaxRelaxationTf');
  return tf.tidy(() => tf.softmax(tf.div(logits, temperature)));
}

/**
 * Gumbel-softmax / concrete GS(s, λ): γ = softmax((log s + g)/λ), g = −log(−log U) from `uniform`
 * (values in [0, 1), same shape as `logits` = log s; clamped as in {@link gumbelFromUniform}).
 * Differentiable with respect to the logits.
 */
export function gumbelSoftmaxTf(logits: tf.Tensor, temperature: number, uniform: tf.Tensor): tf.Tensor {
  checkTemperature(temperature, 'gumbelSoftmaxTf');
  checkNoiseShape(logits, uniform, 'uniform', 'gumbelSoftmaxTf');
  return tf.tidy(() => {
    const u = tf.clipByValue(uniform, U_MIN, U_MAX);
    const g = tf.neg(tf.log(tf.neg(tf.log(u))));
    return tf.softmax(tf.div(tf.add(logits, g), temperature));
  });
}

/**
 * Logit-normal γ = softmax(μ + σ ⊙ ε) with ε = `normal` ~ N(0, I) (diagonal covariance). `sigma` is a
 * number or a tensor broadcastable to μ's shape; differentiable with respect to μ and σ.
 */
export function logitNormalTf(mu: tf.Tensor, sigma: tf.Tensor | number, normal: tf.Tensor): tf.Tensor {
  checkNoiseShape(mu, normal, 'normal', 'logitNormalTf');
  return tf.tidy(() => tf.softmax(tf.add(mu, tf.mul(sigma, normal))));
}

/**
 * Reparameterized approximation of Dir(α/τ), α = exp(logAlpha), NOT an exact Dirichlet sample: the
 * Laplace approximation of the Dirichlet in the softmax basis (MacKay 1998), i.e. γ = softmax(μ + σ ⊙ ε)
 * with ε = `normal` ~ N(0, I) and, for a = α/τ,
 *   μ_k = log a_k − mean_j(log a_j) (τ cancels),   σ²_k = (1/a_k)(1 − 2/K) + (1/K²) Σ_j 1/a_j.
 * Differentiable with respect to logAlpha. (Exact Dirichlet samples, for plots and tests, come from
 * {@link sampleDirichlet}; exact reparameterization would need implicit gradients, Figurnov et al. 2018.)
 */
export function dirichletLaplaceTf(logAlpha: tf.Tensor, temperature: number, normal: tf.Tensor): tf.Tensor {
  checkTemperature(temperature, 'dirichletLaplaceTf');
  checkNoiseShape(logAlpha, normal, 'normal', 'dirichletLaplaceTf');
  return tf.tidy(() => {
    const K = logAlpha.shape[logAlpha.shape.length - 1];
    const mu = tf.sub(logAlpha, tf.mean(logAlpha, -1, true));
    const invA = tf.exp(tf.neg(tf.sub(logAlpha, Math.log(temperature)))); // τ/α = 1/a
    const variance = tf.add(tf.mul(invA, 1 - 2 / K), tf.div(tf.sum(invA, -1, true), K * K));
    return tf.softmax(tf.add(mu, tf.mul(tf.sqrt(variance), normal)));
  });
}

/** Pre-drawn noise for {@link relaxTf}: each tensor has the logits' shape. */
export interface RelaxationNoise {
  /** Uniforms in [0, 1), for `gumbel-softmax`. */
  uniform?: tf.Tensor;
  /** Standard normals, for `logit-normal` and `dirichlet`. */
  normal?: tf.Tensor;
}

/** How many uniform and standard-normal noise values one γ of K categories needs under `kind`. */
export function noiseCount(kind: RelaxationKind, K: number): { uniform: number; normal: number } {
  switch (kind) {
    case 'softmax':
      return { uniform: 0, normal: 0 };
    case 'gumbel-softmax':
      return { uniform: K, normal: 0 };
    case 'logit-normal':
    case 'dirichlet':
      return { uniform: 0, normal: K };
  }
}

/**
 * Noise for {@link relaxTf} drawn from a seeded `rng`, as float32 tensors of `shape` (uniforms by
 * `rng.uniform()`, normals by `rng.normal()`, in row-major order). Nothing is drawn for `softmax`.
 */
export function drawRelaxationNoise(kind: RelaxationKind, shape: number[], rng: Rng): RelaxationNoise {
  const size = shape.reduce((a, b) => a * b, 1);
  const need = noiseCount(kind, 1);
  const noise: RelaxationNoise = {};
  if (need.uniform > 0) {
    const u = new Float32Array(size);
    for (let i = 0; i < size; i++) u[i] = rng.uniform();
    noise.uniform = tf.tensor(u, shape);
  }
  if (need.normal > 0) {
    const e = new Float32Array(size);
    for (let i = 0; i < size; i++) e[i] = rng.normal();
    noise.normal = tf.tensor(e, shape);
  }
  return noise;
}

export interface RelaxOptions {
  /**
   * `logit-normal` only: base standard deviation σ (number or tensor broadcastable to the logits),
   * multiplied by the temperature; default 1, so σ = temperature.
   */
  sigma?: tf.Tensor | number;
}

/**
 * γ [..., K] for relaxation `kind`, from logits [..., K] and a temperature:
 * - `softmax`: softmax(logits / λ) (no noise);
 * - `gumbel-softmax`: GS(s, λ) with logits = log s (`noise.uniform`);
 * - `logit-normal`: softmax(logits + λ·σ ⊙ ε), the temperature scaling σ (`noise.normal`);
 * - `dirichlet`: the Laplace (logit-normal) approximation of Dir(α/λ) with logits = log α
 *   (`noise.normal`); see {@link dirichletLaplaceTf}. Note the direction: a small λ concentrates this
 *   one at its mean, whereas it pushes Gumbel-softmax towards the vertices.
 */
export function relaxTf(
  kind: RelaxationKind,
  logits: tf.Tensor,
  temperature: number,
  noise: RelaxationNoise = {},
  options: RelaxOptions = {},
): tf.Tensor {
  switch (kind) {
    case 'softmax':
      return softmaxRelaxationTf(logits, temperature);
    case 'gumbel-softmax':
      return gumbelSoftmaxTf(
        logits,
        temperature,
        checkNoiseShape(logits, noise.uniform, 'uniform', 'relaxTf'),
      );
    case 'logit-normal': {
      checkTemperature(temperature, 'relaxTf');
      const normal = checkNoiseShape(logits, noise.normal, 'normal', 'relaxTf');
      const sigma = options.sigma ?? 1;
      return tf.tidy(() =>
        logitNormalTf(
          logits,
          typeof sigma === 'number' ? sigma * temperature : tf.mul(sigma, temperature),
          normal,
        ),
      );
    }
    case 'dirichlet':
      return dirichletLaplaceTf(
        logits,
        temperature,
        checkNoiseShape(logits, noise.normal, 'normal', 'relaxTf'),
      );
    default:
      throw new Error(`relaxTf: unknown relaxation '${String(kind)}'`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Temperature annealing
// ---------------------------------------------------------------------------------------------------

export interface TemperatureSchedule {
  /** Temperature at step 0 (> 0). */
  start: number;
  /** Temperature from step `steps` on (> 0). */
  end: number;
  /** Number of steps of the decay (≥ 0; 0 means `end` at once). */
  steps: number;
}

/**
 * Exponential annealing λ_t = start · (end/start)^(min(t, steps)/steps): geometric interpolation from
 * `start` at t = 0 to `end` at t = steps, constant afterwards (Jang et al. 2017 anneal the same way).
 */
export function temperatureAt(schedule: TemperatureSchedule, t: number): number {
  const { start, end, steps } = schedule;
  if (!(Number.isFinite(start) && start > 0 && Number.isFinite(end) && end > 0))
    throw new Error(`temperatureAt: start and end must be positive, got ${start} and ${end}`);
  if (!(Number.isFinite(steps) && steps >= 0))
    throw new Error(`temperatureAt: steps must be a number >= 0, got ${steps}`);
  if (steps === 0 || t >= steps) return end;
  if (!(t > 0)) return start;
  return start * Math.pow(end / start, t / steps);
}
