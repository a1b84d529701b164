import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { studentGradients, studentLoss, type StudentLossSettings } from '../../src/distill/student-loss.js';
import { denseDag, denseDagPass } from '../../src/model/dense-dag.js';
import { forward, initialWeights, unflatten } from '../../src/model/forward.js';
import { analyzeSpec, type ArchSpec } from '../../src/model/spec.js';
import { denseStack, denseStackPass } from '../../src/teacher/dense-gradient.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

type Edge = { from: string; to: string; op: Record<string, unknown> };

function spec(
  input: number[],
  nodes: { id: string; aggregate?: string }[],
  edges: Edge[],
  output: string,
): ArchSpec {
  return { format: 'bdk-arch', version: 1, name: 'dag', input, nodes, edges, output } as ArchSpec;
}

const dense = (units: number, activation?: string) => ({
  type: 'dense',
  units,
  ...(activation ? { activation } : {}),
});

/** A searched-student-like DAG: two hidden layers, a linear skip from the input, an identity edge. */
const skipDag = spec(
  [5],
  [{ id: 'h1' }, { id: 'h2' }, { id: 'out' }],
  [
    { from: 'input', to: 'h1', op: dense(6, 'relu') },
    { from: 'h1', to: 'h2', op: dense(6, 'tanh') },
    { from: 'h1', to: 'h2', op: { type: 'identity' } },
    { from: 'h2', to: 'out', op: dense(2) },
    { from: 'input', to: 'out', op: dense(2) },
    { from: 'h1', to: 'out', op: dense(2, 'sigmoid') },
  ],
  'out',
);

function randomParams(a: ReturnType<typeof analyzeSpec>, chains: number, seed: number): tf.Tensor[] {
  const rng = new Rng(seed);
  const flat = new Float32Array(chains * a.parameterCount);
  for (let c = 0; c < chains; c++) {
    const w = initialWeights(a, rng);
    for (const p of a.params)
      if (p.role === 'bias') rng.fillNormal(w.subarray(p.offset, p.offset + p.size), 0, 0.3);
    flat.set(w, c * a.parameterCount);
  }
  return unflatten(a, tf.tensor2d(flat, [chains, a.parameterCount]));
}

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const v = new Float32Array(shape.reduce((x, y) => x * y, 1));
  new Rng(seed).fillStandardNormal32(v);
  return tf.tensor(v, shape);
}

function expectClose(got: tf.Tensor, want: tf.Tensor, what: string): void {
  const g = got.dataSync();
  const w = want.dataSync();
  expect(got.shape, what).toEqual(want.shape);
  const scale = Math.max(1e-3, ...Array.from(w, Math.abs));
  for (let i = 0; i < w.length; i++)
    expect(Math.abs(g[i] - w[i]) / scale, `${what}[${i}]`).toBeLessThan(1e-5);
}

