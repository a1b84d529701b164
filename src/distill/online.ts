import * as tf from '@tensorflow/tfjs';
import {
  readOptimizerState,
  restoreOptimizerState,
  type SavedOptimizerSlot,
} from '../core/optimizer-state.js';
import { Rng } from '../core/rng.js';
import type { PartArrays } from '../data/store.js';
import { initialWeights, readFlatWeights, unflatten } from '../model/forward.js';
import { FlatAdam } from '../model/flat-adam.js';
import { cosineRate } from '../model/lr-schedule.js';
import type { Analysis } from '../model/spec.js';
import { chainSeed, runChains, type ChainSnapshot, type SamplerSettings } from '../teacher/chains.js';
import { noiseModel, variancePrior } from '../teacher/posterior.js';
import type { Checkpoints, DistillHooks, DistillSettings, StudentState } from './settings.js';
import {
  lossSettingsAt,
  studentStep,
  teacherBatch,
  teacherRowsOf,
  teacherVariances,
} from './student-loss.js';

/** The teacher run's chain settings that online distillation runs again (a teacher run's config has them). */
export interface TeacherChainSettings extends SamplerSettings {
  chains: number;
  seed: number;
  priorPrecision: number;
  noisePrecision: number | null;
  noisePrior: { shape: number; rate: number };
  heteroscedastic?: boolean;
  variancePriorPrecision?: number;
}

/** The online loop's state at an epoch boundary: the student's, and the teacher chains' snapshot. */
export interface OnlineState extends StudentState {
  chain: ChainSnapshot;
}

/** What the online loop distills: the teacher's chains (run again), the student, and D′. */
export interface OnlineRun {
  settings: DistillSettings;
  hooks: DistillHooks;
  checkpoints: Checkpoints<OnlineState>;
  /** The teacher run's sampler settings (its whole config may be passed: it is spread into the chains' settings). */
  teacherChains: TeacherChainSettings;
  teacher: Analysis;
  student: Analysis;
  /** Warm start: the student's initial weights (its spec's layout), else a seeded random initialization. */
  initialWeights?: Float32Array;
  /** The teacher's training rows (what its chains learn from). */
  train: PartArrays;
  /** D′: standardized inputs, row-major [rows, ...shape]. */
  inputs: Float32Array;
  /** Shape of one input example. */
  shape: number[];
  task: 'regression' | 'classification';
}

/**
 * Online distillation (Bayesian dark knowledge, Korattikara et al. 2015): the teacher's SG-MCMC chains
 * run from scratch with the teacher run's sampler settings, and after its burn-in every teacher step is
 * followed by one student step on a minibatch of D′ against the C chains' current parameters. No
 * sample is stored. One epoch is ⌈|D′|/B⌉ student steps; at every epoch boundary the student's weights,
 * Adam state, RNG and the chains' snapshot go to `checkpoints`, so an interrupted run resumes exactly.
 * Returns false when interrupted.
 */
