import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/rng.js';
import {
  BUILTIN_SPACES,
  analyzeSpace,
  type SearchSpace,
  type SpaceAnalysis,
} from '../../src/search/space.js';
import { initialParameters, type SupernetLayout } from '../../src/search/supernet.js';
import type { TrainedValues } from '../../src/search/discretize.js';

/** Tiny search spaces and random relaxation states for the budget tests (parameters and latency). */

/** A tiny space whose node `a` sums two searchable dense edges of different widths (and may lose both). */
export const sumSpace: SearchSpace = {
  format: 'bdk-space',
  version: 1,
  name: 'sum',
  input: [3],
  nodes: [{ id: 'a' }, { id: 'out' }],
  edges: [
    {
      from: 'input',
      to: 'a',
      choices: [
        { label: 'd2', op: { type: 'dense', units: 2, activation: 'tanh' } },
        { label: 'd4', op: { type: 'dense', units: 4, activation: 'tanh' } },
        { label: 'zero', op: { type: 'zero' } },
      ],
    },
    {
      from: 'input',
      to: 'a',
      choices: [
        { label: 'd4', op: { type: 'dense', units: 4, activation: 'relu' } },
        { label: 'd1', op: { type: 'dense', units: 1, activation: 'relu' } },
        { label: 'zero', op: { type: 'zero' } },
      ],
    },
    {
      from: 'a',
      to: 'out',
      choices: [
        { label: 'linear', op: { type: 'dense', units: 2 } },
        { label: 'zero', op: { type: 'zero' } },
      ],
    },
    {
      from: 'input',
      to: 'out',
      choices: [
        { label: 'linear', op: { type: 'dense', units: 2 } },
        { label: 'zero', op: { type: 'zero' } },
      ],
    },
  ],
  output: 'out',
};

/** A tiny space whose node `a` concatenates a dense edge with the inputs (identity or zero). */
export const concatSpace: SearchSpace = {
  ...sumSpace,
  name: 'concat',
  nodes: [{ id: 'a', aggregate: 'concat' }, { id: 'out' }],
  edges: [
    sumSpace.edges[0],
    {
      from: 'input',
      to: 'a',
      choices: [
        { label: 'identity', op: { type: 'identity' } },
        { label: 'd1', op: { type: 'dense', units: 1, activation: 'relu' } },
        { label: 'zero', op: { type: 'zero' } },
      ],
    },
    sumSpace.edges[2],
  ],
};

export const spaces: [string, () => SpaceAnalysis][] = [
  [
    'mlp',
    () =>
      analyzeSpace(
        BUILTIN_SPACES.mlp.build(
          { input: [5], outputUnits: 2 },
          { widths: [2, 3], activations: ['relu', 'tanh'] },
        ),
      ),
  ],
  [
    'conv',
    () => analyzeSpace(BUILTIN_SPACES.conv.build({ input: [4, 4, 1], outputUnits: 3 }, { widths: [2] })),
  ],
  ['sum', () => analyzeSpace(sumSpace)],
  ['concat', () => analyzeSpace(concatSpace)],
];

/** Every choice vector of a space. */
export function allArchitectures(sa: SpaceAnalysis): number[][] {
  let out: number[][] = [[]];
  for (const e of sa.space.edges) out = out.flatMap((c) => e.choices.map((_, k) => [...c, k]));
  return out;
}

/** Random trained values: initial θ with random biases and scales, random structure logits. */
export function randomValues(layout: SupernetLayout, rng: Rng, logitScale = 2): TrainedValues {
  const { theta, h } = initialParameters(layout, rng);
  const v: TrainedValues = {
    theta: theta.map((t) => Float32Array.from(t.dataSync())),
    h: h.map((t) => Float32Array.from(t.dataSync())),
  };
  tf.dispose([...theta, ...h]);
  for (const g of layout.groups) {
    v.theta[g.bias] = Float32Array.from(v.theta[g.bias], () => 0.1 * rng.normal());
    v.theta[g.rho] = Float32Array.from(v.theta[g.rho], () => -3 + 2 * rng.normal());
  }
  layout.logits.forEach((li) => {
    if (li !== null) v.h[li] = Float32Array.from(v.h[li], () => logitScale * rng.normal());
  });
  return v;
}

/** E[cost] over every architecture of `sa`, each edge's choice drawn from softmax of its logits in `v`. */
export function bruteForceExpectation(
  sa: SpaceAnalysis,
  layout: SupernetLayout,
  v: TrainedValues,
  cost: (chosen: number[]) => number,
): number {
  const p = layout.logits.map((li) => {
    if (li === null) return [1];
    const e = Array.from(v.h[li], Math.exp);
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / z);
  });
  let expected = 0;
  for (const chosen of allArchitectures(sa))
    expected += chosen.reduce((q, c, ei) => q * p[ei][c], 1) * cost(chosen);
  return expected;
}
