import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { abortPoller } from '../core/event-loop.js';
import { UserError } from '../core/errors.js';
import { pathExists } from '../core/json-file.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { acquireLock } from '../core/run-lock.js';
import { Rng } from '../core/rng.js';
import { inputShape, partArrays, type PartArrays } from '../data/store.js';
import { brier, ece, errorRate, nll, rmse } from '../eval/metrics.js';
import { resolveArch } from '../model/builtins.js';
import { teacherOutputUnits } from '../teacher/posterior.js';
import { forward, initialWeights, readFlatWeights, unflatten } from '../model/forward.js';
import { FlatAdam } from '../model/flat-adam.js';
import { cosineRate } from '../model/lr-schedule.js';
import {
  optimizerStateFiles,
  optimizerStateFromFiles,
  readOptimizerState,
  restoreOptimizerState,
  type SavedOptimizerSlot,
} from '../core/optimizer-state.js';
import type { Analysis } from '../model/spec.js';
import { loadChainState, saveChainState } from '../core/chain-state.js';
import { readInputTable, standardizedInputs } from '../data/input-table.js';
import { SampleRowReader } from '../samples/index.js';
import {
  studentStep,
  teacherBatch,
  teacherRowsOf,
  teacherVariances,
  type TeacherRows,
} from '../distill/student-loss.js';
import type { StageContext } from './context.js';
import { readStudentWeights, STUDENT_WEIGHTS } from './student-run.js';
import {
  checkRunFolder,
  loadTeacherDataset,
  openTeacherRun,
  prepareRunFolder,
  runSampleFiles,
} from './run-folder.js';
import { trainOnline } from './distill-online.js';
import { originalGaussianLogDensity, originalMoments, standardizeTarget } from '../data/target-transform.js';

/** Settings of a distillation run (`bdk distill`), stored as `distill-config.json`. */
export interface DistillConfig {
  teacher: string;
  /** Student architecture: a built-in name or a spec file (regression students get 2 outputs: mean, log-variance). */
  arch: string;
  temperature: number;
  klDirection: 'forward' | 'reverse';
  /** Standard deviation of the Gaussian perturbation of the (standardized) training inputs, D′ = {x + ε}. */
  inputNoise: number;
  /** `online`: run the teacher's chains again and take one student step after each teacher step, storing no sample (absent = offline). */
  mode?: 'online';
  /** D′ also holds the inputs of this CSV/Arrow file (feature columns by name; labels, if any, unused). */
  unlabeledInputs?: string;
  /** D′ also holds this many points drawn uniformly from the training inputs' bounding box, fresh each epoch (tabular data). */
  boxSamples?: number;
  /** Teacher samples drawn per minibatch (BDK uses one). */
  samplesPerBatch: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /**
   * `cosine`: the learning rate falls from `learningRate` to 0 over the run, ½(1 + cos(π·t/T)) at step t
   * of T (Loshchilov & Hutter 2017); absent means constant.
   */
  learningRateSchedule?: 'cosine';
  seed: number;
}

/** The `learningRateSchedule` field of a config, left out when constant (configs from before it compare equal). */
export const learningRateScheduleField = (
  schedule: 'constant' | 'cosine' | undefined,
): { learningRateSchedule?: 'cosine' } => (schedule === 'cosine' ? { learningRateSchedule: 'cosine' } : {});

export interface DistillOptions extends StageContext {
  run: string;
  resume?: boolean;
}

export interface StudentSummary {
  run: string;
  teacher: string;
  arch: string;
  parameterCount: number;
  teacherSamples: number;
  epochs: number;
  metrics: Record<string, number>;
  seconds: number;
}

const STATE = 'student-state.bin';

/** Offline distillation writes its resumable state at most this often (ms), and at the end. */
const CHECKPOINT_MS = 2000;

/** Offline distillation holds the teacher's samples in memory up to this size (float32), else streams them. */
export const IN_MEMORY_SAMPLE_BYTES = 256 * 2 ** 20;

/**
 * Distills a teacher's Monte-Carlo ensemble into one student (docs/design.md §2, offline mode): each step
 * takes a minibatch of training inputs, perturbs them, draws `samplesPerBatch` stored posterior
 * samples, and moves the student towards their predictives: tempered KL between softmaxes (×T²) for
 * classification, the expected negative log-likelihood of a Gaussian student (mean and log-variance
 * heads) under each sample's Gaussian for regression. Labels are never used.
 */
