import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { requireFiniteMetrics } from '../core/finite.js';
import { datasetFile, inputShape, partArrays, type PartArrays } from '../data/store.js';
import { readJsonOrNull } from '../core/json-file.js';
import { lockRunFolder } from '../core/run-lock.js';
import { analyzeSpec, type Analysis } from '../model/spec.js';
import { forward, unflatten } from '../model/forward.js';
import { chainSeed, type DrawnSample } from '../teacher/chains.js';
import { runMcDropout } from '../teacher/mc-dropout.js';
import { noiseModel, variancePrior, type PosteriorModel } from '../teacher/posterior.js';
import { ensemblePredictive } from '../teacher/predictive.js';
import { readSamples, scanSamples, weightBytes, type SampleBatch } from '../samples/index.js';
import type { StageContext } from './context.js';
import { metricsFromOutputs } from './distill.js';
import { loadTeacherDataset, runPath, runSampleFiles } from './run-folder.js';
import { openStudentRun, STUDENT_WEIGHTS } from './student-run.js';
import { openCompleteTeacher } from './teacher-check.js';
import { partTensors } from './sample.js';
import type { SampleConfig } from './sample-config.js';
import { predictiveMetrics, studentFidelity } from './teacher-report.js';
import { writeEvaluationPlots } from './evaluation-plots.js';
import type { IntervalCalibration } from '../eval/interval-calibration.js';
import * as uq from './uncertainty-report.js';
import type { Predictive } from '../teacher/predictive.js';
import type { ShiftSpec } from '../eval/image-shift.js';
import * as sh from './shift-report.js';

export type ModelName = 'map' | 'teacher_single' | 'ensemble' | 'student';

export interface ModelReport {
  metrics: Record<string, number>;
  parameters: number;
  /** Bytes of the weights the model needs at inference (the ensemble's as its samples are stored). */
  bytes: number;
  /** Mean wall time per test example of predicting the whole test split, in milliseconds. */
  latencyMs: number;
}

export interface EvaluationReport {
  run: string;
  teacher: string;
  dataset: string;
  split: number;
  task: 'regression' | 'classification';
  testRows: number;
  models: Record<ModelName, ModelReport>;
  /** Ensemble parameters ÷ student parameters, and ensemble latency ÷ student latency (same run). */
  compression: number;
  speedup: number;
  /**
   * The student's fidelity to the ensemble on the test rows (eval/fidelity.ts): classification
   * `klToEnsemble`, `agreement`, `totalVariation`; regression `klToEnsemble`, `meanRmseToEnsemble`,
   * `sdCorrelation`. Absent in reports made before it existed.
   */
  fidelity?: Record<string, number>;
  /** Regression: each model's central-interval coverage and width per level, and CRPS (docs/design.md §4.6). */
  calibration?: Partial<Record<ModelName, IntervalCalibration>>;
  /** The ensemble's aleatoric/epistemic decomposition (uncertainty-decomposition.ts). */
  uncertainty?: uq.UncertaintyDecomposition;
  /** With `--shift`: each model's metrics on the rotated or noised test inputs (shift-report.ts). */
  shift?: sh.ShiftReport;
  /** With `--ood`: AUROC/AUPR of each model's entropy (and mutual information) per OOD set. */
  ood?: sh.OodReport;
  /** A `dirichlet` or `two-variance` student's own decomposition (docs/design.md §2.6, §2.7). */
  studentUncertainty?: uq.StudentUncertainty;
  /** The settings it was made with (a pipeline reuses a report only when they match). */
  settings?: { mapEpochs: number; latencyRuns: number; plots: boolean; shift?: ShiftSpec; ood?: string[] };
  /** With `--allow-incomplete` on an incomplete teacher: what was wrong with it. */
  teacherWarning?: string;
}

