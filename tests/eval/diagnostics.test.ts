import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  autocorrelation,
  autocovariance,
  effectiveSampleSize,
  splitRhat,
  summarizeChains,
} from '../../src/eval/diagnostics.js';

/** Stationary AR(1) x_t = φ x_{t−1} + ε_t, ε ~ N(0, 1), started from its stationary law N(0, 1/(1−φ²)). */
function ar1(rng: Rng, n: number, phi: number, mean = 0): Float64Array {
  const x = new Float64Array(n);
  let v = rng.normal() / Math.sqrt(1 - phi * phi);
  for (let t = 0; t < n; t++) {
    x[t] = mean + v;
    v = phi * v + rng.normal();
  }
  return x;
}

function iidChains(rng: Rng, m: number, n: number, means: number[] = []): Float64Array[] {
  return Array.from(
    { length: m },
    (_, j) => rng.fillNormal(new Float64Array(n), means[j] ?? 0, 1) as Float64Array,
  );
}

describe('autocorrelation', () => {
  it('matches a hand-computed tiny series', () => {
    // x = [1, 2, 3, 4]: mean 2.5, centred [-1.5, -0.5, 0.5, 1.5]; γ0 = 5/4, γ1 = (0.75 − 0.25 + 0.75)/4 = 1.25/4,
    // γ2 = (−0.75 − 0.75)/4, γ3 = −2.25/4.
    const r = autocorrelation([1, 2, 3, 4], 3);
    expect(Array.from(r)).toEqual([1, 0.25, -0.3, -0.45].map((v) => expect.closeTo(v, 14)));
  });

  it('is ≈ φ^k for an AR(1) process', () => {
    const phi = 0.9;
    const x = ar1(new Rng(11), 100_000, phi);
    const r = autocorrelation(x, 30);
    expect(r.length).toBe(31);
    expect(r[0]).toBe(1);
    for (let k = 1; k <= 30; k++) {
      // sd of ρ̂_k for this n is < 0.02 (Bartlett); 0.05 is a > 2.5σ margin even at k = 30.
      expect(Math.abs(r[k] - phi ** k)).toBeLessThan(0.05);
    }
    // A negative φ alternates in sign.
    const y = ar1(new Rng(12), 50_000, -0.5);
    const ry = autocorrelation(y, 3);
    expect(ry[1]).toBeCloseTo(-0.5, 1);
    expect(ry[2]).toBeCloseTo(0.25, 1);
    expect(ry[3]).toBeCloseTo(-0.125, 1);
  });

  it('gives the same values by the FFT and direct routes, and is fast for n = 100 000, maxLag = 1000', () => {
    const x = ar1(new Rng(3), 100_000, 0.7);
    const t0 = performance.now();
    const fast = autocorrelation(x, 1000); // FFT route
    const elapsed = performance.now() - t0;
    const direct = autocorrelation(x, 5); // direct route (5 lags are cheaper than the FFT)
    for (let k = 0; k <= 5; k++) expect(fast[k]).toBeCloseTo(direct[k], 12);
    // Independent brute-force check at a large lag.
    let mean = 0;
    for (const v of x) mean += v;
    mean /= x.length;
    let g0 = 0;
    let g = 0;
    const k = 777;
    for (let t = 0; t < x.length; t++) g0 += (x[t] - mean) ** 2;
    for (let t = 0; t + k < x.length; t++) g += (x[t] - mean) * (x[t + k] - mean);
    expect(fast[k]).toBeCloseTo(g / g0, 12);
    expect(elapsed).toBeLessThan(2000);
  });

  it('returns NaN for a constant series and clamps maxLag to n − 1', () => {
    expect(Array.from(autocorrelation([2, 2, 2], 5)).every(Number.isNaN)).toBe(true);
    expect(autocorrelation([1, 3, 2], 10).length).toBe(3);
    expect(autocovariance([1, 3, 2]).length).toBe(3);
  });
});