export async function distillStudent(
  config: DistillConfig,
  opts: DistillOptions,
): Promise<{ runDir: string; completed: boolean; summary: StudentSummary | null }> {
  const log = opts.log ?? (() => {});
  const { teacherDir, teacherConfig } = await openTeacherRun(config.teacher, opts.runsDir);
  const folder = await checkRunFolder<DistillConfig>(opts, 'distill-config.json');
  const { runDir, configPath } = folder;
  if (folder.stored) config = { ...folder.stored, epochs: Math.max(folder.stored.epochs, config.epochs) };
  await prepareRunFolder(folder, opts.force);
  const lock = await acquireLock(path.join(runDir, '.lock'), `run '${opts.run}'`);
  try {
    const ds = await loadTeacherDataset(config.teacher, teacherConfig, opts.dataDir);
    const task = ds.meta.task;
    const train = partArrays(ds, teacherConfig.split, teacherConfig.trainOn);
    const test = partArrays(ds, teacherConfig.split, teacherConfig.evaluateOn ?? 'test');
    const shape = inputShape(ds);
    const units = task === 'classification' ? ds.meta.classCount! : 1;
    const teacherA = await resolveArch(path.join(teacherDir, 'spec.json'), {
      input: shape,
      outputUnits: teacherOutputUnits(task, ds.meta.classCount, teacherConfig.heteroscedastic),
    });
    const studentA = await resolveArch(config.arch, {
      input: shape,
      outputUnits: task === 'classification' ? units : 2,
    });
    await writeFileAtomic(
      path.join(runDir, 'student-spec.json'),
      JSON.stringify(studentA.spec, null, 2) + '\n',
    );
    await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n');

    let extra: Float32Array | null = null;
    if (config.unlabeledInputs) {
      const file = config.unlabeledInputs;
      extra = standardizedInputs(await readInputTable(file), ds.meta, train.normalization.features, file);
      log(
        `D′: ${train.rows} training inputs + ${extra.length / ds.meta.featureCount} unlabeled inputs from ${file}`,
      );
    }
    if (config.boxSamples && ds.meta.imageShape)
      throw new UserError(
        '--box-samples needs tabular data (uniform samples from the box of image inputs are noise)',
      );
    const started = Date.now();
    let completed: boolean;
    let teacherSamples: number;
    if (config.mode === 'online') {
      if (teacherConfig.sampler === 'dropout')
        throw new UserError(
          `online distillation needs an SG-MCMC teacher; run '${config.teacher}' uses MC dropout`,
        );
      if (config.boxSamples) throw new UserError('--box-samples is for offline distillation only');
      const inputs = extra ? concatRows(train.x, extra) : train.x;
      log(
        `distilling online: ${teacherConfig.chains} ${teacherConfig.sampler} chain(s) of ${teacherA.spec.name} (burn-in ${teacherConfig.burnIn}), ` +
          `one student step per teacher step, into ${studentA.spec.name} (${studentA.parameterCount} parameters), ${config.epochs} epochs`,
      );
      completed = await trainOnline(
        config,
        opts,
        teacherConfig,
        teacherA,
        studentA,
        train,
        inputs,
        runDir,
        shape,
        task,
      );
      const steps = Math.ceil(
        inputs.length /
          ds.meta.featureCount /
          Math.min(config.batchSize, inputs.length / ds.meta.featureCount),
      );
      teacherSamples = config.epochs * steps * teacherConfig.chains;
    } else {
      // The samples stay in their files: each minibatch reads the ones it uses, so memory does not
      // grow with the ensemble.
      const samples = await SampleRowReader.open(await runSampleFiles(teacherDir));
      try {
        if (samples.rows === 0) throw new UserError(`teacher run '${config.teacher}' has no samples yet`);
        teacherSamples = samples.rows;
        log(
          `distilling ${samples.rows} samples of ${config.teacher} (${teacherA.spec.name}) into ${studentA.spec.name} ` +
            `(${studentA.parameterCount} parameters) on ${train.rows} perturbed inputs, ${config.epochs} epochs`,
        );
        completed = await train_(
          config,
          opts,
          teacherA,
          studentA,
          samples,
          train,
          extra,
          runDir,
          shape,
          task,
        );
      } finally {
        samples.close();
      }
    }
    if (!completed) {
      log(`interrupted; continue with: bdk distill --resume --run ${opts.run}`);
      return { runDir, completed: false, summary: null };
    }
    const weights = await readStudentWeights(runDir);
    const metrics = await studentMetrics(studentA, weights, test, shape, task);
    const summary: StudentSummary = {
      run: opts.run,
      teacher: config.teacher,
      arch: studentA.spec.name,
      parameterCount: studentA.parameterCount,
      teacherSamples,
      epochs: config.epochs,
      metrics,
      seconds: (Date.now() - started) / 1000,
    };
    await writeFileAtomic(path.join(runDir, 'student.json'), JSON.stringify(summary, null, 2) + '\n');
    return { runDir, completed: true, summary };
  } finally {
    await lock.release();
  }
}

