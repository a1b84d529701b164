import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readJsonOrNull } from '../core/json-file.js';
import { describeDataset } from '../data/store.js';
import type { StageContext } from '../stages/context.js';
import { runPath } from '../stages/run-folder.js';

/** The teacher run name of split k of a pipeline. */
export const teacherRun = (pipeline: string, split: number) => `${pipeline}-s${split}-teacher`;

/** The structure-search run name of split k of a pipeline. */
export const searchRun = (pipeline: string, split: number) => `${pipeline}-s${split}-search`;

/** The student run name of split k of a pipeline. */
export const studentRun = (pipeline: string, split: number) => `${pipeline}-s${split}-student`;

/** The split indices a pipeline uses: every split of the dataset, or the listed ones. */
export async function pipelineSplits(
  dataset: string,
  use: 'all' | number[],
  dataDir?: string,
): Promise<number[]> {
  if (use !== 'all') return use;
  return (await describeDataset(dataset, dataDir)).splits.splits.map((s) => s.index);
}

/** One split's run of a per-split stage, as `checkSplitRun` looks at it. */
export interface SplitRunCheck<C> {
  split: number;
  run: string;
  /** The stage's word in `split k: <stage> <run> up to date` (teacher, search, student). */
  stage: string;
  /** The settings' word in the refusal `… exists with different <settings> settings …`. */
  settings: string;
  /** The run folder's stored settings and its completion file (e.g. `config.json`, `teacher.json`). */
  configFile: string;
  summaryFile: string;
  /** The settings the pipeline asks for now. */
  config: C;
  /** Keys the comparison ignores: ones the stage adds when it stores the settings (teacher: `datasetChecksum`). */
  ignore?: string[];
}

/** What a per-split stage does with a split: take its finished summary, or run it (resuming or not). */
export type SplitRunAction<S> = { summary: S; resume?: undefined } | { summary: null; resume: boolean };

/**
 * Decides a per-split stage's run from its folder: complete with the same settings (compared as JSON
 * text) → its summary, logged as up to date; stored with other settings → refused unless `force`;
 * stored with the same settings but not complete → resumed; absent, or `force` → run afresh.
 */
export async function checkSplitRun<C extends object, S>(
  check: SplitRunCheck<C>,
  opts: StageContext,
): Promise<SplitRunAction<S>> {
  const dir = runPath(check.run, opts.runsDir);
  const stored = await readJsonOrNull<C>(path.join(dir, check.configFile));
  const done = await readJsonOrNull<S>(path.join(dir, check.summaryFile));
  const ignored = Object.fromEntries((check.ignore ?? []).map((k) => [k, undefined]));
  const same =
    stored !== null &&
    JSON.stringify({ ...stored, ...ignored }) === JSON.stringify({ ...check.config, ...ignored });
  if (done && same && !opts.force) {
    opts.log?.(`split ${check.split}: ${check.stage} ${check.run} up to date`);
    return { summary: done };
  }
  if (stored && !same && !opts.force)
    throw new UserError(
      `run '${check.run}' exists with different ${check.settings} settings; pass --force to replace it`,
    );
  return { summary: null, resume: stored !== null && !opts.force };
}
