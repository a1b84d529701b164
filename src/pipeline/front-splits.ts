import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import {
  averageFronts,
  DEFAULT_SELECTION,
  parseFront,
  parseSelectionRule,
  selectMember,
  type Front,
  type SelectionRule,
} from '../search/front.js';
import { runFront, writeFront } from '../stages/front.js';
import { checkedBudgets, checkedValues, sweepableLambda, type FrontConfig } from '../stages/front-config.js';
import { resolveRelative } from '../stages/prepare.js';
import { runPath } from '../stages/run-folder.js';
import type { PipelineConfig } from './schema.js';
import { searchConfigFor } from './search-splits.js';
import { studentRun, teacherRun } from './split-run.js';
import { splitScope } from './split-scope.js';
import type { SplitStageOptions } from './summary.js';

/** Whether the pipeline's search is a front (`search.budgets` or `search.lambdaSweep`). */
export const isFrontPipeline = (config: PipelineConfig): boolean =>
  config.search?.budgets !== undefined || config.search?.lambdaSweep !== undefined;

/** The pipeline's `student.select`, its string form read as `bdk search --select` reads it. */
export function selectionOf(config: PipelineConfig): SelectionRule {
  const s = config.student?.select;
  if (s === undefined) return DEFAULT_SELECTION;
  return typeof s === 'string' ? parseSelectionRule(s, 'student.select') : s;
}

/** The front of split k: the pipeline's search, distillation and evaluation settings. */
export function frontConfigFor(config: PipelineConfig, split: number, file: string): FrontConfig {
  const s = config.search!;
  if (!config.teacher) throw new UserError('search.budgets (a front) needs a teacher section');
  if (!config.distillation) throw new UserError('search.budgets (a front) needs a distillation section');
  if (config.student?.arch !== undefined && config.student.arch !== 'search')
    throw new UserError(
      'search.budgets (a front) needs student.arch "search" (the front selects the student)',
    );
  if (s.maxParameters !== undefined)
    throw new UserError('give either search.maxParameters or search.budgets, not both');
  const d = config.distillation;
  const { budgets, lambdaSweep, referenceStudents } = s;
  return {
    teacher: teacherRun(config.name, split),
    search: searchConfigFor(config, split),
    budgets: checkedBudgets(budgets ?? [], 'search.budgets'),
    lambdaSweep: lambdaSweep
      ? {
          name: sweepableLambda(lambdaSweep.name, 'search.lambdaSweep.name'),
          values: checkedValues(lambdaSweep.values, 'search.lambdaSweep.values'),
        }
      : null,
    references: referenceStudents ?? [],
    distillation: {
      ...d,
      unlabeledInputs: d.unlabeledInputs ? resolveRelative(d.unlabeledInputs, file) : undefined,
      seed: d.seed ?? config.seed,
    },
    select: selectionOf(config),
    ...(config.student?.warmStart === false ? { warmStart: false } : {}),
    latencyRuns: config.evaluation?.latencyRuns ?? 20,
  };
}

/** The front run folder of split k, and the prefix of its members' runs. */
export const frontRun = (pipeline: string, split: number) => `${pipeline}-s${split}-front`;
const memberPrefix = (pipeline: string, split: number) => `${pipeline}-s${split}`;

/**
 * Runs the front of each split (`<pipeline>-s<k>-front`, members `<pipeline>-s<k>-<member>-search` and
 * `-student`; finished members are kept) and writes their average over splits, with the member
 * `student.select` selects, as `<pipeline>/front.json`, `front.md` and `front.svg`.
 */
export async function frontSplits(
  config: PipelineConfig,
  splits: number[],
  opts: SplitStageOptions & { file?: string },
): Promise<{ front: Front | null; file: string; completed: boolean }> {
  const fronts: Front[] = [];
  for (const k of splits) {
    const unit = splitScope(opts, 'search', k);
    const r = await runFront(frontConfigFor(config, k, opts.file ?? '.'), {
      ...unit.opts,
      run: frontRun(config.name, k),
      prefix: memberPrefix(config.name, k),
      split: k,
    });
    if (!r.completed) return { front: null, file: '', completed: false };
    unit.log(`split ${k}: front of ${r.front!.members.length} students, selected ${r.front!.selected}`);
    fronts.push(r.front!);
    unit.end(false);
  }
  const front = averageFronts(fronts, selectionOf(config));
  const dir = runPath(config.name, opts.runsDir);
  await writeFront(dir, front);
  return { front, file: path.join(dir, 'front.json'), completed: true };
}

/** The pipeline's front over splits (`<pipeline>/front.json`), or a `UserError` saying how to make it. */
export async function readPipelineFront(config: PipelineConfig, runsDir?: string): Promise<Front> {
  const file = path.join(runPath(config.name, runsDir), 'front.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new UserError(`${file} not found: run the search stage (the front) first`);
  }
  return parseFront(text, file);
}

/**
 * The student run of split k that the later stages (distill, evaluate, export) take: with a front, that
 * split's run of the member `student.select` selects on the front over splits (as the split's own
 * `front.json` names it: the candidate kept there); else `<pipeline>-s<k>-student`.
 */
export async function pipelineStudentRun(
  config: PipelineConfig,
  split: number,
  runsDir?: string,
): Promise<string> {
  if (!isFrontPipeline(config)) return studentRun(config.name, split);
  const front = await readPipelineFront(config, runsDir);
  const chosen = selectMember(front.members, selectionOf(config), front.task);
  if (!chosen) throw new UserError(`the front of pipeline '${config.name}' has no searched student`);
  // The split's own front names the member's run: with candidates it is the one kept on validation rows.
  const file = path.join(runPath(frontRun(config.name, split), runsDir), 'front.json');
  const own = parseFront(await fs.readFile(file, 'utf8'), file).members.find((m) => m.name === chosen.name);
  if (!own)
    throw new UserError(`${file} has no member '${chosen.name}': run the search stage (the front) again`);
  return own.runs[0];
}
