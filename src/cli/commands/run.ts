import { availableParallelism } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { loadPipeline } from '../../pipeline/load.js';
import { plannedStages, runPipeline, STAGES, type StageName, type StageResult } from '../../pipeline/run.js';
import type { PipelineConfig } from '../../pipeline/schema.js';
import { pipelineSplits } from '../../pipeline/split-run.js';
import { describeBackend, requestedBackend, selectBackend } from '../../backend/select.js';
import { addJsonOption, parseInteger, parseList, printJson } from '../options.js';
import type { LogLine } from '../../core/log-line.js';
import { outputLevel, shows } from '../output-level.js';
import { childReporter } from '../child-events.js';
import { PipelineProgress } from '../pipeline-progress.js';
import { resultTable } from '../../pipeline/result-table.js';
import type { PipelineReport } from '../../pipeline/evaluate-splits.js';
import { withInterrupt } from '../interrupt.js';
import { dealSplits, PER_SPLIT_STAGES, PIPELINE_CHILD_ENV, runSplitJobs } from '../split-jobs.js';
import { emitPipeline } from '../emit-command.js';
import { runTeacherShard, teacherShardFrom, wantsTeacherShard } from '../teacher-shard-command.js';

function parseStages(value: string): StageName[] {
  const names = parseList(value);
  for (const n of names) {
    if (!(STAGES as readonly string[]).includes(n))
      throw new UserError(`--stages: unknown stage '${n}': expected some of ${STAGES.join(', ')}`);
  }
  return names as StageName[];
}

function parseSplits(value: string): number[] {
  const parse = parseInteger(0);
  const splits = parseList(value).map((v) => parse(v));
  if (splits.length === 0) throw new InvalidArgumentError('expected a comma-separated list of split indices');
  return [...new Set(splits)];
}

function parseJobs(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : parseInteger(1)(value);
}

