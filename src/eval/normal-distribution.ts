/**
 * The standard normal distribution in double precision: erfc, Φ, φ and Φ⁻¹, for the predictive
 * intervals and the CRPS of Gaussian predictives (interval-calibration.ts, crps.ts).
 */

const SQRT_PI = Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * erf(x) for |x| < 3 by the series with positive terms erf(x) = (2/√π) e^(−x²) Σ_k 2^k x^(2k+1) /
 * (1·3···(2k+1)), which has no cancellation and converges for every x (about 40 terms at |x| = 3).
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let k = 1; k < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); k++) {
    term *= (2 * x2) / (2 * k + 1);
    sum += term;
  }
  return (2 / SQRT_PI) * Math.exp(-x2) * sum;
}

/**
 * erfc(x) for x ≥ 3 by its continued fraction erfc(x) = (e^(−x²)/√π) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
 * (partial numerators k/2), evaluated with the modified Lentz method; it keeps full relative
 * precision far into the tail, where 1 − erf(x) would be all rounding.
 */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / SQRT_PI / f;
}

/** The complementary error function erfc(x) = 1 − erf(x), accurate to a few ulps over the real line. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 3) return x > 27 ? 0 : erfcContinuedFraction(x);
  if (x <= -3) return x < -27 ? 2 : 2 - erfcContinuedFraction(-x);
  return 1 - erfSeries(x);
}

/** Standard normal CDF Φ(x) = ½ erfc(−x/√2). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal density φ(x) = e^(−x²/2)/√(2π). */
export function normalPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/**
 * Standard normal quantile Φ⁻¹(p) for 0 < p < 1 (±∞ at 1 and 0), by bisection on Φ to the last
 * bit: it is only ever called for a handful of interval levels.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new Error(`normalQuantile: p must be in [0, 1], got ${p}`);
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  let lo = -40;
  let hi = 40;
  for (let k = 0; k < 200; k++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}
