import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { parsePipeline } from '../../pipeline/load.js';
import { DEFAULT_SELECTION, frontMarkdown, parseSelectionRule } from '../../search/front.js';
import { runFront } from '../../stages/front.js';
import { parseBudgets, parseLambdaSweep, type FrontConfig } from '../../stages/front-config.js';
import { resolveRelative } from '../../stages/prepare.js';
import type { SearchConfig } from '../../stages/search.js';
import { runStage } from '../interrupt.js';
import { parseInteger, parseList, printJson } from '../options.js';

/** The flags of `bdk search` that make it a front (`--budgets`, `--lambda-sweep`) and shape one. */
export interface FrontFlags {
  budgets?: string;
  lambdaSweep?: string;
  referenceStudents?: string[];
  select?: string;
  distillSettings?: string;
  latencyRuns: number;
}

export function addFrontOptions(cmd: Command): Command {
  return cmd
    .option(
      '--budgets <list>',
      'a front: one search, student and evaluation per parameter budget, e.g. 400,800,2000,8000 (writes front.json, front.md, front.svg)',
    )
    .option(
      '--lambda-sweep <NAME=v1,v2,…>',
      'a front over the values of one λ (lambda-l-prior, lambda-q-lik, lambda-q-prior, kl-weight, size-penalty, ard-shape, ard-rate); with --budgets, every pair',
    )
    .option(
      '--reference-students <list>',
      'front: hand-picked student architectures distilled the same way, e.g. mlp-10,mlp-25,mlp-50',
      parseList,
    )
    .option(
      '--select <rule>',
      'front: which student the front selects: best[:METRIC], smallest-within:METRIC:TOL[%] or member:NAME (default smallest-within:ll:0.01, nll for classification; on validation)',
    )
    .option(
      '--distill-settings <file>',
      "front: a JSON object with the keys of a pipeline's distillation section, for every student (default: bdk distill's defaults)",
    )
    .option('--latency-runs <n>', 'front: repetitions of each latency measurement', parseInteger(1), 20);
}

/** Whether the flags ask for a front. */
export const isFront = (o: FrontFlags): boolean => o.budgets !== undefined || o.lambdaSweep !== undefined;

/** `--distill-settings`: a pipeline distillation section, checked as one (epochs, batchSize, learningRate needed). */
async function distillSettings(file: string | undefined): Promise<FrontConfig['distillation']> {
  if (!file) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${file}: file not found`);
    throw new UserError(`${file}: invalid JSON (${(err as Error).message})`);
  }
  const d = parsePipeline(
    { name: 'settings', dataset: { name: 'settings' }, distillation: raw },
    file,
  ).distillation!;
  return {
    ...d,
    ...(d.unlabeledInputs ? { unlabeledInputs: resolveRelative(d.unlabeledInputs, file) } : {}),
  };
}

/** `bdk search --budgets/--lambda-sweep`: runs the front and prints its table (or the front as JSON). */
export async function searchFront(
  o: FrontFlags & { run: string; json?: boolean; force?: boolean; resume?: boolean },
  search: SearchConfig,
): Promise<void> {
  if (o.resume)
    throw new UserError('a front resumes by itself: run the same command again, without --resume');
  if (!search.teacher) throw new UserError('a front (--budgets, --lambda-sweep) needs --teacher RUN');
  if (search.maxParameters !== undefined)
    throw new UserError('give either --max-parameters or --budgets, not both');
  const config: FrontConfig = {
    teacher: search.teacher,
    search,
    budgets: o.budgets !== undefined ? parseBudgets(o.budgets) : [],
    lambdaSweep: o.lambdaSweep !== undefined ? parseLambdaSweep(o.lambdaSweep) : null,
    references: o.referenceStudents ?? [],
    distillation: await distillSettings(o.distillSettings),
    select: o.select ? parseSelectionRule(o.select) : DEFAULT_SELECTION,
    latencyRuns: o.latencyRuns,
  };
  const result = await runStage(`front ${o.run}`, o.json, (hooks) =>
    runFront(config, { run: o.run, prefix: o.run, force: o.force, ...hooks }),
  );
  if (!result) return;
  if (o.json) return printJson(result.front);
  console.log(frontMarkdown(result.front!).trimEnd());
  console.log(`wrote ${result.runDir}/front.json, front.md and front.svg`);
}
