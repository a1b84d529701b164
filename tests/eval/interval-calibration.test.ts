import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  gaussianCrps,
  lognormalCrps,
  meanCrps,
  mixtureCrpsIntegrated,
  mixtureCrpsPairwise,
  rowCrps,
} from '../../src/eval/crps.js';
import {
  mixtureCdf,
  mixtureQuantile,
  mixturesFromStandardized,
  type GaussianMixtures,
} from '../../src/eval/gaussian-mixture.js';
import {
  centralInterval,
  INTERVAL_LEVELS,
  intervalCalibration,
} from '../../src/eval/interval-calibration.js';
import { erfc, normalCdf, normalQuantile } from '../../src/eval/normal-distribution.js';

/** Mixtures of `samples` Gaussians per row from per-component means and sds (S×n row-major). */
function mixtures(means: number[], sds: number[], samples: number, transform?: 'log'): GaussianMixtures {
  return {
    samples,
    rows: means.length / samples,
    means: Float64Array.from(means),
    sds: Float64Array.from(sds),
    ...(transform ? { transform } : {}),
  };
}

describe('the standard normal', () => {
  it('erfc matches reference values on both sides of the switch to the continued fraction', () => {
    // Reference values from the series of erf / Abramowitz & Stegun tables (to 15 digits).
    expect(erfc(0)).toBe(1);
    expect(erfc(0.5)).toBeCloseTo(0.479500122186953, 14);
    expect(erfc(1)).toBeCloseTo(0.157299207050285, 14);
    expect(erfc(-1)).toBeCloseTo(1.842700792949715, 14);
    expect(erfc(2)).toBeCloseTo(0.004677734981047266, 15);
    expect(erfc(3) / 2.209049699858544e-5).toBeCloseTo(1, 12);
    expect(erfc(5) / 1.537459794428035e-12).toBeCloseTo(1, 12);
    // No jump where the series hands over to the continued fraction.
    expect(erfc(3 - 1e-12) / erfc(3)).toBeCloseTo(1, 9);
    expect(erfc(30)).toBe(0);
    expect(erfc(-30)).toBe(2);
  });

  it('Φ⁻¹ inverts Φ and gives the familiar quantiles', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 13);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 15);
    expect(normalQuantile(0.05)).toBeCloseTo(-1.644853626951472, 13);
    for (const p of [1e-6, 0.1, 0.3, 0.9, 0.999]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 14);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(() => normalQuantile(1.5)).toThrow('normalQuantile: p must be in [0, 1], got 1.5');
  });
});

describe('mixture quantiles and central intervals', () => {
  it('one Gaussian: the closed form μ ± σ Φ⁻¹((1 + p)/2)', () => {
    const m = mixtures([2], [3], 1);
    const z = normalQuantile(0.95);
    const [lo, hi] = centralInterval(m, 0, 0.9);
    expect(lo).toBeCloseTo(2 - 3 * z, 12);
    expect(hi).toBeCloseTo(2 + 3 * z, 12);
  });

  it('a mixture: the CDF at the quantile is p; identical components give the single Gaussian', () => {
    const m = mixtures([-1, 0.5, 4], [0.3, 1, 2], 3);
    for (const p of [0.025, 0.1, 0.5, 0.9, 0.975])
      expect(mixtureCdf(m, 0, mixtureQuantile(m, 0, p))).toBeCloseTo(p, 12);
    const same = mixtures([1.5, 1.5, 1.5, 1.5], [0.7, 0.7, 0.7, 0.7], 4);
    const one = mixtures([1.5], [0.7], 1);
    for (const level of INTERVAL_LEVELS) {
      const [a, b] = centralInterval(same, 0, level);
      const [c, d] = centralInterval(one, 0, level);
      expect(a).toBeCloseTo(c, 11);
      expect(b).toBeCloseTo(d, 11);
    }
  });

  it('log target: the ends are the exponentials of the log-scale quantiles, the width in original units', () => {
    const [mu, sd] = [Math.log(20), 0.25];
    const z = normalQuantile(0.9);
    const c = intervalCalibration(mixtures([mu], [sd], 1, 'log'), [25]);
    expect(c.width['0.8']).toBeCloseTo(Math.exp(mu + sd * z) - Math.exp(mu - sd * z), 10);
    // The coverage is that of the log-scale interval: the same rows are inside.
    const rng = new Rng(3);
    const n = 200;
    const means = Float64Array.from({ length: 2 * n }, () => rng.normal());
    const sds = Float64Array.from({ length: 2 * n }, () => 0.2 + rng.uniform());
    const u = Float64Array.from({ length: n }, () => 1.5 * rng.normal());
    const onLog = intervalCalibration({ samples: 2, rows: n, means, sds, transform: 'log' }, u.map(Math.exp));
    const onIdentity = intervalCalibration({ samples: 2, rows: n, means, sds }, u);
    expect(onLog.coverage).toEqual(onIdentity.coverage);
    expect(onLog.width['0.9']).not.toBeCloseTo(onIdentity.width['0.9'], 2);
  });

  it('targets drawn from the predictive itself are covered at the nominal rate (within Monte-Carlo error)', () => {
    const rng = new Rng(11);
    const n = 2000;
    const S = 3;
    for (const transform of [undefined, 'log'] as const) {
      const means = Float64Array.from({ length: S * n }, () => 2 * rng.normal());
      const sds = Float64Array.from({ length: S * n }, () => 0.1 + rng.uniform());
      const y = Float64Array.from({ length: n }, (_, i) => {
        const k = rng.int(S) * n + i;
        const u = means[k] + sds[k] * rng.normal();
        return transform === 'log' ? Math.exp(u) : u;
      });
      const c = intervalCalibration(
        { samples: S, rows: n, means, sds, ...(transform ? { transform } : {}) },
        y,
      );
      for (const p of INTERVAL_LEVELS) {
        const se = Math.sqrt((p * (1 - p)) / n);
        expect(Math.abs(c.coverage[String(p)] - p)).toBeLessThan(4 * se);
      }
      // Wider at higher levels.
      expect(c.width['0.5']).toBeLessThan(c.width['0.8']);
      expect(c.width['0.9']).toBeLessThan(c.width['0.95']);
    }
  });

  it('mixtures from a standardized target: μ_u = mean + std·μ, σ_u = std·σ', () => {
    const m = mixturesFromStandardized([0, 1, -1, 2], [1, 4, 0.25, 1], 2, {
      mean: 3,
      std: 2,
      transform: 'log',
    });
    expect(m.rows).toBe(2);
    expect(Array.from(m.means)).toEqual([3, 5, 1, 7]);
    expect(Array.from(m.sds)).toEqual([2, 4, 1, 2]);
    expect(m.transform).toBe('log');
  });
});

