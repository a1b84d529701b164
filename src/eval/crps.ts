import { mixtureCdf, toTransformed, type GaussianMixtures } from './gaussian-mixture.js';
import { normalCdf, normalPdf } from './normal-distribution.js';

/**
 * The continuous ranked probability score CRPS(F, y) = ∫ (F(x) − 1{x ≥ y})² dx = E|X − y| − ½ E|X − X′|
 * (X, X′ independent draws from F; Gneiting & Raftery 2007), in the target's original units: lower
 * is better, and for a point forecast it is the absolute error. docs/design.md §4.6.
 */

const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/** Mixtures with at most this many components use the exact pairwise formula; larger ones are integrated. */
export const PAIRWISE_MAX_SAMPLES = 1000;

/** CRPS of N(μ, σ²) at y: σ[ω(2Φ(ω) − 1) + 2φ(ω) − 1/√π], ω = (y − μ)/σ. */
export function gaussianCrps(mu: number, sigma: number, y: number): number {
  const w = (y - mu) / sigma;
  return sigma * (w * (2 * normalCdf(w) - 1) + 2 * normalPdf(w) - INV_SQRT_PI);
}

/**
 * CRPS of the log-normal LN(μ, σ²) at y > 0 (Baran & Lerch 2015):
 * y(2Φ(ω) − 1) − 2e^(μ + σ²/2)[Φ(ω − σ) + Φ(σ/√2) − 1], ω = (log y − μ)/σ.
 */
export function lognormalCrps(mu: number, sigma: number, y: number): number {
  const w = (Math.log(y) - mu) / sigma;
  return (
    y * (2 * normalCdf(w) - 1) -
    2 * Math.exp(mu + (sigma * sigma) / 2) * (normalCdf(w - sigma) + normalCdf(sigma / Math.SQRT2) - 1)
  );
}

/** E|Z| for Z ~ N(m, s²): 2s φ(m/s) + m(2Φ(m/s) − 1). */
function absMoment(m: number, s: number): number {
  const w = m / s;
  return 2 * s * normalPdf(w) + m * (2 * normalCdf(w) - 1);
}

/**
 * Exact CRPS of row i's Gaussian mixture (identity transform) at y, from CRPS = E|X − y| − ½E|X − X′|
 * with both expectations in closed form (X − y and X − X′ are Gaussian given the components):
 * (1/S) Σ_s E|N(μ_s − y, σ_s²)| − (1/2S²) Σ_s Σ_t E|N(μ_s − μ_t, σ_s² + σ_t²)|. O(S²) per row.
 */
export function mixtureCrpsPairwise(m: GaussianMixtures, i: number, y: number): number {
  const S = m.samples;
  const n = m.rows;
  let toY = 0;
  let pairs = 0;
  for (let s = 0; s < S; s++) {
    const ms = m.means[s * n + i];
    const ss = m.sds[s * n + i];
    toY += absMoment(ms - y, ss);
    pairs += absMoment(0, Math.SQRT2 * ss) / 2; // the diagonal t = s, counted once of the symmetric pair
    for (let t = s + 1; t < S; t++) {
      const mt = m.means[t * n + i];
      const st = m.sds[t * n + i];
      pairs += absMoment(ms - mt, Math.sqrt(ss * ss + st * st));
    }
  }
  return toY / S - pairs / (S * S);
}

/** Composite Simpson's rule of f over [a, b] with `intervals` (even) intervals. */
function simpson(f: (u: number) => number, a: number, b: number, intervals: number): number {
  const h = (b - a) / intervals;
  let sum = f(a) + f(b);
  for (let k = 1; k < intervals; k++) sum += (k % 2 ? 4 : 2) * f(a + k * h);
  return (sum * h) / 3;
}

/**
 * CRPS of row i's mixture at y by numerical integration, in original units for either transform:
 * with x = T⁻¹(u), ∫ (F(x) − 1{x ≥ y})² dx = ∫ (G(u) − 1{u ≥ T(y)})² (dx/du) du, G the Gaussian
 * mixture's CDF over u and dx/du = 1 or e^u. The range is the components' μ ± 10σ widened to T(y),
 * cut at T(y) (where the indicator jumps) and at the range's ends, and each piece is integrated by
 * Simpson's rule with a step of the smallest σ over `perSigma` (16 to 4096 intervals a piece; about 1e-7 relative error): the
 * integrand is smooth within a piece, and outside the range (G within Φ(−10) ≈ 8e-24 of 0 or 1)
 * what is left out is negligible.
 */
export function mixtureCrpsIntegrated(m: GaussianMixtures, i: number, y: number, perSigma = 24): number {
  const v = toTransformed(m.transform, y);
  let a = Infinity;
  let b = -Infinity;
  let sdMin = Infinity;
  for (let s = 0; s < m.samples; s++) {
    const k = s * m.rows + i;
    a = Math.min(a, m.means[k] - 10 * m.sds[k]);
    b = Math.max(b, m.means[k] + 10 * m.sds[k]);
    sdMin = Math.min(sdMin, m.sds[k]);
  }
  const cuts = [...new Set([Math.min(a, v), a, b, v, Math.max(b, v)])].sort((p, q) => p - q);
  const jac = m.transform === 'log' ? Math.exp : () => 1;
  let total = 0;
  for (let c = 0; c + 1 < cuts.length; c++) {
    const [lo, hi] = [cuts[c], cuts[c + 1]];
    const ind = lo >= v ? 1 : 0;
    const steps = Math.min(4096, Math.max(16, 2 * Math.ceil(((hi - lo) * perSigma) / sdMin / 2)));
    total += simpson((u) => (mixtureCdf(m, i, u) - ind) ** 2 * jac(u), lo, hi, steps);
  }
  return total;
}

/**
 * CRPS of row i's predictive at y (original units): the closed forms for one Gaussian or log-normal,
 * the exact pairwise formula for a mixture of up to PAIRWISE_MAX_SAMPLES Gaussians, and numerical
 * integration for a mixture of log-normals or a larger mixture.
 */
export function rowCrps(m: GaussianMixtures, i: number, y: number): number {
  if (m.samples === 1)
    return m.transform === 'log'
      ? lognormalCrps(m.means[i], m.sds[i], y)
      : gaussianCrps(m.means[i], m.sds[i], y);
  if (m.transform !== 'log' && m.samples <= PAIRWISE_MAX_SAMPLES) return mixtureCrpsPairwise(m, i, y);
  return mixtureCrpsIntegrated(m, i, y);
}

/** Mean CRPS over rows at the targets `y` (original units). */
export function meanCrps(m: GaussianMixtures, y: ArrayLike<number>): number {
  if (y.length !== m.rows) throw new Error(`meanCrps: ${y.length} targets for ${m.rows} rows`);
  let sum = 0;
  for (let i = 0; i < m.rows; i++) sum += rowCrps(m, i, y[i]);
  return sum / m.rows;
}
