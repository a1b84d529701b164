import type { TargetScaling } from '../data/target-transform.js';
import { normalCdf, normalPdf, normalQuantile } from './normal-distribution.js';

/**
 * A regression predictive per row: the equally weighted mixture (1/S) Σ_s N(μ_si, σ²_si) over
 * u = T(y), the target after its transform and before standardization (y itself, or log y for a log
 * target, whose predictive over y is then a mixture of log-normals). S = 1 is one Gaussian (the MAP
 * network, one posterior sample, the student). `means` and `sds` are S×n row-major: sample s, row i
 * at s·n + i.
 */
export interface GaussianMixtures {
  samples: number;
  rows: number;
  means: Float64Array;
  sds: Float64Array;
  transform?: 'log';
}

/** y from u = T(y): u, or e^u for a log target. */
export function fromTransformed(transform: 'log' | undefined, u: number): number {
  return transform === 'log' ? Math.exp(u) : u;
}

/** u = T(y): y, or log y for a log target. */
export function toTransformed(transform: 'log' | undefined, y: number): number {
  return transform === 'log' ? Math.log(y) : y;
}

/**
 * The mixtures over u = mean + std·z of models' Gaussians N(μ, σ²) over the standardized target z
 * (S×n row-major, as the ensemble keeps them): μ_u = mean + std·μ, σ_u = std·σ.
 */
export function mixturesFromStandardized(
  means: ArrayLike<number>,
  variances: ArrayLike<number>,
  samples: number,
  target: TargetScaling,
): GaussianMixtures {
  const total = means.length;
  if (variances.length !== total || total % samples !== 0)
    throw new Error(
      `mixturesFromStandardized: ${total} means, ${variances.length} variances, ${samples} samples`,
    );
  const mu = new Float64Array(total);
  const sd = new Float64Array(total);
  for (let k = 0; k < total; k++) {
    mu[k] = target.mean + target.std * means[k];
    sd[k] = target.std * Math.sqrt(variances[k]);
  }
  return {
    samples,
    rows: total / samples,
    means: mu,
    sds: sd,
    ...(target.transform ? { transform: target.transform } : {}),
  };
}

/** The mixture CDF of row i at u: (1/S) Σ_s Φ((u − μ_si)/σ_si). */
export function mixtureCdf(m: GaussianMixtures, i: number, u: number): number {
  let f = 0;
  for (let s = 0; s < m.samples; s++) {
    const k = s * m.rows + i;
    f += normalCdf((u - m.means[k]) / m.sds[k]);
  }
  return f / m.samples;
}

/** The mixture density of row i at u: (1/S) Σ_s φ((u − μ_si)/σ_si)/σ_si. */
export function mixtureDensity(m: GaussianMixtures, i: number, u: number): number {
  let f = 0;
  for (let s = 0; s < m.samples; s++) {
    const k = s * m.rows + i;
    f += normalPdf((u - m.means[k]) / m.sds[k]) / m.sds[k];
  }
  return f / m.samples;
}

/**
 * The p-quantile over u of row i's mixture (0 < p < 1). The mixture CDF at u is the mean of the
 * components' CDFs, so the quantile lies between the smallest and the largest of the components'
 * p-quantiles μ_s + σ_s Φ⁻¹(p): that bracket (a point for one Gaussian, the closed form) is narrowed
 * by Newton steps on F(u) − p, falling back to bisection when a step leaves it, to a relative width
 * of 1e-13.
 */
export function mixtureQuantile(m: GaussianMixtures, i: number, p: number): number {
  const z = normalQuantile(p);
  let lo = Infinity;
  let hi = -Infinity;
  for (let s = 0; s < m.samples; s++) {
    const k = s * m.rows + i;
    const q = m.means[k] + m.sds[k] * z;
    lo = Math.min(lo, q);
    hi = Math.max(hi, q);
  }
  let u = 0.5 * (lo + hi);
  for (let it = 0; it < 200 && hi - lo > 1e-13 * (1 + Math.abs(u)); it++) {
    const f = mixtureCdf(m, i, u) - p;
    if (f === 0) return u;
    if (f < 0) lo = u;
    else hi = u;
    const step = u - f / mixtureDensity(m, i, u);
    u = step > lo && step < hi ? step : 0.5 * (lo + hi);
  }
  return u;
}

/**
 * Per row, the mixture's expected variance E_s[σ²_si] and the variance of its means
 * Var_s[μ_si] = E_s[(μ_si − μ̄_i)²] (divisor S), over u: their sum is the mixture's variance (the law
 * of total variance).
 */
export function varianceParts(m: GaussianMixtures): { expected: Float64Array; ofMeans: Float64Array } {
  const n = m.rows;
  const S = m.samples;
  const mean = new Float64Array(n);
  const expected = new Float64Array(n);
  const ofMeans = new Float64Array(n);
  for (let s = 0; s < S; s++)
    for (let i = 0; i < n; i++) {
      mean[i] += m.means[s * n + i] / S;
      expected[i] += m.sds[s * n + i] ** 2 / S;
    }
  for (let s = 0; s < S; s++)
    for (let i = 0; i < n; i++) ofMeans[i] += (m.means[s * n + i] - mean[i]) ** 2 / S;
  return { expected, ofMeans };
}
