import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { readJsonOrNull } from '../core/json-file.js';
import type { PipelineConfig } from './schema.js';
import type { StageContext } from '../stages/context.js';
import { runPath } from '../stages/run-folder.js';
import { searchStructure, type SearchConfig, type SearchSummary } from '../stages/search.js';
import { summarizeOverSplits, teacherRun, type MetricSummary } from './teacher-splits.js';

/** The structure-search run name of split k of a pipeline. */
export const searchRun = (pipeline: string, split: number) => `${pipeline}-s${split}-search`;

/** The pipeline's search settings as a `bdk search` configuration for split k. */
export function searchConfigFor(config: PipelineConfig, split: number): SearchConfig {
  const s = config.search!;
  if (s.objective === 'distill' && !config.teacher)
    throw new UserError('search.objective "distill" needs a teacher section (or use "labels")');
  return {
    dataset: config.dataset.name,
    split,
    space: s.space,
    objective: s.objective,
    teacher: s.objective === 'distill' ? teacherRun(config.name, split) : null,
    relaxation: s.relaxation,
    preset: s.preset === 'custom' ? 'evidence' : s.preset,
    hypergradient: s.hypergradient,
    epochs: s.epochs,
    batchSize: s.batchSize ?? 64,
    learningRate: s.learningRate,
    hyperLearningRate: s.hyperLearningRate,
    temperatureStart: s.temperatureStart,
    temperatureEnd: s.temperatureEnd,
    pruneThreshold: s.pruneThreshold ?? 0.9,
    sizePenalty: s.sizePenalty,
    klWeight: s.klWeight,
    trainRows: s.trainRows ?? null,
    widths: s.widths ?? null,
    activations: s.activations ?? null,
    seed: s.seed ?? config.seed,
  };
}

/**
 * Runs the structure search on each split (`<pipeline>-s<k>-search`), skipping searches already
 * complete with the same settings and resuming interrupted ones, and writes
 * `<pipeline>/search-summary.json` (parameter counts over splits, the choices of each split).
 */
export async function searchSplits(
  config: PipelineConfig,
  splits: number[],
  opts: StageContext,
): Promise<{ summaries: SearchSummary[]; aggregate: MetricSummary; file: string; completed: boolean }> {
  const summaries: SearchSummary[] = [];
  for (const k of splits) {
    const sc = searchConfigFor(config, k);
    const run = searchRun(config.name, k);
    const dir = runPath(run, opts.runsDir);
    const stored = await readJsonOrNull<SearchConfig>(path.join(dir, 'search-config.json'));
    const done = await readJsonOrNull<SearchSummary>(path.join(dir, 'search.json'));
    const same = stored !== null && JSON.stringify(stored) === JSON.stringify(sc);
    if (done && same && !opts.force) {
      opts.log?.(`split ${k}: search ${run} up to date`);
      summaries.push(done);
      continue;
    }
    if (stored && !same && !opts.force)
      throw new UserError(`run '${run}' exists with different search settings; pass --force to replace it`);
    const r = await searchStructure(sc, { ...opts, run, resume: stored !== null && !opts.force });
    if (!r.completed) return { summaries, aggregate: {}, file: '', completed: false };
    const s = r.summary!;
    opts.log?.(
      `split ${k}: ${s.parameterCount} parameters; ${s.choices.map((c) => `${c.edge.split('#')[0]} ${c.choice}`).join(', ')} (${s.seconds.toFixed(1)} s)`,
    );
    summaries.push(s);
  }
  const aggregate = summarizeOverSplits(
    summaries.map((s) => ({
      parameters: s.parameterCount,
      prunedFraction: s.pruned.total ? s.pruned.weights / s.pruned.total : 0,
    })),
  );
  const file = path.join(runPath(config.name, opts.runsDir), 'search-summary.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(
    file,
    JSON.stringify(
      {
        pipeline: config.name,
        splits,
        aggregate,
        runs: summaries.map((s) => ({ run: s.run, parameters: s.parameterCount, choices: s.choices })),
      },
      null,
      2,
    ) + '\n',
  );
  return { summaries, aggregate, file, completed: true };
}
