import * as tf from '@tensorflow/tfjs';
import { abortPoller } from '../core/event-loop.js';
import { Rng } from '../core/rng.js';
import { FlatAdam } from '../model/flat-adam.js';
import {
  readOptimizerState,
  restoreOptimizerState,
  type SavedOptimizerSlot,
} from '../core/optimizer-state.js';
import { drawRelaxationNoise, relaxTf, temperatureAt, type RelaxationKind } from './relaxations.js';
import { initialParameters, noiseShapes, type SupernetLayout } from './supernet.js';
import {
  expectedParameters,
  lowerObjective,
  type Metaparameters,
  type ObjectiveBatch,
  type ObjectiveContext,
  type Task,
} from './objective.js';
import { firstOrderHypergradient, secondOrderHypergradient } from './hypergradient.js';
import { relativeDensity, type TrainedValues } from './discretize.js';

/** Settings of one search (stored in the run's config). */
export interface SearchSettings {
  relaxation: RelaxationKind;
  hypergradient: 'first-order' | 'second-order';
  epochs: number;
  batchSize: number;
  /** Adam learning rates of θ (weights) and h (ARD precisions, structure logits). */
  learningRate: number;
  hyperLearningRate: number;
  /** Relaxation temperature, annealed exponentially from start to end over the run. */
  temperature: { start: number; end: number };
  pruneThreshold: number;
  seed: number;
}

/** Data of one search, standardized, with the likelihood's targets (labels or teacher predictive). */
export interface SearchData {
  task: Task;
  objective: 'distill' | 'labels';
  exampleShape: number[];
  train: { x: Float32Array; y: Float32Array | Int32Array; yVar?: Float32Array; rows: number };
  validation: { x: Float32Array; y: Float32Array | Int32Array; yVar?: Float32Array; rows: number };
  /** Classes (classification distill targets are [rows, classes] probabilities). */
  classes?: number;
}

/** One row of the search trace, per epoch. */
export interface SearchTracePoint {
  epoch: number;
  temperature: number;
  /** Mean lower objective per training example. */
  lowerPerExample: number;
  expectedParameters: number;
  /** Fraction of kernel weights with relative density above the pruning threshold. */
  prunable: number;
  /** softmax(s) per searchable edge, keyed `from->to#index`. */
  probabilities: Record<string, number[]>;
}

export interface SearchState {
  epoch: number;
  rng: number[];
  values: TrainedValues;
  optimizers: {
    theta: SavedOptimizerSlot[];
    h: SavedOptimizerSlot[];
  };
}

export interface SearchLoopOptions {
  signal?: AbortSignal;
  resume?: SearchState | null;
  onEpoch?: (point: SearchTracePoint, state: () => Promise<SearchState>) => Promise<void>;
  onProgress?: (step: number, total: number, note: string) => void;
}

let runCounter = 0;

function batchOf(part: SearchData['train'], ids: Int32Array, data: SearchData): ObjectiveBatch {
  const d = data.exampleShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(ids.length * d);
  ids.forEach((r, i) => x.set(part.x.subarray(r * d, (r + 1) * d), i * d));
  const soft = data.task === 'classification' && data.objective === 'distill';
  const k = data.classes ?? 1;
  let y: tf.Tensor;
  if (soft) {
    const p = new Float32Array(ids.length * k);
    ids.forEach((r, i) => p.set((part.y as Float32Array).subarray(r * k, (r + 1) * k), i * k));
    y = tf.tensor2d(p, [ids.length, k]);
  } else if (data.task === 'classification')
    y = tf.tensor1d(
      Int32Array.from(ids, (r) => part.y[r]),
      'int32',
    );
  else y = tf.tensor1d(Float32Array.from(ids, (r) => part.y[r]));
  const yVar = part.yVar ? tf.tensor1d(Float32Array.from(ids, (r) => part.yVar![r])) : undefined;
  return { x: tf.tensor(x, [ids.length, ...data.exampleShape]), y, yVar };
}

