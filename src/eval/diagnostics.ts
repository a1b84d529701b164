/**
 * MCMC convergence and efficiency diagnostics for scalar chains: autocorrelation, multi-chain effective
 * sample size (ESS), split-R̂, and a one-call summary with the Monte-Carlo standard error.
 *
 * References:
 * - A. Gelman, J. B. Carlin, H. S. Stern, D. B. Dunson, A. Vehtari, D. B. Rubin, "Bayesian Data
 *   Analysis", 3rd ed. (BDA3), CRC Press 2013, §11.4 (split-R̂) and §11.5 (effective sample size).
 * - A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner, "Rank-normalization, folding, and
 *   localization: an improved R̂ for assessing convergence of MCMC", Bayesian Analysis 16(2), 2021.
 * - C. J. Geyer, "Practical Markov chain Monte Carlo", Statistical Science 7(4), 1992 (initial
 *   positive and initial monotone sequence estimators).
 * - Stan Reference Manual, "Effective sample size" (`stan::analyze::compute_effective_sample_size`).
 *
 * Everything here is plain double-precision arithmetic on typed arrays; no tfjs.
 */

/**
 * Normalized sample autocorrelation ρ̂_k = γ̂_k / γ̂_0 for k = 0..maxLag, where
 * γ̂_k = (1/n) Σ_{t=0}^{n−k−1} (x_t − x̄)(x_{t+k} − x̄) is the usual biased autocovariance (divisor n,
 * which keeps the sequence positive semi-definite; BDA3 §11.5).
 *
 * Cost: the direct sum is O(n·maxLag); when that is more than an FFT of the zero-padded series would
 * cost, the Wiener–Khinchin route (O(n log n)) is used instead. Both give the same values to rounding.
 *
 * @param x the series (at least 1 value, all finite).
 * @param maxLag largest lag returned; defaults to min(n − 1, 1000) and is clamped to n − 1.
 * @returns a Float64Array of length maxLag + 1 with element 0 equal to 1. For a constant series the
 *   autocorrelation is undefined and every element is NaN.
 */
export function autocorrelation(x: ArrayLike<number>, maxLag?: number): Float64Array {
  const n = x.length;
  if (n === 0) throw new Error('autocorrelation: empty series');
  const lag = Math.min(n - 1, maxLag ?? 1000);
  if (!(lag >= 0) || !Number.isInteger(lag)) throw new Error(`autocorrelation: bad maxLag ${maxLag}`);
  const acov = autocovariance(x, lag);
  const out = new Float64Array(lag + 1);
  const g0 = acov[0];
  if (!(g0 > 0)) {
    out.fill(NaN);
    return out;
  }
  for (let k = 0; k <= lag; k++) out[k] = acov[k] / g0;
  out[0] = 1;
  return out;
}

/**
 * Biased sample autocovariance γ̂_k = (1/n) Σ_{t<n−k} (x_t − x̄)(x_{t+k} − x̄), k = 0..maxLag.
 * Chooses the direct O(n·maxLag) sum or an O(n log n) FFT, whichever is cheaper.
 */
export function autocovariance(x: ArrayLike<number>, maxLag: number = x.length - 1): Float64Array {
  const n = x.length;
  if (n === 0) throw new Error('autocovariance: empty series');
  const lag = Math.min(n - 1, maxLag);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[i] = x[i] - mean;
  const size = nextPow2(2 * n);
  const fftCost = 3 * size * Math.log2(size) + 4 * size;
  return (lag + 1) * n > fftCost ? autocovFft(c, lag, size) : autocovDirect(c, lag);
}

function autocovDirect(c: Float64Array, lag: number): Float64Array {
  const n = c.length;
  const out = new Float64Array(lag + 1);
  for (let k = 0; k <= lag; k++) {
    let s = 0;
    for (let t = 0; t + k < n; t++) s += c[t] * c[t + k];
    out[k] = s / n;
  }
  return out;
}

/** Wiener–Khinchin: γ̂ = IFFT(|FFT(c padded to ≥ 2n)|²) / n, with zero padding to avoid wrap-around. */
function autocovFft(c: Float64Array, lag: number, size: number): Float64Array {
  const n = c.length;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(c);
  fft(re, im, false);
  for (let i = 0; i < size; i++) {
    re[i] = re[i] * re[i] + im[i] * im[i];
    im[i] = 0;
  }
  fft(re, im, true);
  const out = new Float64Array(lag + 1);
  for (let k = 0; k <= lag; k++) out[k] = re[k] / size / n;
  return out;
}

function nextPow2(m: number): number {
  let p = 1;
  while (p < m) p *= 2;
  return p;
}

