import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { readJsonOrNull } from '../core/json-file.js';
import type { PipelineConfig } from './schema.js';
import type { StageContext } from '../stages/context.js';
import {
  distillStudent,
  learningRateScheduleField,
  type DistillConfig,
  type StudentSummary,
} from '../stages/distill.js';
import { runPath } from '../stages/run-folder.js';
import { resolveRelative } from '../stages/prepare.js';
import { searchedArchPath } from '../stages/search.js';
import { searchRun } from './search-splits.js';
import { summarizeOverSplits, teacherRun, type MetricSummary } from './teacher-splits.js';

/** The student run name of split k of a pipeline. */
export const studentRun = (pipeline: string, split: number) => `${pipeline}-s${split}-student`;

/** The student architecture of split k: the pipeline's, or that split's structure-search result for `search`. */
async function studentArch(config: PipelineConfig, split: number, opts: StageContext): Promise<string> {
  const arch = config.student?.arch ?? config.teacher?.arch ?? 'mlp-50';
  if (arch !== 'search') return arch;
  if (!config.search) throw new UserError('student.arch "search" needs a search section in the pipeline');
  return searchedArchPath(searchRun(config.name, split), opts.runsDir);
}

/**
 * Distills each split's teacher (`<pipeline>-s<k>-teacher`) into a student (`<pipeline>-s<k>-student`),
 * skipping students already complete with the same settings and resuming interrupted ones, and writes
 * `<pipeline>/student-summary.json` with every metric as mean ± standard error over splits.
 */
export async function distillSplits(
  config: PipelineConfig,
  splits: number[],
  opts: StageContext & { file?: string },
): Promise<{ summaries: StudentSummary[]; aggregate: MetricSummary; file: string; completed: boolean }> {
  const d = config.distillation!;
  const summaries: StudentSummary[] = [];
  for (const k of splits) {
    const dc: DistillConfig = {
      teacher: teacherRun(config.name, k),
      arch: await studentArch(config, k, opts),
      temperature: d.temperature,
      klDirection: d.klDirection,
      inputNoise: d.inputNoise,
      samplesPerBatch: d.samplesPerBatch ?? 1,
      ...(d.mode === 'online' ? { mode: 'online' as const } : {}),
      ...(d.unlabeledInputs ? { unlabeledInputs: resolveRelative(d.unlabeledInputs, opts.file ?? '.') } : {}),
      ...(d.boxSamples ? { boxSamples: d.boxSamples } : {}),
      epochs: d.epochs,
      batchSize: d.batchSize,
      learningRate: d.learningRate,
      ...learningRateScheduleField(d.learningRateSchedule),
      seed: d.seed ?? config.seed,
    };
    const run = studentRun(config.name, k);
    const dir = runPath(run, opts.runsDir);
    const stored = await readJsonOrNull<DistillConfig>(path.join(dir, 'distill-config.json'));
    const done = await readJsonOrNull<StudentSummary>(path.join(dir, 'student.json'));
    const same = stored !== null && JSON.stringify(stored) === JSON.stringify(dc);
    if (done && same && !opts.force) {
      opts.log?.(`split ${k}: student ${run} up to date`);
      summaries.push(done);
      continue;
    }
    if (stored && !same && !opts.force)
      throw new UserError(
        `run '${run}' exists with different distillation settings; pass --force to replace it`,
      );
    const r = await distillStudent(dc, { ...opts, run, resume: stored !== null && !opts.force });
    if (!r.completed) return { summaries, aggregate: {}, file: '', completed: false };
    const m = r.summary!.metrics;
    opts.log?.(
      `split ${k}: student ${Object.entries(m)
        .map(([key, v]) => `${key} ${v.toFixed(4)}`)
        .join(', ')} (${r.summary!.seconds.toFixed(1)} s)`,
    );
    summaries.push(r.summary!);
  }
  const aggregate = summarizeOverSplits(summaries.map((s) => s.metrics));
  const file = path.join(runPath(config.name, opts.runsDir), 'student-summary.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(
    file,
    JSON.stringify({ pipeline: config.name, splits, aggregate, runs: summaries.map((s) => s.run) }, null, 2) +
      '\n',
  );
  return { summaries, aggregate, file, completed: true };
}
