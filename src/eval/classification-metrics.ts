/**
 * Predictive metrics for classification: error, NLL, Brier score, calibration (reliability bins, ECE)
 * and entropy. Pure double-precision arithmetic on typed arrays; no tfjs. Class probabilities are n×K
 * row-major: example i, class k at index i·K + k. Logarithms are natural (nats).
 */

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