/** In-place iterative radix-2 Cooley–Tukey FFT (length a power of two); `inverse` uses e^{+2πi/N}, unscaled. */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const size = re.length;
  for (let i = 1, j = 0; i < size; i++) {
    let bit = size >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  const sign = inverse ? 1 : -1;
  for (let len = 2; len <= size; len *= 2) {
    const half = len / 2;
    const ang = (sign * 2 * Math.PI) / len;
    // Twiddles from cos/sin directly (not by recurrence) to keep rounding error O(ε log N).
    for (let k = 0; k < half; k++) {
      const wr = Math.cos(ang * k);
      const wi = Math.sin(ang * k);
      for (let i = k; i < size; i += len) {
        const j = i + half;
        const xr = re[j] * wr - im[j] * wi;
        const xi = re[j] * wi + im[j] * wr;
        re[j] = re[i] - xr;
        im[j] = im[i] - xi;
        re[i] += xr;
        im[i] += xi;
      }
    }
  }
}

/** Options for {@link effectiveSampleSize}. */
export interface EssOptions {
  /**
   * Split every chain in half before computing ESS (as Stan's "split ESS" and the `posterior` package
   * do), so that within-chain drift shows up as between-chain variance. Default false: the chains are
   * used as given (Stan's `compute_effective_sample_size`, BDA3 §11.5).
   */
  split?: boolean;
}

/**
 * Multi-chain effective sample size, following BDA3 §11.5 and Stan (Vehtari et al. 2021, §3.2).
 *
 * With M chains of N draws each, chain means x̄_m, within-chain variances s_m² and biased
 * autocovariances γ̂_{m,t}:
 *
 *   W = (1/M) Σ_m s_m²,   var⁺ = (N−1)/N · W + B/N  with  B/N = Var_m(x̄_m)  (divisor M−1; 0 if M = 1),
 *   ρ̂_t = 1 − (W − (1/M) Σ_m γ̂_{m,t}) / var⁺,
 *
 * so between-chain disagreement (large B) inflates var⁺ relative to W, pushes every ρ̂_t toward 1 and
 * lowers ESS. The sum τ̂ = −1 + 2 Σ_{t=0}^{2k+1} ρ̂_t is truncated with Geyer's initial positive
 * sequence (stop at the first pair with P̂_k = ρ̂_{2k} + ρ̂_{2k+1} < 0) and made monotone with Geyer's
 * initial monotone sequence (each P̂_k replaced by min(P̂_k, P̂_{k−1})), exactly as in Stan. τ̂ is
 * bounded below by 1/log10(MN), so ESS ≤ MN·log10(MN) (ESS may exceed MN for antithetic chains).
 *
 * @param chains one or more chains of equal length (a single chain is fine). Typed arrays or plain arrays.
 * @returns ESS = MN / τ̂. NaN when there are fewer than 4 draws per chain, when any draw is not
 *   finite, or when every draw in every chain is the same value (the variance is zero and ESS is
 *   undefined).
 * @throws if `chains` is empty or the chains differ in length.
 */
export function effectiveSampleSize(chains: ArrayLike<number>[], options: EssOptions = {}): number {
  const given = checkChains(chains, 'effectiveSampleSize');
  if (!given.finite || given.constant) return NaN;
  const cs = options.split ? splitChains(chains) : chains;
  const m = options.split ? checkChains(cs, 'effectiveSampleSize') : given;
  if (m.n < 4 || !m.finite || m.constant) return NaN;
  const M = cs.length;
  const N = m.n;
  const acovs = cs.map((c) => autocovariance(c));
  const chainMeans = new Float64Array(M);
  let meanVar = 0; // W: mean of within-chain sample variances (divisor N−1)
  for (let j = 0; j < M; j++) {
    chainMeans[j] = mean(cs[j]);
    meanVar += (acovs[j][0] * N) / (N - 1);
  }
  meanVar /= M;
  let varPlus = (meanVar * (N - 1)) / N;
  if (M > 1) varPlus += sampleVariance(chainMeans);
  const meanAcov = (t: number): number => {
    let s = 0;
    for (let j = 0; j < M; j++) s += acovs[j][t];
    return s / M;
  };
  const rho = new Float64Array(N);
  let rhoEven = 1;
  rho[0] = rhoEven;
  let rhoOdd = 1 - (meanVar - meanAcov(1)) / varPlus;
  rho[1] = rhoOdd;
  // Geyer's initial positive sequence.
  let t = 1;
  while (t < N - 3 && rhoEven + rhoOdd > 0) {
    rhoEven = 1 - (meanVar - meanAcov(t + 1)) / varPlus;
    rhoOdd = 1 - (meanVar - meanAcov(t + 2)) / varPlus;
    if (rhoEven + rhoOdd >= 0) {
      rho[t + 1] = rhoEven;
      rho[t + 2] = rhoOdd;
    }
    t += 2;
  }
  const maxT = t - 2;
  // Improve the estimate with the last (positive) even term, as Stan does.
  if (rhoEven > 0) rho[maxT + 1] = rhoEven;
  // Geyer's initial monotone sequence.
  for (t = 1; t <= maxT - 2; t += 2) {
    if (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]) {
      rho[t + 1] = (rho[t - 1] + rho[t]) / 2;
      rho[t + 2] = rho[t + 1];
    }
  }
  const total = M * N;
  let tau = -1;
  for (let k = 0; k <= maxT; k++) tau += 2 * rho[k];
  tau += rho[maxT + 1];
  tau = Math.max(tau, 1 / Math.log10(total));
  return total / tau;
}

