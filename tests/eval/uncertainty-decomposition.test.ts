import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { mixturesFromStandardized } from '../../src/eval/gaussian-mixture.js';
import { mixtureMoments } from '../../src/eval/metrics.js';
import {
  entropyDecomposition,
  entropyDecompositionOfSamples,
  rowEntropies,
  varianceDecomposition,
} from '../../src/eval/uncertainty-decomposition.js';

describe('uncertainty decomposition', () => {
  it('classification: samples that agree have no mutual information; opposite certain ones log 2', () => {
    // Two samples, two rows: row 0 both (0.3, 0.7); row 1 one says (1, 0), the other (0, 1).
    const d = entropyDecompositionOfSamples([0.3, 0.7, 1, 0, 0.3, 0.7, 0, 1], 2, 2);
    const h = -(0.3 * Math.log(0.3) + 0.7 * Math.log(0.7));
    expect(d.totalEntropy).toBeCloseTo((h + Math.log(2)) / 2, 14);
    expect(d.expectedEntropy).toBeCloseTo(h / 2, 14);
    expect(d.mutualInformation).toBeCloseTo(Math.log(2) / 2, 14);
    expect(rowEntropies([1, 0, 0.5, 0.5], 2)).toEqual(Float64Array.of(0, Math.log(2)));
  });

  it('classification: total = expected + mutual information, and the information is never negative', () => {
    const rng = new Rng(5);
    const [S, n, K] = [7, 50, 4];
    const probs = new Float64Array(S * n * K);
    for (let r = 0; r < S * n; r++) {
      let z = 0;
      for (let k = 0; k < K; k++) z += probs[r * K + k] = Math.exp(3 * rng.normal());
      for (let k = 0; k < K; k++) probs[r * K + k] /= z;
    }
    const d = entropyDecompositionOfSamples(probs, S, K);
    expect(d.mutualInformation).toBeGreaterThan(0);
    expect(d.totalEntropy).toBeCloseTo(d.expectedEntropy + d.mutualInformation, 12);
    expect(d.totalEntropy).toBeLessThanOrEqual(Math.log(K));
    expect(() => entropyDecomposition([0.5, 0.5], [0, 0], 2)).toThrow(
      'entropyDecomposition: 2 entropies for 1 rows',
    );
  });

  it('regression: E[σ²] + Var[μ] is the mixture variance, in original units squared or of log y', () => {
    const rng = new Rng(8);
    const [S, n] = [6, 30];
    const means = Float64Array.from({ length: S * n }, () => rng.normal());
    const variances = Float64Array.from({ length: S * n }, () => 0.05 + rng.uniform());
    const target = { mean: 22, std: 9 };
    const d = varianceDecomposition(mixturesFromStandardized(means, variances, S, target));
    const mm = mixtureMoments(means, variances, S, n);
    const total = (mm.variance.reduce((a, v) => a + v, 0) / n) * target.std ** 2;
    expect(d.totalVariance).toBeCloseTo(total, 10);
    expect(d.expectedVariance + d.varianceOfMeans).toBeCloseTo(d.totalVariance, 12);
    expect(d.scale).toBe('original');
    // By hand: one row, components N(0, 1) and N(2, 3) (std 1): E[σ²] = 2, Var[μ] = 1.
    const two = varianceDecomposition(
      mixturesFromStandardized([0, 2], [1, 3], 2, { mean: 0, std: 1, transform: 'log' }),
    );
    expect(two.totalVariance).toBeCloseTo(3, 14);
    expect(two.expectedVariance).toBeCloseTo(2, 14);
    expect(two.varianceOfMeans).toBeCloseTo(1, 14);
    expect(two.scale).toBe('log');
  });
});
