import path from 'node:path';
import { readJsonOrNull } from '../core/json-file.js';
import { CONVERGENCE_THRESHOLDS, convergenceIssues } from '../eval/convergence-check.js';
import type { TeacherSummary } from '../stages/sample-config.js';
import { runPath } from '../stages/run-folder.js';
import { summarizeOverSplits, type MetricSummary } from './summary.js';

/** The teachers' convergence diagnostics over a pipeline's splits (docs/design.md §4.5). */
export interface ConvergenceSummary {
  /** Log-likelihood R̂ and ESS, the tracked test predictions' median R̂ and smallest ESS: mean ± se. */
  diagnostics: MetricSummary;
  /** How many splits' teachers failed a convergence check, and of how many. */
  splitsWithWarnings: number;
  splits: number;
}

/** Reads each teacher run's `teacher.json`; undefined when one is missing. */
export async function teacherConvergence(
  teacherRuns: string[],
  runsDir?: string,
): Promise<ConvergenceSummary | undefined> {
  const rows: Record<string, number>[] = [];
  let failed = 0;
  for (const run of teacherRuns) {
    const t = await readJsonOrNull<TeacherSummary>(path.join(runPath(run, runsDir), 'teacher.json'));
    if (!t?.diagnostics) return undefined;
    const d = t.diagnostics;
    rows.push({
      logLikelihoodRhat: d.logLikelihood.rhat,
      logLikelihoodEss: d.logLikelihood.ess,
      predictionRhatMedian: d.testPredictions.rhatMedian,
      predictionEssMin: d.testPredictions.essMin,
    });
    if ((d.warnings ?? convergenceIssues(d)).length) failed++;
  }
  if (!rows.length) return undefined;
  return { diagnostics: summarizeOverSplits(rows), splitsWithWarnings: failed, splits: rows.length };
}

/** The report's lines on convergence: the four quantities and the splits that failed a check. */
export function convergenceMarkdown(
  c: ConvergenceSummary,
  fmt: (m: MetricSummary[string]) => string,
): string[] {
  const d = c.diagnostics;
  return [
    `Teacher convergence (split R-hat and ESS; a check fails at R-hat > ${CONVERGENCE_THRESHOLDS.rhat} or ESS < ${CONVERGENCE_THRESHOLDS.ess}): log-likelihood R-hat ${fmt(d.logLikelihoodRhat)}, ESS ${fmt(d.logLikelihoodEss)}; test predictions median R-hat ${fmt(d.predictionRhatMedian)}, smallest ESS ${fmt(d.predictionEssMin)}; ${c.splitsWithWarnings} of ${c.splits} split${c.splits > 1 ? 's' : ''} failed a check.`,
    '',
  ];
}
