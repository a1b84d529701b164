import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/rng.js';
import type { FlatAdam } from '../model/flat-adam.js';
import { drawRelaxationNoise, relaxTf, type RelaxationKind } from './relaxations.js';
import { noiseShapes, type SupernetLayout } from './supernet.js';
import type { LatencyTable } from './latency-table.js';
import {
  lowerObjective,
  type Metaparameters,
  type ObjectiveBatch,
  type ObjectiveContext,
  type Task,
} from './objective.js';
import { firstOrderHypergradient, secondOrderHypergradient } from './hypergradient.js';

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

/** What the bilevel step optimizes: θ (weights) and h (ARD precisions, structure logits), with their Adam states. */
export interface BilevelVariables {
  layout: SupernetLayout;
  meta: Metaparameters;
  theta: tf.Variable[];
  h: tf.Variable[];
  /** Adam on θ and on h, both set to maximize. */
  optTheta: FlatAdam;
  optH: FlatAdam;
  /** A parameter budget and its current penalty weight μ (docs/design.md §3.9). */
  budget?: { maxParameters: number; mu: number };
  /** A latency budget and its current penalty weight μ_L (docs/design.md §3.9). */
  latencyBudget?: { maxLatencyUs: number; mu: number; table: LatencyTable };
}

/** Settings of one bilevel step. */
export interface BilevelStepSettings {
  relaxation: RelaxationKind;
  hypergradient: 'first-order' | 'second-order';
  /** θ's learning rate: ξ, the unrolled step of the second-order hypergradient. */
  learningRate: number;
  /** Relaxation temperature at this step. */
  temperature: number;
  /** Size of the validation minibatch (capped at the validation rows): the training batch size. */
  batchSize: number;
}

/** The result of one bilevel step. */
export interface BilevelStepResult {
  /** L(θ | h) on the training minibatch, before the step (scaled to the training size N). */
  lower: number;
}

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
 * One step of the alternating bilevel optimization (docs/design.md §3): a step on θ ascending L(θ | h) on the
 * training minibatch `ids` (rows of `data.train`), and a step on h ascending Q(h | θ) on a validation
 * minibatch of `min(batchSize, rows)` rows drawn with replacement (from the training split when
 * `meta.singleLevel`), with the first-order hypergradient ∂Q/∂h or the second-order DARTS one
 * (see hypergradient.ts). Both gradients are taken at the same θ and h, then applied by the two Adams,
 * so the variables in `v` and the optimizers' states are updated in place.
 *
 * Random draws from `rng`, in this order: the validation rows, the relaxation noise of the training
 * γ, that of the validation γ (drawn for both hypergradients; the second order uses the training γ
 * for both levels so its finite difference stays consistent), then the supernet's noise of the
 * training batch and of the validation batch. Returns L on the training minibatch before the step.
 */
export function bilevelStep(
  v: BilevelVariables,
  data: SearchData,
  ids: Int32Array,
  rng: Rng,
  s: BilevelStepSettings,
): BilevelStepResult {
  const { layout, meta, theta, h } = v;
  const nTrain = data.train.rows;
  const valPart = meta.singleLevel ? data.train : data.validation;
  const valRows = meta.singleLevel ? nTrain : data.validation.rows;
  const ctxFor = (gammas: ObjectiveContext['gammas']): ObjectiveContext => ({
    layout,
    meta,
    task: data.task,
    objective: data.objective,
    n: nTrain,
    gammas,
    budget: v.budget,
    latencyBudget: v.latencyBudget,
  });
  const named = (list: tf.Variable[], grads: tf.Tensor[]) =>
    list.map((t, i) => ({ name: t.name, tensor: grads[i] }));
  const vids = Int32Array.from({ length: Math.min(s.batchSize, valRows) }, () => rng.int(valRows));
  const gTrain = gammaSampler(layout, s.relaxation, s.temperature, rng);
  const gVal = gammaSampler(layout, s.relaxation, s.temperature, rng);
  const trainBatch = batchOf(data.train, ids, data);
  const valBatch = batchOf(valPart, vids, data);
  const noiseT = drawNoise(layout, ids.length, rng);
  const noiseV = drawNoise(layout, vids.length, rng);
  let lower = 0;
  tf.tidy(() => {
    const ctxT = ctxFor(gTrain.gammas);
    const { value, grads: gTheta } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
      lowerObjective(ctxT, xs, h, trainBatch, noiseT),
    )(theta);
    lower = value.dataSync()[0];
    let gH: tf.Tensor[];
    if (s.hypergradient === 'first-order')
      gH = firstOrderHypergradient(ctxFor(gVal.gammas), theta, h, valBatch, noiseV);
    else {
      // One set of γ noise for both levels keeps the finite difference consistent.
      gH = secondOrderHypergradient(
        ctxT,
        theta,
        h,
        { batch: trainBatch, noise: noiseT },
        { batch: valBatch, noise: noiseV },
        { xi: s.learningRate },
        gTheta,
      );
    }
    v.optTheta.applyGradients(named(theta, gTheta));
    v.optH.applyGradients(named(h, gH));
  });
  gTrain.dispose();
  gVal.dispose();
  tf.dispose([trainBatch.x, trainBatch.y, valBatch.x, valBatch.y, ...noiseT, ...noiseV]);
  if (trainBatch.yVar) trainBatch.yVar.dispose();
  if (valBatch.yVar) valBatch.yVar.dispose();
  return { lower };
}
