import { describe, expect, it } from 'vitest';
import { classificationFidelity, correlation, regressionFidelity } from '../../src/eval/fidelity.js';

describe('fidelity of a student to the ensemble', () => {
  it('classification: KL, agreement and total variation in closed form', () => {
    // Row 1: p_e = (1, 0), p_s = (½, ½): KL = log 2, TV = ½, argmax 0 both (ties go to the first).
    // Row 2: p_e = (0.2, 0.8), p_s = (0.6, 0.4): KL = 0.2 log(1/3) + 0.8 log 2, TV = 0.4, disagree.
    const f = classificationFidelity([1, 0, 0.2, 0.8], [0.5, 0.5, 0.6, 0.4], 2);
    expect(f.klToEnsemble).toBeCloseTo((Math.log(2) + 0.2 * Math.log(1 / 3) + 0.8 * Math.log(2)) / 2, 12);
    expect(f.totalVariation).toBeCloseTo((0.5 + 0.4) / 2, 12);
    expect(f.agreement).toBe(0.5);
    expect(classificationFidelity([0.3, 0.7], [0.3, 0.7], 2)).toEqual({
      klToEnsemble: 0,
      agreement: 1,
      totalVariation: 0,
    });
  });

  it('regression: the Gaussians’ KL, the RMSE between means and the correlation of the sds', () => {
    // KL(N(0, 1) ‖ N(1, 4)) = ½[log 4 + (1 + 1)/4 − 1]; KL(N(2, 4) ‖ N(2, 16)) = ½[log 4 + 4/16 − 1].
    const f = regressionFidelity([0, 2, 5], [1, 4, 9], [1, 2, 5], [4, 16, 36]);
    const kl =
      (0.5 * (Math.log(4) + 0.5 - 1) + 0.5 * (Math.log(4) + 0.25 - 1) + 0.5 * (Math.log(4) + 0.25 - 1)) / 3;
    expect(f.klToEnsemble).toBeCloseTo(kl, 12);
    expect(f.meanRmseToEnsemble).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(f.sdCorrelation).toBeCloseTo(1, 12); // sds (1, 2, 3) and (2, 4, 6)
  });

  it('correlation: ±1 on lines, the closed form otherwise, NaN without spread', () => {
    expect(correlation([1, 2, 3], [-1, -3, -5])).toBeCloseTo(-1, 12);
    // x = (1, 2, 3), y = (1, 3, 2): cov = ½·… → r = 0.5.
    expect(correlation([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 12);
    expect(correlation([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});
