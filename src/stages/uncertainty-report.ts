import type { PartArrays } from '../data/store.js';
import { mixturesFromStandardized } from '../eval/gaussian-mixture.js';
import { intervalCalibration, type IntervalCalibration } from '../eval/interval-calibration.js';
import {
  entropyDecomposition,
  varianceDecomposition,
  type EntropyDecomposition,
  type VarianceDecomposition,
} from '../eval/uncertainty-decomposition.js';
import type { Predictive } from '../teacher/predictive.js';
import type { StudentHead } from '../distill/heads.js';
import { dirichletRows, twoVarianceRows } from '../eval/student-heads.js';

/** A student's outputs as the default head's (`own` outputs of its head → metrics' inputs). */
export { predictiveOutputs } from '../eval/student-heads.js';

/**
 * The uncertainty part of an evaluation report (docs/design.md §4.6): the calibration of each
 * regression model's central predictive intervals and its CRPS, and the decomposition of the
 * ensemble's uncertainty into aleatoric and epistemic parts.
 */

export type UncertaintyDecomposition = EntropyDecomposition | VarianceDecomposition;

/**
 * The same decomposition as predicted by a student whose head keeps it (docs/design.md §2.6, §2.7):
 * a `dirichlet` student's, with its mean concentration α₀, or a `two-variance` student's.
 */
export type StudentUncertainty =
  | ({ head: 'dirichlet'; alpha0: number } & EntropyDecomposition)
  | ({ head: 'two-variance' } & VarianceDecomposition);

const mean = (v: Float64Array) => v.reduce((a, x) => a + x, 0) / v.length;

/** A student's own decomposition from its raw outputs on the rows of `part`; undefined for the default heads. */
export function studentUncertainty(
  raw: Float32Array,
  head: StudentHead | undefined,
  part: PartArrays,
  units: number,
): StudentUncertainty | undefined {
  if (head === 'dirichlet') {
    const r = dirichletRows(raw, units);
    return {
      head,
      alpha0: mean(r.alpha0),
      totalEntropy: mean(r.totalEntropy),
      expectedEntropy: mean(r.expectedEntropy),
      mutualInformation: mean(r.mutualInformation),
    };
  }
  if (head !== 'two-variance') return undefined;
  const t = part.normalization.target!;
  const r = twoVarianceRows(raw);
  // Standardized variances × std²: the target's units squared, or of log y for a log target.
  const e = mean(r.aleatoric) * t.std * t.std;
  const v = mean(r.epistemic) * t.std * t.std;
  return {
    head,
    totalVariance: e + v,
    expectedVariance: e,
    varianceOfMeans: v,
    scale: t.transform === 'log' ? 'log' : 'original',
  };
}

/**
 * Interval calibration and CRPS of a regression predictive made with `keepUncertainty` (the MAP
 * network, one sample, the ensemble) on the rows of `part`; undefined for classification.
 */
export function predictiveCalibration(p: Predictive, part: PartArrays): IntervalCalibration | undefined {
  if (p.task !== 'regression' || !p.components) return undefined;
  const { means, variances } = p.components;
  return intervalCalibration(
    mixturesFromStandardized(means, variances, p.samples, part.normalization.target!),
    part.yRaw!,
  );
}

/** The same for a regression student's raw outputs [n, 2] (mean and log-variance of the standardized target). */
export function studentCalibration(
  raw: Float32Array,
  part: PartArrays,
  task: 'regression' | 'classification',
): IntervalCalibration | undefined {
  if (task !== 'regression') return undefined;
  const means = new Float64Array(part.rows);
  const variances = new Float64Array(part.rows);
  for (let i = 0; i < part.rows; i++) {
    means[i] = raw[2 * i];
    variances[i] = Math.exp(raw[2 * i + 1]);
  }
  return intervalCalibration(
    mixturesFromStandardized(means, variances, 1, part.normalization.target!),
    part.yRaw!,
  );
}

/**
 * The ensemble's uncertainty decomposition (made with `keepUncertainty`): total entropy = expected
 * entropy + mutual information, or total variance = E[σ²] + Var[μ] (of log y for a log target).
 */
export function ensembleUncertainty(p: Predictive, part: PartArrays): UncertaintyDecomposition | undefined {
  if (p.task === 'classification')
    return p.expectedEntropy ? entropyDecomposition(p.probs, p.expectedEntropy, p.classes) : undefined;
  if (!p.components) return undefined;
  const { means, variances } = p.components;
  return varianceDecomposition(
    mixturesFromStandardized(means, variances, p.samples, part.normalization.target!),
  );
}

const f4 = (v: number) => v.toFixed(4);

/** The report's Markdown lines for the calibration table and the decompositions (none when absent). */
export function uncertaintyMarkdown(
  calibration: Record<string, IntervalCalibration> | undefined,
  uncertainty: UncertaintyDecomposition | undefined,
  labels: Record<string, string>,
  student?: StudentUncertainty,
): string[] {
  const out: string[] = [];
  const models = Object.entries(calibration ?? {});
  if (models.length) {
    const levels = Object.keys(models[0][1].coverage);
    const pct = (l: string) => `${Math.round(Number(l) * 100)} %`;
    out.push(
      'Central predictive intervals on the test rows: coverage (the fraction of targets inside) and mean width in the target’s units, and the mean CRPS (lower is better).',
      '',
      `| model | ${levels.map((l) => `coverage ${pct(l)}`).join(' | ')} | ${levels.map((l) => `width ${pct(l)}`).join(' | ')} | CRPS |`,
      `| --- | ${levels.map(() => '---').join(' | ')} | ${levels.map(() => '---').join(' | ')} | --- |`,
      ...models.map(
        ([n, c]) =>
          `| ${labels[n] ?? n} (\`${n}\`) | ${levels.map((l) => f4(c.coverage[l])).join(' | ')} | ${levels.map((l) => f4(c.width[l])).join(' | ')} | ${f4(c.crps)} |`,
      ),
      '',
    );
  }
  if (uncertainty && 'totalEntropy' in uncertainty)
    out.push(
      `Uncertainty of the ensemble (mean over the test rows, nats): total entropy ${f4(uncertainty.totalEntropy)} = expected entropy (aleatoric) ${f4(uncertainty.expectedEntropy)} + mutual information (epistemic) ${f4(uncertainty.mutualInformation)}.`,
      '',
    );
  else if (uncertainty)
    out.push(
      `Uncertainty of the ensemble (mean over the test rows, ${uncertainty.scale === 'log' ? 'variances of log y' : 'variances in the target’s units squared'}): total ${f4(uncertainty.totalVariance)} = E[σ²] (aleatoric) ${f4(uncertainty.expectedVariance)} + Var[μ] (epistemic) ${f4(uncertainty.varianceOfMeans)}.`,
      '',
    );
  if (student?.head === 'dirichlet')
    out.push(
      `Uncertainty of the Dirichlet student (mean over the test rows, nats; mean α₀ ${student.alpha0.toPrecision(4)}): total entropy ${f4(student.totalEntropy)} = expected entropy (aleatoric) ${f4(student.expectedEntropy)} + mutual information (epistemic) ${f4(student.mutualInformation)}.`,
      '',
    );
  else if (student)
    out.push(
      `Uncertainty of the two-variance student (mean over the test rows, same units): total ${f4(student.totalVariance)} = aleatoric variance (E[σ²] estimate) ${f4(student.expectedVariance)} + epistemic variance (Var[μ] estimate) ${f4(student.varianceOfMeans)}.`,
      '',
    );
  return out;
}
