import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import type { PipelineConfig } from './schema.js';
import type { StageContext } from '../stages/context.js';
import { frontMarkdown } from '../search/front.js';
import { isFrontPipeline, pipelineStudentRun, readPipelineFront } from './front-splits.js';
import { evaluateRun, upToDateReport, type EvaluationReport, type ModelName } from '../stages/evaluate.js';
import { exportStudent, type ExportManifest } from '../stages/export.js';
import { runPath } from '../stages/run-folder.js';
import { formatNumber, summarizeOverSplits, type MetricSummary, type SplitStageOptions } from './summary.js';
import { splitScope } from './split-scope.js';
import { convergenceMarkdown, teacherConvergence, type ConvergenceSummary } from './convergence-summary.js';
import { parseShift } from '../eval/image-shift.js';
import { shiftMarkdown, type OodReport, type ShiftReport } from '../stages/shift-report.js';
import { checkTeacherScale } from './teacher-splits.js';

export interface PipelineReport {
  pipeline: string;
  dataset: string;
  splits: number[];
  task: 'regression' | 'classification';
  /** Per model: every metric, parameters, bytes and latency as mean ± standard error over splits. */
  models: Partial<Record<ModelName, MetricSummary>>;
  /** The student's fidelity to the ensemble over splits (absent when a split's report predates it). */
  fidelity?: MetricSummary;
  /**
   * Regression, per model: `coverage90` and `width90` (the central 90 % interval's coverage and mean
   * width) and `crps` over splits (absent when a split's report predates them).
   */
  calibration?: Partial<Record<ModelName, MetricSummary>>;
  /** The ensemble's uncertainty decomposition over splits (absent when a split's report predates it). */
  uncertainty?: MetricSummary;
  /** Regression: whether those variances are in the target's units squared or of log y. */
  uncertaintyScale?: 'original' | 'log';
  /**
   * With `distillation.studentHead` `dirichlet` or `two-variance`: the student's own decomposition over
   * splits, in the same units as `uncertainty` (absent for the default heads).
   */
  studentUncertainty?: { head: 'dirichlet' | 'two-variance'; metrics: MetricSummary };
  /** The teachers' convergence diagnostics over splits (absent when a teacher.json is missing). */
  convergence?: ConvergenceSummary;
  /** With `evaluation.shift`: the splits' shift metrics, each value the mean over splits. */
  shift?: ShiftReport;
  /** With `evaluation.ood`: the splits' OOD AUROC/AUPR, each the mean over splits. */
  ood?: OodReport;
  runs: string[];
}

/**
 * Evaluates each split's student (`bdk evaluate`; a split whose report is up to date, e.g. made by a
 * `--jobs` child, is read, not evaluated again, unless `force`) and writes `<pipeline>/report.json` and `report.md`
 * with every model's metrics, size and latency as mean ± standard error over splits (the UCI
 * protocol's summary).
 */
