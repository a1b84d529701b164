import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  MixtureAccumulator,
  NLL_CLAMP,
  brier,
  ece,
  errorRate,
  gaussianLogDensity,
  meanLogLikelihood,
  mixtureLogDensity,
  mixtureMoments,
  nll,
  predictiveEntropy,
  reliabilityBins,
  rmse,
} from '../../src/eval/metrics.js';

const normalPdf = (y: number, mu: number, v: number): number =>
  Math.exp(-((y - mu) ** 2) / (2 * v)) / Math.sqrt(2 * Math.PI * v);

function expectRelClose(actual: number, expected: number, rel: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected)));
}

describe('regression metrics', () => {
  it('rmse and gaussianLogDensity match hand computations', () => {
    expect(rmse(new Float64Array([1, 2, 3]), new Float64Array([1, 3, 5]))).toBeCloseTo(Math.sqrt(5 / 3), 15);
    const ld = gaussianLogDensity(
      new Float64Array([1, 0]),
      new Float64Array([0, 0]),
      new Float64Array([4, 1]),
    );
    expect(ld[0]).toBeCloseTo(-0.5 * Math.log(2 * Math.PI * 4) - 1 / 8, 15);
    expect(ld[1]).toBeCloseTo(-0.5 * Math.log(2 * Math.PI), 15);
    // Shared variance.
    expect(gaussianLogDensity([3], [1], 2)[0]).toBeCloseTo(Math.log(normalPdf(3, 1, 2)), 14);
    expect(() => rmse([1, 2], [1])).toThrow();
  });

  it('mixture of two Gaussians equals the direct formula', () => {
    // S = 2 samples, n = 3 points; sample s, point i at s·n + i.
    const y = new Float64Array([0.3, -1, 2.5]);
    const means = new Float64Array([0, 1, 2, 1, -2, 3]);
    const vars = new Float64Array([1, 0.5, 2, 0.25, 1.5, 0.7]);
    const ld = mixtureLogDensity(y, means, vars, 2, 3);
    for (let i = 0; i < 3; i++) {
      const direct = Math.log(
        0.5 * normalPdf(y[i], means[i], vars[i]) + 0.5 * normalPdf(y[i], means[3 + i], vars[3 + i]),
      );
      expect(ld[i]).toBeCloseTo(direct, 13);
    }
    expect(meanLogLikelihood(y, means, vars, 2)).toBeCloseTo((ld[0] + ld[1] + ld[2]) / 3, 14);
  });

  it('a one-component mixture is the Gaussian', () => {
    const rng = new Rng(1);
    const n = 50;
    const y = rng.fillNormal(new Float64Array(n)) as Float64Array;
    const mu = rng.fillNormal(new Float64Array(n)) as Float64Array;
    const v = Float64Array.from({ length: n }, () => 0.1 + rng.uniform());
    const g = gaussianLogDensity(y, mu, v);
    const m = mixtureLogDensity(y, mu, v, 1, n);
    for (let i = 0; i < n; i++) expect(m[i]).toBeCloseTo(g[i], 14);
    let mean = 0;
    for (const x of g) mean += x;
    expect(meanLogLikelihood(y, mu, v)).toBeCloseTo(mean / n, 13);
  });

  it('stays finite and exact when every component density underflows', () => {
    const v = 1e-6;
    // Means 1e3 apart, y halfway: both log densities are ℓ = −½log(2πv) − 500²/(2v) ≈ −1.25e11,
    // so log(½e^ℓ + ½e^ℓ) = ℓ exactly; the direct formula gives −∞.
    const ell = -0.5 * Math.log(2 * Math.PI * v) - 500 ** 2 / (2 * v);
    const y = new Float64Array([500, 0, 43]);
    const means = new Float64Array([0, 0, 0, 1000, 1000, 1]);
    const vars = new Float64Array([v, v, 1, v, v, 1]);
    const ld = mixtureLogDensity(y, means, vars, 2, 3);
    expect(Math.log(0.5 * normalPdf(500, 0, v) + 0.5 * normalPdf(500, 1000, v))).toBe(-Infinity);
    expectRelClose(ld[0], ell, 1e-15);
    // At y = 0 the first component dominates completely: log(½ N(0|0,v)).
    expectRelClose(ld[1], -0.5 * Math.log(2 * Math.PI * v) + Math.log(0.5), 1e-14);
    // Densities ≈ 1e-400 (ℓ ≈ −921 and −879): log(½(e^ℓ1 + e^ℓ2)) = ℓ2 + log(½(1 + e^{ℓ1−ℓ2})).
    const l1 = -0.5 * Math.log(2 * Math.PI) - 43 ** 2 / 2;
    const l2 = -0.5 * Math.log(2 * Math.PI) - 42 ** 2 / 2;
    expect(Math.exp(l1)).toBe(0);
    expectRelClose(ld[2], l2 + Math.log(0.5 * (1 + Math.exp(l1 - l2))), 1e-15);
    for (const x of ld) expect(Number.isFinite(x)).toBe(true);
  });

  it('mixtureMoments follows the law of total variance', () => {
    // Two components μ = (0, 2), σ² = (1, 3) at one point: mean 1, variance ½(1+0) + ½(3+4) − 1 = 3.
    const { mean, variance } = mixtureMoments(new Float64Array([0, 2]), new Float64Array([1, 3]), 2, 1);
    expect(mean[0]).toBeCloseTo(1, 15);
    expect(variance[0]).toBeCloseTo(3, 15);
    // No cancellation when the means are huge compared with their spread.
    const big = mixtureMoments(new Float64Array([1e9, 1e9 + 2]), 1e-6, 2, 1);
    expect(big.variance[0]).toBeCloseTo(1 + 1e-6, 12);
  });

  it('mixtureMoments agrees with Monte-Carlo sampling from the mixture within 5 standard errors', () => {
    const S = 3;
    const n = 2;
    const means = new Float64Array([0, 5, 2, -1, -3, 4]);
    const vars = new Float64Array([1, 0.2, 0.5, 2, 4, 0.1]);
    const { mean, variance } = mixtureMoments(means, vars, S, n);
    const rng = new Rng(2024);
    const N = 200_000;
    for (let i = 0; i < n; i++) {
      const draws = new Float64Array(N);
      for (let t = 0; t < N; t++) {
        const s = rng.int(S);
        draws[t] = means[s * n + i] + Math.sqrt(vars[s * n + i]) * rng.normal();
      }
      let m = 0;
      for (const d of draws) m += d;
      m /= N;
      let m2 = 0;
      let m4 = 0;
      for (const d of draws) {
        m2 += (d - m) ** 2;
        m4 += (d - m) ** 4;
      }
      m2 /= N - 1;
      m4 /= N;
      const seMean = Math.sqrt(m2 / N);
      const seVar = Math.sqrt((m4 - m2 * m2) / N);
      expect(Math.abs(m - mean[i])).toBeLessThan(5 * seMean);
      expect(Math.abs(m2 - variance[i])).toBeLessThan(5 * seVar);
    }
  });
});