describe('effectiveSampleSize', () => {
  it('is ≈ the number of draws for iid normals (4 chains × 2000)', () => {
    const chains = iidChains(new Rng(1), 4, 2000);
    const ess = effectiveSampleSize(chains);
    expect(ess / 8000).toBeGreaterThan(0.85);
    expect(ess / 8000).toBeLessThan(1.15);
    const split = effectiveSampleSize(chains, { split: true });
    expect(split / 8000).toBeGreaterThan(0.85);
    expect(split / 8000).toBeLessThan(1.15);
  });

  it('matches (1 − φ)/(1 + φ)·n for AR(1) with φ = 0.9, multi-chain and single chain', () => {
    const phi = 0.9;
    const target = (1 - phi) / (1 + phi);
    const rng = new Rng(2);
    const chains = Array.from({ length: 4 }, () => ar1(rng, 10_000, phi));
    const ratio = effectiveSampleSize(chains) / 40_000;
    expect(Math.abs(ratio / target - 1)).toBeLessThan(0.25);
    const single = effectiveSampleSize([ar1(new Rng(5), 40_000, phi)]) / 40_000;
    expect(Math.abs(single / target - 1)).toBeLessThan(0.25);
  });

  it('exceeds the number of draws for an antithetic AR(1) (φ = −0.5, ESS/n ≈ 3)', () => {
    const rng = new Rng(4);
    const chains = Array.from({ length: 4 }, () => ar1(rng, 5000, -0.5));
    const ratio = effectiveSampleSize(chains) / 20_000;
    expect(Math.abs(ratio / 3 - 1)).toBeLessThan(0.25);
  });

  it('drops sharply when chains disagree (between-chain variance)', () => {
    const rng = new Rng(6);
    const agree = effectiveSampleSize(iidChains(rng, 4, 1000));
    const disagree = effectiveSampleSize(iidChains(rng, 4, 1000, [0, 2, 4, 6]));
    expect(agree).toBeGreaterThan(3000);
    expect(disagree).toBeLessThan(100);
  });

  it('matches reference values from ArviZ 0.23.4 (ess method="identity", rhat method="split")', () => {
    // Two short chains picked so that both Geyer steps matter: without the monotone correction the
    // reference gives 12.57, and keeping the first negative pair gives 17.28, instead of 16.15.
    // Reference values: ArviZ's `_ess`/`_rhat`/`_split_chains` (arviz/stats/diagnostics.py) run on these
    // arrays with NumPy 2.4.
    const x = [
      [-0.01, -1.97, 1.77, 2.88, 1.92, 0.52, 0.17, -2.31, 0.31, 1.8, 0.92, -2.64, -0.41, -0.63, -1.61, -0.52],
      [
        -1.44, -0.41, 0.68, 0.95, -0.58, 0.92, -0.23, -1.78, 1.64, -1.44, -3.27, -1.56, -0.12, -1.84, -1.92,
        -2.74,
      ],
    ];
    expect(effectiveSampleSize(x)).toBeCloseTo(16.150441479422636, 10);
    expect(effectiveSampleSize(x, { split: true })).toBeCloseTo(22.302901327196487, 10);
    expect(effectiveSampleSize([x[0]])).toBeCloseTo(11.575604881389026, 10);
    expect(splitRhat(x)).toBeCloseTo(1.0601614875794394, 12);
    expect(splitRhat([x[1]])).toBeCloseTo(1.127169968791137, 12);
    // A second pair where Stan's "improve the estimate with the last positive even term" step matters
    // (without it the reference gives 32.68 instead of 30.96).
    const y = [
      [1.7, -0.02, 0.05, 1.23, -1.35, -0.92, 1.82, 0.51, 0.63, -0.84, 2.74, 2.12, 2.48, -0.4, 1.89, -1.49],
      [1.49, 0.73, 0.31, -0.36, 1.28, 0.65, -1.24, 0.95, -0.35, -2.2, 0.95, -1.28, -0.03, -1.06, -0.01, 1.67],
    ];
    expect(effectiveSampleSize(y)).toBeCloseTo(30.95501391695005, 10);
    expect(effectiveSampleSize(y, { split: true })).toBeCloseTo(48.16479930623699, 10);
    expect(splitRhat(y)).toBeCloseTo(1.0121411177560644, 12);
  });

  it('returns NaN for constant, too short or non-finite chains and rejects unequal lengths', () => {
    expect(effectiveSampleSize([new Float64Array(100).fill(3), new Float64Array(100).fill(3)])).toBeNaN();
    expect(effectiveSampleSize([[1, 2, 3]])).toBeNaN();
    expect(effectiveSampleSize([[1, 2, NaN, 4, 5]])).toBeNaN();
    expect(() =>
      effectiveSampleSize([
        [1, 2, 3, 4],
        [1, 2, 3],
      ]),
    ).toThrow(/length/);
    expect(() => effectiveSampleSize([])).toThrow(/no chains/);
  });
});