/** The training loop; returns false when interrupted (state saved at the last epoch boundary). */
async function train_(
  config: DistillConfig,
  opts: DistillOptions,
  teacherA: Analysis,
  studentA: Analysis,
  samples: SampleRowReader,
  train: PartArrays,
  extra: Float32Array | null,
  runDir: string,
  shape: number[],
  task: 'regression' | 'classification',
): Promise<boolean> {
  const P = studentA.parameterCount;
  const statePath = path.join(runDir, STATE);
  let epoch = 0;
  let rng = new Rng(config.seed);
  let init = initialWeights(studentA, rng);
  const optimizer = new FlatAdam(config.learningRate);
  let optimizerState: SavedOptimizerSlot[] | null = null;
  if (opts.resume && (await pathExists(statePath))) {
    const st = await loadChainState<{
      epoch: number;
      rng: number[];
      optimizer: { name: string; shape: number[] }[];
    }>(statePath);
    epoch = st.meta.epoch;
    rng = Rng.fromState(st.meta.rng);
    init = st.arrays.weights;
    optimizerState = optimizerStateFromFiles(st.meta.optimizer, st.arrays);
  }
  const params = unflatten(studentA, tf.tensor2d(init, [1, P])).map((t, i) =>
    tf.variable(t, true, `student_${i}`),
  );
  if (optimizerState) await restoreOptimizerState(optimizer, optimizerState); // iteration count and both moments
  const variances = teacherVariances(task, teacherA, samples.noisePrecision);
  // Samples that fit in IN_MEMORY_SAMPLE_BYTES are read once; larger ensembles are read from their
  // files minibatch by minibatch (a few small reads per sample and parameter tensor each step).
  const teacher: TeacherRows =
    samples.rows * samples.parameterCount * 4 <= IN_MEMORY_SAMPLE_BYTES
      ? teacherRowsOf(samples.readAllWeights(), samples.parameterCount, variances)
      : {
          rows: samples.rows,
          parameterCount: samples.parameterCount,
          read: (row, offset, dest) => samples.readWeights(row, offset, dest),
          variances,
        };
  const d = shape.reduce((a, b) => a * b, 1);
  const base = extra ? concatRows(train.x, extra) : train.x;
  const boxN = config.boxSamples ?? 0;
  const box = boxN > 0 ? boundingBox(train.x, d) : null;
  let X = base;
  const k = Math.min(config.samplesPerBatch, samples.rows);
  const noiseBuf = new Float32Array(Math.min(config.batchSize, base.length / d + boxN) * d);
  let interrupted = false;
  // The state of the last finished epoch, kept in memory and written at most every CHECKPOINT_MS
  // (and at the end, and when interrupted): a checkpoint with its fsyncs costs about as much as an
  // epoch of Boston's 26 steps. A killed run resumes from the last written epoch.
  type EpochState = { epoch: number; rng: number[]; weights: Float32Array; optimizer: SavedOptimizerSlot[] };
  let unsaved: EpochState | null = null;
  let savedAt = Date.now();
  const trace: string[] = [];
  const snapshot = async (): Promise<EpochState> => ({
    epoch,
    rng: rng.state(),
    weights: readFlatWeights(params),
    optimizer: await readOptimizerState(optimizer),
  });
  const save = async (st: EpochState): Promise<void> => {
    await writeFileAtomic(
      path.join(runDir, STUDENT_WEIGHTS),
      new Uint8Array(st.weights.buffer, st.weights.byteOffset, st.weights.byteLength),
    );
    const opt = optimizerStateFiles(st.optimizer);
    await saveChainState(
      statePath,
      { epoch: st.epoch, rng: st.rng, optimizer: opt.meta },
      { weights: st.weights, ...opt.arrays },
    );
    await fs.appendFile(path.join(runDir, 'distill-trace.csv'), trace.splice(0).join(''));
    unsaved = null;
    savedAt = Date.now();
  };
  const aborted = abortPoller(opts.signal); // so Ctrl-C is seen within a step or so
  try {
    while (epoch < config.epochs) {
      if (box) {
        // Fresh uniform points in the training box each epoch, drawn from the run's RNG (so resume replays them).
        const u = new Float32Array(boxN * d);
        for (let i = 0; i < u.length; i++)
          u[i] = box.lo[i % d] + (box.hi[i % d] - box.lo[i % d]) * rng.uniform();
        X = concatRows(base, u);
      }
      const n = X.length / d;
      const B = Math.min(config.batchSize, n);
      const steps = Math.ceil(n / B);
      const perm = rng.permutation(n);
      let lossSum = 0;
      for (let s = 0; s < steps; s++) {
        if (await aborted()) {
          interrupted = true;
          break;
        }
        const ids = perm.subarray(s * B, Math.min(n, (s + 1) * B));
        const pick = Int32Array.from({ length: k }, () => rng.int(samples.rows));
        if (config.inputNoise > 0) rng.fillStandardNormal32(noiseBuf);
        const batch = teacherBatch(
          teacherA,
          X,
          shape,
          ids,
          config.inputNoise > 0 ? { values: noiseBuf, sigma: config.inputNoise } : null,
          teacher,
          pick,
        );
        if (config.learningRateSchedule === 'cosine')
          optimizer.learningRate = cosineRate(config.learningRate, epoch * steps + s, config.epochs * steps);
        lossSum += studentStep(
          { task, temperature: config.temperature, klDirection: config.klDirection },
          studentA,
          params,
          optimizer,
          batch,
        );
        opts.onProgress?.(
          epoch * steps + s + 1,
          config.epochs * steps,
          `loss ${(lossSum / (s + 1)).toFixed(4)}`,
        );
      }
      if (interrupted) break;
      epoch++;
      trace.push(`${epoch},${lossSum / steps}\n`);
      unsaved = await snapshot();
      if (epoch === config.epochs || Date.now() - savedAt >= CHECKPOINT_MS) await save(unsaved);
      if (epoch % Math.max(1, Math.ceil(config.epochs / 10)) === 0 || epoch === config.epochs) {
        opts.log?.(`epoch ${epoch}/${config.epochs}: loss ${(lossSum / steps).toFixed(5)}`);
      }
    }
    if (unsaved) await save(unsaved); // interrupted: keep the last finished epoch
  } finally {
    tf.dispose(params);
    optimizer.dispose();
  }
  return !interrupted;
}

function concatRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Per-feature minimum and maximum of row-major inputs [rows, d]. */
function boundingBox(x: Float32Array, d: number): { lo: Float32Array; hi: Float32Array } {
  const lo = new Float32Array(d).fill(Infinity);
  const hi = new Float32Array(d).fill(-Infinity);
  for (let i = 0; i < x.length; i++) {
    const j = i % d;
    if (x[i] < lo[j]) lo[j] = x[i];
    if (x[i] > hi[j]) hi[j] = x[i];
  }
  return { lo, hi };
}

/** Student metrics on the test rows: RMSE and Gaussian log-likelihood (original units), or error/NLL/Brier/ECE. */
export async function studentMetrics(
  a: Analysis,
  weights: Float32Array,
  test: PartArrays,
  shape: number[],
  task: 'regression' | 'classification',
): Promise<Record<string, number>> {
  const out = tf.tidy(() => {
    const params = unflatten(a, tf.tensor2d(weights, [1, a.parameterCount]));
    return tf.squeeze(forward(a, params, tf.expandDims(tf.tensor(test.x, [test.rows, ...shape]), 0)), [0]);
  });
  const v = (await out.data()) as Float32Array;
  out.dispose();
  return metricsFromOutputs(v, test, task, a.outputShape[0]);
}

/**
 * Metrics of raw student outputs [n, units] on the test rows: classification logits → error, NLL,
 * Brier, ECE; regression (mean, log-variance) in standardized units → RMSE and mean Gaussian
 * (log-normal, for a log target) log-likelihood in the target's original units.
 */
export function metricsFromOutputs(
  v: Float32Array,
  test: PartArrays,
  task: 'regression' | 'classification',
  units: number,
): Record<string, number> {
  if (task === 'classification') {
    const probs = new Float32Array(v.length);
    for (let i = 0; i < test.rows; i++) {
      let m = -Infinity;
      for (let k = 0; k < units; k++) m = Math.max(m, v[i * units + k]);
      let z = 0;
      for (let k = 0; k < units; k++) z += probs[i * units + k] = Math.exp(v[i * units + k] - m);
      for (let k = 0; k < units; k++) probs[i * units + k] /= z;
    }
    const labels = test.y as Int32Array;
    return {
      error: errorRate(probs, labels, units),
      nll: nll(probs, labels, units),
      brier: brier(probs, labels, units),
      ece: ece(probs, labels, units),
    };
  }
  const t = test.normalization.target!;
  const mean = new Float64Array(test.rows);
  let ll = 0;
  for (let i = 0; i < test.rows; i++) {
    if (t.transform === 'log') {
      // A log-normal in original units: its mean for the RMSE, the Gaussian over log y for the density.
      const varianceZ = Math.exp(v[2 * i + 1]);
      mean[i] = originalMoments(t, v[2 * i], varianceZ).mean;
      ll += originalGaussianLogDensity(t, standardizeTarget(t, test.yRaw![i]), v[2 * i], varianceZ);
      continue;
    }
    mean[i] = t.mean + t.std * v[2 * i];
    const variance = Math.exp(v[2 * i + 1]) * t.std * t.std;
    ll += -0.5 * Math.log(2 * Math.PI * variance) - (test.yRaw![i] - mean[i]) ** 2 / (2 * variance);
  }
  return { rmse: rmse(mean, test.yRaw!), ll: ll / test.rows };
}