function drawNoise(layout: SupernetLayout, batch: number, rng: Rng): tf.Tensor[] {
  return noiseShapes(layout, batch).map((shape) => {
    const buf = new Float32Array(shape.reduce((a, b) => a * b, 1));
    rng.fillStandardNormal32(buf);
    return tf.tensor(buf, shape);
  });
}

/** γ per edge from the structure logits in h, with the relaxation noise drawn now from `rng`. */
function gammaSampler(layout: SupernetLayout, kind: RelaxationKind, temperature: number, rng: Rng) {
  const noise = layout.logits.map((li, ei) =>
    li === null ? null : drawRelaxationNoise(kind, [layout.sa.space.edges[ei].choices.length], rng),
  );
  return {
    gammas: (h: tf.Tensor[]) =>
      layout.logits.map((li, ei) =>
        li === null ? null : (relaxTf(kind, h[li], temperature, noise[ei]!) as tf.Tensor1D),
      ),
    dispose: () =>
      noise.forEach((n) => n && tf.dispose([n.uniform, n.normal].filter((t): t is tf.Tensor => !!t))),
  };
}

/**
 * Alternates a step on θ (ascending L on a training minibatch) with a step on h (ascending Q on a
 * validation minibatch, first- or second-order hypergradient), both with Adam, annealing the
 * relaxation temperature. Returns the trained values, or null when interrupted (the last epoch's
 * state was handed to `onEpoch`).
 */
