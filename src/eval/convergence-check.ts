/**
 * Convergence checks a user can act on (docs/design.md §1.8): the teacher's split-R̂ and effective
 * sample sizes (`diagnostics.ts`) against fixed thresholds, as short phrases for a one-line warning.
 * The monitored quantities are the samples' training log-likelihood and the ensemble's predictions at
 * up to 50 test inputs (the median of their R̂, the smallest of their ESS).
 */

/** The thresholds of Gelman et al. (BDA3 §11.4–11.5): R̂ above 1.1, or fewer than 50 effective draws. */
export const CONVERGENCE_THRESHOLDS = { rhat: 1.1, ess: 50 } as const;

/** What `teacher.json` records (`TeacherSummary.diagnostics`). */
export interface ConvergenceDiagnostics {
  logLikelihood: { ess: number; rhat: number };
  testPredictions: { points: number; rhatMax: number; rhatMedian: number; essMin: number };
}

const f = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

/**
 * The checks a teacher fails, each a phrase naming the quantity, its value and the threshold, in a fixed
 * order; empty when all pass. A value that cannot be computed (NaN: fewer than 4 draws per chain) fails.
 */
export function convergenceIssues(
  d: ConvergenceDiagnostics,
  t: { rhat: number; ess: number } = CONVERGENCE_THRESHOLDS,
): string[] {
  const out: string[] = [];
  const rhat = (name: string, v: number) => {
    if (!(v <= t.rhat)) out.push(`${name} split R-hat ${f(v, 3)} > ${t.rhat}`);
  };
  const ess = (name: string, v: number) => {
    if (!(v >= t.ess)) out.push(`${name} ESS ${f(v, 1)} < ${t.ess}`);
  };
  rhat('log-likelihood', d.logLikelihood.rhat);
  ess('log-likelihood', d.logLikelihood.ess);
  rhat('test-prediction median', d.testPredictions.rhatMedian);
  ess('test-prediction smallest', d.testPredictions.essMin);
  return out;
}

/** The one-line warning for a teacher run that fails checks, with what to do about it. */
export function convergenceWarning(run: string, issues: string[]): string {
  return (
    `teacher '${run}' may not have converged: ${issues.join(', ')} ` +
    '(sample longer with --samples/--burn-in/--thin or run more chains; the ensemble is still usable)'
  );
}

/**
 * One warning for the teachers of a pipeline's splits (instead of one per split): how many fail a
 * check and, per check, the range of the failing values and how many fail it; null when all pass.
 */
export function convergenceWarningOverSplits(
  teachers: ConvergenceDiagnostics[],
  t: { rhat: number; ess: number } = CONVERGENCE_THRESHOLDS,
): string | null {
  const failing = teachers.filter((d) => convergenceIssues(d, t).length > 0).length;
  if (failing === 0) return null;
  const checks: [string, (d: ConvergenceDiagnostics) => number, 'rhat' | 'ess'][] = [
    ['log-likelihood split R-hat', (d) => d.logLikelihood.rhat, 'rhat'],
    ['log-likelihood ESS', (d) => d.logLikelihood.ess, 'ess'],
    ['test-prediction median split R-hat', (d) => d.testPredictions.rhatMedian, 'rhat'],
    ['test-prediction smallest ESS', (d) => d.testPredictions.essMin, 'ess'],
  ];
  const parts = checks.flatMap(([name, get, kind]) => {
    const bad = teachers.map(get).filter((v) => (kind === 'rhat' ? !(v <= t.rhat) : !(v >= t.ess)));
    if (bad.length === 0) return [];
    const digits = kind === 'rhat' ? 3 : 1;
    const lo = Math.min(...bad);
    const hi = Math.max(...bad);
    const range = f(lo, digits) === f(hi, digits) ? f(lo, digits) : `${f(lo, digits)}–${f(hi, digits)}`;
    const op = kind === 'rhat' ? `> ${t.rhat}` : `< ${t.ess}`;
    return [`${name} ${range} ${op} in ${bad.length}`];
  });
  return (
    `${failing} of ${teachers.length} teachers may not have converged: ${parts.join(', ')} ` +
    '(sample longer with --samples/--burn-in/--thin or run more chains; the ensembles are still usable)'
  );
}