/**
 * Split-R̂ potential scale reduction factor (BDA3 §11.4; Stan's `compute_split_potential_scale_reduction`).
 *
 * Each of the M chains is cut into a first and second half (an odd middle draw is dropped), giving
 * 2M chains of n draws. With W the mean within-chain sample variance and B = n·Var(chain means)
 * (divisor 2M−1): var⁺ = (n−1)/n · W + B/n and R̂ = √(var⁺ / W). Values near 1 indicate the chains
 * agree; > 1.01 (Vehtari et al. 2021) or > 1.1 (BDA3) signal non-convergence. Splitting makes R̂ also
 * detect drift within a single chain.
 *
 * This is the classic split-R̂, not the rank-normalized folded variant of Vehtari et al. (2021).
 *
 * @returns R̂; NaN when there are fewer than 4 draws per chain (so fewer than 2 per half), when any
 *   draw is not finite, or when all draws are the same value; +Infinity when every half-chain is
 *   constant but the halves differ (W = 0 < B).
 * @throws if `chains` is empty or the chains differ in length.
 */
export function splitRhat(chains: ArrayLike<number>[]): number {
  const m0 = checkChains(chains, 'splitRhat');
  if (m0.n < 4 || !m0.finite || m0.constant) return NaN;
  const halves = splitChains(chains);
  const M = halves.length;
  const n = halves[0].length;
  const means = new Float64Array(M);
  let W = 0;
  for (let j = 0; j < M; j++) {
    means[j] = mean(halves[j]);
    W += sampleVariance(halves[j]);
  }
  W /= M;
  const bOverN = sampleVariance(means);
  const varPlus = ((n - 1) / n) * W + bOverN;
  if (W === 0) return Infinity;
  return Math.sqrt(varPlus / W);
}

/** Summary of one scalar quantity sampled by one or more chains. */
export interface ChainSummary {
  /** Mean over all draws of all chains. */
  mean: number;
  /** Sample standard deviation over all draws pooled (divisor total − 1). */
  sd: number;
  /** Multi-chain effective sample size ({@link effectiveSampleSize}). */
  ess: number;
  /** Split-R̂ ({@link splitRhat}). */
  rhat: number;
  /** Monte-Carlo standard error of the mean, sd / √ess (BDA3 §11.5). */
  mcse: number;
}

/**
 * Mean, sd, ESS, split-R̂ and MCSE = sd/√ESS of a quantity sampled by `chains` (equal lengths).
 * For constant input sd = 0 and ess, rhat and mcse are NaN.
 */
export function summarizeChains(chains: ArrayLike<number>[]): ChainSummary {
  checkChains(chains, 'summarizeChains');
  let total = 0;
  let sum = 0;
  for (const c of chains) {
    for (let i = 0; i < c.length; i++) sum += c[i];
    total += c.length;
  }
  const mu = sum / total;
  let ss = 0;
  for (const c of chains) {
    for (let i = 0; i < c.length; i++) ss += (c[i] - mu) * (c[i] - mu);
  }
  const sd = total > 1 ? Math.sqrt(ss / (total - 1)) : NaN;
  const ess = effectiveSampleSize(chains);
  const rhat = splitRhat(chains);
  return { mean: mu, sd, ess, rhat, mcse: sd / Math.sqrt(ess) };
}

interface ChainInfo {
  n: number;
  finite: boolean;
  constant: boolean;
}

function checkChains(chains: ArrayLike<number>[], who: string): ChainInfo {
  if (chains.length === 0) throw new Error(`${who}: no chains`);
  const n = chains[0].length;
  let finite = true;
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of chains) {
    if (c.length !== n) throw new Error(`${who}: chains differ in length (${n} vs ${c.length})`);
    for (let i = 0; i < n; i++) {
      const v = c[i];
      if (!Number.isFinite(v)) finite = false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return { n, finite, constant: n > 0 && lo === hi };
}

/** First and second half of every chain; the middle draw of an odd-length chain is dropped. */
function splitChains(chains: ArrayLike<number>[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (const c of chains) {
    const n = c.length;
    const half = Math.floor(n / 2);
    const a = new Float64Array(half);
    const b = new Float64Array(half);
    for (let i = 0; i < half; i++) {
      a[i] = c[i];
      b[i] = c[n - half + i];
    }
    out.push(a, b);
  }
  return out;
}

function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Two-pass sample variance with divisor n − 1. */
function sampleVariance(x: ArrayLike<number>): number {
  const n = x.length;
  const mu = mean(x);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i] - mu) * (x[i] - mu);
  return ss / (n - 1);
}