export async function evaluateSplits(
  config: PipelineConfig,
  splits: number[],
  opts: SplitStageOptions,
): Promise<{ report: PipelineReport; file: string | null }> {
  const e = config.evaluation!;
  const reports: EvaluationReport[] = [];
  for (const k of splits) {
    const unit = splitScope(opts, 'evaluate', k);
    await checkTeacherScale(config, k, opts);
    const o = {
      ...unit.opts,
      run: await pipelineStudentRun(config, k, opts.runsDir),
      mapEpochs: e.map ? e.mapEpochs : 0,
      plots: e.plots,
      latencyRuns: e.latencyRuns,
      shift: e.shift ? parseShift(e.shift) : undefined,
      ood: e.ood,
    };
    const fresh = opts.force ? null : await upToDateReport(o);
    const r = fresh ?? (await evaluateRun(o));
    const s = r.models.student.metrics;
    unit.log(
      `split ${k}${fresh ? ' (up to date)' : ''}: student ${Object.entries(s)
        .map(([n, v]) => `${n} ${formatNumber(v)}`)
        .join(', ')}; ensemble ${Object.entries(r.models.ensemble.metrics)
        .map(([n, v]) => `${n} ${formatNumber(v)}`)
        .join(', ')}`,
    );
    reports.push(r);
    unit.end(fresh !== null);
  }
  const models: PipelineReport['models'] = {};
  for (const name of Object.keys(reports[0].models) as ModelName[]) {
    models[name] = summarizeOverSplits(
      reports.map((r) => ({
        ...r.models[name].metrics,
        parameters: r.models[name].parameters,
        bytes: r.models[name].bytes,
        latencyMs: r.models[name].latencyMs,
      })),
    );
  }
  const fidelity = reports.every((r) => r.fidelity)
    ? summarizeOverSplits(reports.map((r) => r.fidelity!))
    : undefined;
  const calibration = calibrationOverSplits(reports);
  const uncertainty = reports.every((r) => r.uncertainty)
    ? summarizeOverSplits(reports.map((r) => numericEntries(r.uncertainty!)))
    : undefined;
  const studentUncertainty = reports.every((r) => r.studentUncertainty)
    ? {
        head: reports[0].studentUncertainty!.head,
        metrics: summarizeOverSplits(reports.map((r) => numericEntries(r.studentUncertainty!))),
      }
    : undefined;
  const convergence = await teacherConvergence(
    reports.map((r) => r.teacher),
    opts.runsDir,
  );
  const report: PipelineReport = {
    pipeline: config.name,
    dataset: config.dataset.name,
    splits,
    task: reports[0].task,
    models,
    ...(fidelity ? { fidelity } : {}),
    ...(calibration ? { calibration } : {}),
    ...(uncertainty ? { uncertainty } : {}),
    ...(uncertainty && 'scale' in reports[0].uncertainty!
      ? { uncertaintyScale: reports[0].uncertainty.scale }
      : {}),
    ...(studentUncertainty ? { studentUncertainty } : {}),
    ...(convergence ? { convergence } : {}),
    ...(reports.every((r) => r.shift) ? { shift: meanOverSplits(reports.map((r) => r.shift!)) } : {}),
    ...(reports.every((r) => r.ood) ? { ood: meanOverSplits(reports.map((r) => r.ood!)) } : {}),
    runs: reports.map((r) => r.run),
  };
  if (opts.summaries === false) return { report, file: null }; // a child of `bdk run --jobs`
  const dir = runPath(config.name, opts.runsDir);
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, 'report.json');
  await writeFileAtomic(file, JSON.stringify(report, null, 2) + '\n');
  const front = isFrontPipeline(config) ? await readPipelineFront(config, opts.runsDir) : null;
  await writeFileAtomic(
    path.join(dir, 'report.md'),
    pipelineMarkdown(report) + (front ? '\n' + frontMarkdown(front, '##') : ''),
  );
  return { report, file };
}

/** The mean over splits of every number in reports of one shape (words and shapes from the first). */
function meanOverSplits<T>(trees: T[]): T {
  const first = trees[0] as unknown;
  if (typeof first === 'number') return ((trees as number[]).reduce((a, b) => a + b, 0) / trees.length) as T;
  if (Array.isArray(first))
    return first.map((_, i) => meanOverSplits(trees.map((t) => (t as unknown[])[i]))) as T;
  if (first && typeof first === 'object')
    return Object.fromEntries(
      Object.keys(first).map((k) => [k, meanOverSplits(trees.map((t) => (t as Record<string, unknown>)[k]))]),
    ) as T;
  return first as T;
}

/** The numeric entries of a record (the decomposition's `scale` is a word). */
function numericEntries(r: object): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v === 'number')) as Record<
    string,
    number
  >;
}

