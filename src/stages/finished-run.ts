import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readJsonOrNull } from '../core/json-file.js';
import type { StageContext } from './context.js';
import { runPath } from './run-folder.js';

/** One run of a stage that a pipeline or a front runs many of, as `checkFinishedRun` looks at it. */
export interface FinishedRunCheck<C> {
  /** The split, for the log line `split k: <stage> <run> up to date`. */
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

/** The words and files that identify one stage's runs (`stage`, `settings`, `configFile`, `summaryFile`). */
export type RunFiles = Pick<FinishedRunCheck<unknown>, 'stage' | 'settings' | 'configFile' | 'summaryFile'>;

/** What a stage does with a run: take its finished summary, or run it (resuming or not). */
export type FinishedRunAction<S> = { summary: S; resume?: undefined } | { summary: null; resume: boolean };

/**
 * Decides a stage's run from its folder: complete with the same settings (compared as JSON
 * text) → its summary, logged as up to date; stored with other settings → refused unless `force`;
 * stored with the same settings but not complete → resumed; absent, or `force` → run afresh.
 */
export async function checkFinishedRun<C extends object, S>(
  check: FinishedRunCheck<C>,
  opts: StageContext,
): Promise<FinishedRunAction<S>> {
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
      `run '${check.run}' exists with different ${check.settings} settings${transformChange(stored, check.config)}; pass --force to replace it`,
    );
  return { summary: null, resume: stored !== null && !opts.force };
}

/**
 * ` (sampled with target transform log, asked for none)` when two teacher configs differ in their
 * target transform (absent: none), else nothing: samples of one scale cannot serve a run of the other.
 */
function transformChange(stored: object, config: object): string {
  const was = (stored as { targetTransform?: string }).targetTransform ?? 'none';
  const now = (config as { targetTransform?: string }).targetTransform ?? 'none';
  return was === now ? '' : ` (sampled with target transform ${was}, now asked for ${now})`;
}
