import * as tf from '@tensorflow/tfjs';
import { FlatAdam } from '../src/model/flat-adam.js';
import { Rng } from '../src/core/rng.js';
import { studentStep, teacherBatch, teacherRowsOf } from '../src/distill/student-loss.js';
import { resolveArch } from '../src/model/builtins.js';
import { initialWeights, unflatten } from '../src/model/forward.js';
import type { Analysis } from '../src/model/spec.js';
import { chainSeed, runChains, type SamplerSettings } from '../src/teacher/chains.js';
import type { PosteriorModel } from '../src/teacher/posterior.js';
import { flopsPerExample } from './flops.js';
import { median, now, timeRepeats } from './measure.js';

/** How long each timed measurement runs (after its warm-up), and the fewest repeats it takes. */
export interface Budget {
  budgetMs: number;
  minRepeats: number;
}

export interface Yardstick {
  n: number;
  /** 1: a plain 2-D product; B > 1: a batched product of B independent n×n×n products. */
  batch: number;
  /** Median time of one (batched) product, ms. */
  ms: number;
  gflops: number;
  repeats: number;
}

const NO_TRANSPOSE = { transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap;

/**
 * Raw matMul throughput: C = A·B with A, B n×n float32 (2n³ FLOPs), or B of them as one batched
 * product [B, n, n]·[B, n, n] (the form the vectorized chains and the ensemble use). Each timed repeat
 * issues `inner` products back to back and synchronises once, on the last product's data, so the
 * readback is outside the products but inside the timed region; the median repeat gives ms per product.
 * `kernelName` picks the kernel: BatchMatMul (what `tf.matMul` runs), or on wasm the backend's own one.
 */
export async function yardstick(
  b: Budget,
  n = 512,
  batch = 1,
  kernelName = 'BatchMatMul',
): Promise<Yardstick> {
  const shape = batch === 1 ? [n, n] : [batch, n, n];
  const a = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const m = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const run = (inner: number) => {
    let last: tf.Tensor | null = null;
    for (let i = 0; i < inner; i++) {
      last?.dispose();
      last = tf.engine().runKernel(kernelName, { a, b: m }, NO_TRANSPOSE) as tf.Tensor;
    }
    last!.dataSync();
    last!.dispose();
  };
  // Calibrate: enough products per repeat for about 100 ms.
  run(1);
  const t0 = now();
  run(2);
  const per = Math.max(1e-3, (now() - t0) / 2);
  const inner = Math.max(1, Math.min(1000, Math.round(100 / per)));
  const times = await timeRepeats(() => run(inner), {
    warmup: 1,
    minRepeats: batch === 1 ? Math.max(5, b.minRepeats) : 3,
    budgetMs: batch === 1 ? b.budgetMs : b.budgetMs / 2,
    maxRepeats: 50,
  });
  tf.dispose([a, m]);
  const ms = median(times) / inner;
  return { n, batch, ms, gflops: (2 * batch * n ** 3) / (ms * 1e6), repeats: times.length };
}

export const MNIST_SHAPE = [28, 28, 1];
export const MNIST_TRAIN = 60_000;
/** CIFAR-10's images, for `vgg-small` (its training part is 50 000 images). */
export const CIFAR_SHAPE = [32, 32, 3];

/** The image shape each benchmarked architecture takes: CIFAR-10's for `vgg-small`, else MNIST's. */
export const shapeFor = (arch: string) => (arch === 'vgg-small' ? CIFAR_SHAPE : MNIST_SHAPE);

/** Random images of `shape` (MNIST's by default): pixels uniform in [0, 1), labels 0–9. */
export function mnistLike(
  rows: number,
  seed: number,
  shape: number[] = MNIST_SHAPE,
): { x: tf.Tensor; y: tf.Tensor; labels: Int32Array } {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: rows }, () => rng.int(10));
  const x = tf.randomUniform([rows, ...shape], 0, 1, 'float32', seed);
  return { x, y: tf.tensor1d(labels, 'int32'), labels };
}

export interface StepTiming {
  /** Median wall time of one step, ms. */
  ms: number;
  /** Mean wall time of the timed steps, ms. */
  meanMs: number;
  steps: number;
}

