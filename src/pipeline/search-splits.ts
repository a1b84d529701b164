import { UserError } from '../core/errors.js';
import type { PipelineConfig } from './schema.js';
import {
  SEARCH_RUN_FILES,
  searchStructure,
  type SearchConfig,
  type SearchSummary,
} from '../stages/search.js';
import { searchConfigFrom } from '../stages/search-config.js';
import { checkSplitRun, searchRun, teacherRun } from './split-run.js';
import { splitScope } from './split-scope.js';
import { formatDuration } from '../core/progress.js';
import {
  summarizeOverSplits,
  writeStageSummary,
  type MetricSummary,
  type SplitStageOptions,
} from './summary.js';

/** The pipeline's search settings as a `bdk search` configuration for split k. */
export function searchConfigFor(config: PipelineConfig, split: number): SearchConfig {
  const s = config.search!;
  if (s.objective === 'distill' && !config.teacher)
    throw new UserError('search.objective "distill" needs a teacher section (or use "labels")');
  return searchConfigFrom({
    ...s,
    dataset: config.dataset.name,
    split,
    teacher: s.objective === 'distill' ? teacherRun(config.name, split) : null,
    seed: s.seed ?? config.seed,
  });
}

/**
 * Runs the structure search on each split (`<pipeline>-s<k>-search`), skipping searches already
 * complete with the same settings and resuming interrupted ones, and writes
 * `<pipeline>/search-summary.json` (parameter counts over splits, the choices of each split).
 */
export async function searchSplits(
  config: PipelineConfig,
  splits: number[],
  opts: SplitStageOptions,
): Promise<{
  summaries: SearchSummary[];
  aggregate: MetricSummary;
  file: string | null;
  completed: boolean;
}> {
  const summaries: SearchSummary[] = [];
  for (const k of splits) {
    const sc = searchConfigFor(config, k);
    const run = searchRun(config.name, k);
    const unit = splitScope(opts, 'search', k);
    const action = await checkSplitRun<SearchConfig, SearchSummary>(
      {
        split: k,
        run,
        ...SEARCH_RUN_FILES,
        config: sc,
      },
      unit.opts,
    );
    if (action.summary) {
      summaries.push(action.summary);
      unit.end(true);
      continue;
    }
    const r = await searchStructure(sc, { ...unit.opts, run, resume: action.resume });
    if (!r.completed) return { summaries, aggregate: {}, file: '', completed: false };
    const s = r.summary!;
    unit.log(
      `split ${k}: ${s.parameterCount} parameters${s.budget ? ` (budget ${s.budget.maxParameters}${s.budget.repaired ? ', repaired' : ''})` : ''}${s.latency ? `, ${s.latency.exportedPredictedUs.toFixed(1)} µs predicted, ${s.latency.measuredLatencyUs.toFixed(1)} µs measured (budget ${s.latency.maxLatencyUs})` : ''}; ${s.choices.map((c) => `${c.edge.split('#')[0]} ${c.choice}`).join(', ')} (${formatDuration(s.seconds)})`,
    );
    summaries.push(s);
    unit.end(false);
  }
  const aggregate = summarizeOverSplits(
    summaries.map((s) => ({
      parameters: s.parameterCount,
      prunedFraction: s.pruned.total ? s.pruned.weights / s.pruned.total : 0,
    })),
  );
  const file = await writeStageSummary(
    config.name,
    'search-summary.json',
    {
      pipeline: config.name,
      splits,
      aggregate,
      runs: summaries.map((s) => ({
        run: s.run,
        parameters: s.parameterCount,
        choices: s.choices,
        ...(s.budget ? { budget: s.budget } : {}),
      })),
    },
    opts,
  );
  return { summaries, aggregate, file, completed: true };
}