describe('dense DAG backward pass', () => {
  for (const [chains, xChains] of [
    [1, 1],
    [3, 3],
    [3, 1],
  ]) {
    it(`equals tfjs's tape on a DAG with skip and identity edges (${chains} chains, input over ${xChains})`, () => {
      const a = analyzeSpec(skipDag);
      const plan = denseDag(a);
      expect(plan).not.toBeNull();
      const params = randomParams(a, chains, 3);
      const x = randomTensor([xChains, 4, 5], 4);
      const dOut = randomTensor([chains, 4, 2], 5);
      tf.tidy(() => {
        const pass = denseDagPass(a, plan!, params, x);
        expectClose(pass.outputs, forward(a, params, x), 'outputs');
        const mine = pass.backward(dOut);
        const tape = tf.grads((...ps: tf.Tensor[]) => tf.sum(tf.mul(forward(a, ps, x), dOut)) as tf.Scalar)(
          params,
        );
        mine.forEach((g, i) => expectClose(g, tape[i], `parameter ${i}`));
      });
      tf.dispose([...params, x, dOut]);
    });
  }

  it('gives a stack exactly what the dense-stack pass gives (flattened image input)', () => {
    const s = spec(
      [3, 3, 1],
      [{ id: 'f' }, { id: 'h0' }, { id: 'h1' }],
      [
        { from: 'input', to: 'f', op: { type: 'flatten' } },
        { from: 'f', to: 'h0', op: dense(4, 'relu') },
        { from: 'h0', to: 'h1', op: dense(3) },
      ],
      'h1',
    );
    const a = analyzeSpec(s);
    const params = randomParams(a, 2, 8);
    const x = randomTensor([2, 5, 3, 3, 1], 9);
    const dOut = randomTensor([2, 5, 3], 10);
    tf.tidy(() => {
      const dag = denseDagPass(a, denseDag(a)!, params, x);
      const stack = denseStackPass(denseStack(a)!, params, x);
      expect(Array.from(dag.outputs.dataSync())).toEqual(Array.from(stack.outputs.dataSync()));
      const g1 = dag.backward(dOut);
      const g2 = stack.backward(dOut);
      g1.forEach((g, i) =>
        expect(Array.from(g.dataSync()), `parameter ${i}`).toEqual(Array.from(g2[i].dataSync())),
      );
    });
    tf.dispose([...params, x, dOut]);
  });

  it('gives zero gradients to parameters that do not reach the output', () => {
    const s = spec(
      [3],
      [{ id: 'dead' }, { id: 'out' }],
      [
        { from: 'input', to: 'dead', op: dense(2, 'relu') },
        { from: 'input', to: 'out', op: dense(1) },
      ],
      'out',
    );
    const a = analyzeSpec(s);
    const params = randomParams(a, 1, 1);
    const x = randomTensor([1, 4, 3], 2);
    tf.tidy(() => {
      const grads = denseDagPass(a, denseDag(a)!, params, x).backward(tf.ones([1, 4, 1]));
      const dead = a.params.map((p, i) => ({ p, i })).filter(({ p }) => a.spec.edges[p.edge].to === 'dead');
      expect(dead.length).toBe(2);
      for (const { i } of dead) expect(Array.from(grads[i].dataSync()).every((v) => v === 0)).toBe(true);
    });
    tf.dispose([...params, x]);
  });

  it('declines what it cannot differentiate: concat aggregation, softplus, convolutions', () => {
    const concat = spec(
      [3],
      [{ id: 'h', aggregate: 'concat' }, { id: 'out' }],
      [
        { from: 'input', to: 'h', op: dense(2, 'relu') },
        { from: 'input', to: 'h', op: dense(2) },
        { from: 'h', to: 'out', op: dense(1) },
      ],
      'out',
    );
    const softplus = spec(
      [3],
      [{ id: 'out' }],
      [{ from: 'input', to: 'out', op: dense(2, 'softplus') }],
      'out',
    );
    const conv = spec(
      [4, 4, 1],
      [{ id: 'c' }, { id: 'f' }, { id: 'out' }],
      [
        { from: 'input', to: 'c', op: { type: 'conv2d', filters: 2, kernelSize: 3, activation: 'relu' } },
        { from: 'c', to: 'f', op: { type: 'flatten' } },
        { from: 'f', to: 'out', op: dense(2) },
      ],
      'out',
    );
    for (const s of [concat, softplus, conv]) expect(denseDag(analyzeSpec(s))).toBeNull();
  });

  for (const task of ['regression', 'classification'] as const) {
    it(`studentGradients on a ${task} student equals the tape through studentLoss`, () => {
      const units = task === 'regression' ? 2 : 3;
      const s = spec(
        [5],
        [{ id: 'h' }, { id: 'out' }],
        [
          { from: 'input', to: 'h', op: dense(7, 'relu') },
          { from: 'h', to: 'out', op: dense(units) },
          { from: 'input', to: 'out', op: dense(units) },
        ],
        'out',
      );
      const a = analyzeSpec(s);
      const vars = randomParams(a, 1, 21).map((t, i) => tf.variable(t, true, `dag_${task}_${i}`));
      const k = 4;
      const B = 6;
      const batch = {
        xin: randomTensor([1, B, 5], 22),
        outputs:
          task === 'regression' ? randomTensor([k, B, 1], 23) : tf.softmax(randomTensor([k, B, units], 23)),
        variances: task === 'regression' ? tf.add(tf.square(randomTensor([k, B], 24)), 0.1) : null,
      } as Parameters<typeof studentLoss>[3];
      const settings: StudentLossSettings = { task, temperature: 2, klDirection: 'forward' };
      const { loss, grads } = studentGradients(settings, a, vars, batch);
      const tape = tf.variableGrads(() => studentLoss(settings, a, vars, batch), vars);
      expect(loss.dataSync()[0]).toBeCloseTo(tape.value.dataSync()[0], 5);
      grads.forEach((g, i) => expectClose(g, tape.grads[vars[i].name], `parameter ${i}`));
      tf.dispose([loss, ...grads, tape.value, ...Object.values(tape.grads), ...vars]);
      tf.dispose([batch.xin, batch.outputs, batch.variances ?? []]);
    });
  }
});
