import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readJsonOrNull } from '../core/json-file.js';
import { describeDataset } from '../data/store.js';
import { resolveTargetTransform } from '../data/target-view.js';
import type { StageContext } from '../stages/context.js';
import { runPath } from '../stages/run-folder.js';
import { convergenceWarning } from '../eval/convergence-check.js';
import type { PipelineConfig } from './schema.js';
import { sampleTeacher } from '../stages/sample.js';
import { sampleConfigFrom, type SampleConfig, type TeacherSummary } from '../stages/sample-config.js';
import { checkSplitRun, pipelineSplits, teacherRun } from './split-run.js';
import {
  summarizeOverSplits,
  writeStageSummary,
  type MetricSummary,
  type SplitStageOptions,
} from './summary.js';

/** The pipeline's `teacher` section (defaults applied by the schema). */
export type TeacherSection = NonNullable<PipelineConfig['teacher']>;

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
  const log = opts.log ?? (() => {});
  const splits = await pipelineSplits(dataset, use, opts.dataDir);
  const summaries: TeacherSummary[] = [];
  const { strictDiagnostics, ...settings } = teacher;
  /** `teacher.strictDiagnostics`: a teacher that fails a convergence check stops the pipeline (docs/design.md §4.5). */
  const checkConvergence = (run: string, summary: TeacherSummary) => {
    const issues = summary.diagnostics.warnings ?? [];
    if (strictDiagnostics && issues.length)
      throw new UserError(
        `${convergenceWarning(run, issues)}; teacher.strictDiagnostics makes this an error (the run is kept)`,
      );
  };
  for (const k of splits) {
    const config: SampleConfig = await sampleConfigFrom(
      { ...settings, dataset, split: k, seed: teacher.seed ?? seed },
      opts.dataDir,
    );
    const run = teacherRun(pipeline, k);
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
      opts,
    );
    if (action.summary) {
      checkConvergence(run, action.summary);
      summaries.push(action.summary);
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
      log,
      onProgress: opts.onProgress,
    });
    if (!result.completed) return { summaries, aggregate: {}, file: '', completed: false };
    const m = result.summary!.metrics;
    log(
      `split ${k}: ${Object.entries(m)
        .map(([key, v]) => `${key} ${v.toFixed(4)}`)
        .join(', ')} (${result.summary!.seconds.toFixed(1)} s)`,
    );
    checkConvergence(run, result.summary!);
    summaries.push(result.summary!);
  }
  const aggregate = summarizeOverSplits(summaries.map((s) => s.metrics));
  const file = await writeStageSummary(
    pipeline,
    'teacher-summary.json',
    { pipeline, dataset, splits, aggregate, runs: summaries.map((s) => s.run) },
    opts,
  );
  return { summaries, aggregate, file, completed: true };
}
