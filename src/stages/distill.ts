import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { pathExists } from '../core/json-file.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { requireFiniteMetrics } from '../core/finite.js';
import { inputShape, partArrays, type PartArrays } from '../data/store.js';
import { brier, ece, errorRate, nll, rmse } from '../eval/metrics.js';
import { resolveArch } from '../model/builtins.js';
import { teacherOutputUnits } from '../teacher/posterior.js';
import { forward, unflatten } from '../model/forward.js';
import { optimizerStateFiles, optimizerStateFromFiles } from '../core/optimizer-state.js';
import { analyzeSpec, type Analysis } from '../model/spec.js';
import { widenDenseOutput, widenWeights } from '../model/output-widen.js';
import { loadChainState, saveChainState } from '../core/chain-state.js';
import { readInputTable, standardizedInputs } from '../data/input-table.js';
import { SampleRowReader } from '../samples/index.js';
import type { ChainSnapshot } from '../teacher/chains.js';
import type { Checkpoints, DistillSettings, StudentState } from '../distill/settings.js';
import { concatRows, trainOffline } from '../distill/train.js';
import { trainOnline } from '../distill/online.js';
import { checkAugmentation } from '../data/augment.js';
import { headOutputUnits, studentHeadOf, type StudentHead } from '../distill/heads.js';
import { predictiveOutputs } from '../eval/student-heads.js';
import type { StageContext } from './context.js';
import type { RunFiles } from './finished-run.js';
import { checkDistillTask, type DistillConfig } from './distill-config.js';
import { resumedConfig } from './resume-check.js';
import { readStudentWeights, STUDENT_WEIGHTS } from './student-run.js';
import { lockRunForStage, loadTeacherDataset, openTeacherRun, prepareRunFolder } from './run-folder.js';
import { openCompleteTeacher } from './teacher-check.js';
import { originalGaussianLogDensity, originalMoments, standardizeTarget } from '../data/target-transform.js';

export type { DistillConfig } from './distill-config.js';
export { IN_MEMORY_SAMPLE_BYTES } from '../distill/train.js';

export interface DistillOptions extends StageContext {
  run: string;
  resume?: boolean;
  /** Distill from an incomplete teacher's samples as they are, with a warning (see `openCompleteTeacher`). */
  allowIncomplete?: boolean;
}

export interface StudentSummary {
  run: string;
  teacher: string;
  arch: string;
  /** The student's head when not the task's default (`dirichlet`, `two-variance`). */
  head?: StudentHead;
  parameterCount: number;
  teacherSamples: number;
  epochs: number;
  metrics: Record<string, number>;
  seconds: number;
  /** With `--allow-incomplete` on an incomplete teacher: what was wrong with it. */
  teacherWarning?: string;
}

/** The training loops' state files in the run folder (offline, online). */
const OFFLINE_STATE = 'student-state.bin';
const ONLINE_STATE = 'online-state.bin';

/** The training loops' settings of a stored config: everything but the run-folder fields. */
function distillSettings(config: DistillConfig): DistillSettings {
  return {
    epochs: config.epochs,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    learningRateSchedule: config.learningRateSchedule,
    temperature: config.temperature,
    ...(config.studentHead ? { studentHead: config.studentHead } : {}),
    klDirection: config.klDirection,
    inputNoise: config.inputNoise,
    boxSamples: config.boxSamples,
    ...(config.augment ? { augment: config.augment } : {}),
    samplesPerBatch: config.samplesPerBatch,
    seed: config.seed,
  };
}

