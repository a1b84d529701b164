import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readJsonOrNull } from '../core/json-file.js';
import { describeDataset } from '../data/store.js';
import { resolveTargetTransform } from '../data/target-view.js';
import type { StageContext } from '../stages/context.js';
import { runPath } from '../stages/run-folder.js';
import { convergenceWarning, convergenceWarningOverSplits } from '../eval/convergence-check.js';
import type { PipelineConfig } from './schema.js';
import { sampleTeacher } from '../stages/sample.js';
import { sampleConfigFrom, type SampleConfig, type TeacherSummary } from '../stages/sample-config.js';
import { checkSplitRun, pipelineSplits, teacherRun } from './split-run.js';
import { splitScope } from './split-scope.js';
import { formatDuration } from '../core/progress.js';
import {
  formatNumber,
  summarizeOverSplits,
  writeStageSummary,
  type MetricSummary,
  type SplitStageOptions,
} from './summary.js';

/** The pipeline's `teacher` section (defaults applied by the schema). */
export type TeacherSection = NonNullable<PipelineConfig['teacher']>;

/**
 * Split k's teacher settings as the pipeline's teacher section gives them (with its target transform,
 * `pipelineTeacher`): what the sample stage samples, and (with its `chains` replaced) what one chain
 * shard of it samples (src/pipeline/teacher-shard.ts).
 */
export async function splitTeacherConfig(
  teacher: TeacherSection,
  dataset: string,
  k: number,
  seed: number,
  dataDir?: string,
): Promise<SampleConfig> {
  const { strictDiagnostics: _, ...settings } = teacher;
  return sampleConfigFrom({ ...settings, dataset, split: k, seed: teacher.seed ?? seed }, dataDir);
}

/**
 * The pipeline's `teacher` section with its target transform: `teacher.targetTransform`, else the
 * deprecated `dataset.splits.targetTransform` (the schema refuses the two disagreeing), else absent
 * (the dataset's recorded default, else none).
 */
export function pipelineTeacher(config: PipelineConfig): TeacherSection {
  const teacher = config.teacher!;
  const transform = teacher.targetTransform ?? config.dataset.splits?.targetTransform;
  return transform === undefined ? teacher : { ...teacher, targetTransform: transform };
}

/**
 * Refuses split k's teacher run when its samples model another target scale than the pipeline's
 * teacher now asks for: the distill and evaluate stages run without the sample stage (`--stages`)
 * would otherwise use it. The sample stage refuses it too (its settings differ).
 */
export async function checkTeacherScale(
  config: PipelineConfig,
  k: number,
  opts: StageContext,
): Promise<void> {
  if (!config.teacher) return;
  const run = teacherRun(config.name, k);
  const stored = await readJsonOrNull<SampleConfig>(path.join(runPath(run, opts.runsDir), 'config.json'));
  if (!stored) return;
  const was = stored.targetTransform ?? 'none';
  const asked =
    pipelineTeacher(config).targetTransform ??
    resolveTargetTransform(undefined, (await describeDataset(config.dataset.name, opts.dataDir)).splits);
  if (was !== asked)
    throw new UserError(
      `teacher run '${run}' was sampled with target transform ${was}, but the pipeline's teacher now asks for ${asked}; run the sample stage with --force to sample it again`,
    );
}

/**
 * Samples one teacher per split the pipeline uses (each split its own run, resumed if interrupted,
 * skipped when already complete with the same settings) and writes `<pipeline>/teacher-summary.json`
 * with every ensemble metric as mean ± standard error over splits.
 */
export async function sampleSplits(
  pipeline: string,
  dataset: string,
  use: 'all' | number[],
  teacher: TeacherSection,
  seed: number,
  opts: SplitStageOptions,
): Promise<{
  summaries: TeacherSummary[];
  aggregate: MetricSummary;
  file: string | null;
  completed: boolean;
}> {
  const splits = await pipelineSplits(dataset, use, opts.dataDir);
  const summaries: TeacherSummary[] = [];
  // Over several splits (or in a child of `bdk run --jobs`, whose parent gathers them) one warning
  // line says which teachers may not have converged, not one line per split.
  const gathered = splits.length > 1 || opts.summaries === false;
  const { strictDiagnostics } = teacher;
  /** `teacher.strictDiagnostics`: a teacher that fails a convergence check stops the pipeline (docs/design.md §4.5). */
  const checkConvergence = (run: string, summary: TeacherSummary) => {
    const issues = summary.diagnostics.warnings ?? [];
    if (strictDiagnostics && issues.length)
      throw new UserError(
        `${convergenceWarning(run, issues)}; teacher.strictDiagnostics makes this an error (the run is kept)`,
      );
  };
  for (const k of splits) {
    const config = await splitTeacherConfig(teacher, dataset, k, seed, opts.dataDir);
    const run = teacherRun(pipeline, k);
    const unit = splitScope(opts, 'sample', k, gathered);
    // The stored config also holds the dataset's checksum, which the comparison leaves out.
    const action = await checkSplitRun<SampleConfig, TeacherSummary>(
      {
        split: k,
        run,
        stage: 'teacher',
        settings: 'teacher',
        configFile: 'config.json',
        summaryFile: 'teacher.json',
        config,
        ignore: ['datasetChecksum'],
      },
      unit.opts,
    );
    if (action.summary) {
      checkConvergence(run, action.summary);
      summaries.push(action.summary);
      unit.end(true);
      continue;
    }
    const result = await sampleTeacher(config, {
      run,
      resume: action.resume,
      force: opts.force,
      dataDir: opts.dataDir,
      runsDir: opts.runsDir,
      signal: opts.signal,
      targetTransformSetting: 'teacher.targetTransform',
      log: unit.log,
      onProgress: opts.onProgress,
    });
    if (!result.completed) return { summaries, aggregate: {}, file: '', completed: false };
    const m = result.summary!.metrics;
    unit.log(
      `split ${k}: ${Object.entries(m)
        .map(([key, v]) => `${key} ${formatNumber(v)}`)
        .join(', ')} (${formatDuration(result.summary!.seconds)})`,
    );
    checkConvergence(run, result.summary!);
    summaries.push(result.summary!);
    unit.end(false);
  }
  const warning = splits.length > 1 && convergenceWarningOverSplits(summaries.map((s) => s.diagnostics));
  if (warning) opts.log?.(`warning: ${warning}`, opts.summaries === false ? 'detail' : 'warning');
  const aggregate = summarizeOverSplits(summaries.map((s) => s.metrics));
  const file = await writeStageSummary(
    pipeline,
    'teacher-summary.json',
    { pipeline, dataset, splits, aggregate, runs: summaries.map((s) => s.run) },
    opts,
  );
  return { summaries, aggregate, file, completed: true };
}