export interface EvaluateOptions extends StageContext {
  /** The student run (from `bdk distill`); its teacher and dataset are found from it. */
  run: string;
  /** Epochs of the single SGD/MAP baseline network (0 skips it). */
  mapEpochs?: number;
  latencyRuns?: number;
  /** Write SVG plots beside the report (default true). */
  plots?: boolean;
  /** The report's file name without extension (default `report`: `report.json`, `report.md`). */
  reportName?: string;
  /** Evaluate against an incomplete teacher's samples as they are, with a warning (see `openCompleteTeacher`). */
  allowIncomplete?: boolean;
  /** Also evaluate every model on rotated images or noised tabular inputs (`--shift`). */
  shift?: ShiftSpec;
  /** Also score OOD detection on these sets: permute, invert, noise or prepared dataset names (`--ood`). */
  ood?: string[];
}

function singleBatch(weights: Float32Array, noisePrecision: number): SampleBatch {
  return {
    chain: new Int32Array(1),
    step: new Int32Array(1),
    logLikelihood: new Float64Array(1),
    noisePrecision: Float64Array.of(noisePrecision),
    weights,
    rows: 1,
    parameterCount: weights.length,
  };
}

async function* once(b: SampleBatch) {
  yield b;
}

/** Wall time the repetitions of one latency measurement may take, unless a single one takes longer. */
const LATENCY_BUDGET_MS = 30_000;

/**
 * Mean wall time per example of `predict`, over `runs` repetitions after a warm-up (one call, or
 * `warmedMs`, the time of a call the caller just made), fewer when they would take more than 30 s:
 * at least one.
 */
async function latency(
  runs: number,
  examples: number,
  predict: () => Promise<void>,
  warmedMs?: number,
): Promise<number> {
  let oneMs = warmedMs;
  if (oneMs === undefined) {
    const t0 = performance.now();
    await predict();
    oneMs = performance.now() - t0;
  }
  const n = Math.max(1, Math.min(runs, Math.floor(LATENCY_BUDGET_MS / Math.max(oneMs, 1e-3))));
  const t = performance.now();
  for (let i = 0; i < n; i++) await predict();
  return (performance.now() - t) / n / examples;
}

/** The first sample of a run's shards. */
async function firstSample(files: string[]): Promise<SampleBatch> {
  for await (const b of readSamples(files, { batchRecords: 1 })) return b;
  throw new UserError(`teacher run has no samples in ${files.join(', ')}`);
}

/**
 * Compares, on the split's test rows, a single network trained by MAP with the teacher's
 * architecture (`map`), one posterior sample (`teacher_single`), the whole ensemble (`ensemble`) and
 * the distilled student (`student`): metrics, parameters, bytes and latency measured in this run.
 * Writes `report.json` and `report.md` in the student's run folder, holding its lock meanwhile.
 */
export async function evaluateRun(opts: EvaluateOptions): Promise<EvaluationReport> {
  const lock = await lockRunFolder(runPath(opts.run, opts.runsDir), `run '${opts.run}'`);
  try {
    return await evaluateLocked(opts);
  } finally {
    await lock.release();
  }
}

