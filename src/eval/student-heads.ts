import { digamma64 } from '../core/special-functions64.js';

/**
 * What the outputs of a student with an uncertainty-keeping head (docs/design.md §2.6, §2.7) give per
 * row, and their conversion to the outputs of the task's default head, which the metrics, calibration,
 * fidelity and plots read: a `dirichlet` student's log-concentrations z are the logits of its mean
 * α/α₀ = softmax(z) as they are; a `two-variance` student's [μ, log σ²_ale, log σ²_epi] become
 * [μ, log(σ²_ale + σ²_epi)], its Gaussian predictive.
 */

/** Raw student outputs [n, units] as the default head's ([n, K] logits, or [n, 2] mean and log-variance). */
export function predictiveOutputs(
  raw: Float32Array,
  task: 'regression' | 'classification',
  units: number,
): { values: Float32Array; units: number } {
  if (task !== 'regression' || units !== 3) return { values: raw, units };
  const n = raw.length / 3;
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = raw[3 * i];
    out[2 * i + 1] = Math.log(Math.exp(raw[3 * i + 1]) + Math.exp(raw[3 * i + 2]));
  }
  return { values: out, units: 2 };
}

/** Per row of a Dirichlet student: α₀ and its uncertainties in nats. */
export interface DirichletRows {
  alpha0: Float64Array;
  /** H[α/α₀], the entropy of the mean probabilities. */
  totalEntropy: Float64Array;
  /** E_Dir[H[π]] = −Σ_k (α_k/α₀)(ψ(α_k + 1) − ψ(α₀ + 1)), the expected (data) entropy. */
  expectedEntropy: Float64Array;
  /** total − expected ≥ 0, the mutual information of the label and π (knowledge uncertainty). */
  mutualInformation: Float64Array;
}

/** The uncertainties of Dir(e^z) for each row of log-concentrations z, [n, K]. */
export function dirichletRows(logAlpha: ArrayLike<number>, classes: number): DirichletRows {
  const n = logAlpha.length / classes;
  const rows: DirichletRows = {
    alpha0: new Float64Array(n),
    totalEntropy: new Float64Array(n),
    expectedEntropy: new Float64Array(n),
    mutualInformation: new Float64Array(n),
  };
  const alpha = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    // α/α₀ through the largest z, so large concentrations do not overflow.
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logAlpha[i * classes + k]);
    let scaled = 0;
    for (let k = 0; k < classes; k++) scaled += alpha[k] = Math.exp(logAlpha[i * classes + k] - m);
    const a0 = scaled * Math.exp(m);
    const psi0 = digamma64(a0 + 1);
    let total = 0;
    let expected = 0;
    for (let k = 0; k < classes; k++) {
      const p = alpha[k] / scaled;
      if (p > 0) total -= p * Math.log(p);
      expected -= p * (digamma64(p * a0 + 1) - psi0);
    }
    // α₀ beyond float64 (z > 709): the limit α₀ → ∞, where every sample is the mean.
    if (!Number.isFinite(a0)) expected = total;
    rows.alpha0[i] = a0;
    rows.totalEntropy[i] = total;
    rows.expectedEntropy[i] = expected;
    rows.mutualInformation[i] = Math.max(0, total - expected);
  }
  return rows;
}

/** Per row of a two-variance student [n, 3]: its mean, aleatoric and epistemic variance (standardized units). */
export function twoVarianceRows(raw: ArrayLike<number>): {
  mean: Float64Array;
  aleatoric: Float64Array;
  epistemic: Float64Array;
} {
  const n = raw.length / 3;
  const out = { mean: new Float64Array(n), aleatoric: new Float64Array(n), epistemic: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    out.mean[i] = raw[3 * i];
    out.aleatoric[i] = Math.exp(raw[3 * i + 1]);
    out.epistemic[i] = Math.exp(raw[3 * i + 2]);
  }
  return out;
}
