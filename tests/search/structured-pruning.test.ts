import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { BUILTIN_SPACES, SPACE_FORMAT, SPACE_VERSION, analyzeSpace } from '../../src/search/space.js';
import { supernetLayout, type SupernetLayout } from '../../src/search/supernet.js';
import { discretize, type DiscreteResult, type TrainedValues } from '../../src/search/discretize.js';
import { exportedOutput, oneHotOutput, randomValues } from './supernet-fixtures.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const THRESHOLD = 0.5;

/** Values whose every weight is clearly kept (|μ| ≥ 0.3, σ ≈ 0.05), so only the zeros set later are pruned. */
function keptValues(layout: SupernetLayout, seed: number): TrainedValues {
  const v = randomValues(layout, seed);
  for (const g of layout.groups) {
    v.theta[g.mean] = Float32Array.from(v.theta[g.mean], (m) => Math.sign(m || 1) * (0.3 + Math.abs(m)));
    v.theta[g.rho].fill(-3);
  }
  return v;
}

/** Sets the means of the given [row, column] kernel entries of edge `ei`'s (only) group to 0: pruned. */
function prune(layout: SupernetLayout, v: TrainedValues, ei: number, entries: [number, number][]) {
  const g = layout.groups.find((s) => s.edge === ei)!;
  const W = g.info.kernelShape[g.info.kernelShape.length - 1];
  for (const [r, c] of entries) v.theta[g.mean][r * W + c] = 0;
}

const row = (r: number, cols: number) => Array.from({ length: cols }, (_, c) => [r, c] as [number, number]);
const column = (c: number, rows: number) =>
  Array.from({ length: rows }, (_, r) => [r, c] as [number, number]);

function expectSameOutputs(layout: SupernetLayout, v: TrainedValues, d: DiscreteResult, chosen: number[]) {
  const rng = new Rng(7);
  const input = layout.sa.space.input;
  const x = tf.tensor(
    Float32Array.from({ length: 16 * input[0] }, () => rng.normal()),
    [16, ...input],
  );
  const expected = oneHotOutput(layout, v, x, THRESHOLD, chosen);
  const got = exportedOutput(d, x);
  x.dispose();
  expect(got.length).toBe(expected.length);
  for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
}

/** Units of each hidden node in the exported spec (the width of the dense edges into it). */
function widths(d: DiscreteResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of d.analysis.spec.edges) if (e.op.type === 'dense') out[e.to] = e.op.units;
  return out;
}

// mlp space on 3 inputs, 2 outputs, width 4, ReLU: e0 input→h1, e1 h1→h2 (dense or identity),
// e2 h2→out (linear or zero), e3 input→out (linear or zero).
const mlp = () =>
  supernetLayout(
    analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [3], outputUnits: 2 }, { widths: [4], activations: ['relu'] }),
    ),
  );
const ALL_DENSE = [0, 0, 0, 0];

