import { varianceParts, type GaussianMixtures } from './gaussian-mixture.js';

/**
 * The ensemble's predictive uncertainty split into an aleatoric part (the noise each posterior sample
 * predicts) and an epistemic part (the samples' disagreement), as means over the test rows
 * (docs/design.md §4.6; Depeweg et al. 2018).
 */

/** Classification, in nats: totalEntropy = expectedEntropy (aleatoric) + mutualInformation (epistemic). */
export interface EntropyDecomposition {
  /** Mean over rows of H[E_s p_s], the entropy of the ensemble's mean probabilities. */
  totalEntropy: number;
  /** Mean over rows of E_s H[p_s], the samples' mean entropy. */
  expectedEntropy: number;
  /** Mean over rows of H[E_s p_s] − E_s H[p_s] ≥ 0, the mutual information of the label and θ. */
  mutualInformation: number;
}

/** Regression: totalVariance = expectedVariance E[σ²] (aleatoric) + varianceOfMeans Var[μ] (epistemic). */
export interface VarianceDecomposition {
  totalVariance: number;
  expectedVariance: number;
  varianceOfMeans: number;
  /** `original`: in the target's units squared; `log`: for a log target, of log y. */
  scale: 'original' | 'log';
}

/** Entropy −Σ_k p_k log p_k of each row of n × K probabilities (0 log 0 = 0). */
export function rowEntropies(probs: ArrayLike<number>, classes: number): Float64Array {
  const n = probs.length / classes;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < classes; k++) {
      const p = probs[i * classes + k];
      if (p > 0) out[i] -= p * Math.log(p);
    }
  return out;
}

/**
 * The decomposition from the ensemble's mean probabilities (n × K) and each row's mean entropy of the
 * samples' probabilities. The mutual information of a row is the difference, clamped at 0 against
 * rounding (it is ≥ 0 by the concavity of the entropy).
 */
export function entropyDecomposition(
  meanProbs: ArrayLike<number>,
  expectedEntropy: ArrayLike<number>,
  classes: number,
): EntropyDecomposition {
  const total = rowEntropies(meanProbs, classes);
  const n = total.length;
  if (expectedEntropy.length !== n)
    throw new Error(`entropyDecomposition: ${expectedEntropy.length} entropies for ${n} rows`);
  let t = 0;
  let e = 0;
  let mi = 0;
  for (let i = 0; i < n; i++) {
    t += total[i];
    e += expectedEntropy[i];
    mi += Math.max(0, total[i] - expectedEntropy[i]);
  }
  return { totalEntropy: t / n, expectedEntropy: e / n, mutualInformation: mi / n };
}

/** The decomposition from every sample's probabilities, S × n × K (sample s, row i, class k). */
export function entropyDecompositionOfSamples(
  probs: ArrayLike<number>,
  samples: number,
  classes: number,
): EntropyDecomposition {
  const n = probs.length / samples / classes;
  const mean = new Float64Array(n * classes);
  const expected = new Float64Array(n);
  for (let s = 0; s < samples; s++) {
    const p = Array.prototype.slice.call(probs, s * n * classes, (s + 1) * n * classes) as number[];
    const h = rowEntropies(p, classes);
    for (let i = 0; i < n; i++) expected[i] += h[i] / samples;
    for (let k = 0; k < n * classes; k++) mean[k] += p[k] / samples;
  }
  return entropyDecomposition(mean, expected, classes);
}

/**
 * The decomposition of the mixtures' variance over u = T(y), mean over rows: in the target's units
 * squared for the identity, of log y for a log target (whose original-unit variance has no such
 * additive split).
 */
export function varianceDecomposition(m: GaussianMixtures): VarianceDecomposition {
  const { expected, ofMeans } = varianceParts(m);
  const n = m.rows;
  const e = expected.reduce((a, v) => a + v, 0) / n;
  const v = ofMeans.reduce((a, x) => a + x, 0) / n;
  return {
    totalVariance: e + v,
    expectedVariance: e,
    varianceOfMeans: v,
    scale: m.transform === 'log' ? 'log' : 'original',
  };
}