describe('MixtureAccumulator', () => {
  it('gives the same moments and log density chunk by chunk as all at once (to 1e-12)', () => {
    const rng = new Rng(77);
    const S = 1000;
    const n = 40;
    const y = rng.fillNormal(new Float64Array(n), 0, 3) as Float64Array;
    const means = new Float64Array(S * n);
    const vars = new Float64Array(S * n);
    for (let s = 0; s < S; s++) {
      for (let i = 0; i < n; i++) {
        // Include far-out components so the running maximum changes between chunks.
        means[s * n + i] = 10 * i + rng.normal() * (s % 7 === 0 ? 30 : 1);
        vars[s * n + i] = 1e-3 + rng.uniform();
      }
    }
    const all = mixtureLogDensity(y, means, vars, S, n);
    const mom = mixtureMoments(means, vars, S, n);
    const acc = new MixtureAccumulator(n, y);
    const sizes = [1, 7, 100, 3, 389, 500];
    let start = 0;
    for (const k of sizes) {
      acc.add(means.subarray(start * n, (start + k) * n), vars.subarray(start * n, (start + k) * n), k);
      start += k;
    }
    expect(start).toBe(S);
    const r = acc.result();
    expect(r.samples).toBe(S);
    expect(r.logDensity).not.toBeNull();
    for (let i = 0; i < n; i++) {
      expectRelClose(r.logDensity![i], all[i], 1e-12);
      expectRelClose(r.mean[i], mom.mean[i], 1e-12);
      expectRelClose(r.variance[i], mom.variance[i], 1e-12);
    }
    // Without targets only the moments are kept.
    const noY = new MixtureAccumulator(n).add(means, vars, S).result();
    expect(noY.logDensity).toBeNull();
    expectRelClose(noY.variance[5], mom.variance[5], 1e-12);
  });

  it('keeps the running log-sum-exp finite when the densities underflow', () => {
    const v = 1e-6;
    const acc = new MixtureAccumulator(1, [500]);
    acc.add([0], v, 1);
    acc.add([1000], v, 1);
    const ell = -0.5 * Math.log(2 * Math.PI * v) - 500 ** 2 / (2 * v);
    expectRelClose(acc.result().logDensity![0], ell, 1e-15);
  });

  it('rejects bad chunks and empty results', () => {
    const acc = new MixtureAccumulator(3);
    expect(() => acc.result()).toThrow(/no samples/);
    expect(() => acc.add(new Float64Array(5), 1, 2)).toThrow();
    expect(() => new MixtureAccumulator(2, [1])).toThrow();
  });
});

