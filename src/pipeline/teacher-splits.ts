import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { readJsonOrNull } from '../core/json-file.js';
import { describeDataset } from '../data/store.js';
import { DEFAULT_SAMPLER } from '../teacher/chains.js';
import type { PipelineConfig } from './schema.js';
import type { StageContext } from '../stages/context.js';
import {
  defaultStepSize,
  heteroscedasticField,
  variancePriorField,
  sampleDtypeField,
  sampleTeacher,
  type SampleConfig,
  type TeacherSummary,
} from '../stages/sample.js';
import { runPath, targetTransformField } from '../stages/run-folder.js';

/** The pipeline's `teacher` section (defaults applied by the schema). */
export type TeacherSection = NonNullable<PipelineConfig['teacher']>;

/** mean ± standard error over splits for each metric. */
export type MetricSummary = Record<string, { mean: number; se: number; values: number[] }>;

export function summarizeOverSplits(rows: Record<string, number>[]): MetricSummary {
  const out: MetricSummary = {};
  for (const key of Object.keys(rows[0] ?? {})) {
    const values = rows.map((r) => r[key]);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const sd =
      values.length > 1
        ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1))
        : NaN;
    out[key] = { mean, se: sd / Math.sqrt(values.length), values };
  }
  return out;
}

/** The split indices a pipeline uses: every split of the dataset, or the listed ones. */
export async function pipelineSplits(
  dataset: string,
  use: 'all' | number[],
  dataDir?: string,
): Promise<number[]> {
  if (use !== 'all') return use;
  return (await describeDataset(dataset, dataDir)).splits.splits.map((s) => s.index);
}

/** The teacher run name of split k of a pipeline. */
export const teacherRun = (pipeline: string, split: number) => `${pipeline}-s${split}-teacher`;

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
  opts: StageContext,
): Promise<{ summaries: TeacherSummary[]; aggregate: MetricSummary; file: string; completed: boolean }> {
  const log = opts.log ?? (() => {});
  const splits = await pipelineSplits(dataset, use, opts.dataDir);
  // The target scale the samples will model, as sampleTeacher records it: a teacher sampled before
  // the dataset was prepared with another transform then differs in its settings.
  const transform = targetTransformField((await describeDataset(dataset, opts.dataDir)).splits);
  const summaries: TeacherSummary[] = [];
  for (const k of splits) {
    const config: SampleConfig = {
      dataset,
      split: k,
      trainOn: teacher.trainOn,
      arch: teacher.arch,
      sampler: teacher.sampler,
      dropoutRate: teacher.dropoutRate ?? 0.05,
      samples: teacher.samples,
      burnIn: teacher.burnIn,
      thin: teacher.thin,
      stepSize: teacher.stepSize ?? NaN,
      schedule: teacher.schedule,
      batchSize: teacher.batchSize,
      chains: teacher.chains,
      seed: teacher.seed ?? seed,
      priorPrecision: teacher.priorPrecision,
      temperature: teacher.temperature,
      noisePrecision: teacher.noisePrecision ?? null,
      noisePrior: teacher.noisePrior,
      friction: teacher.friction ?? DEFAULT_SAMPLER.friction,
      rmsDecay: teacher.rmsDecay ?? DEFAULT_SAMPLER.rmsDecay,
      rmsEpsilon: teacher.rmsEpsilon ?? DEFAULT_SAMPLER.rmsEpsilon,
      ...heteroscedasticField(teacher.heteroscedastic),
      ...variancePriorField(teacher.variancePriorPrecision),
      ...sampleDtypeField(teacher.sampleDtype),
      ...transform,
    };
    if (teacher.stepSize === undefined) config.stepSize = await defaultStepSize(config, opts.dataDir);
    const run = teacherRun(pipeline, k);
    const dir = runPath(run, opts.runsDir);
    const done = await readJsonOrNull<TeacherSummary>(path.join(dir, 'teacher.json'));
    const stored = await readJsonOrNull<SampleConfig & { datasetChecksum?: string }>(
      path.join(dir, 'config.json'),
    );
    const same =
      stored !== null &&
      JSON.stringify({ ...stored, datasetChecksum: undefined }) ===
        JSON.stringify({ ...config, datasetChecksum: undefined });
    if (done && same && !opts.force) {
      log(`split ${k}: teacher ${run} up to date`);
      summaries.push(done);
      continue;
    }
    if (stored && !same && !opts.force) {
      throw new UserError(`run '${run}' exists with different teacher settings; pass --force to replace it`);
    }
    const result = await sampleTeacher(config, {
      run,
      resume: stored !== null && !opts.force,
      force: opts.force,
      dataDir: opts.dataDir,
      runsDir: opts.runsDir,
      signal: opts.signal,
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
    summaries.push(result.summary!);
  }
  const aggregate = summarizeOverSplits(summaries.map((s) => s.metrics));
  const file = path.join(runPath(pipeline, opts.runsDir), 'teacher-summary.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(
    file,
    JSON.stringify({ pipeline, dataset, splits, aggregate, runs: summaries.map((s) => s.run) }, null, 2) +
      '\n',
  );
  return { summaries, aggregate, file, completed: true };
}