/**
 * Times the sampler's own loop, `runChains`, step by step: it runs with a huge burn-in and is stopped
 * through its abort signal once enough steps are timed. `traceEvery: 1` makes every step read the
 * minibatch log-likelihood back (`dataSync`), so each step is finished before the next is stamped.
 * Each interval between two `onProgress` calls is one full step: minibatch indices and noise drawn in
 * JavaScript, gather, forward, gradient, kernel update.
 */
export async function timeRunChains(
  model: PosteriorModel,
  settings: SamplerSettings,
  x: tf.Tensor,
  y: tf.Tensor,
  chains: number,
  b: Budget & { warmup: number; maxSteps: number; recordSamples?: boolean },
): Promise<StepTiming> {
  const ctrl = new AbortController();
  const stamps: number[] = [];
  await runChains({
    model,
    // Either a long burn-in, or (recordSamples) a sample at every step after the warm-up steps.
    settings: b.recordSamples
      ? { ...settings, burnIn: b.warmup, samples: b.maxSteps, thin: 1 }
      : { ...settings, burnIn: b.warmup + b.maxSteps, samples: 0, thin: 1 },
    x,
    y,
    seeds: Array.from({ length: chains }, (_, c) => chainSeed(0, c)),
    traceEvery: 1,
    onTrace: () => {},
    onSamples: async () => {},
    signal: ctrl.signal,
    onProgress: (step) => {
      const t = now();
      stamps.push(t);
      if (step - b.warmup >= b.minRepeats && t - stamps[b.warmup - 1] >= b.budgetMs) ctrl.abort();
    },
  });
  const intervals = stamps.slice(b.warmup).map((t, i) => t - stamps[b.warmup - 1 + i]);
  return {
    ms: median(intervals),
    meanMs: intervals.reduce((s, v) => s + v, 0) / intervals.length,
    steps: intervals.length,
  };
}

export const SGLD_SETTINGS: SamplerSettings = {
  sampler: 'sgld',
  stepSize: 1e-6,
  schedule: { kind: 'constant' },
  batchSize: 100,
  burnIn: 0,
  thin: 1,
  samples: 0,
  temperature: 1,
  friction: 0.05,
  rmsDecay: 0.99,
  rmsEpsilon: 1e-5,
};

export interface TrainStepResult extends StepTiming {
  arch: string;
  batch: number;
  parameters: number;
  /** Useful matmul/conv FLOPs of one step. */
  flops: number;
  gflops: number;
  /** Whether every timed step also recorded a posterior sample. */
  recordsSamples: boolean;
}

/**
 * One SGLD step of `arch` on MNIST-shaped data (one chain, like pipelines/mnist-quick.json); with
 * `recordSamples` every timed step also records a posterior sample (the weights read back and handed
 * to `onSamples`, here a no-op: no file is written), as a step with thin = 1 does.
 */
export async function sgldStep(
  arch: string,
  batch: number,
  b: Budget & { recordSamples?: boolean },
): Promise<TrainStepResult> {
  const a = await resolveArch(arch, { input: shapeFor(arch), outputUnits: 10 });
  const data = mnistLike(2000, 11, shapeFor(arch));
  const model: PosteriorModel = {
    analysis: a,
    task: 'classification',
    dataSize: MNIST_TRAIN,
    priorPrecision: 1,
  };
  try {
    const t = await timeRunChains(model, { ...SGLD_SETTINGS, batchSize: batch }, data.x, data.y, 1, {
      ...b,
      ...(b.recordSamples ? { minRepeats: 3, budgetMs: b.budgetMs / 2 } : {}),
      warmup: 3,
      maxSteps: 10_000,
    });
    const f = flopsPerExample(a);
    const flops = batch * (f.forward + f.backward);
    return {
      ...t,
      arch,
      batch,
      parameters: a.parameterCount,
      flops,
      gflops: flops / (t.ms * 1e6),
      recordsSamples: Boolean(b.recordSamples),
    };
  } finally {
    tf.dispose([data.x, data.y]);
  }
}

/**
 * One offline distillation step as `src/distill/train.ts` (`trainOffline`) takes it: Adam on the student's
 * variables, minimizing the tempered forward KL (T = 1) between `samplesPerBatch` = 1 teacher sample
 * (its rows copied from the stored weights, the teacher run outside the gradient tape by the stage's
 * own `teacherBatch`) and the student on a minibatch of inputs (no input noise, like
 * pipelines/mnist-quick.json), the loss read back with `dataSync` as the stage does for its trace.
 * The step is the stages' own `studentStep` (the hand-written dense backward pass where the student
 * allows it); the teacher has the same architecture as the student.
 */