describe('classification metrics', () => {
  // K = 3, five examples (see the hand computations below).
  const K = 3;
  // Rows: y = 0 conf 0.7 ✓; y = 1 conf 0.55 ✗; y = 1 conf 0.9 ✓; y = 2 conf 0.45 ✗; y = 0 conf 0.75 ✗.
  const rows = [
    [0.7, 0.2, 0.1],
    [0.1, 0.35, 0.55],
    [0.05, 0.9, 0.05],
    [0.45, 0.3, 0.25],
    [0.15, 0.1, 0.75],
  ];
  const probs = new Float64Array(rows.flat());
  const labels = new Int32Array([0, 1, 1, 2, 0]);

  it('errorRate, nll and brier match hand computations', () => {
    expect(errorRate(probs, labels, K)).toBe(3 / 5);
    const expectedNll =
      -(Math.log(0.7) + Math.log(0.35) + Math.log(0.9) + Math.log(0.25) + Math.log(0.15)) / 5;
    expect(nll(probs, labels, K)).toBeCloseTo(expectedNll, 14);
    // Per example: 0.14, 0.735, 0.015, 0.855, 1.295 → sum 3.04.
    expect(brier(probs, labels, K)).toBeCloseTo(3.04 / 5, 14);
  });

  it('ece and reliabilityBins match a hand computation', () => {
    // 5 bins of width 0.2. Bin (0.4,0.6]: {0.55 ✗, 0.45 ✗} acc 0, conf 0.5 → 2/5·0.5 = 0.2;
    // bin (0.6,0.8]: {0.7 ✓, 0.75 ✗} acc 0.5, conf 0.725 → 2/5·0.225 = 0.09; bin (0.8,1]: {0.9 ✓} → 1/5·0.1 = 0.02.
    expect(ece(probs, labels, K, 5)).toBeCloseTo(0.31, 14);
    const bins = reliabilityBins(probs, labels, K, 5);
    expect(bins.map((b) => b.count)).toEqual([0, 0, 2, 2, 1]);
    expect(bins[2].accuracy).toBe(0);
    expect(bins[2].confidence).toBeCloseTo(0.5, 15);
    expect(bins[3].accuracy).toBe(0.5);
    expect(bins[3].confidence).toBeCloseTo(0.725, 15);
    expect(bins[4]).toMatchObject({ lower: 0.8, upper: 1, count: 1, accuracy: 1 });
    expect(bins[0].accuracy).toBeNaN();
    expect(bins[0].confidence).toBeNaN();
    expect(bins[1]).toMatchObject({ lower: 0.2, upper: 0.4 });
  });

  it('bins are (lower, upper] and the default is 15 bins', () => {
    // K = 2: confidences exactly 0.5 (→ bin (0, 0.5]), 0.75 (→ (0.5, 0.75]) and 1 (→ (0.75, 1]).
    const p = new Float64Array([0.5, 0.5, 0.25, 0.75, 1, 0]);
    const y = new Int32Array([0, 1, 0]);
    expect(reliabilityBins(p, y, 2, 4).map((b) => b.count)).toEqual([0, 1, 1, 1]);
    expect(reliabilityBins(p, y, 2).length).toBe(15);
    // Perfectly calibrated: every confidence-1 prediction correct.
    expect(ece(new Float64Array([1, 0, 0, 1]), new Int32Array([0, 1]), 2)).toBe(0);
    // Always wrong at confidence 1: ECE = 1.
    expect(ece(new Float64Array([1, 0, 0, 1]), new Int32Array([1, 0]), 2)).toBe(1);
  });

  it('nll clamps zero probabilities at 1e-12', () => {
    const p = new Float32Array([1, 0, 0.5, 0.5]);
    const y = new Int32Array([1, 0]);
    expect(nll(p, y, 2)).toBeCloseTo((-Math.log(NLL_CLAMP) + Math.log(2)) / 2, 12);
    expect(Number.isFinite(nll(p, y, 2))).toBe(true);
  });

  it('predictiveEntropy is log K for uniform, 0 for one-hot, and the formula otherwise', () => {
    const h = predictiveEntropy(
      new Float64Array([0.25, 0.25, 0.25, 0.25, 0, 1, 0, 0, 0.5, 0.25, 0.25, 0]),
      4,
    );
    expect(h[0]).toBeCloseTo(Math.log(4), 15);
    expect(h[1]).toBe(0);
    expect(h[2]).toBeCloseTo(-(0.5 * Math.log(0.5) + 2 * 0.25 * Math.log(0.25)), 15);
  });

  it('rejects mismatched shapes and out-of-range labels', () => {
    expect(() => errorRate(new Float64Array(5), new Int32Array([0, 1]), 3)).toThrow();
    expect(() => brier(new Float64Array(6), new Int32Array([0, 3]), 3)).toThrow(/label/);
    expect(() => predictiveEntropy(new Float64Array(5), 2)).toThrow();
  });
});