/** A student run's settings and completion files, for `checkFinishedRun`. */
export const STUDENT_RUN_FILES: RunFiles = {
  stage: 'student',
  settings: 'distillation',
  configFile: 'distill-config.json',
  summaryFile: 'student.json',
};

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
  // Offline distillation reads the stored samples, which must be complete; online reruns the chains.
  const teacher =
    config.mode === 'online'
      ? { ...(await openTeacherRun(config.teacher, opts.runsDir)), files: [], warning: undefined }
      : await openCompleteTeacher(config.teacher, opts);
  const { teacherDir, teacherConfig } = teacher;
  const folder = await lockRunForStage<DistillConfig>(opts, 'distill-config.json');
  const { runDir, configPath, lock } = folder;
  try {
    config = resumedConfig(opts.run, folder, config, opts.explicit);
    const ds = await loadTeacherDataset(config.teacher, teacherConfig, opts.dataDir);
    checkDistillTask(config, ds.meta.task);
    const task = ds.meta.task;
    const train = partArrays(ds, teacherConfig.split, teacherConfig.trainOn);
    const test = partArrays(ds, teacherConfig.split, teacherConfig.evaluateOn ?? 'test');
    const shape = inputShape(ds);
    const units = task === 'classification' ? ds.meta.classCount! : 1;
    const teacherA = await resolveArch(path.join(teacherDir, 'spec.json'), {
      input: shape,
      outputUnits: teacherOutputUnits(task, ds.meta.classCount, teacherConfig.heteroscedastic),
    });
    const head = studentHeadOf(task, config.studentHead);
    const { studentA, initial } = await studentArchitecture(config, head, shape, units);
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
    if (config.mode === 'online' && teacherConfig.sampler === 'dropout')
      throw new UserError(
        `online distillation needs an SG-MCMC teacher; run '${config.teacher}' uses MC dropout`,
      );
    checkAugmentation(config.augment, shape, '--augment');
    if (config.mode === 'online' && config.augment)
      throw new UserError('--augment is for offline distillation only');
    if (config.mode === 'online' && config.boxSamples)
      throw new UserError('--box-samples is for offline distillation only');
    // Everything is checked: only now is a replaced run emptied and the new one written.
    await prepareRunFolder(folder, opts.force);
    await writeFileAtomic(
      path.join(runDir, 'student-spec.json'),
      JSON.stringify(studentA.spec, null, 2) + '\n',
    );
    await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n');

    const started = Date.now();
    let completed: boolean;
    let teacherSamples: number;
    if (config.mode === 'online') {
      const inputs = extra ? concatRows(train.x, extra) : train.x;
      log(
        `distilling online: ${teacherConfig.chains} ${teacherConfig.sampler} chain(s) of ${teacherA.spec.name} (burn-in ${teacherConfig.burnIn}), ` +
          `one student step per teacher step, into ${studentA.spec.name} (${studentA.parameterCount} parameters), ${config.epochs} epochs`,
      );
      completed = await trainOnline({
        settings: distillSettings(config),
        hooks: opts,
        checkpoints: stateCheckpoints(runDir, ONLINE_STATE, opts.resume),
        teacherChains: teacherConfig,
        teacher: teacherA,
        student: studentA,
        ...(initial ? { initialWeights: initial } : {}),
        train,
        inputs,
        shape,
        task,
      });
      const steps = Math.ceil(
        inputs.length /
          ds.meta.featureCount /
          Math.min(config.batchSize, inputs.length / ds.meta.featureCount),
      );
      teacherSamples = config.epochs * steps * teacherConfig.chains;
    } else {
      // The samples stay in their files: each minibatch reads the ones it uses, so memory does not
      // grow with the ensemble.
      const samples = await SampleRowReader.open(teacher.files);
      try {
        if (samples.rows === 0) throw new UserError(`teacher run '${config.teacher}' has no samples yet`);
        teacherSamples = samples.rows;
        log(
          `distilling ${samples.rows} samples of ${config.teacher} (${teacherA.spec.name}) into ${studentA.spec.name} ` +
            `(${studentA.parameterCount} parameters) on ${train.rows} perturbed inputs, ${config.epochs} epochs`,
        );
        completed = await trainOffline({
          settings: distillSettings(config),
          hooks: opts,
          checkpoints: stateCheckpoints(runDir, OFFLINE_STATE, opts.resume),
          teacher: teacherA,
          student: studentA,
          ...(initial ? { initialWeights: initial } : {}),
          samples,
          trainInputs: train.x,
          extra,
          shape,
          task,
        });
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
    // A student that predicts NaN or infinity is not written as finished (no student.json).
    requireFiniteMetrics(
      metrics,
      `distill: the student of run '${opts.run}' has non-finite test metrics`,
      `distill it again with a smaller --learning-rate (now ${config.learningRate}) and --force`,
    );
    const summary: StudentSummary = {
      run: opts.run,
      teacher: config.teacher,
      arch: studentA.spec.name,
      ...(config.studentHead ? { head: config.studentHead } : {}),
      parameterCount: studentA.parameterCount,
      teacherSamples,
      epochs: config.epochs,
      metrics,
      seconds: (Date.now() - started) / 1000,
      ...(teacher.warning ? { teacherWarning: teacher.warning } : {}),
    };
    await writeFileAtomic(path.join(runDir, 'student.json'), JSON.stringify(summary, null, 2) + '\n');
    return { runDir, completed: true, summary };
  } finally {
    await lock.release();
  }
}

/** What a training loop's state file stores besides the arrays: the chains' snapshot without its arrays. */
type StateMeta = {
  epoch: number;
  rng: number[];
  optimizer: { name: string; shape: number[] }[];
  chain?: Omit<ChainSnapshot, 'weights' | 'logNoisePrecision' | 'auxWeights' | 'auxLogNoisePrecision'>;
};

/**
 * A training loop's checkpoints in the run folder: each save writes the student's weights
 * (`STUDENT_WEIGHTS`), then the state file `file` (epoch, RNG, Adam slots and, online, the teacher
 * chains' snapshot), then appends the trace lines to `distill-trace.csv`; `load` reads the state file
 * back when resuming and it exists.
 */
function stateCheckpoints<S extends StudentState & { chain?: ChainSnapshot }>(
  runDir: string,
  file: string,
  resume: boolean | undefined,
): Checkpoints<S> {
  const statePath = path.join(runDir, file);
  return {
    load: async () => {
      if (!(resume && (await pathExists(statePath)))) return null;
      const st = await loadChainState<StateMeta>(statePath);
      const state: StudentState & { chain?: ChainSnapshot } = {
        epoch: st.meta.epoch,
        rng: st.meta.rng,
        weights: st.arrays.weights,
        optimizer: optimizerStateFromFiles(st.meta.optimizer, st.arrays),
      };
      if (st.meta.chain)
        state.chain = {
          ...st.meta.chain,
          weights: st.arrays.chainWeights,
          logNoisePrecision: st.arrays.chainLogTau ?? null,
          auxWeights: st.arrays.chainAux ?? null,
          auxLogNoisePrecision: st.arrays.chainAuxLogTau ?? null,
        };
      return state as S; // the state file of this loop, written by `save` below
    },
    save: async (st, trace) => {
      await writeFileAtomic(
        path.join(runDir, STUDENT_WEIGHTS),
        new Uint8Array(st.weights.buffer, st.weights.byteOffset, st.weights.byteLength),
      );
      const opt = optimizerStateFiles(st.optimizer);
      const chain = st.chain;
      if (!chain) {
        await saveChainState(
          statePath,
          { epoch: st.epoch, rng: st.rng, optimizer: opt.meta },
          { weights: st.weights, ...opt.arrays },
        );
      } else {
        const arrays: Record<string, Float32Array> = {
          weights: st.weights,
          chainWeights: chain.weights,
          ...opt.arrays,
        };
        if (chain.logNoisePrecision) arrays.chainLogTau = chain.logNoisePrecision;
        if (chain.auxWeights) arrays.chainAux = chain.auxWeights;
        if (chain.auxLogNoisePrecision) arrays.chainAuxLogTau = chain.auxLogNoisePrecision;
        const {
          weights: _w,
          logNoisePrecision: _l,
          auxWeights: _a,
          auxLogNoisePrecision: _b,
          ...chainMeta
        } = chain;
        await saveChainState(
          statePath,
          { epoch: st.epoch, rng: st.rng, optimizer: opt.meta, chain: chainMeta },
          arrays,
        );
      }
      await fs.appendFile(path.join(runDir, 'distill-trace.csv'), trace);
    },
  };
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
  const v = predictiveOutputs((await out.data()) as Float32Array, task, a.outputShape[0]);
  out.dispose();
  return metricsFromOutputs(v.values, test, task, v.units);
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

/** A warm start's weights file: float32, exactly the student's parameter count. */
async function readInitialWeights(file: string, count: number, arch: string): Promise<Float32Array> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch {
    throw new UserError(`${file}: initial weights not found`);
  }
  if (buf.byteLength !== 4 * count)
    throw new UserError(
      `${file}: ${buf.byteLength} bytes, but architecture '${arch}' needs ${count} float32 weights (${4 * count} bytes)`,
    );
  const w = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (!w.every(Number.isFinite)) throw new UserError(`${file}: the initial weights are not all finite`);
  return w;
}

/**
 * The student's architecture and warm-start weights. A searched architecture (or a spec file) has the
 * default head's outputs; for `two-variance` its dense output layers are widened to three outputs and
 * the warm start's weights carried over (src/model/output-widen.ts).
 */
async function studentArchitecture(
  config: DistillConfig,
  head: StudentHead,
  input: number[],
  units: number,
): Promise<{ studentA: Analysis; initial?: Float32Array }> {
  const want = headOutputUnits(head, units);
  const weightsFor = (a: Analysis) =>
    config.initialWeights
      ? readInitialWeights(config.initialWeights, a.parameterCount, a.spec.name)
      : Promise.resolve(undefined);
  // Only the architecture is tried for the head's outputs: a bad weights file is its own error below.
  let direct: Analysis;
  try {
    direct = await resolveArch(config.arch, { input, outputUnits: want });
  } catch (err) {
    if (head !== 'two-variance' || !(err instanceof UserError)) throw err;
    const plain = await resolveArch(config.arch, {
      input,
      outputUnits: headOutputUnits('gaussian', units),
    }).catch(() => {
      throw err;
    });
    const wide = widenDenseOutput(plain.spec, want);
    if (!wide)
      throw new UserError(
        `${err.message} (--student-head two-variance: mean, log aleatoric and log epistemic variance), and its output node is not fed by dense layers alone, so it cannot be widened; give a built-in --arch`,
      );
    const studentA = analyzeSpec(wide, config.arch);
    const w = await weightsFor(plain);
    return { studentA, initial: w && widenWeights(plain, studentA, w) };
  }
  return { studentA: direct, initial: await weightsFor(direct) };
}