export async function runSearch(
  layout: SupernetLayout,
  data: SearchData,
  settings: SearchSettings,
  meta: Metaparameters,
  o: SearchLoopOptions = {},
): Promise<TrainedValues | null> {
  const prefix = `search${runCounter++}_`;
  let rng = new Rng(settings.seed);
  let epoch = 0;
  let init: { theta: tf.Tensor[]; h: tf.Tensor[] };
  if (o.resume) {
    epoch = o.resume.epoch;
    rng = Rng.fromState(o.resume.rng);
    const shapeOf = (list: tf.Tensor[]) => list.map((t) => t.shape);
    const fresh = initialParameters(layout, new Rng(0));
    init = {
      theta: o.resume.values.theta.map((v, i) => tf.tensor(v, shapeOf(fresh.theta)[i])),
      h: o.resume.values.h.map((v, i) => tf.tensor(v, shapeOf(fresh.h)[i])),
    };
    tf.dispose([...fresh.theta, ...fresh.h]);
  } else init = initialParameters(layout, rng);
  const theta = init.theta.map((t, i) => tf.variable(t, true, `${prefix}t${i}`));
  const h = init.h.map((t, i) => tf.variable(t, true, `${prefix}h${i}`));
  tf.dispose([...init.theta, ...init.h]);
  // Both levels are maximized.
  const optTheta = new FlatAdam(settings.learningRate, 0.9, 0.999, null, true);
  const optH = new FlatAdam(settings.hyperLearningRate, 0.9, 0.999, null, true);
  if (o.resume) {
    await restoreOptimizerState(optTheta, o.resume.optimizers.theta);
    await restoreOptimizerState(optH, o.resume.optimizers.h);
  }
  const nTrain = data.train.rows;
  const nVal = data.validation.rows;
  const B = Math.min(settings.batchSize, nTrain);
  const steps = Math.ceil(nTrain / B);
  const totalSteps = settings.epochs * steps;
  const ctxFor = (gammas: ObjectiveContext['gammas']): ObjectiveContext => ({
    layout,
    meta,
    task: data.task,
    objective: data.objective,
    n: nTrain,
    gammas,
  });
  const valPart = meta.singleLevel ? data.train : data.validation;
  const valRows = meta.singleLevel ? nTrain : nVal;
  const named = (list: tf.Variable[], grads: tf.Tensor[]) =>
    list.map((v, i) => ({ name: v.name, tensor: grads[i] }));
  const snapshot = async (): Promise<SearchState> => {
    return {
      epoch,
      rng: rng.state(),
      values: {
        theta: theta.map((t) => Float32Array.from(t.dataSync())),
        h: h.map((t) => Float32Array.from(t.dataSync())),
      },
      optimizers: { theta: await readOptimizerState(optTheta), h: await readOptimizerState(optH) },
    };
  };
  const aborted = abortPoller(o.signal); // so Ctrl-C is seen within a step or so
  try {
    while (epoch < settings.epochs) {
      const perm = rng.permutation(nTrain);
      let lowerSum = 0;
      for (let s = 0; s < steps; s++) {
        if (await aborted()) return null;
        const t = epoch * steps + s;
        const temperature = temperatureAt({ ...settings.temperature, steps: totalSteps }, t);
        const ids = perm.subarray(s * B, Math.min(nTrain, (s + 1) * B));
        const vids = Int32Array.from({ length: Math.min(B, valRows) }, () => rng.int(valRows));
        const gTrain = gammaSampler(layout, settings.relaxation, temperature, rng);
        const gVal = gammaSampler(layout, settings.relaxation, temperature, rng);
        const trainBatch = batchOf(data.train, ids, data);
        const valBatch = batchOf(valPart, vids, data);
        const noiseT = drawNoise(layout, ids.length, rng);
        const noiseV = drawNoise(layout, vids.length, rng);
        tf.tidy(() => {
          const ctxT = ctxFor(gTrain.gammas);
          const { value, grads: gTheta } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
            lowerObjective(ctxT, xs, h, trainBatch, noiseT),
          )(theta);
          lowerSum += value.dataSync()[0] / nTrain;
          let gH: tf.Tensor[];
          if (settings.hypergradient === 'first-order')
            gH = firstOrderHypergradient(ctxFor(gVal.gammas), theta, h, valBatch, noiseV);
          else {
            // One set of γ noise for both levels keeps the finite difference consistent.
            gH = secondOrderHypergradient(
              ctxT,
              theta,
              h,
              { batch: trainBatch, noise: noiseT },
              { batch: valBatch, noise: noiseV },
              { xi: settings.learningRate },
              gTheta,
            );
          }
          optTheta.applyGradients(named(theta, gTheta));
          optH.applyGradients(named(h, gH));
        });
        gTrain.dispose();
        gVal.dispose();
        tf.dispose([trainBatch.x, trainBatch.y, valBatch.x, valBatch.y, ...noiseT, ...noiseV]);
        if (trainBatch.yVar) trainBatch.yVar.dispose();
        if (valBatch.yVar) valBatch.yVar.dispose();
        o.onProgress?.(
          t + 1,
          totalSteps,
          `L/N ${(lowerSum / (s + 1)).toFixed(4)} λ_temp ${temperature.toPrecision(3)}`,
        );
      }
      epoch++;
      if (o.onEpoch) {
        const point: SearchTracePoint = {
          epoch,
          temperature: temperatureAt({ ...settings.temperature, steps: totalSteps }, epoch * steps),
          lowerPerExample: lowerSum / steps,
          expectedParameters: tf.tidy(() => expectedParameters(layout, h).dataSync()[0]),
          prunable: prunableFraction(layout, theta, settings.pruneThreshold),
          probabilities: Object.fromEntries(
            layout.logits.flatMap((li, ei) => {
              if (li === null) return [];
              const e = layout.sa.space.edges[ei];
              return [[`${e.from}->${e.to}#${ei}`, Array.from(tf.tidy(() => tf.softmax(h[li]).dataSync()))]];
            }),
          ),
        };
        await o.onEpoch(point, snapshot);
      }
    }
    return (await snapshot()).values;
  } finally {
    tf.dispose([...theta, ...h]);
    optTheta.dispose();
    optH.dispose();
  }
}

function prunableFraction(layout: SupernetLayout, theta: tf.Tensor[], threshold: number): number {
  let pruned = 0;
  let total = 0;
  for (const g of layout.groups) {
    const d = relativeDensity(
      theta[g.mean].dataSync() as Float32Array,
      theta[g.rho].dataSync() as Float32Array,
    );
    total += d.length;
    for (const v of d) if (v > threshold) pruned++;
  }
  return total ? pruned / total : 0;
}