export async function distillStep(arch: string, batch: number, b: Budget): Promise<TrainStepResult> {
  const studentA = await resolveArch(arch, { input: shapeFor(arch), outputUnits: 10 });
  const teacherA: Analysis = studentA;
  const P = studentA.parameterCount;
  const rows = 2000;
  const data = mnistLike(rows, 12, shapeFor(arch));
  const teacherPool = 16;
  const tw = new Float32Array(teacherPool * P);
  for (let s = 0; s < teacherPool; s++) tw.set(initialWeights(teacherA, new Rng(100 + s)), s * P);
  const teacher = teacherRowsOf(tw, P, null);
  const rng = new Rng(0);
  const optimizer = new FlatAdam(1e-3); // what src/distill/train.ts uses
  const params = tf
    .tidy(() => unflatten(studentA, tf.tensor2d(initialWeights(studentA, rng), [1, P])))
    .map((t) => {
      const v = tf.variable(t, true);
      t.dispose();
      return v;
    });
  const X = data.x.dataSync() as Float32Array;
  const config = { temperature: 1, klDirection: 'forward' as const, samplesPerBatch: 1 };
  const k = Math.min(config.samplesPerBatch, teacherPool);
  let sink = 0;
  const step = () => {
    const ids = Int32Array.from({ length: batch }, () => rng.int(rows));
    const pick = Int32Array.from({ length: k }, () => rng.int(teacherPool));
    const tb = teacherBatch(teacherA, X, shapeFor(arch), ids, null, teacher, pick);
    sink += studentStep(
      { task: 'classification', temperature: config.temperature, klDirection: config.klDirection },
      studentA,
      params,
      optimizer,
      tb,
      { epoch: 1, step: 1, steps: 1, learningRate: 1e-3 },
    );
  };
  try {
    const times = await timeRepeats(step, { warmup: 3, ...b, maxRepeats: 10_000 });
    if (!Number.isFinite(sink)) throw new Error(`distillation loss of ${arch} is not finite`);
    const f = flopsPerExample(studentA);
    // Teacher forward for k samples, student forward and backward.
    const flops = batch * (k * flopsPerExample(teacherA).forward + f.forward + f.backward);
    const ms = median(times);
    return {
      ms,
      meanMs: times.reduce((s, v) => s + v, 0) / times.length,
      steps: times.length,
      arch,
      batch,
      parameters: P,
      flops,
      gflops: flops / (ms * 1e6),
      recordsSamples: false,
    };
  } finally {
    tf.dispose([...params, data.x, data.y]);
    optimizer.dispose();
  }
}

export interface ChainsResult extends StepTiming {
  chains: number;
  chainStepsPerSecond: number;
  flopsPerChainStep: number;
  gflops: number;
}

/**
 * `mlp-50` on Boston-shaped data (455 training rows of 13 standardized features, regression with τ
 * sampled under a Gamma(6, 6) prior, batch 32), C chains as one vectorized `runChains`.
 */
export async function chainsStep(chains: number, b: Budget): Promise<ChainsResult> {
  const rows = 455;
  const a = await resolveArch('mlp-50', { input: [13], outputUnits: 1 });
  const x = tf.randomNormal([rows, 13], 0, 1, 'float32', 21);
  const y = tf.randomNormal([rows], 0, 1, 'float32', 22);
  const model: PosteriorModel = {
    analysis: a,
    task: 'regression',
    dataSize: rows,
    priorPrecision: 5,
    noise: { shape: 6, rate: 6 },
  };
  const batch = 32;
  try {
    const t = await timeRunChains(
      model,
      { ...SGLD_SETTINGS, stepSize: 1e-5, batchSize: batch, temperature: 0.5 },
      x,
      y,
      chains,
      { ...b, warmup: 10, maxSteps: 100_000 },
    );
    const f = flopsPerExample(a);
    const flopsPerChainStep = batch * (f.forward + f.backward);
    return {
      ...t,
      chains,
      chainStepsPerSecond: (chains * 1000) / t.ms,
      flopsPerChainStep,
      gflops: (chains * flopsPerChainStep) / (t.ms * 1e6),
    };
  } finally {
    tf.dispose([x, y]);
  }
}
