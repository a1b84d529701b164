/**
 * Predictive metrics for regression: Gaussian and Gaussian-mixture predictive densities (e.g. from an
 * ensemble or a set of posterior samples), their moments and log-likelihoods. Pure double-precision
 * arithmetic on typed arrays; no tfjs. Mixture (ensemble) predictions are S×n row-major: sample s,
 * point i at index s·n + i. Logarithms are natural (nats).
 */

const LOG_2PI = Math.log(2 * Math.PI);

/** Variances may be given per element or as one shared (homoscedastic) value. */
export type Variances = ArrayLike<number> | number;

function varianceAt(v: Variances, k: number): number {
  return typeof v === 'number' ? v : v[k];
}

function checkVariances(v: Variances, len: number, who: string): void {
  if (typeof v !== 'number' && v.length !== len) {
    throw new Error(`${who}: expected ${len} variances, got ${v.length}`);
  }
}

/** log N(y | μ, σ²) = −½ (log 2π + log σ² + (y − μ)²/σ²). */
function logNormal(y: number, mu: number, v: number): number {
  const d = y - mu;
  return -0.5 * (LOG_2PI + Math.log(v) + (d * d) / v);
}

// ---------------------------------------------------------------------------------------------------
// Regression
// ---------------------------------------------------------------------------------------------------

/** Root-mean-square error √((1/n) Σ (mean_i − y_i)²). */
export function rmse(mean: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = y.length;
  if (mean.length !== n) throw new Error(`rmse: ${mean.length} predictions for ${n} targets`);
  if (n === 0) throw new Error('rmse: no points');
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = mean[i] - y[i];
    s += d * d;
  }
  return Math.sqrt(s / n);
}

/**
 * Per-point Gaussian log density log N(y_i | μ_i, σ²_i) = −½ (log 2πσ²_i + (y_i − μ_i)²/σ²_i).
 * `variance` is per point or one shared value; variances must be positive.
 */
export function gaussianLogDensity(
  y: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: Variances,
): Float64Array {
  const n = y.length;
  if (mean.length !== n) throw new Error(`gaussianLogDensity: ${mean.length} means for ${n} targets`);
  checkVariances(variance, n, 'gaussianLogDensity');
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logNormal(y[i], mean[i], varianceAt(variance, i));
  return out;
}