describe('structured pruning', () => {
  it('removes a unit whose outgoing weights are all pruned, and folds a unit whose incoming weights are all pruned', () => {
    const layout = mlp();
    const v = keptValues(layout, 1);
    prune(layout, v, 1, row(2, 4)); // h1 unit 2 feeds nothing
    prune(layout, v, 1, column(1, 4)); // h2 unit 1 receives nothing: constant relu(b)
    v.theta[layout.groups.find((g) => g.edge === 1)!.bias][1] = 0.7; // a non-zero constant to fold
    const d = discretize(layout, v, THRESHOLD, 'pruned', ALL_DENSE);
    expect(d.removedUnits).toEqual([
      { node: 'h1', units: [2], reason: 'unused' },
      { node: 'h2', units: [1], reason: 'constant' },
    ]);
    expect(widths(d)).toEqual({ h1: 3, h2: 3, out: 2 });
    // (3+1)·3 + (3+1)·3 + (3+1)·2 + (3+1)·2
    expect(d.analysis.parameterCount).toBe(40);
    // Every pruned weight went with its unit: the exported kernels (3·3 + 3·3 + 3·2 + 3·2) have none.
    expect(d.pruned).toEqual({ weights: 0, total: 30 });
    expect(d.droppedEdges).toEqual([]);
    expectSameOutputs(layout, v, d, ALL_DENSE);
  });

  it('drops a read-out whose weights are all pruned, folding its constant into the skip edge’s bias', () => {
    const layout = mlp();
    const v = keptValues(layout, 2);
    prune(
      layout,
      v,
      2,
      [0, 1, 2, 3].flatMap((r) => row(r, 2)),
    );
    const d = discretize(layout, v, THRESHOLD, 'linear', ALL_DENSE);
    expect(d.droppedEdges).toEqual(['h2->out#2']);
    expect(d.choices.map((c) => c.choice)).toEqual(['dropped', 'dropped', 'pruned', 'linear']);
    expect(d.analysis.spec.edges.map((e) => `${e.from}->${e.to}`)).toEqual(['input->out']);
    expect(d.analysis.parameterCount).toBe(8);
    expectSameOutputs(layout, v, d, ALL_DENSE);
  });

  it('drops a hidden edge whose weights are all pruned, folding its constant into the next layer’s bias', () => {
    const space = {
      format: SPACE_FORMAT,
      version: SPACE_VERSION,
      name: 'two-paths',
      input: [3],
      nodes: [{ id: 'a' }, { id: 'b' }, { id: 'out' }],
      edges: [
        {
          from: 'input',
          to: 'a',
          choices: [{ label: 'd', op: { type: 'dense', units: 4, activation: 'tanh' } }],
        },
        {
          from: 'input',
          to: 'b',
          choices: [{ label: 'd', op: { type: 'dense', units: 4, activation: 'relu' } }],
        },
        {
          from: 'a',
          to: 'b',
          choices: [{ label: 'd', op: { type: 'dense', units: 4, activation: 'sigmoid' } }],
        },
        { from: 'b', to: 'out', choices: [{ label: 'd', op: { type: 'dense', units: 2 } }] },
      ],
      output: 'out',
    } as const;
    const layout = supernetLayout(analyzeSpace(structuredClone(space) as never));
    const v = keptValues(layout, 3);
    prune(
      layout,
      v,
      2,
      [0, 1, 2, 3].flatMap((r) => row(r, 4)),
    ); // a→b outputs sigmoid(b): a constant
    const d = discretize(layout, v, THRESHOLD, 'folded', [0, 0, 0, 0]);
    expect(d.droppedEdges).toEqual(['a->b#2']);
    expect(d.analysis.spec.edges.map((e) => `${e.from}->${e.to}`)).toEqual(['input->b', 'b->out']);
    expect(d.analysis.parameterCount).toBe(4 * 4 + 5 * 2);
    expectSameOutputs(layout, v, d, [0, 0, 0, 0]);
  });

  it('property: random pruning patterns remove exactly the reported units and keep the masked supernet’s outputs', () => {
    const layout = mlp();
    const rng = new Rng(11);
    let removed = 0;
    for (let trial = 0; trial < 12; trial++) {
      const v = keptValues(layout, 100 + trial);
      for (const ei of [0, 1, 2, 3]) {
        const g = layout.groups.find((s) => s.edge === ei)!;
        const [rows, cols] = g.info.kernelShape;
        for (let r = 0; r < rows; r++) if (rng.uniform() < 0.25) prune(layout, v, ei, row(r, cols));
        for (let c = 0; c < cols; c++) if (rng.uniform() < 0.25) prune(layout, v, ei, column(c, rows));
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++) if (rng.uniform() < 0.2) prune(layout, v, ei, [[r, c]]);
      }
      const chosen = [0, rng.uniform() < 0.5 ? 0 : 1, 0, rng.uniform() < 0.5 ? 0 : 1];
      let d: DiscreteResult;
      try {
        d = discretize(layout, v, THRESHOLD, 'random', chosen);
      } catch {
        continue; // nothing left to export: not this test's concern
      }
      expectSameOutputs(layout, v, d, chosen);
      const w = widths(d);
      for (const node of ['h1', 'h2'])
        if (w[node] !== undefined) {
          const gone = d.removedUnits.filter((r) => r.node === node).flatMap((r) => r.units);
          expect(new Set(gone).size).toBe(gone.length);
          expect(w[node]).toBe(4 - gone.length);
          removed += gone.length;
        }
    }
    expect(removed).toBeGreaterThan(0);
  });

  it('the warm start is the supernet’s means of the kept units: closed form on a tiny space', () => {
    const layout = supernetLayout(
      analyzeSpace(
        BUILTIN_SPACES.mlp.build({ input: [2], outputUnits: 2 }, { widths: [2, 3], activations: ['relu'] }),
      ),
    );
    const v = keptValues(layout, 4);
    // input→h1 dense 2 of the 3-wide kernel; h1→h2 identity; h2→out linear; no skip.
    const chosen = [0, 2, 0, 1];
    const d = discretize(layout, v, THRESHOLD, 'tiny', chosen);
    const [g0, g2] = [0, 2].map((ei) => layout.groups.find((s) => s.edge === ei)!);
    const m0 = v.theta[g0.mean]; // [2, 3]
    const m2 = v.theta[g2.mean]; // [3, 2]
    const expected: Record<string, number[]> = {
      'input->h1/kernel': [m0[0], m0[1], m0[3], m0[4]],
      'input->h1/bias': Array.from(v.theta[g0.bias].subarray(0, 2)),
      'h2->out/kernel': Array.from(m2.subarray(0, 4)),
      'h2->out/bias': Array.from(v.theta[g2.bias]),
    };
    const got: Record<string, number[]> = {};
    for (const p of d.analysis.params) {
      const e = d.analysis.spec.edges[p.edge];
      got[`${e.from}->${e.to}/${p.role}`] = Array.from(d.weights.subarray(p.offset, p.offset + p.size));
    }
    expect(got).toEqual(expected);
  });
});
