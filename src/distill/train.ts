import * as tf from '@tensorflow/tfjs';
import { abortPoller } from '../core/event-loop.js';
import {
  readOptimizerState,
  restoreOptimizerState,
  type SavedOptimizerSlot,
} from '../core/optimizer-state.js';
import { Rng } from '../core/rng.js';
import { augmentBatch } from '../data/augment.js';
import { initialWeights, readFlatWeights, unflatten } from '../model/forward.js';
import { FlatAdam } from '../model/flat-adam.js';
import { cosineRate } from '../model/lr-schedule.js';
import type { Analysis } from '../model/spec.js';
import type { SampleRowReader } from '../samples/index.js';
import type { Checkpoints, DistillHooks, DistillSettings, StudentState } from './settings.js';
import {
  lossSettingsAt,
  studentStep,
  teacherBatch,
  teacherRowsOf,
  teacherVariances,
  type TeacherRows,
} from './student-loss.js';

/** Offline distillation writes its resumable state at most this often (ms), and at the end. */
const CHECKPOINT_MS = 2000;

/** Offline distillation holds the teacher's samples in memory up to this size (float32), else streams them. */
export const IN_MEMORY_SAMPLE_BYTES = 256 * 2 ** 20;

/** What the offline loop distills: the teacher's stored samples, the student, and D′. */
export interface OfflineRun {
  settings: DistillSettings;
  hooks: DistillHooks;
  checkpoints: Checkpoints<StudentState>;
  teacher: Analysis;
  student: Analysis;
  /** Warm start: the student's initial weights (its spec's layout), else a seeded random initialization. */
  initialWeights?: Float32Array;
  /** The teacher's stored posterior samples (read here, closed by the caller). */
  samples: SampleRowReader;
  /** Standardized training inputs, row-major [rows, ...shape]; the box samples' bounding box. */
  trainInputs: Float32Array;
  /** Further standardized inputs of D′ (unlabeled rows), or null. */
  extra: Float32Array | null;
  /** Shape of one input example. */
  shape: number[];
  task: 'regression' | 'classification';
}

/**
 * The offline training loop (docs/design.md §2): each epoch permutes D′ (the training inputs, the extra
 * inputs, and `boxSamples` fresh uniform points of the training box), and each step perturbs a
 * minibatch, draws `samplesPerBatch` stored samples and takes one Adam step of the student towards
 * their predictives. The state of the last finished epoch goes to `checkpoints` at most every
 * CHECKPOINT_MS, at the end and when interrupted. Returns false when interrupted.
 */
export async function trainOffline(run: OfflineRun): Promise<boolean> {
  const { settings: config, hooks: opts, checkpoints, samples, shape, task, extra } = run;
  const teacherA = run.teacher;
  const studentA = run.student;
  const P = studentA.parameterCount;
  let epoch = 0;
  let rng = new Rng(config.seed);
  // A warm start replaces the random weights; the draw still happens, so the rest of the run's
  // random stream is the same with and without it.
  let init = initialWeights(studentA, rng);
  if (run.initialWeights) init = run.initialWeights;
  const optimizer = new FlatAdam(config.learningRate);
  let optimizerState: SavedOptimizerSlot[] | null = null;
  const resumed = await checkpoints.load();
  if (resumed) {
    epoch = resumed.epoch;
    rng = Rng.fromState(resumed.rng);
    init = resumed.weights;
    optimizerState = resumed.optimizer;
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
  const base = extra ? concatRows(run.trainInputs, extra) : run.trainInputs;
  const boxN = config.boxSamples ?? 0;
  const box = boxN > 0 ? boundingBox(run.trainInputs, d) : null;
  let X = base;
  const k = Math.min(config.samplesPerBatch, samples.rows);
  const noiseBuf = new Float32Array(Math.min(config.batchSize, base.length / d + boxN) * d);
  let interrupted = false;
  // The state of the last finished epoch, kept in memory and saved at most every CHECKPOINT_MS
  // (and at the end, and when interrupted): a checkpoint with its fsyncs costs about as much as an
  // epoch of Boston's 26 steps. A killed run resumes from the last saved epoch.
  let unsaved: StudentState | null = null;
  let savedAt = Date.now();
  const trace: string[] = [];
  const snapshot = async (): Promise<StudentState> => ({
    epoch,
    rng: rng.state(),
    weights: readFlatWeights(params),
    optimizer: await readOptimizerState(optimizer),
  });
  const save = async (st: StudentState): Promise<void> => {
    await checkpoints.save(st, trace.splice(0).join(''));
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
        // Augmented rows: teacher and student see the same crop and mirror of each example.
        const aug = config.augment ? augmentedRows(X, d, ids, shape, rng) : null;
        const batch = teacherBatch(
          teacherA,
          aug ?? X,
          shape,
          aug ? Int32Array.from(ids, (_, i) => i) : ids,
          config.inputNoise > 0 ? { values: noiseBuf, sigma: config.inputNoise } : null,
          teacher,
          pick,
        );
        if (config.learningRateSchedule === 'cosine')
          optimizer.learningRate = cosineRate(config.learningRate, epoch * steps + s, config.epochs * steps);
        lossSum += studentStep(
          lossSettingsAt(config, task, epoch * steps + s, config.epochs * steps),
          studentA,
          params,
          optimizer,
          batch,
          { epoch: epoch + 1, step: s + 1, steps, learningRate: config.learningRate },
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
        opts.log?.(`epoch ${epoch}/${config.epochs}: loss ${(lossSum / steps).toFixed(5)}`, 'detail');
      }
    }
    if (unsaved) await save(unsaved); // interrupted: keep the last finished epoch
  } finally {
    tf.dispose(params);
    optimizer.dispose();
  }
  return !interrupted;
}

/** Copies of rows `ids` of `x` with `crop-flip` drawn from `rng` (after the step's other draws). */
function augmentedRows(x: Float32Array, d: number, ids: Int32Array, shape: number[], rng: Rng): Float32Array {
  const out = new Float32Array(ids.length * d);
  ids.forEach((row, i) => out.set(x.subarray(row * d, (row + 1) * d), i * d));
  augmentBatch(out, ids.length, shape, 'crop-flip', rng);
  return out;
}

/** Rows of `b` after those of `a` (row-major inputs with the same row size). */
export function concatRows(a: Float32Array, b: Float32Array): Float32Array {
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
