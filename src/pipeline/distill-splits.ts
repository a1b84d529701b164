import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readJsonOrNull } from '../core/json-file.js';
import { runPath } from '../stages/run-folder.js';
import { isFrontPipeline, pipelineStudentRun } from './front-splits.js';
import { checkTeacherScale } from './teacher-splits.js';
import type { PipelineConfig } from './schema.js';
import type { StageContext } from '../stages/context.js';
import {
  distillStudent,
  STUDENT_RUN_FILES,
  type DistillConfig,
  type StudentSummary,
} from '../stages/distill.js';
import { DISTILL_DEFAULTS, distillConfigFrom } from '../stages/distill-config.js';
import { resolveRelative } from '../stages/prepare.js';
import { searchedStudent } from '../stages/search.js';
import { checkSplitRun, searchRun, studentRun, teacherRun } from './split-run.js';
import { splitScope } from './split-scope.js';
import { formatDuration } from '../core/progress.js';
import {
  formatNumber,
  summarizeOverSplits,
  writeStageSummary,
  type MetricSummary,
  type SplitStageOptions,
} from './summary.js';

/**
 * The student architecture of split k: the pipeline's student's, else its teacher's (unlike `bdk
 * distill`, whose default is `DISTILL_DEFAULTS.arch`), else that default; for `search`, that split's
 * structure-search result, warm-started from the search's weights unless `student.warmStart` is false.
 */
async function studentArch(
  config: PipelineConfig,
  split: number,
  opts: StageContext,
): Promise<{ arch: string; initialWeights?: string }> {
  const arch = config.student?.arch ?? config.teacher?.arch ?? DISTILL_DEFAULTS.arch;
  if (arch !== 'search') return { arch };
  if (!config.search) throw new UserError('student.arch "search" needs a search section in the pipeline');
  return searchedStudent(searchRun(config.name, split), opts.runsDir, config.student?.warmStart ?? true);
}

/**
 * Distills each split's teacher (`<pipeline>-s<k>-teacher`) into a student (`<pipeline>-s<k>-student`),
 * skipping students already complete with the same settings and resuming interrupted ones, and writes
 * `<pipeline>/student-summary.json` with every metric as mean ± standard error over splits.
 */
export async function distillSplits(
  config: PipelineConfig,
  splits: number[],
  opts: SplitStageOptions & { file?: string },
): Promise<{
  summaries: StudentSummary[];
  aggregate: MetricSummary;
  file: string | null;
  completed: boolean;
}> {
  const d = config.distillation!;
  const summaries: StudentSummary[] = [];
  for (const k of splits) {
    const unit = splitScope(opts, 'distill', k);
    await checkTeacherScale(config, k, opts);
    if (isFrontPipeline(config)) {
      // A front distilled every member already: the split's student is the selected member's.
      const run = await pipelineStudentRun(config, k, opts.runsDir);
      const summary = await readJsonOrNull<StudentSummary>(
        path.join(runPath(run, opts.runsDir), 'student.json'),
      );
      if (!summary)
        throw new UserError(`front student '${run}' is not finished: run the search stage (the front) first`);
      unit.log(`split ${k}: the student is the front's selected ${run}`);
      summaries.push(summary);
      unit.end(true);
      continue;
    }
    const dc = distillConfigFrom({
      ...d,
      teacher: teacherRun(config.name, k),
      ...(await studentArch(config, k, opts)),
      // Relative to the pipeline file (`bdk distill` resolves it against the working folder).
      unlabeledInputs: d.unlabeledInputs ? resolveRelative(d.unlabeledInputs, opts.file ?? '.') : undefined,
      seed: d.seed ?? config.seed,
    });
    const run = studentRun(config.name, k);
    const action = await checkSplitRun<DistillConfig, StudentSummary>(
      {
        split: k,
        run,
        ...STUDENT_RUN_FILES,
        config: dc,
      },
      unit.opts,
    );
    if (action.summary) {
      summaries.push(action.summary);
      unit.end(true);
      continue;
    }
    const r = await distillStudent(dc, { ...unit.opts, run, resume: action.resume });
    if (!r.completed) return { summaries, aggregate: {}, file: '', completed: false };
    const m = r.summary!.metrics;
    unit.log(
      `split ${k}: student ${Object.entries(m)
        .map(([key, v]) => `${key} ${formatNumber(v)}`)
        .join(', ')} (${formatDuration(r.summary!.seconds)})`,
    );
    summaries.push(r.summary!);
    unit.end(false);
  }
  const aggregate = summarizeOverSplits(summaries.map((s) => s.metrics));
  const file = await writeStageSummary(
    config.name,
    'student-summary.json',
    { pipeline: config.name, splits, aggregate, runs: summaries.map((s) => s.run) },
    opts,
  );
  return { summaries, aggregate, file, completed: true };
}
