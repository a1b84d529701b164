import { normalQuantile } from '../eval/normal-distribution.js';
import { originalLocation, originalMoments, type TargetScaling } from '../data/target-transform.js';
import { dirichletRows, predictiveOutputs } from '../eval/student-heads.js';

/** Regression predictions in the target's original units, one entry per row. */
export interface RegressionPrediction {
  mean: number[];
  sd: number[];
  /** The median e^m of a log target's log-normal (absent for an untransformed target, where it is the mean). */
  median?: number[];
  /**
   * The central predictive interval holding probability p (0 < p < 1): mean ± z·sd with
   * z = Φ⁻¹((1 + p)/2) for a Gaussian target, e^(m ± z·s) for a log target's log-normal.
   */
  interval(p: number): { lower: number[]; upper: number[] };
  /**
   * A two-variance student's two parts of the predictive variance of the standardized target, times
   * the target's std² (the target's units squared, or of log y for a log target), as `bdk predict`.
   */
  aleatoricVariance?: number[];
  epistemicVariance?: number[];
}

/** Classification predictions, one entry per row. */
export interface ClassificationPrediction {
  /** Class probabilities (softmax of the logits at the export's temperature), in `classNames` order. */
  probs: number[][];
  /** Index of the most probable class (the first one on a tie). */
  label: number[];
  /** Name of that class. */
  className: string[];
  /** Predictive entropy in nats. */
  entropy: number[];
  /** A Dirichlet student's concentration α₀ and its uncertainties in nats (docs/design.md §2.6). */
  alpha0?: number[];
  totalEntropy?: number[];
  expectedEntropy?: number[];
  mutualInformation?: number[];
}

/**
 * The prediction of a student with an uncertainty-keeping head: its outputs read as the task's default
 * head's, plus its own uncertainties (`bdk predict`'s extra columns).
 */
export function headPrediction(
  v: Float32Array,
  rows: number,
  outputs: string,
  target: TargetScaling | null,
  classNames: string[] | null,
  temperature: number,
): RegressionPrediction | ClassificationPrediction {
  if (outputs === 'log-concentrations') {
    const c = classificationPrediction(v, rows, classNames!, temperature);
    const d = dirichletRows(v, classNames!.length);
    return {
      ...c,
      alpha0: Array.from(d.alpha0),
      totalEntropy: Array.from(d.totalEntropy),
      expectedEntropy: Array.from(d.expectedEntropy),
      mutualInformation: Array.from(d.mutualInformation),
    };
  }
  if (outputs === 'mean-logvar-aleatoric-logvar-epistemic') {
    const r = regressionPrediction(predictiveOutputs(v, 'regression', 3).values, rows, target!);
    const part = (c: number) =>
      Array.from({ length: rows }, (_, i) => Math.exp(v[3 * i + c]) * target!.std ** 2);
    return Object.assign(r, { aleatoricVariance: part(1), epistemicVariance: part(2) });
  }
  return target
    ? regressionPrediction(v, rows, target)
    : classificationPrediction(v, rows, classNames!, temperature);
}

/**
 * The student's raw outputs (standardized mean and log-variance per row) as `bdk predict` reports
 * them: for a log target the log-normal's mean, sd and median (docs/design.md §1).
 */
export function regressionPrediction(v: Float32Array, rows: number, t: TargetScaling): RegressionPrediction {
  const log = t.transform === 'log';
  const mean: number[] = [];
  const sd: number[] = [];
  const median: number[] = [];
  // Location m and scale s of the Gaussian over T(y).
  const m: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < rows; i++) {
    const mu = v[2 * i];
    const variance = Math.exp(v[2 * i + 1]);
    m.push(t.mean + t.std * mu);
    s.push(t.std * Math.exp(v[2 * i + 1] / 2));
    if (log) {
      const o = originalMoments(t, mu, variance);
      mean.push(o.mean);
      sd.push(Math.sqrt(o.variance));
      median.push(originalLocation(t, mu));
    } else {
      mean.push(m[i]);
      sd.push(s[i]);
    }
  }
  const interval = (p: number) => {
    if (!(p > 0 && p < 1)) throw new RangeError(`interval: p must be between 0 and 1, got ${p}`);
    const z = normalQuantile((1 + p) / 2);
    const at = (sign: number) =>
      m.map((mi, i) => (log ? Math.exp(mi + sign * z * s[i]) : mi + sign * z * s[i]));
    return { lower: at(-1), upper: at(1) };
  };
  return log ? { mean, sd, median, interval } : { mean, sd, interval };
}

/** Softmax of logits/temperature per row, its arg max and its entropy, as `bdk predict` computes them. */
export function classificationPrediction(
  v: Float32Array,
  rows: number,
  classNames: string[],
  temperature: number,
): ClassificationPrediction {
  const K = classNames.length;
  const out: ClassificationPrediction = { probs: [], label: [], className: [], entropy: [] };
  for (let i = 0; i < rows; i++) {
    const z = Array.from(v.subarray(i * K, (i + 1) * K), (u) => u / temperature);
    const mx = Math.max(...z);
    const e = z.map((u) => Math.exp(u - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((u) => u / sum);
    const label = p.indexOf(Math.max(...p));
    out.probs.push(p);
    out.label.push(label);
    out.className.push(classNames[label]);
    out.entropy.push(-p.reduce((acc, q) => acc + (q > 0 ? q * Math.log(q) : 0), 0));
  }
  return out;
}
