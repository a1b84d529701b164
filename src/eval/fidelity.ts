import { originalMoments, type TargetScaling } from '../data/target-transform.js';
import { NLL_CLAMP } from './classification-metrics.js';

/**
 * Fidelity of a student to the teacher ensemble on the same inputs (docs/design.md §3.11).
 *
 * Regression: with the ensemble's predictive mean and variance (m_e, v_e) and the student's (m_s, v_s),
 * both in the target's original units (for a log target the log-normals' moments), `klToEnsemble` is
 * the mean over inputs of KL(N(m_e, v_e) ‖ N(m_s, v_s)) = ½[log(v_s/v_e) + (v_e + (m_e − m_s)²)/v_s − 1]
 * (the moment-matched Gaussians), `meanRmseToEnsemble` is √mean (m_e − m_s)² and `sdCorrelation` the
 * Pearson correlation over inputs of the two predictive standard deviations √v_e and √v_s (does the
 * student's uncertainty rise where the ensemble's does; NaN when either is constant).
 *
 * Classification: `klToEnsemble` is the mean of KL(p_e ‖ p_s) = Σ_k p_e,k log(p_e,k / p_s,k) (student
 * probabilities clamped at 1e-12), `agreement` the fraction of inputs where the two argmax agree, and
 * `totalVariation` the mean of ½ Σ_k |p_e,k − p_s,k|.
 */
export function regressionFidelity(
  ensembleMean: ArrayLike<number>,
  ensembleVariance: ArrayLike<number>,
  studentMean: ArrayLike<number>,
  studentVariance: ArrayLike<number>,
): { klToEnsemble: number; meanRmseToEnsemble: number; sdCorrelation: number } {
  const n = ensembleMean.length;
  let kl = 0;
  let sq = 0;
  const sdE = new Float64Array(n);
  const sdS = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = ensembleMean[i] - studentMean[i];
    const ve = ensembleVariance[i];
    const vs = studentVariance[i];
    kl += 0.5 * (Math.log(vs / ve) + (ve + d * d) / vs - 1);
    sq += d * d;
    sdE[i] = Math.sqrt(ve);
    sdS[i] = Math.sqrt(vs);
  }
  return {
    klToEnsemble: kl / n,
    meanRmseToEnsemble: Math.sqrt(sq / n),
    sdCorrelation: correlation(sdE, sdS),
  };
}

/** Pearson's correlation of two equally long samples (two-pass; NaN when either has no spread). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

export function classificationFidelity(
  ensembleProbs: ArrayLike<number>,
  studentProbs: ArrayLike<number>,
  classes: number,
): { klToEnsemble: number; agreement: number; totalVariation: number } {
  const n = ensembleProbs.length / classes;
  let kl = 0;
  let agree = 0;
  let tv = 0;
  for (let i = 0; i < n; i++) {
    let ae = 0;
    let as = 0;
    for (let k = 0; k < classes; k++) {
      const pe = ensembleProbs[i * classes + k];
      const ps = studentProbs[i * classes + k];
      if (pe > 0) kl += pe * Math.log(pe / Math.max(ps, NLL_CLAMP));
      tv += 0.5 * Math.abs(pe - ps);
      if (pe > ensembleProbs[i * classes + ae]) ae = k;
      if (ps > studentProbs[i * classes + as]) as = k;
    }
    if (ae === as) agree++;
  }
  return { klToEnsemble: kl / n, agreement: agree / n, totalVariation: tv / n };
}

/**
 * A regression student's predictive moments in original units from its raw outputs [n, 2] (mean and
 * log-variance over the standardized target).
 */
export function studentMoments(
  outputs: ArrayLike<number>,
  target: TargetScaling,
): { mean: Float64Array; variance: Float64Array } {
  const n = outputs.length / 2;
  const mean = new Float64Array(n);
  const variance = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const m = originalMoments(target, outputs[2 * i], Math.exp(outputs[2 * i + 1]));
    mean[i] = m.mean;
    variance[i] = m.variance;
  }
  return { mean, variance };
}

/** Softmax of raw logits [n, K], row by row. */
export function softmaxRows(logits: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length / classes; i++) {
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logits[i * classes + k]);
    let z = 0;
    for (let k = 0; k < classes; k++) z += out[i * classes + k] = Math.exp(logits[i * classes + k] - m);
    for (let k = 0; k < classes; k++) out[i * classes + k] /= z;
  }
  return out;
}
