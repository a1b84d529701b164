import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { forward, initialWeights, unflatten } from '../../src/model/forward.js';
import { widenDenseOutput, widenWeights } from '../../src/model/output-widen.js';
import { analyzeSpec, type ArchSpec } from '../../src/model/spec.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

/** A searched-student-like regression DAG: [μ, log σ²] from a sum of two dense layers into the output. */
const searched = {
  format: 'bdk-arch',
  version: 1,
  name: 'searched',
  input: [4],
  nodes: [{ id: 'h1' }, { id: 'h2' }, { id: 'out', aggregate: 'sum' }],
  edges: [
    { from: 'input', to: 'h1', op: { type: 'dense', units: 5, activation: 'relu' } },
    { from: 'h1', to: 'h2', op: { type: 'dense', units: 3, activation: 'tanh' } },
    { from: 'h2', to: 'out', op: { type: 'dense', units: 2 } },
    { from: 'input', to: 'out', op: { type: 'dense', units: 2 } },
  ],
  output: 'out',
} as ArchSpec;

function outputs(spec: ArchSpec, w: Float32Array, x: Float32Array, rows: number): Float32Array {
  const a = analyzeSpec(spec);
  return tf.tidy(() => {
    const params = unflatten(a, tf.tensor2d(w, [1, w.length]));
    return forward(a, params, tf.tensor3d(x, [1, rows, 4])).dataSync() as Float32Array;
  });
}

describe('widening the output layer for the two-variance head', () => {
  it('widens every dense edge into the output and nothing else', () => {
    const wide = widenDenseOutput(searched, 3)!;
    expect(analyzeSpec(wide).outputShape).toEqual([3]);
    expect(wide.edges.map((e) => ('units' in e.op ? e.op.units : null))).toEqual([5, 3, 3, 3]);
    expect(analyzeSpec(wide).parameterCount - analyzeSpec(searched).parameterCount).toBe(3 + 1 + 4 + 1);
  });

  it('refuses an output node that concatenates or is fed by a parameter-free edge', () => {
    expect(
      widenDenseOutput(
        { ...searched, nodes: [...searched.nodes.slice(0, 2), { id: 'out', aggregate: 'concat' }] },
        3,
      ),
    ).toBeNull();
    const identity = {
      ...searched,
      edges: [...searched.edges.slice(0, 3), { from: 'h2', to: 'out', op: { type: 'identity' } }],
      nodes: [searched.nodes[0], { id: 'h2' }, { id: 'out', aggregate: 'sum' }],
    } as ArchSpec;
    expect(widenDenseOutput(identity, 3)).toBeNull();
  });

  it('carries the weights over: the first two outputs are unchanged and the new one is zero', () => {
    const a = analyzeSpec(searched);
    const wide = analyzeSpec(widenDenseOutput(searched, 3)!);
    const w = initialWeights(a, new Rng(3));
    new Rng(4).fillNormal(w.subarray(a.parameterCount - 6), 0, 1); // non-zero output biases
    const ww = widenWeights(a, wide, w);
    const rows = 6;
    const x = new Float32Array(rows * 4);
    new Rng(5).fillNormal(x, 0, 1);
    const before = outputs(searched, w, x, rows);
    const after = outputs(wide.spec, ww, x, rows);
    for (let r = 0; r < rows; r++) {
      expect(after[3 * r]).toBeCloseTo(before[2 * r], 5);
      expect(after[3 * r + 1]).toBeCloseTo(before[2 * r + 1], 5);
      expect(after[3 * r + 2]).toBe(0);
    }
  });
});
