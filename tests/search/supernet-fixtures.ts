import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/core/rng.js';
import { forward, unflatten } from '../../src/model/forward.js';
import { initialParameters, supernetForward, type SupernetLayout } from '../../src/search/supernet.js';
import {
  chosenCandidates,
  pruneMasks,
  type DiscreteResult,
  type TrainedValues,
} from '../../src/search/discretize.js';

/** Trained-looking supernet values: the initial means, random logits, biases and scales. */
export function randomValues(layout: SupernetLayout, seed: number): TrainedValues {
  const rng = new Rng(seed);
  const { theta, h } = initialParameters(layout, rng);
  const v: TrainedValues = {
    theta: theta.map((t) => Float32Array.from(t.dataSync())),
    h: h.map((t) => Float32Array.from(t.dataSync(), () => rng.normal())),
  };
  // Make some biases and scales non-trivial so the comparison is not between zeros.
  for (const g of layout.groups) {
    v.theta[g.bias] = Float32Array.from(v.theta[g.bias], () => 0.1 * rng.normal());
    v.theta[g.rho] = Float32Array.from(v.theta[g.rho], () => -3 + 2 * rng.normal());
  }
  tf.dispose([...theta, ...h]);
  return v;
}

/** The supernet's mean output with one-hot γ at the chosen candidates, pruned weights zeroed. */
export function oneHotOutput(
  layout: SupernetLayout,
  v: TrainedValues,
  x: tf.Tensor,
  threshold: number,
  chosen: readonly number[] = chosenCandidates(layout, v.h),
): Float32Array {
  const masks = pruneMasks(layout, v, threshold);
  return tf.tidy(() => {
    const theta = v.theta.map((a, i) => {
      const g = layout.groups.find((gg) => gg.mean === i);
      const shape = g?.info.kernelShape ??
        layout.groups.find((gg) => gg.rho === i)?.info.kernelShape ?? [a.length];
      return tf.tensor(g ? a.map((m, j) => m * masks[layout.groups.indexOf(g)][j]) : a, shape);
    });
    const gammas = layout.sa.space.edges.map((e, ei) =>
      layout.logits[ei] === null
        ? null
        : (tf.oneHot([chosen[ei]], e.choices.length).reshape([-1]).toFloat() as tf.Tensor1D),
    );
    return supernetForward(layout, { theta, gammas, x }).dataSync() as Float32Array;
  });
}

/** The exported discrete network's output on `x` [B, ...]. */
export function exportedOutput(d: DiscreteResult, x: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    const params = unflatten(d.analysis, tf.tensor2d(d.weights, [1, d.analysis.parameterCount]));
    return forward(d.analysis, params, tf.expandDims(x, 0)).dataSync() as Float32Array;
  });
}
