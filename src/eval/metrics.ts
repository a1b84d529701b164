/**
 * Predictive metrics for regression (Gaussian and Gaussian-mixture predictive densities, e.g. from an
 * ensemble or a set of posterior samples) and for classification (error, NLL, Brier, calibration,
 * entropy). Pure double-precision arithmetic on typed arrays; no tfjs.
 *
 * Layout conventions:
 * - Mixture (ensemble) predictions are S×n row-major: sample s, point i at index s·n + i.
 * - Class probabilities are n×K row-major: example i, class k at index i·K + k.
 * - Logarithms are natural (nats).
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

// ---------------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------------

/** Probabilities below this are clamped to it before taking logs in {@link nll}. */
export const NLL_CLAMP = 1e-12;

function checkClassification(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  K: number,
  who: string,
): number {
  if (!(Number.isInteger(K) && K > 0)) throw new Error(`${who}: bad class count K = ${K}`);
  const n = labels.length;
  if (n === 0) throw new Error(`${who}: no examples`);
  if (probs.length !== n * K)
    throw new Error(`${who}: expected n·K = ${n * K} probabilities, got ${probs.length}`);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < K))
      throw new Error(`${who}: label ${y} at ${i} not in [0, ${K})`);
  }
  return n;
}

/** Index of the largest probability in row i (first one on ties). */
function argmaxRow(probs: ArrayLike<number>, i: number, K: number): number {
  const base = i * K;
  let best = 0;
  let bv = probs[base];
  for (let k = 1; k < K; k++) {
    if (probs[base + k] > bv) {
      bv = probs[base + k];
      best = k;
    }
  }
  return best;
}

/** Fraction of examples whose arg-max class (first on ties) differs from the label. */
export function errorRate(probs: ArrayLike<number>, labels: ArrayLike<number>, K: number): number {
  const n = checkClassification(probs, labels, K, 'errorRate');
  let wrong = 0;
  for (let i = 0; i < n; i++) if (argmaxRow(probs, i, K) !== labels[i]) wrong++;
  return wrong / n;
}

/**
 * Mean negative log-likelihood −(1/n) Σ_i log max(p_{i,y_i}, 1e-12). The clamp ({@link NLL_CLAMP})
 * keeps one confidently wrong prediction (p = 0, e.g. from float32 softmax underflow) from making the
 * whole score infinite; it caps each example's contribution at −log 1e-12 ≈ 27.63 nats.
 */
export function nll(probs: ArrayLike<number>, labels: ArrayLike<number>, K: number): number {
  const n = checkClassification(probs, labels, K, 'nll');
  let s = 0;
  for (let i = 0; i < n; i++) s -= Math.log(Math.max(probs[i * K + labels[i]], NLL_CLAMP));
  return s / n;
}

/** Multi-class Brier score (Brier 1950): (1/n) Σ_i Σ_k (p_ik − 1[y_i = k])², in [0, 2]. */
export function brier(probs: ArrayLike<number>, labels: ArrayLike<number>, K: number): number {
  const n = checkClassification(probs, labels, K, 'brier');
  let s = 0;
  for (let i = 0; i < n; i++) {
    const base = i * K;
    for (let k = 0; k < K; k++) {
      const d = probs[base + k] - (labels[i] === k ? 1 : 0);
      s += d * d;
    }
  }
  return s / n;
}

/** One confidence bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Bin interval (lower, upper]; the first bin also takes confidence 0. */
  lower: number;
  upper: number;
  /** Number of examples whose confidence falls in the bin. */
  count: number;
  /** Fraction of those examples classified correctly (NaN for an empty bin). */
  accuracy: number;
  /** Mean confidence (max probability) of those examples (NaN for an empty bin). */
  confidence: number;
}

/**
 * Reliability-diagram bins (Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
 * ICML 2017): confidence = max_k p_ik, prediction = arg-max, `bins` equal-width intervals
 * ((b−1)/B, b/B] over [0, 1] (confidence 0 goes to the first bin).
 */
export function reliabilityBins(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  K: number,
  bins = 15,
): ReliabilityBin[] {
  const n = checkClassification(probs, labels, K, 'reliabilityBins');
  if (!(Number.isInteger(bins) && bins > 0)) throw new Error(`reliabilityBins: bad bin count ${bins}`);
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const pred = argmaxRow(probs, i, K);
    const conf = probs[i * K + pred];
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(conf * bins) - 1));
    count[b]++;
    confSum[b] += conf;
    if (pred === labels[i]) correct[b]++;
  }
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    out.push({
      lower: b / bins,
      upper: (b + 1) / bins,
      count: count[b],
      accuracy: count[b] > 0 ? correct[b] / count[b] : NaN,
      confidence: count[b] > 0 ? confSum[b] / count[b] : NaN,
    });
  }
  return out;
}

/**
 * Expected calibration error (Guo et al. 2017, eq. 3): ECE = Σ_b (|B_b|/n) · |acc(B_b) − conf(B_b)|
 * over the equal-width confidence bins of {@link reliabilityBins}. Empty bins contribute nothing.
 */
export function ece(probs: ArrayLike<number>, labels: ArrayLike<number>, K: number, bins = 15): number {
  const rb = reliabilityBins(probs, labels, K, bins);
  const n = labels.length;
  let e = 0;
  for (const b of rb) if (b.count > 0) e += (b.count / n) * Math.abs(b.accuracy - b.confidence);
  return e;
}

/** Per-example entropy of the predictive distribution, H_i = −Σ_k p_ik log p_ik (nats; 0·log 0 = 0). */
export function predictiveEntropy(probs: ArrayLike<number>, K: number): Float64Array {
  if (!(Number.isInteger(K) && K > 0)) throw new Error(`predictiveEntropy: bad class count K = ${K}`);
  if (probs.length % K !== 0)
    throw new Error(`predictiveEntropy: ${probs.length} values is not a multiple of K = ${K}`);
  const n = probs.length / K;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let h = 0;
    for (let k = 0; k < K; k++) {
      const p = probs[i * K + k];
      if (p > 0) h -= p * Math.log(p);
    }
    out[i] = h;
  }
  return out;
}