function checkMixture(
  y: ArrayLike<number> | null,
  means: ArrayLike<number>,
  variances: Variances,
  S: number,
  n: number,
  who: string,
): void {
  if (!(Number.isInteger(S) && S > 0)) throw new Error(`${who}: bad sample count S = ${S}`);
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${who}: bad point count n = ${n}`);
  if (y !== null && y.length !== n) throw new Error(`${who}: ${y.length} targets for n = ${n}`);
  if (means.length !== S * n) throw new Error(`${who}: expected S·n = ${S * n} means, got ${means.length}`);
  checkVariances(variances, S * n, who);
}

/**
 * Per-point log density of the equally weighted Gaussian mixture (ensemble / posterior predictive)
 *
 *   log p(y_i) = log( (1/S) Σ_s N(y_i | μ_si, σ²_si) ) = LSE_s(ℓ_si) − log S,   ℓ_si = log N(y_i | μ_si, σ²_si),
 *
 * evaluated with the log-sum-exp trick LSE(ℓ) = m + log Σ exp(ℓ − m), m = max ℓ, so it stays finite
 * and accurate when every component density underflows (e.g. all ≈ 1e-400, or ℓ ≈ −1e11).
 *
 * @param y targets, length n.
 * @param means S×n row-major (sample s, point i at s·n + i).
 * @param variances same layout as `means`, or one shared value; must be positive.
 */
export function mixtureLogDensity(
  y: ArrayLike<number>,
  means: ArrayLike<number>,
  variances: Variances,
  S: number,
  n: number,
): Float64Array {
  checkMixture(y, means, variances, S, n, 'mixtureLogDensity');
  const max = new Float64Array(n).fill(-Infinity);
  for (let s = 0; s < S; s++) {
    const base = s * n;
    for (let i = 0; i < n; i++) {
      const l = logNormal(y[i], means[base + i], varianceAt(variances, base + i));
      if (l > max[i]) max[i] = l;
    }
  }
  const sum = new Float64Array(n);
  for (let s = 0; s < S; s++) {
    const base = s * n;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(max[i])) continue;
      sum[i] += Math.exp(logNormal(y[i], means[base + i], varianceAt(variances, base + i)) - max[i]);
    }
  }
  const logS = Math.log(S);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number.isFinite(max[i]) ? max[i] + Math.log(sum[i]) - logS : max[i];
  return out;
}

/** Per-point mean and variance of a predictive distribution. */
export interface PredictiveMoments {
  mean: Float64Array;
  variance: Float64Array;
}

/**
 * Moments of the equally weighted Gaussian mixture (law of total variance):
 *
 *   μ̄_i = (1/S) Σ_s μ_si,   Var_i = (1/S) Σ_s (σ²_si + μ²_si) − μ̄_i² = (1/S) Σ_s σ²_si + (1/S) Σ_s (μ_si − μ̄_i)².
 *
 * The right-hand form (aleatoric + epistemic part, two-pass) is what is computed: it is algebraically
 * identical and avoids the cancellation of the raw second moment when |μ| ≫ spread.
 */
export function mixtureMoments(
  means: ArrayLike<number>,
  variances: Variances,
  S: number,
  n: number,
): PredictiveMoments {
  checkMixture(null, means, variances, S, n, 'mixtureMoments');
  const mean = new Float64Array(n);
  const variance = new Float64Array(n);
  for (let s = 0; s < S; s++) {
    const base = s * n;
    for (let i = 0; i < n; i++) mean[i] += means[base + i];
  }
  for (let i = 0; i < n; i++) mean[i] /= S;
  for (let s = 0; s < S; s++) {
    const base = s * n;
    for (let i = 0; i < n; i++) {
      const d = means[base + i] - mean[i];
      variance[i] += varianceAt(variances, base + i) + d * d;
    }
  }
  for (let i = 0; i < n; i++) variance[i] /= S;
  return { mean, variance };
}

/**
 * Mean test log-likelihood (1/n) Σ_i log p(y_i) of the equally weighted Gaussian mixture
 * ({@link mixtureLogDensity}); with S = 1 it is the mean Gaussian log density.
 */
export function meanLogLikelihood(
  y: ArrayLike<number>,
  means: ArrayLike<number>,
  variances: Variances,
  S = 1,
  n: number = y.length,
): number {
  if (n === 0) throw new Error('meanLogLikelihood: no points');
  const ld = mixtureLogDensity(y, means, variances, S, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += ld[i];
  return s / n;
}

/** Result of a {@link MixtureAccumulator}. */
export interface MixtureResult extends PredictiveMoments {
  /** Per-point mixture log density at the targets given to the constructor, or null if none were. */
  logDensity: Float64Array | null;
  /** Number of mixture components (samples) accumulated. */
  samples: number;
}

/**
 * Streaming version of {@link mixtureMoments} and {@link mixtureLogDensity}: add the ensemble's
 * predictions a chunk of samples at a time, so thousands of samples never need to be held at once.
 *
 * - Moments: running per-point mean of μ and sum of squared deviations, merged chunk by chunk with the
 *   pairwise update of Chan, Golub & LeVeque (1979): M2 = M2_a + M2_b + δ² n_a n_b / (n_a + n_b), plus a
 *   running sum of σ². Var = Σσ²/S + M2/S.
 * - Log density: a running log-sum-exp (m_i, r_i) with log Σ_s exp(ℓ_si) = m_i + log r_i; each chunk's
 *   own max and sum are folded in by rescaling with exp(m_old − m_new), which never overflows.
 *
 * The log density needs the targets up front (it cannot be recovered from the moments afterwards), so
 * they are passed to the constructor; omit them when only the moments are wanted.
 */
export class MixtureAccumulator {
  readonly n: number;
  private readonly y: Float64Array | null;
  private count = 0;
  private readonly muMean: Float64Array;
  private readonly muM2: Float64Array;
  private readonly varSum: Float64Array;
  private readonly lseMax: Float64Array;
  private readonly lseSum: Float64Array;

  /**
   * @param n number of points.
   * @param y optional targets (length n) at which the mixture log density is accumulated.
   */
  constructor(n: number, y?: ArrayLike<number>) {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`MixtureAccumulator: bad point count ${n}`);
    if (y !== undefined && y.length !== n)
      throw new Error(`MixtureAccumulator: ${y.length} targets for n = ${n}`);
    this.n = n;
    this.y = y === undefined ? null : Float64Array.from(y);
    this.muMean = new Float64Array(n);
    this.muM2 = new Float64Array(n);
    this.varSum = new Float64Array(n);
    this.lseMax = new Float64Array(n).fill(-Infinity);
    this.lseSum = new Float64Array(n);
  }

  /** Number of samples added so far. */
  get samples(): number {
    return this.count;
  }

  /**
   * Adds a chunk of `s` samples: `meansChunk` and `variancesChunk` are s×n row-major (sample j of the
   * chunk, point i at j·n + i); the variances may be one shared value.
   */
  add(meansChunk: ArrayLike<number>, variancesChunk: Variances, s: number): this {
    const n = this.n;
    checkMixture(null, meansChunk, variancesChunk, s, n, 'MixtureAccumulator.add');
    const na = this.count;
    const nab = na + s;
    for (let i = 0; i < n; i++) {
      let cm = 0;
      for (let j = 0; j < s; j++) cm += meansChunk[j * n + i];
      cm /= s;
      let m2 = 0;
      let vs = 0;
      for (let j = 0; j < s; j++) {
        const d = meansChunk[j * n + i] - cm;
        m2 += d * d;
        vs += varianceAt(variancesChunk, j * n + i);
      }
      const delta = cm - this.muMean[i];
      this.muMean[i] += (delta * s) / nab;
      this.muM2[i] += m2 + (delta * delta * na * s) / nab;
      this.varSum[i] += vs;
    }
    const y = this.y;
    if (y !== null) {
      for (let i = 0; i < n; i++) {
        let cmax = -Infinity;
        for (let j = 0; j < s; j++) {
          const l = logNormal(y[i], meansChunk[j * n + i], varianceAt(variancesChunk, j * n + i));
          if (l > cmax) cmax = l;
        }
        if (!Number.isFinite(cmax)) {
          // All −∞ leaves the running sum unchanged; +∞ (a zero variance at y = μ) is absorbing.
          if (cmax === Infinity) this.lseMax[i] = Infinity;
          continue;
        }
        let csum = 0;
        for (let j = 0; j < s; j++) {
          csum += Math.exp(
            logNormal(y[i], meansChunk[j * n + i], varianceAt(variancesChunk, j * n + i)) - cmax,
          );
        }
        const m = this.lseMax[i];
        if (m === -Infinity) {
          this.lseMax[i] = cmax;
          this.lseSum[i] = csum;
        } else if (Number.isFinite(m)) {
          if (cmax > m) {
            this.lseSum[i] = this.lseSum[i] * Math.exp(m - cmax) + csum;
            this.lseMax[i] = cmax;
          } else {
            this.lseSum[i] += csum * Math.exp(cmax - m);
          }
        }
      }
    }
    this.count = nab;
    return this;
  }

  /** Mixture mean, variance and (if targets were given) log density of the samples added so far. */
  result(): MixtureResult {
    const S = this.count;
    if (S === 0) throw new Error('MixtureAccumulator.result: no samples added');
    const n = this.n;
    const mean = Float64Array.from(this.muMean);
    const variance = new Float64Array(n);
    for (let i = 0; i < n; i++) variance[i] = (this.varSum[i] + this.muM2[i]) / S;
    let logDensity: Float64Array | null = null;
    if (this.y !== null) {
      logDensity = new Float64Array(n);
      const logS = Math.log(S);
      for (let i = 0; i < n; i++) {
        const m = this.lseMax[i];
        logDensity[i] = Number.isFinite(m) ? m + Math.log(this.lseSum[i]) - logS : m;
      }
    }
    return { mean, variance, logDensity, samples: S };
  }
}