async function evaluateLocked(opts: EvaluateOptions): Promise<EvaluationReport> {
  const log = opts.log ?? (() => {});
  const student = await openStudentRun(opts.run, opts.runsDir);
  const {
    runDir,
    teacherDir,
    config: dc,
    teacherConfig: tc,
    analysis: studentA,
    weights: studentW,
  } = student;
  const { files: sampleFiles, warning: teacherWarning } = await openCompleteTeacher(dc.teacher, opts);
  const ds = await loadTeacherDataset(dc.teacher, tc, opts.dataDir);
  const task = ds.meta.task;
  const shape = inputShape(ds);
  await sh.checkShiftAndOod(ds, opts.shift, opts.ood, opts.dataDir);
  const train = partArrays(ds, tc.split, tc.trainOn);
  const test = partArrays(ds, tc.split, tc.evaluateOn ?? 'test');
  const teacherA = analyzeSpec(JSON.parse(await fs.readFile(path.join(teacherDir, 'spec.json'), 'utf8')));
  // The ensemble is streamed from its files, so memory stays bounded; only the counts are read up front.
  const scans = await Promise.all(sampleFiles.map((f) => scanSamples(f)));
  const sampleRows = scans.reduce((sum, sc) => sum + sc.records, 0);
  const storedBytes = scans.reduce(
    (sum, sc) => sum + sc.records * sc.parameterCount * weightBytes(sc.weightDtype),
    0,
  );
  const first = await firstSample(sampleFiles);
  const runs = opts.latencyRuns ?? 20;
  const x = tf.tensor(test.x, [test.rows, ...shape]);
  const predictive = (batches: AsyncIterable<SampleBatch>, keepUncertainty = false, xs = x, y = test.y) =>
    ensemblePredictive(
      { analysis: teacherA, task, x: xs, y, target: test.normalization.target, keepUncertainty },
      batches,
    );
  // Each model on other inputs, for the shift and OOD evaluations (shift-report.ts).
  const runners: Record<string, sh.ModelRunner> = {};
  const on =
    (b: () => AsyncIterable<SampleBatch>): sh.ModelRunner =>
    async (xs, y) => ({
      kind: 'predictive',
      p: await predictive(b(), true, xs, y),
    });
  const models = {} as Record<ModelName, ModelReport>;
  let fidelity: Record<string, number> = {};
  const calibration: Partial<Record<ModelName, IntervalCalibration>> = {};
  const calibrated = (name: ModelName, p: Predictive) => {
    const c = uq.predictiveCalibration(p, test);
    if (c) calibration[name] = c;
    return predictiveMetrics(p, test);
  };
  let uncertainty: uq.UncertaintyDecomposition | undefined;
  let shift: sh.ShiftReport | undefined;
  let ood: sh.OodReport | undefined;
  let studentUncertainty: uq.StudentUncertainty | undefined;
  try {
    // MAP baseline: the MC-dropout trainer with no dropout is Adam on the negative log posterior.
    const mapEpochs = opts.mapEpochs ?? 100;
    if (mapEpochs > 0) {
      log(`training the MAP baseline (${teacherA.spec.name}, ${mapEpochs} epochs)`);
      const map = await trainMap(teacherA, tc, train, shape, task, mapEpochs, opts);
      const batch = singleBatch(map.weights, map.noisePrecision);
      runners.map = on(() => once(batch));
      models.map = {
        metrics: calibrated('map', await predictive(once(batch), true)),
        parameters: teacherA.parameterCount,
        bytes: teacherA.parameterCount * 4,
        latencyMs: await latency(runs, test.rows, async () => void (await predictive(once(batch)))),
      };
    }
    runners.teacher_single = on(() => once(first));
    runners.ensemble = on(() => readSamples(sampleFiles));
    models.teacher_single = {
      metrics: calibrated('teacher_single', await predictive(once(first), true)),
      parameters: teacherA.parameterCount,
      bytes: teacherA.parameterCount * 4,
      latencyMs: await latency(runs, test.rows, async () => void (await predictive(once(first)))),
    };
    // The ensemble's metrics pass is its latency warm-up; the timed passes include reading the samples.
    const t0 = performance.now();
    const ensemblePred = await predictive(readSamples(sampleFiles), true);
    const ensembleMs = performance.now() - t0;
    uncertainty = uq.ensembleUncertainty(ensemblePred, test);
    models.ensemble = {
      metrics: calibrated('ensemble', ensemblePred),
      parameters: teacherA.parameterCount * sampleRows,
      bytes: storedBytes,
      latencyMs: await latency(
        Math.max(1, Math.ceil(runs / 4)),
        test.rows,
        async () => void (await predictive(readSamples(sampleFiles))),
        ensembleMs,
      ),
    };
    const studentOut = async (xs = x, own = false) => {
      const o = tf.tidy(() =>
        tf.squeeze(
          forward(
            studentA,
            unflatten(studentA, tf.tensor2d(studentW, [1, studentA.parameterCount])),
            tf.expandDims(xs, 0),
          ),
          [0],
        ),
      );
      const v = (await o.data()) as Float32Array;
      o.dispose();
      return own ? v : uq.predictiveOutputs(v, task, studentA.outputShape[0]).values;
    };
    const studentOwn = await studentOut(x, true);
    studentUncertainty = uq.studentUncertainty(studentOwn, dc.studentHead, test, studentA.outputShape[0]);
    const { values: studentRaw, units: u } = uq.predictiveOutputs(studentOwn, task, studentA.outputShape[0]);
    const sc = uq.studentCalibration(studentRaw, test, task);
    if (sc) calibration.student = sc;
    if (opts.plots ?? true)
      await writeEvaluationPlots(runDir, teacherDir, task, test, ensemblePred, studentRaw, u, calibration);
    fidelity = studentFidelity(ensemblePred, studentRaw, test, u);
    models.student = {
      metrics: metricsFromOutputs(studentRaw, test, task, u),
      parameters: studentA.parameterCount,
      bytes: studentA.parameterCount * 4,
      latencyMs: await latency(runs, test.rows, async () => void (await studentOut())),
    };
    const head = dc.studentHead;
    runners.student = async (xs) => ({ kind: 'raw', raw: await studentOut(xs), units: u, head });
    const input = { ds, test, shape, runners, seed: tc.seed, dataDir: opts.dataDir, log };
    ({ shift, ood } = await sh.shiftAndOod(input, opts, (opts.plots ?? true) ? runDir : undefined));
  } finally {
    x.dispose();
  }
  // No report with a NaN in it: a model that predicts non-finite values stops the evaluation.
  for (const [model, r] of Object.entries(models))
    requireFiniteMetrics(
      r.metrics,
      `evaluate: the ${model} model of run '${opts.run}' has non-finite test metrics`,
      model === 'map' ? 'evaluate with --map-epochs 0 to leave it out' : 'its run diverged: make it again',
    );
  const report: EvaluationReport = {
    run: opts.run,
    teacher: dc.teacher,
    dataset: tc.dataset,
    split: tc.split,
    task,
    testRows: test.rows,
    models,
    compression: models.ensemble.parameters / models.student.parameters,
    speedup: models.ensemble.latencyMs / models.student.latencyMs,
    fidelity,
    ...(task === 'regression' ? { calibration } : {}),
    ...(uncertainty ? { uncertainty } : {}),
    ...(shift ? { shift } : {}),
    ...(ood ? { ood } : {}),
    ...(studentUncertainty ? { studentUncertainty } : {}),
    settings: evaluationSettings(opts),
    ...(teacherWarning ? { teacherWarning } : {}),
  };
  const name = opts.reportName ?? 'report';
  await writeFileAtomic(path.join(runDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  await writeFileAtomic(path.join(runDir, `${name}.md`), reportMarkdown(report));
  return report;
}

function evaluationSettings(opts: EvaluateOptions): NonNullable<EvaluationReport['settings']> {
  return {
    mapEpochs: opts.mapEpochs ?? 100,
    latencyRuns: opts.latencyRuns ?? 20,
    plots: opts.plots ?? true,
    ...(opts.shift ? { shift: opts.shift } : {}),
    ...(opts.ood ? { ood: opts.ood } : {}),
  };
}

async function mtimeMs(file: string): Promise<number> {
  return (await fs.stat(file)).mtimeMs;
}

/**
 * The run's `report.json` when it is up to date: made with the same settings, and written after
 * everything it was computed from (the student's weights, the teacher's samples, the dataset).
 * Otherwise null. Pipelines use it so that a split evaluated by a `--jobs` child, or by an earlier
 * run, is not evaluated again.
 */
export async function upToDateReport(opts: EvaluateOptions): Promise<EvaluationReport | null> {
  const runDir = runPath(opts.run, opts.runsDir);
  const file = path.join(runDir, `${opts.reportName ?? 'report'}.json`);
  const report = await readJsonOrNull<EvaluationReport>(file);
  if (!report || JSON.stringify(report.settings) !== JSON.stringify(evaluationSettings(opts))) return null;
  try {
    const config = await readJsonOrNull<{ teacher: string }>(path.join(runDir, 'distill-config.json'));
    if (!config) return null;
    const teacherDir = runPath(config.teacher, opts.runsDir);
    const inputs = [
      path.join(runDir, STUDENT_WEIGHTS),
      path.join(runDir, 'student.json'),
      ...(await runSampleFiles(teacherDir)),
      datasetFile(report.dataset, opts.dataDir),
    ];
    const written = await mtimeMs(file);
    for (const f of inputs) if ((await mtimeMs(f)) > written) return null;
  } catch {
    return null;
  }
  return report;
}

async function trainMap(
  a: Analysis,
  tc: SampleConfig,
  train: PartArrays,
  shape: number[],
  task: 'regression' | 'classification',
  epochs: number,
  opts: EvaluateOptions,
): Promise<{ weights: Float32Array; noisePrecision: number }> {
  const model: PosteriorModel = {
    analysis: a,
    task,
    dataSize: train.rows,
    priorPrecision: tc.priorPrecision,
    noise: noiseModel(task, tc.noisePrecision, tc.noisePrior, tc.heteroscedastic),
    ...variancePrior(tc),
  };
  const { x, y } = partTensors(shape, train);
  const drawn: DrawnSample[] = [];
  try {
    const steps = epochs * Math.ceil(train.rows / tc.batchSize);
    await runMcDropout({
      model,
      settings: { rate: 0, steps, learningRate: 1e-3, batchSize: tc.batchSize, samples: 1 },
      x,
      y,
      seeds: [chainSeed(tc.seed, 1_000_003)],
      signal: opts.signal,
      onProgress: opts.onProgress,
      onSamples: async (s) => void drawn.push(...s),
    });
  } finally {
    tf.dispose([x, y]);
  }
  if (!drawn.length)
    throw new UserError(
      'evaluation interrupted while training the MAP baseline; run it again to redo it',
      130,
    );
  return { weights: drawn[0].weights, noisePrecision: drawn[0].noisePrecision };
}

const LABELS: Record<ModelName, string> = {
  map: 'single network (MAP)',
  teacher_single: 'one posterior sample',
  ensemble: 'teacher ensemble',
  student: 'distilled student',
};

const FIDELITY_LABELS: Record<string, string> = {
  klToEnsemble: 'mean KL(ensemble ‖ student)',
  agreement: 'arg-max agreement',
  totalVariation: 'mean total variation',
  meanRmseToEnsemble: 'RMSE between the predictive means',
  sdCorrelation: 'correlation of the predictive sds',
};

export function reportMarkdown(r: EvaluationReport): string {
  const names = (Object.keys(LABELS) as ModelName[]).filter((n) => r.models[n]);
  const metricNames = Object.keys(r.models.student.metrics);
  const head = `| model | ${metricNames.join(' | ')} | parameters | bytes | latency per example (ms) |`;
  const sep = `| --- | ${metricNames.map(() => '---').join(' | ')} | --- | --- | --- |`;
  const rows = names.map((n) => {
    const m = r.models[n];
    return `| ${LABELS[n]} (\`${n}\`) | ${metricNames.map((k) => m.metrics[k].toFixed(4)).join(' | ')} | ${m.parameters} | ${m.bytes} | ${m.latencyMs.toPrecision(3)} |`;
  });
  return [
    `# Evaluation of \`${r.run}\``,
    '',
    `Dataset \`${r.dataset}\`, split ${r.split}, ${r.testRows} test rows (${r.task}); teacher \`${r.teacher}\`.`,
    '',
    ...(r.teacherWarning ? [`**Warning:** ${r.teacherWarning}.`, ''] : []),
    head,
    sep,
    ...rows,
    '',
    `The student has ${r.compression.toFixed(1)}× fewer parameters than the ensemble and predicts ${r.speedup.toFixed(1)}× faster (measured in this run).`,
    '',
    ...(r.fidelity
      ? [
          `Fidelity of the student to the ensemble on the test rows: ${Object.entries(r.fidelity)
            .map(([k, v]) => `${FIDELITY_LABELS[k] ?? k} ${v.toFixed(4)}`)
            .join(', ')}.`,
          '',
        ]
      : []),
    ...uq.uncertaintyMarkdown(r.calibration, r.uncertainty, LABELS, r.studentUncertainty),
    ...sh.shiftMarkdown(r.shift, r.ood, LABELS),
  ].join('\n');
}
