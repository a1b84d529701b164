import { describe, expect, it } from 'vitest';
import { lgamma64 } from '../../src/distill/special-functions.js';
import { dirichletRows, predictiveOutputs, twoVarianceRows } from '../../src/eval/student-heads.js';

/** E[H(p)] under Beta(a, b), H the binary entropy, by the midpoint rule (independent of ψ). */
function expectedBinaryEntropy(a: number, b: number): number {
  const n = 200_000;
  const logB = lgamma64(a) + lgamma64(b) - lgamma64(a + b);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = (i + 0.5) / n;
    const density = Math.exp((a - 1) * Math.log(p) + (b - 1) * Math.log(1 - p) - logB);
    s += density * -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
  }
  return s / n;
}

describe('student heads', () => {
  it("a Dirichlet's total, expected and mutual-information uncertainties", () => {
    const concentrations = [
      [1, 1],
      [2, 5],
      [30, 0.5],
    ];
    const r = dirichletRows(concentrations.flat().map(Math.log), 2);
    concentrations.forEach(([a, b], i) => {
      const mean = a / (a + b);
      expect(r.alpha0[i]).toBeCloseTo(a + b, 10);
      expect(r.totalEntropy[i]).toBeCloseTo(-(mean * Math.log(mean) + (1 - mean) * Math.log(1 - mean)), 10);
      expect(r.expectedEntropy[i]).toBeCloseTo(expectedBinaryEntropy(a, b), 4);
      expect(r.mutualInformation[i]).toBeCloseTo(r.totalEntropy[i] - r.expectedEntropy[i], 12);
    });
    expect(r.expectedEntropy[0]).toBeCloseTo(0.5, 10); // the uniform Beta(1, 1): 2 ∫ −p log p dp = ½
    // The same mean with a thousand times the concentration: almost no knowledge uncertainty left.
    const sharp = dirichletRows([Math.log(2000), Math.log(5000)], 2);
    expect(sharp.totalEntropy[0]).toBeCloseTo(r.totalEntropy[1], 10);
    expect(sharp.mutualInformation[0]).toBeLessThan(r.mutualInformation[1] / 500);
    // Large log-concentrations: the mean through the largest z, and beyond float64 the limit α₀ → ∞.
    const large = dirichletRows([700, 699, 600], 3);
    const p = [1, Math.exp(-1), Math.exp(-100)].map((v, _, a) => v / (a[0] + a[1] + a[2]));
    expect(large.totalEntropy[0]).toBeCloseTo(-p.reduce((t, q) => t + q * Math.log(q), 0), 10);
    expect(large.mutualInformation[0]).toBeLessThan(1e-12); // (K − 1)/(2α₀) ≈ 1e-304, up to rounding
    const huge = dirichletRows([800, 799, 700], 3);
    expect(huge.alpha0[0]).toBe(Infinity);
    expect(huge.expectedEntropy[0]).toBe(huge.totalEntropy[0]);
    expect(huge.mutualInformation[0]).toBe(0);
  });

  it('two-variance outputs become a Gaussian with the summed variance; other heads pass through', () => {
    const raw = Float32Array.of(0.5, Math.log(0.2), Math.log(0.05), -1, Math.log(1), Math.log(3));
    const { values, units } = predictiveOutputs(raw, 'regression', 3);
    expect(units).toBe(2);
    expect(values[0]).toBeCloseTo(0.5, 6);
    expect(Math.exp(values[1])).toBeCloseTo(0.25, 6);
    expect(Math.exp(values[3])).toBeCloseTo(4, 5);
    const rows = twoVarianceRows(raw);
    expect(rows.aleatoric[1]).toBeCloseTo(1, 6);
    expect(rows.epistemic[1]).toBeCloseTo(3, 5);
    const logits = Float32Array.of(1, 2, 3);
    expect(predictiveOutputs(logits, 'classification', 3).values).toBe(logits);
    const gaussian = Float32Array.of(0, 0);
    expect(predictiveOutputs(gaussian, 'regression', 2)).toEqual({ values: gaussian, units: 2 });
  });
});