/** The pipeline restricted to `splits`, which must be among the splits it uses. */
function restrictSplits(config: PipelineConfig, splits: number[]): PipelineConfig {
  const use = config.dataset.use;
  if (use !== 'all') {
    const missing = splits.filter((k) => !use.includes(k));
    if (missing.length)
      throw new UserError(
        `--splits: split ${missing.join(', ')} is not among the pipeline's splits (${use.join(', ')})`,
      );
  }
  return { ...config, dataset: { ...config.dataset, use: splits } };
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description(
      'run a pipeline file: prepare → sample → search → distill → evaluate → export (stages it configures)',
    )
    .argument('<pipeline>', 'pipeline JSON file, e.g. pipelines/boston.json')
    .option(
      '--backend <name>',
      'compute backend (overrides the pipeline and BDK_BACKEND): auto | tensorflow-gpu | tensorflow | wasm | cpu',
    )
    .option('--stages <list>', `run only these stages, comma-separated (${STAGES.join(', ')})`, parseStages)
    .option('--dry-run', 'validate the pipeline and list the stages it would run')
    .option(
      '--force',
      'redo every per-split run of the selected stages, and replace a dataset whose content or splits differ',
    )
    .option(
      '--splits <list>',
      'run only these splits of the pipeline (comma-separated indices), e.g. one per array job',
      parseSplits,
    )
    .option(
      '--jobs <n>',
      'processes that share out the per-split stages (sample, search, distill, evaluate); auto = one per CPU core, at most one per split',
      parseJobs,
      'auto',
    )
    .option(
      '--emit <engine>',
      "write a batch engine's files instead of running: kubernetes (Indexed Job) or slurm (job array), one index per split, then a gather step",
    )
    .option('--out <dir>', '--emit: the folder to write the files into')
    .option(
      '--parallelism <n>',
      '--emit: at most this many array indices at once (default: all)',
      parseInteger(1),
    )
    .option('--image <name>', '--emit kubernetes: the container image (default bdk:<version>)')
    .option('--cpus <n>', '--emit: CPU cores per array index', parseInteger(1), 2)
    .option('--memory <GiB>', '--emit: memory per array index, GiB', parseInteger(1), 8)
    .option(
      '--chains-per-shard <c>',
      "--emit: one array index per chain shard of c chains (c divides the teacher's chains), not per split; the gather step merges the shards and runs the rest",
      parseInteger(1),
    )
    .option(
      '--chain-offset <k>',
      "sample only a shard of the teacher's chains, from chain k (with --chains, --stages sample and one split in --splits), for `bdk gather --into`",
      parseInteger(0),
    )
    .option('--chains <c>', '--chain-offset: the number of chains in the shard', parseInteger(1));
  addJsonOption(cmd);
  cmd.action(
    async (
      file: string,
      o: {
        backend?: string;
        stages?: StageName[];
        dryRun?: boolean;
        force?: boolean;
        json?: boolean;
        splits?: number[];
        jobs: number | 'auto';
        emit?: string;
        out?: string;
        parallelism?: number;
        image?: string;
        cpus: number;
        memory: number;
        chainsPerShard?: number;
        chainOffset?: number;
        chains?: number;
      },
    ) => {
      let config = await loadPipeline(file);
      if (o.splits) config = restrictSplits(config, o.splits);
      if (o.emit) return emitPipeline(file, config, { ...o, emit: o.emit });
      if (o.chainsPerShard !== undefined)
        throw new UserError('--chains-per-shard shapes an emitted array: give it with --emit ENGINE');
      const shard = wantsTeacherShard(o) ? teacherShardFrom(config, o) : null;
      const stages = plannedStages(config, o.stages);
      if (o.dryRun) {
        const what = shard
          ? `split ${shard.split}'s teacher chains ${shard.chainOffset}..${shard.chainOffset + shard.chains - 1}`
          : stages.join(' → ');
        if (o.json)
          return printJson({
            pipeline: config.name,
            valid: true,
            stages,
            ...(shard ? { shard } : {}),
            config,
          });
        return console.log(`${file}: valid; ${shard ? 'shard' : 'stages'}: ${what}`);
      }
      if (shard) return runTeacherShard(file, config, o);
      const needsCompute = stages.some((s) => s !== 'prepare');
      const child = process.env[PIPELINE_CHILD_ENV] === '1';
      if (needsCompute) {
        const choice = requestedBackend(o.backend ?? config.backend);
        const backend = await selectBackend(choice);
        if (!o.json && !child && shows('info')) console.log(describeBackend(backend, choice));
      }
      // A child reports events to its parent, which prints them; else lines go to stdout by level.
      const reporter = child ? childReporter() : null;
      let tracker: PipelineProgress | null = null;
      const log: LogLine =
        reporter?.log ??
        ((line, kind) => {
          if (o.json || !shows(kind)) return;
          tracker?.clear();
          console.log(line);
        });
      const results: StageResult[] = [];
      let rest = stages;
      if (stages[0] === 'prepare') {
        results.push(...(await runPipeline(config, { file, stages: ['prepare'], force: o.force, log })));
        rest = stages.slice(1);
      }
      const jobs = o.jobs === 'auto' ? availableParallelism() : o.jobs;
      const perSplit = rest.filter((s) => PER_SPLIT_STAGES.includes(s));
      const splits = perSplit.length ? await pipelineSplits(config.dataset.name, config.dataset.use) : [];
      const mode = o.json || outputLevel() === 'quiet' ? ('off' as const) : undefined;
      const track = (groups: number[][]) =>
        (tracker = new PipelineProgress({ pipeline: config.name, groups, ...(mode ? { mode } : {}) }));
      let force = o.force;
      const groups = dealSplits(splits, jobs);
      if (!child && jobs > 1 && groups.length > 1) {
        log(`${perSplit.join(', ')}: ${groups.length} processes share out the splits`);
        const t = track(groups);
        const completed = await withInterrupt((signal) =>
          runSplitJobs({
            file,
            groups,
            stages: perSplit,
            force: o.force,
            backend: o.backend,
            signal,
            log,
            error: (line) => {
              t.clear();
              process.stderr.write(line + '\n');
            },
            onUnit: (e, g) => t.unit(e, g),
            onStep: (step, total, info, g) => t.step(step, total, info, g),
          }),
        ).finally(() => t.done());
        if (!completed) {
          process.exitCode = 130;
          if (o.json) printJson({ pipeline: config.name, stages: results, interrupted: true });
          return;
        }
        force = false; // the per-split runs were just written; this pass collects them and goes on
      }
      const t = child ? null : track([splits]);
      results.push(
        ...(await withInterrupt((signal) =>
          runPipeline(config, {
            file,
            stages: rest,
            force,
            ...(child ? { summaries: false } : {}),
            log,
            signal,
            onProgress: reporter?.onProgress ?? ((step, total, info) => t?.step(step, total, info)),
            onUnit: reporter?.onUnit ?? ((e) => t?.unit(e)),
          }),
        ).finally(() => t?.done())),
      );
      if (results.some((r) => r.status === 'interrupted')) process.exitCode = 130;
      if (o.json) return printJson({ pipeline: config.name, stages: results });
      if (!child) printFinalResult(results);
    },
  );
}

/**
 * What a person reads last: the evaluation's table over splits (also at `--quiet`), or at `--quiet`
 * without an evaluate stage, the last stage's line.
 */
function printFinalResult(results: StageResult[]): void {
  const last = results[results.length - 1];
  const evaluated = results.find((r) => r.stage === 'evaluate' && r.status === 'done');
  if (evaluated) console.log(resultTable(evaluated.details as PipelineReport, evaluated.file).join('\n'));
  else if (last && outputLevel() === 'quiet') console.log(`stage ${last.stage}: ${last.summary}`);
}
