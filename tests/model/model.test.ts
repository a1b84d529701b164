import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { BUILTIN_ARCHS, resolveArch } from '../../src/model/builtins.js';
import { flatten, forward, initialWeights, unflatten } from '../../src/model/forward.js';
import { buildLayersModel } from '../../src/model/layers-model.js';
import { chainMatMul, dataMatMul2d } from '../../src/model/fast-matmul.js';
import { analyzeSpec, type ArchSpec } from '../../src/model/spec.js';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
});

const dag: ArchSpec = {
  format: 'bdk-arch',
  version: 1,
  name: 'dag',
  input: [6],
  nodes: [{ id: 'a' }, { id: 'b', aggregate: 'concat' }, { id: 'out', aggregate: 'sum' }],
  edges: [
    { from: 'input', to: 'a', op: { type: 'dense', units: 5, activation: 'tanh' } },
    { from: 'a', to: 'b', op: { type: 'dense', units: 4, activation: 'relu' } },
    { from: 'input', to: 'b', op: { type: 'identity' } },
    { from: 'b', to: 'out', op: { type: 'dense', units: 3 } },
    { from: 'a', to: 'out', op: { type: 'dense', units: 3, activation: 'sigmoid' } },
  ],
  output: 'out',
};

function randomInput(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

describe('architecture specs', () => {
  it('counts parameters of the built-ins (784-400-400-10 has 478 410)', async () => {
    expect((await resolveArch('mlp-400-400', { input: [28, 28, 1], outputUnits: 10 })).parameterCount).toBe(
      478_410,
    );
    expect((await resolveArch('mlp-50', { input: [13], outputUnits: 1 })).parameterCount).toBe(
      13 * 50 + 50 + 50 + 1,
    );
    expect((await resolveArch('linear', { input: [13], outputUnits: 1 })).parameterCount).toBe(14);
    // LeNet-5 on 28×28: conv 5·5·1·6+6, conv 5·5·6·16+16, dense 400·120+120, 120·84+84, 84·10+10
    expect((await resolveArch('lenet5', { input: [28, 28, 1], outputUnits: 10 })).parameterCount).toBe(
      156 + 2416 + 48120 + 10164 + 850,
    );
  });

  it('rejects bad specs with precise messages', async () => {
    const bad = (patch: Partial<ArchSpec> | Record<string, unknown>) => () =>
      analyzeSpec({ ...dag, ...patch }, 'spec.json');
    expect(bad({ colour: 'red' })).toThrow(
      "spec.json: unknown key 'colour' (allowed: format, version, name, input, nodes, edges, output)",
    );
    expect(bad({ version: 2 })).toThrow('spec.json: unsupported version 2 (expected 1)');
    expect(bad({ output: 'zz' })).toThrow('spec.json.output: unknown node "zz"');
    expect(bad({ edges: [...dag.edges, { from: 'out', to: 'a', op: { type: 'identity' } }] })).toThrow(
      "spec.json: the graph has a cycle through nodes 'a', 'b', 'out'",
    );
    expect(
      bad({ edges: [...dag.edges.slice(0, 4), { from: 'a', to: 'out', op: { type: 'dense', units: 2 } }] }),
    ).toThrow("spec.json: node 'out': sum needs equal shapes, found [3] and [2]");
    expect(
      bad({
        nodes: [{ id: 'a' }],
        output: 'a',
        edges: [{ from: 'input', to: 'a', op: { type: 'dense', units: 0 } }],
      }),
    ).toThrow('spec.json.edges[0].op.units: expected a positive integer, found 0');
    expect(
      bad({
        nodes: [{ id: 'a' }],
        output: 'a',
        edges: [{ from: 'input', to: 'a', op: { type: 'conv2d', filters: 2, kernelSize: 3 } }],
      }),
    ).toThrow(
      'spec.json.edges[0] (input → a): conv2d needs an image input [height, width, channels], found shape [6]',
    );
    await expect(
      resolveArch('mlp-50', { input: [13], outputUnits: 1 }).then((a) => a.spec.name),
    ).resolves.toBe('mlp-50');
    await expect(resolveArch('resnet', { input: [13], outputUnits: 1 })).rejects.toThrow(
      "unknown architecture 'resnet': expected one of linear, mlp-50, mlp-400-400, lenet5, vgg-small, mlp-W[-W…] or a spec .json file",
    );
    await expect(resolveArch('lenet5', { input: [13], outputUnits: 1 })).rejects.toThrow(
      'lenet5 needs image input',
    );
  });

  it('the functional form equals the LayersModel on the same weights, for every built-in and a DAG', async () => {
    const cases: { a: ReturnType<typeof analyzeSpec>; shape: number[] }[] = [
      { a: analyzeSpec(dag), shape: [6] },
      ...['linear', 'mlp-50', 'mlp-400-400', 'lenet5'].map((name) => ({
        a: analyzeSpec(BUILTIN_ARCHS[name].build({ input: [28, 28, 1], outputUnits: 10 })),
        shape: [28, 28, 1],
      })),
    ];
    for (const [i, { a, shape }] of cases.entries()) {
      const w = initialWeights(a, new Rng(i));
      for (const p of a.params)
        if (p.role === 'bias') new Rng(100 + i).fillNormal(w.subarray(p.offset, p.offset + p.size), 0, 0.1);
      const x = randomInput([7, ...shape], i);
      const model = buildLayersModel(a, w);
      const expected = model.predict(x) as tf.Tensor;
      const params = unflatten(a, tf.tensor2d(w, [1, a.parameterCount]));
      const got = forward(a, params, tf.expandDims(x, 0));
      expect(got.shape).toEqual([1, ...expected.shape]);
      const diff = tf.max(tf.abs(tf.sub(tf.squeeze(got, [0]), expected))).dataSync()[0];
      expect(diff, a.spec.name).toBeLessThan(1e-5);
      model.dispose();
    }
  });

  it('vectorized chains equal separate networks, and flatten inverts unflatten', () => {
    const a = analyzeSpec(BUILTIN_ARCHS.lenet5.build({ input: [12, 12, 1], outputUnits: 3 }));
    const C = 3;
    const w = new Float32Array(C * a.parameterCount);
    for (let c = 0; c < C; c++) w.set(initialWeights(a, new Rng(c)), c * a.parameterCount);
    const flat = tf.tensor2d(w, [C, a.parameterCount]);
    const params = unflatten(a, flat);
    expect(Array.from(flatten(params).dataSync())).toEqual(Array.from(w));
    const x = randomInput([C, 4, 12, 12, 1], 9);
    const all = forward(a, params, x);
    for (let c = 0; c < C; c++) {
      const one = forward(
        a,
        unflatten(a, tf.slice(flat, [c, 0], [1, -1]) as tf.Tensor2D),
        tf.slice(x, [c], [1]),
      );
      expect(tf.max(tf.abs(tf.sub(tf.slice(all, [c], [1]), one))).dataSync()[0]).toBeLessThan(1e-6);
    }
    // A batch shared by all chains broadcasts.
    const shared = forward(a, params, tf.slice(x, [0], [1]));
    expect(shared.shape).toEqual([C, 4, 3]);
  });

  it('saves as a LayersModel and loads back with identical predictions', async () => {
    const a = analyzeSpec(dag);
    const model = buildLayersModel(a, initialWeights(a, new Rng(5)));
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (art) => {
        artifacts = art;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const x = randomInput([5, 6], 3);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
  });
});

describe('chainMatMul', () => {
  it('large products (the 2-D rewrites on wasm) equal tf.matMul, values and gradients', () => {
    // B·n·m ≥ 2^16 takes the rewrites: shared left side, shared right side, and one product per chain.
    for (const [ca, cb] of [
      [1, 3],
      [3, 1],
      [3, 3],
    ]) {
      const a = tf.randomNormal([ca, 64, 48], 0, 1, 'float32', 10 + ca);
      const b = tf.randomNormal([cb, 48, 40], 0, 1, 'float32', 20 + cb);
      const r = tf.randomNormal([3, 64, 40], 0, 1, 'float32', 30);
      const tile = (t: tf.Tensor) => (t.shape[0] === 1 ? tf.tile(t, [3, 1, 1]) : t);
      const loss = (mm: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.mul(tf.tanh(tf.mul(mm(x, y), 0.1)), r));
      const value = chainMatMul(a, b);
      const ref = tf.matMul(tile(a) as tf.Tensor3D, tile(b) as tf.Tensor3D);
      expect(value.shape).toEqual([3, 64, 40]);
      expect(tf.max(tf.abs(tf.sub(value, ref))).dataSync()[0]).toBeLessThan(1e-4);
      const ours = tf.grads(loss(chainMatMul))([a, b]);
      const theirs = tf.grads(loss((x, y) => tf.matMul(tile(x) as tf.Tensor3D, tile(y) as tf.Tensor3D)))([
        a,
        b,
      ]);
      for (let i = 0; i < 2; i++) {
        expect(ours[i].shape).toEqual(theirs[i].shape);
        expect(tf.max(tf.abs(tf.sub(ours[i], theirs[i]))).dataSync()[0]).toBeLessThan(1e-4);
      }
      tf.dispose([a, b, r, value, ref, ...ours, ...theirs]);
    }
  });

  it('has the gradient of tf.matMul, including a side broadcast over the chain axis', () => {
    const a = tf.randomNormal([1, 5, 4], 0, 1, 'float32', 1);
    const b = tf.randomNormal([3, 4, 2], 0, 1, 'float32', 2);
    const r = tf.randomNormal([3, 5, 2], 0, 1, 'float32', 3);
    const loss = (mm: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(tf.tanh(mm(x, y)), r));
    const ours = tf.grads(loss(chainMatMul))([a, b]);
    const ref = tf.grads(loss((x, y) => tf.matMul(tf.tile(x, [3, 1, 1]), y)))([a, b]);
    expect(ours[0].shape).toEqual([1, 5, 4]);
    expect(ours[1].shape).toEqual([3, 4, 2]);
    for (let i = 0; i < 2; i++)
      expect(tf.max(tf.abs(tf.sub(ours[i], ref[i]))).dataSync()[0]).toBeLessThan(1e-5);
    // and against a central finite difference of one entry of b
    const f = (bb: tf.Tensor) => loss(chainMatMul)(a, bb).dataSync()[0];
    const e = 1e-2;
    const bv = b.dataSync().slice();
    const plus = bv.slice();
    plus[7] += e;
    const minus = bv.slice();
    minus[7] -= e;
    const fd = (f(tf.tensor3d(plus, [3, 4, 2])) - f(tf.tensor3d(minus, [3, 4, 2]))) / (2 * e);
    expect(ours[1].dataSync()[7]).toBeCloseTo(fd, 2);
  });
});

describe('dataMatMul2d', () => {
  it('has the value of tf.matMul and only its kernel gradient', () => {
    const a = tf.randomNormal([6, 5], 0, 1, 'float32', 4) as tf.Tensor2D;
    const b = tf.randomNormal([5, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
    const r = tf.randomNormal([6, 3], 0, 1, 'float32', 6);
    const loss = (mm: (x: tf.Tensor2D, y: tf.Tensor2D) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(tf.tanh(mm(x as tf.Tensor2D, y as tf.Tensor2D)), r));
    expect(Array.from(dataMatMul2d(a, b).dataSync())).toEqual(Array.from(tf.matMul(a, b).dataSync()));
    const ref = tf.grads(loss((x, y) => tf.matMul(x, y)))([a, b]);
    const data = tf.grads(loss(dataMatMul2d))([a, b]);
    expect(data[1].shape).toEqual(ref[1].shape);
    expect(tf.max(tf.abs(data[0])).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(tf.sub(data[1], ref[1]))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([a, b, r, ...ref, ...data]);
  });
});