describe('CRPS', () => {
  it('closed forms agree with numerical integration (Gaussian, log-normal)', () => {
    for (const [mu, sd, y] of [
      [0, 1, 0.3],
      [5, 2, -1],
      [1, 0.1, 1.02],
    ]) {
      const integrated = mixtureCrpsIntegrated(mixtures([mu], [sd], 1), 0, y);
      expect(integrated / gaussianCrps(mu, sd, y)).toBeCloseTo(1, 6);
    }
    for (const [mu, sd, y] of [
      [Math.log(20), 0.2, 25],
      [0, 0.8, 0.4],
      [3, 0.05, 50],
    ]) {
      const integrated = mixtureCrpsIntegrated(mixtures([mu], [sd], 1, 'log'), 0, y);
      expect(integrated / lognormalCrps(mu, sd, y)).toBeCloseTo(1, 6);
    }
  });

  it('a Gaussian CRPS: σ(2φ(0) − 1/√π) at the mean, the absolute error as σ → 0', () => {
    expect(gaussianCrps(0, 2, 0)).toBeCloseTo(2 * (2 / Math.sqrt(2 * Math.PI) - 1 / Math.sqrt(Math.PI)), 14);
    expect(gaussianCrps(1, 1e-9, 4)).toBeCloseTo(3, 8);
  });

  it('a mixture: the pairwise formula equals the integral, and identical components the single Gaussian', () => {
    const m = mixtures([-1, 0.5, 4, 0], [0.3, 1, 2, 0.5], 4);
    for (const y of [-2, 0.7, 6])
      expect(mixtureCrpsPairwise(m, 0, y) / mixtureCrpsIntegrated(m, 0, y)).toBeCloseTo(1, 6);
    const same = mixtures([1.5, 1.5, 1.5], [0.7, 0.7, 0.7], 3);
    expect(mixtureCrpsPairwise(same, 0, 2.2)).toBeCloseTo(gaussianCrps(1.5, 0.7, 2.2), 13);
    const sameLog = mixtures([1.5, 1.5, 1.5], [0.3, 0.3, 0.3], 3, 'log');
    expect(rowCrps(sameLog, 0, 5) / lognormalCrps(1.5, 0.3, 5)).toBeCloseTo(1, 6);
  });

  it('mean CRPS over rows, and a predictive centred on the target scores better than a shifted one', () => {
    const m = mixtures([0, 10], [1, 1], 1);
    expect(meanCrps(m, [0, 10])).toBeCloseTo(gaussianCrps(0, 1, 0), 14);
    expect(meanCrps(m, [1, 12])).toBeGreaterThan(meanCrps(m, [0, 10]));
    expect(() => meanCrps(m, [1])).toThrow('meanCrps: 1 targets for 2 rows');
  });
});
