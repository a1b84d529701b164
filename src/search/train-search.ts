import * as tf from '@tensorflow/tfjs';
import { abortPoller } from '../core/event-loop.js';
import { Rng } from '../core/rng.js';
import { FlatAdam } from '../model/flat-adam.js';
import {
  readOptimizerState,
  restoreOptimizerState,
  type SavedOptimizerSlot,
} from '../core/optimizer-state.js';
import { temperatureAt, type RelaxationKind } from './relaxations.js';
import { initialParameters, type SupernetLayout } from './supernet.js';
import { expectedParameters, type Metaparameters } from './objective.js';
import { relativeDensity, type TrainedValues } from './discretize.js';
import { bilevelStep, type SearchData } from './bilevel.js';
import { expectedArchParameters } from './budget-expectation.js';
import { dualStep } from './budget.js';
import { expectedArchLatency } from './latency-expectation.js';
import type { LatencyTable } from './latency-table.js';

export type { SearchData } from './bilevel.js';

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
  /** A parameter budget N (E[parameters] ≤ N: a hinge penalty whose weight μ grows by ≤ η_μ per step, §3.9). */
  budget?: { maxParameters: number; step: number };
  /** A latency budget U (µs per example under `table`), handled like the parameter budget with its own μ_L. */
  latencyBudget?: { maxLatencyUs: number; step: number; table: LatencyTable };
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
  /** With a budget: μ and the exact E[parameters] it constrains, at the end of the epoch. */
  budget?: { mu: number; expectedParameters: number };
  /** With a latency budget: μ_L and the E[latency] (µs) it constrains, at the end of the epoch. */
  latencyBudget?: { mu: number; expectedLatencyUs: number };
}

export interface SearchState {
  epoch: number;
  rng: number[];
  values: TrainedValues;
  optimizers: {
    theta: SavedOptimizerSlot[];
    h: SavedOptimizerSlot[];
  };
  /** The budget's penalty weight μ (absent: 0). */
  mu?: number;
  /** The latency budget's penalty weight μ_L (absent: 0). */
  muLatency?: number;
}

export interface SearchLoopOptions {
  signal?: AbortSignal;
  resume?: SearchState | null;
  onEpoch?: (point: SearchTracePoint, state: () => Promise<SearchState>) => Promise<void>;
  onProgress?: (step: number, total: number, note: string) => void;
}

let runCounter = 0;

/**
 * Alternates a step on θ (ascending L on a training minibatch) with a step on h (ascending Q on a
 * validation minibatch, first- or second-order hypergradient), both with Adam (`bilevelStep`, once
 * per training minibatch of a shuffled epoch), annealing the relaxation temperature. Returns the trained values, or null when interrupted (the last epoch's
 * state was handed to `onEpoch`).
 */
export async function runSearch(
  layout: SupernetLayout,
  data: SearchData,
  settings: SearchSettings,
  meta: Metaparameters,
  o: SearchLoopOptions = {},
): Promise<(TrainedValues & { mu?: number; muLatency?: number }) | null> {
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
  const budget = settings.budget
    ? { maxParameters: settings.budget.maxParameters, mu: o.resume?.mu ?? 0 }
    : undefined;
  const archParameters = () => tf.tidy(() => expectedArchParameters(layout, h).dataSync()[0]);
  const lb = settings.latencyBudget;
  const latencyBudget = lb
    ? { maxLatencyUs: lb.maxLatencyUs, mu: o.resume?.muLatency ?? 0, table: lb.table }
    : undefined;
  const archLatency = () => tf.tidy(() => expectedArchLatency(layout, h, lb!.table).dataSync()[0]);
  // Both levels are maximized.
  const optTheta = new FlatAdam(settings.learningRate, 0.9, 0.999, null, true);
  const optH = new FlatAdam(settings.hyperLearningRate, 0.9, 0.999, null, true);
  if (o.resume) {
    // The slots are named after the variables, whose prefix depends on how many searches this process ran.
    const renamed = (slots: SavedOptimizerSlot[]) =>
      slots.map((w) => ({ ...w, name: w.name.replace(/^search\d+_/, prefix) }));
    await restoreOptimizerState(optTheta, renamed(o.resume.optimizers.theta));
    await restoreOptimizerState(optH, renamed(o.resume.optimizers.h));
  }
  const nTrain = data.train.rows;
  const B = Math.min(settings.batchSize, nTrain);
  const steps = Math.ceil(nTrain / B);
  const totalSteps = settings.epochs * steps;
  const snapshot = async (): Promise<SearchState> => {
    return {
      epoch,
      rng: rng.state(),
      values: {
        theta: theta.map((t) => Float32Array.from(t.dataSync())),
        h: h.map((t) => Float32Array.from(t.dataSync())),
      },
      optimizers: { theta: await readOptimizerState(optTheta), h: await readOptimizerState(optH) },
      ...(budget ? { mu: budget.mu } : {}),
      ...(latencyBudget ? { muLatency: latencyBudget.mu } : {}),
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
        const { lower } = bilevelStep(
          { layout, meta, theta, h, optTheta, optH, budget, latencyBudget },
          data,
          ids,
          rng,
          {
            relaxation: settings.relaxation,
            hypergradient: settings.hypergradient,
            learningRate: settings.learningRate,
            temperature,
            batchSize: B,
          },
        );
        lowerSum += lower / nTrain;
        if (budget)
          budget.mu = dualStep(budget.mu, archParameters(), budget.maxParameters, settings.budget!.step);
        if (latencyBudget)
          latencyBudget.mu = dualStep(latencyBudget.mu, archLatency(), lb!.maxLatencyUs, lb!.step);
        o.onProgress?.(
          t + 1,
          totalSteps,
          `bound per example ${(lowerSum / (s + 1)).toFixed(4)}, temperature ${temperature.toPrecision(3)}`,
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
          ...(budget ? { budget: { mu: budget.mu, expectedParameters: archParameters() } } : {}),
          ...(latencyBudget
            ? { latencyBudget: { mu: latencyBudget.mu, expectedLatencyUs: archLatency() } }
            : {}),
        };
        await o.onEpoch(point, snapshot);
      }
    }
    const end = await snapshot();
    return {
      ...end.values,
      ...(budget ? { mu: budget.mu } : {}),
      ...(latencyBudget ? { muLatency: latencyBudget.mu } : {}),
    };
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