export async function trainOnline(run: OnlineRun): Promise<boolean> {
  const { settings: config, hooks: opts, checkpoints, train, inputs, shape, task } = run;
  const tc = run.teacherChains;
  const teacherA = run.teacher;
  const studentA = run.student;
  const d = shape.reduce((a, b) => a * b, 1);
  const n = inputs.length / d;
  const B = Math.min(config.batchSize, n);
  const stepsPerEpoch = Math.ceil(n / B);
  let epoch = 0;
  let rng = new Rng(config.seed);
  // A warm start replaces the random weights; the draw still happens, so the rest of the run's
  // random stream is the same with and without it.
  let init = initialWeights(studentA, rng);
  if (run.initialWeights) init = run.initialWeights;
  let resume: ChainSnapshot | undefined;
  const optimizer = new FlatAdam(config.learningRate);
  let optimizerState: SavedOptimizerSlot[] | null = null;
  const resumed = await checkpoints.load();
  if (resumed) {
    epoch = resumed.epoch;
    rng = Rng.fromState(resumed.rng);
    init = resumed.weights;
    optimizerState = resumed.optimizer;
    resume = resumed.chain;
  }
  const params = unflatten(studentA, tf.tensor2d(init, [1, studentA.parameterCount])).map((t, i) =>
    tf.variable(t, true, `online_student_${i}`),
  );
  if (optimizerState) await restoreOptimizerState(optimizer, optimizerState);
  const { x: tx, y: ty } = {
    x: tf.tensor(train.x, [train.rows, ...shape]),
    y: task === 'classification' ? tf.tensor1d(train.y as Int32Array, 'int32') : tf.tensor1d(train.y),
  };
  const noiseBuf = new Float32Array(B * d);
  let perm = rng.permutation(n);
  let s = 0;
  let lossSum = 0;
  let interrupted = false;
  const totalSteps = config.epochs * stepsPerEpoch;
  const studentStepsLeft = totalSteps - epoch * stepsPerEpoch;
  try {
    if (studentStepsLeft > 0) {
      const result = await runChains({
        model: {
          analysis: teacherA,
          task,
          dataSize: train.rows,
          priorPrecision: tc.priorPrecision,
          noise: noiseModel(task, tc.noisePrecision, tc.noisePrior, tc.heteroscedastic),
          ...variancePrior(tc),
        },
        // After the teacher's burn-in, every step is a "sample" handed to one student step.
        settings: { ...tc, thin: 1, samples: (resume?.samplesDrawn ?? 0) + studentStepsLeft },
        x: tx,
        y: ty,
        seeds: Array.from({ length: tc.chains }, (_, c) => chainSeed(tc.seed, c)),
        resume,
        signal: opts.signal,
        onProgress: (step) =>
          opts.onProgress?.(
            epoch * stepsPerEpoch + s,
            totalSteps,
            step <= tc.burnIn
              ? `teacher burn-in ${step}/${tc.burnIn}`
              : `loss ${(lossSum / Math.max(1, s)).toFixed(4)}`,
          ),
        onSamples: async (samples, snapshot) => {
          const ids = perm.subarray(s * B, Math.min(n, (s + 1) * B));
          if (config.inputNoise > 0) rng.fillStandardNormal32(noiseBuf);
          const tW = new Float32Array(samples.length * teacherA.parameterCount);
          samples.forEach((smp, c) => tW.set(smp.weights, c * teacherA.parameterCount));
          const batch = teacherBatch(
            teacherA,
            inputs,
            shape,
            ids,
            config.inputNoise > 0 ? { values: noiseBuf, sigma: config.inputNoise } : null,
            teacherRowsOf(
              tW,
              teacherA.parameterCount,
              teacherVariances(
                task,
                teacherA,
                samples.map((smp) => smp.noisePrecision),
              ),
            ),
            null,
          );
          if (config.learningRateSchedule === 'cosine')
            optimizer.learningRate = cosineRate(config.learningRate, epoch * stepsPerEpoch + s, totalSteps);
          lossSum += studentStep(
            lossSettingsAt(config, task, epoch * stepsPerEpoch + s, totalSteps),
            studentA,
            params,
            optimizer,
            batch,
            { epoch: epoch + 1, step: s + 1, steps: stepsPerEpoch, learningRate: config.learningRate },
          );
          s++;
          if (s === stepsPerEpoch) {
            epoch++;
            await saveEpoch(snapshot(), lossSum / s);
            perm = rng.permutation(n);
            s = 0;
            lossSum = 0;
          }
        },
      });
      interrupted = !result.completed;
    }
  } finally {
    tf.dispose([...params, tx, ty]);
    optimizer.dispose();
  }
  return !interrupted;

  async function saveEpoch(chain: ChainSnapshot, meanLoss: number): Promise<void> {
    const weights = readFlatWeights(params);
    const state: OnlineState = {
      epoch,
      rng: rng.state(),
      weights,
      optimizer: await readOptimizerState(optimizer),
      chain,
    };
    await checkpoints.save(state, `${epoch},${meanLoss}\n`);
    if (epoch % Math.max(1, Math.ceil(config.epochs / 10)) === 0 || epoch === config.epochs)
      opts.log?.(`epoch ${epoch}/${config.epochs}: loss ${meanLoss.toFixed(5)}`, 'detail');
  }
}
