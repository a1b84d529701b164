import path from 'node:path';
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../core/atomic-write.js';
import { pathExists } from '../core/json-file.js';
import { Rng } from '../core/rng.js';
import type { PartArrays } from '../data/store.js';
import { studentStep, teacherBatch, teacherRowsOf, teacherVariances } from '../distill/student-loss.js';
import { initialWeights, readFlatWeights, unflatten } from '../model/forward.js';
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
import { chainSeed, runChains, type ChainSnapshot } from '../teacher/chains.js';
import { noiseModel, variancePrior } from '../teacher/posterior.js';
import type { DistillConfig, DistillOptions } from './distill.js';
import type { SampleConfig } from './sample-config.js';
import { STUDENT_WEIGHTS } from './student-run.js';

const STATE = 'online-state.bin';

/**
 * Online distillation (Bayesian dark knowledge, Korattikara et al. 2015): the teacher's SG-MCMC chains
 * run from scratch with the teacher run's sampler settings, and after its burn-in every teacher step is
 * followed by one student step on a minibatch of D′ against the C chains' current parameters. No
 * sample is stored. One epoch is ⌈|D′|/B⌉ student steps; at every epoch boundary the student's weights,
 * Adam state, RNG and the chains' snapshot are saved, so an interrupted run resumes exactly.
 */
export async function trainOnline(
  config: DistillConfig,
  opts: DistillOptions,
  tc: SampleConfig,
  teacherA: Analysis,
  studentA: Analysis,
  train: PartArrays,
  inputs: Float32Array,
  runDir: string,
  shape: number[],
  task: 'regression' | 'classification',
): Promise<boolean> {
  const d = shape.reduce((a, b) => a * b, 1);
  const n = inputs.length / d;
  const B = Math.min(config.batchSize, n);
  const stepsPerEpoch = Math.ceil(n / B);
  const statePath = path.join(runDir, STATE);
  let epoch = 0;
  let rng = new Rng(config.seed);
  let init = initialWeights(studentA, rng);
  let resume: ChainSnapshot | undefined;
  const optimizer = new FlatAdam(config.learningRate);
  let optimizerState: SavedOptimizerSlot[] | null = null;
  if (opts.resume && (await pathExists(statePath))) {
    const st = await loadChainState<{
      epoch: number;
      rng: number[];
      optimizer: { name: string; shape: number[] }[];
      chain: Omit<ChainSnapshot, 'weights' | 'logNoisePrecision' | 'auxWeights' | 'auxLogNoisePrecision'>;
    }>(statePath);
    epoch = st.meta.epoch;
    rng = Rng.fromState(st.meta.rng);
    init = st.arrays.weights;
    optimizerState = optimizerStateFromFiles(st.meta.optimizer, st.arrays);
    resume = {
      ...st.meta.chain,
      weights: st.arrays.chainWeights,
      logNoisePrecision: st.arrays.chainLogTau ?? null,
      auxWeights: st.arrays.chainAux ?? null,
      auxLogNoisePrecision: st.arrays.chainAuxLogTau ?? null,
    };
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
            { task, temperature: config.temperature, klDirection: config.klDirection },
            studentA,
            params,
            optimizer,
            batch,
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
    await writeFileAtomic(
      path.join(runDir, STUDENT_WEIGHTS),
      new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength),
    );
    const opt = optimizerStateFiles(await readOptimizerState(optimizer));
    const arrays: Record<string, Float32Array> = { weights, chainWeights: chain.weights, ...opt.arrays };
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
      {
        epoch,
        rng: rng.state(),
        optimizer: opt.meta,
        chain: chainMeta,
      },
      arrays,
    );
    await fs.appendFile(path.join(runDir, 'distill-trace.csv'), `${epoch},${meanLoss}\n`);
    if (epoch % Math.max(1, Math.ceil(config.epochs / 10)) === 0 || epoch === config.epochs)
      opts.log?.(`epoch ${epoch}/${config.epochs}: loss ${meanLoss.toFixed(5)}`);
  }
}