/** Each regression model's 90 % coverage, width and CRPS over splits, when every split's report has them. */
function calibrationOverSplits(reports: EvaluationReport[]): PipelineReport['calibration'] {
  const first = reports[0].calibration;
  if (!first || !reports.every((r) => r.calibration)) return undefined;
  const out: NonNullable<PipelineReport['calibration']> = {};
  for (const name of Object.keys(first) as ModelName[]) {
    if (!reports.every((r) => r.calibration![name])) continue;
    out[name] = summarizeOverSplits(
      reports.map((r) => {
        const c = r.calibration![name]!;
        return { coverage90: c.coverage['0.9'], width90: c.width['0.9'], crps: c.crps };
      }),
    );
  }
  return out;
}

const fmt = (v: { mean: number; se: number }) =>
  Number.isFinite(v.se) ? `${v.mean.toFixed(4)} ± ${v.se.toFixed(4)}` : v.mean.toFixed(4);

export function pipelineMarkdown(r: PipelineReport): string {
  const names = Object.keys(r.models) as ModelName[];
  const metrics = Object.keys(r.models.student!).filter(
    (k) => !['parameters', 'bytes', 'latencyMs'].includes(k),
  );
  return [
    `# ${r.pipeline}: ${r.dataset}, ${r.splits.length} split${r.splits.length > 1 ? 's' : ''} (mean ± standard error)`,
    '',
    `| model | ${metrics.join(' | ')} | parameters | latency per example (ms) |`,
    `| --- | ${metrics.map(() => '---').join(' | ')} | --- | --- |`,
    ...names.map((n) => {
      const m = r.models[n]!;
      return `| \`${n}\` | ${metrics.map((k) => fmt(m[k])).join(' | ')} | ${m.parameters.mean.toFixed(0)} | ${m.latencyMs.mean.toPrecision(3)} |`;
    }),
    '',
    ...(r.convergence ? convergenceMarkdown(r.convergence, fmt) : []),
    ...(r.fidelity
      ? [
          `Fidelity of the student to the ensemble (test rows): ${Object.entries(r.fidelity)
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(', ')}.`,
          '',
        ]
      : []),
    ...(r.calibration && Object.keys(r.calibration).length
      ? [
          'Central 90 % predictive interval (coverage, mean width) and CRPS on the test rows:',
          '',
          '| model | coverage 90 % | width 90 % | CRPS |',
          '| --- | --- | --- | --- |',
          ...Object.entries(r.calibration).map(
            ([n, c]) => `| \`${n}\` | ${fmt(c!.coverage90)} | ${fmt(c!.width90)} | ${fmt(c!.crps)} |`,
          ),
          '',
        ]
      : []),
    ...(r.uncertainty
      ? [
          `Uncertainty of the ensemble (mean over test rows; ${r.uncertaintyScale ? (r.uncertaintyScale === 'log' ? 'variances of log y' : 'variances in the target’s units squared') : 'entropies in nats'}): ${Object.entries(
            r.uncertainty,
          )
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(', ')}.`,
          '',
        ]
      : []),
    ...(r.studentUncertainty
      ? [
          `Uncertainty of the ${r.studentUncertainty.head === 'dirichlet' ? 'Dirichlet' : 'two-variance'} student (same units): ${Object.entries(
            r.studentUncertainty.metrics,
          )
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(', ')}.`,
          '',
        ]
      : []),
    ...(r.shift || r.ood ? ['Shift and OOD evaluation, mean over splits:', ''] : []),
    ...shiftMarkdown(r.shift, r.ood, {}),
  ].join('\n');
}

/** Exports the student of the pipeline's first split (with a front, the selected one) to `<pipeline>/export/`. */
export async function exportFirstSplit(
  config: PipelineConfig,
  splits: number[],
  opts: StageContext,
): Promise<{ dir: string; manifest: ExportManifest }> {
  const out = path.join(runPath(config.name, opts.runsDir), 'export');
  return exportStudent({
    ...opts,
    run: await pipelineStudentRun(config, splits[0], opts.runsDir),
    out,
    quantize: config.export!.quantize,
    force: true,
  });
}