describe('splitRhat', () => {
  it('matches a hand computation', () => {
    // Halves [1,2] [3,4] [2,3] [4,5]: means 1.5 3.5 2.5 4.5, each variance 0.5 → W = 0.5.
    // Var(means) = 5/3, n = 2: var⁺ = ½·0.5 + 5/3 = 23/12, R̂ = √(23/6).
    expect(splitRhat([[1, 2, 3, 4], new Float64Array([2, 3, 4, 5])])).toBeCloseTo(Math.sqrt(23 / 6), 14);
    // The middle draw of an odd chain is dropped: [1,2,99,3,4] splits into [1,2] and [3,4].
    expect(
      splitRhat([
        [1, 2, 99, 3, 4],
        [2, 3, -7, 4, 5],
      ]),
    ).toBeCloseTo(Math.sqrt(23 / 6), 14);
  });

  it('is < 1.01 for iid chains and > 1.1 for chains with different means', () => {
    const rng = new Rng(7);
    const good = splitRhat(iidChains(rng, 4, 2000));
    expect(good).toBeLessThan(1.01);
    expect(good).toBeGreaterThan(0.99);
    expect(splitRhat(iidChains(rng, 4, 2000, [0, 0.5, 1, 1.5]))).toBeGreaterThan(1.1);
  });

  it('detects drift within a single chain thanks to splitting', () => {
    const rng = new Rng(8);
    const n = 2000;
    const x = new Float64Array(n);
    for (let t = 0; t < n; t++) x[t] = rng.normal() + (3 * t) / n;
    expect(splitRhat([x])).toBeGreaterThan(1.1);
    const y = rng.fillNormal(new Float64Array(n)) as Float64Array;
    expect(splitRhat([y])).toBeLessThan(1.01);
  });

  it('returns NaN for constant input and +Infinity for constant halves that differ', () => {
    expect(splitRhat([new Float64Array(10).fill(1)])).toBeNaN();
    expect(splitRhat([[0, 0, 1, 1]])).toBe(Infinity);
  });
});

describe('summarizeChains', () => {
  it('reports mean, sd, ESS, R̂ and mcse = sd/√ESS', () => {
    const rng = new Rng(9);
    const chains = Array.from({ length: 4 }, () => ar1(rng, 5000, 0.5, 10));
    const s = summarizeChains(chains);
    const stationarySd = 1 / Math.sqrt(1 - 0.25);
    expect(s.sd).toBeCloseTo(stationarySd, 1);
    expect(s.ess).toBe(effectiveSampleSize(chains));
    expect(s.rhat).toBe(splitRhat(chains));
    expect(s.mcse).toBeCloseTo(s.sd / Math.sqrt(s.ess), 14);
    // The true mean lies within 5 MCSE of the estimate.
    expect(Math.abs(s.mean - 10)).toBeLessThan(5 * s.mcse);
    // And the ESS matches (1 − φ)/(1 + φ) = 1/3 of the draws.
    expect(Math.abs(s.ess / 20_000 / (1 / 3) - 1)).toBeLessThan(0.25);
  });

  it('gives NaN diagnostics for constant chains', () => {
    const s = summarizeChains([new Float64Array(50).fill(4), new Float64Array(50).fill(4)]);
    expect(s.mean).toBe(4);
    expect(s.sd).toBe(0);
    expect(s.ess).toBeNaN();
    expect(s.rhat).toBeNaN();
    expect(s.mcse).toBeNaN();
  });
});
