import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { forward, unflatten } from '../../src/model/forward.js';
import { BUILTIN_SPACES, analyzeSpace } from '../../src/search/space.js';
import { supernetLayout, type SupernetLayout } from '../../src/search/supernet.js';
import { discretize, type TrainedValues } from '../../src/search/discretize.js';
import { exportedOutput, oneHotOutput, randomValues as values } from './supernet-fixtures.js';
import {
  ardLogPrior,
  presetMetaparameters,
  upperObjective,
  lowerObjective,
  weightKl,
  type ObjectiveContext,
} from '../../src/search/objective.js';
import { secondOrderHypergradient } from '../../src/search/hypergradient.js';
import { runSearch, type SearchData } from '../../src/search/train-search.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('structure search', () => {
  it('a one-hot γ supernet equals the exported discrete model on random inputs', () => {
    const sa = analyzeSpace(BUILTIN_SPACES.mlp.build({ input: [7], outputUnits: 2 }, { widths: [4, 8, 12] }));
    const layout = supernetLayout(sa);
    const rng = new Rng(3);
    const xs = Float32Array.from({ length: 20 * 7 }, () => rng.normal());
    const x = tf.tensor2d(xs, [20, 7]);
    let exportedSmaller = 0;
    for (const [seed, threshold] of [
      [1, 1],
      [2, 1],
      [5, 0.5],
      [9, 0.2],
      [11, 0.05],
    ] as const) {
      const v = values(layout, seed);
      const d = discretize(layout, v, threshold, 'searched');
      const expected = oneHotOutput(layout, v, x, threshold);
      const got = tf.tidy(() => {
        const params = unflatten(d.analysis, tf.tensor2d(d.weights, [1, d.analysis.parameterCount]));
        return forward(d.analysis, params, tf.expandDims(x, 0)).dataSync() as Float32Array;
      });
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
      if (threshold < 1) expect(d.pruned.weights).toBeGreaterThan(0);
      const hidden = d.analysis.spec.edges.filter((e) => e.op.type === 'dense' && e.to !== 'out');
      if (hidden.some((e) => e.op.type === 'dense' && e.op.units < 12)) exportedSmaller++;
    }
    expect(exportedSmaller).toBeGreaterThan(0); // widths shrink (chosen width or ARD unit removal)
    x.dispose();
  });

  it.each([
    ['conv', () => BUILTIN_SPACES.conv.build({ input: [6, 6, 1], outputUnits: 3 }, { widths: [4] })],
    // two conv cells, a concatenated skip, a dense head
    ['lenet', () => BUILTIN_SPACES.lenet.build({ input: [8, 8, 1], outputUnits: 3 }, { widths: [4, 6] })],
  ] as const)('the %s space exports exactly too', (name, build) => {
    const sa = analyzeSpace(build());
    const layout = supernetLayout(sa);
    const rng = new Rng(4);
    const [h, w] = sa.space.input;
    const x = tf.tensor4d(
      Float32Array.from({ length: 5 * h * w }, () => rng.normal()),
      [5, h, w, 1],
    );
    for (const seed of [1, 2, 3, 4]) {
      const v = values(layout, seed);
      const d = discretize(layout, v, 1, `${name}-searched`);
      const expected = oneHotOutput(layout, v, x, 1);
      const got = exportedOutput(d, x);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
    }
    x.dispose();
  });

  it('the weight KL is the Gaussian–Gaussian closed form with prior variance γ̄²/A', () => {
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [3], outputUnits: 1 }, { widths: [2, 4], activations: ['relu'] }),
    );
    const layout = supernetLayout(sa);
    const v = values(layout, 7);
    const rng = new Rng(8);
    for (const g of layout.groups) v.h[g.logA] = Float32Array.from(v.h[g.logA], () => rng.normal());
    const gammas = sa.space.edges.map((e, ei) => {
      if (layout.logits[ei] === null) return null;
      const p = Array.from({ length: e.choices.length }, () => rng.uniform());
      const z = p.reduce((a, b) => a + b, 0);
      return p.map((q) => q / z);
    });
    const floor = 0.05;
    let expected = 0;
    for (const g of layout.groups) {
      const W = g.info.kernelShape[g.info.kernelShape.length - 1];
      const gamma = gammas[g.edge];
      v.theta[g.mean].forEach((mu, i) => {
        const u = i % W;
        const gbar = gamma ? g.info.members.reduce((s, m) => s + (u < m.width ? gamma[m.choice] : 0), 0) : 1;
        const s = Math.log1p(Math.exp(v.theta[g.rho][i]));
        const priorVar = Math.max(gbar, floor) ** 2 / Math.exp(v.h[g.logA][i]);
        // KL(N(μ, s²) ‖ N(0, v)) = ½ (s²/v + μ²/v − 1 − log(s²/v))
        expected += 0.5 * ((s * s) / priorVar + (mu * mu) / priorVar - 1 - Math.log((s * s) / priorVar));
      });
    }
    const got = tf.tidy(() => {
      const theta = v.theta.map((a, i) => tf.tensor(a, thetaShape(layout, i, a)));
      const h = v.h.map((a, i) => tf.tensor(a, hShape(layout, i, a)));
      const gs = gammas.map((g) => (g ? tf.tensor1d(g) : null));
      return weightKl(layout, theta, h, gs, floor).dataSync()[0];
    });
    expect(got).toBeCloseTo(expected, 2);
    expect(Math.abs(got - expected) / expected).toBeLessThan(1e-5);
  });

  it('ARD: −KL + log inv-gamma is maximized at A* = (½ + λ₁)/(½E[w²]/γ̄² + λ₂)', () => {
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [3], outputUnits: 1 }, { widths: [2], activations: ['tanh'] }),
    );
    const layout = supernetLayout(sa);
    const v = values(layout, 12);
    const meta = presetMetaparameters('evidence', { lambda1: 0.3, lambda2: 0.2 });
    // With γ = 1 on every edge (γ̄ = 1 for the widest candidate's units), set log A to the closed form.
    const ones = sa.space.edges.map((e, ei) =>
      layout.logits[ei] === null ? null : e.choices.map((c, k) => (k === 0 ? 1 : 0)),
    );
    for (const g of layout.groups) {
      const W = g.info.kernelShape[g.info.kernelShape.length - 1];
      v.h[g.logA] = Float32Array.from(v.theta[g.mean], (mu, i) => {
        const s = Math.log1p(Math.exp(v.theta[g.rho][i]));
        const oh = ones[g.edge];
        const mass = oh
          ? g.info.members.reduce((acc, m) => acc + (i % W < m.width ? oh[m.choice] : 0), 0)
          : 1;
        const gbar = Math.max(mass, meta.gammaFloor);
        return Math.log((0.5 + meta.lambda1) / ((0.5 * (mu * mu + s * s)) / gbar ** 2 + meta.lambda2));
      });
    }
    expectStationaryLogA(layout, v, ones, meta);
  });

  it('unit ARD groups: one precision per input unit, maximized at A* = (n/2 + λ₁)/(½Σ E[w²]/γ̄² + λ₂)', () => {
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [3], outputUnits: 1 }, { widths: [2, 3], activations: ['tanh'] }),
    );
    const layout = supernetLayout(sa, 'unit');
    for (const g of layout.groups) expect(g.logAShape).toEqual([g.info.kernelShape[0], 1]);
    const v = values(layout, 13);
    const meta = presetMetaparameters('evidence', { lambda1: 0.3, lambda2: 0.2 });
    const onehot = sa.space.edges.map((e, ei) =>
      layout.logits[ei] === null ? null : e.choices.map((c, k) => (k === 0 ? 1 : 0)),
    );
    for (const g of layout.groups) {
      const [rows, W] = g.info.kernelShape;
      const oh = onehot[g.edge];
      v.h[g.logA] = Float32Array.from({ length: rows }, (_, r) => {
        let spread = 0;
        for (let u = 0; u < W; u++) {
          const i = r * W + u;
          const s = Math.log1p(Math.exp(v.theta[g.rho][i]));
          const mass = oh ? g.info.members.reduce((acc, m) => acc + (u < m.width ? oh[m.choice] : 0), 0) : 1;
          spread += (v.theta[g.mean][i] ** 2 + s * s) / Math.max(mass, meta.gammaFloor) ** 2;
        }
        return Math.log((W / 2 + meta.lambda1) / (0.5 * spread + meta.lambda2));
      });
    }
    expectStationaryLogA(layout, v, onehot, meta);
  });

  it('the second-order hypergradient agrees with a finite difference of Q(θ′(h), h)', () => {
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [2], outputUnits: 2 }, { widths: [2, 3], activations: ['tanh'] }),
    );
    const layout = supernetLayout(sa);
    const v = values(layout, 21);
    const rng = new Rng(22);
    const batch = (n: number) => ({
      x: tf.tensor2d(
        Float32Array.from({ length: n * 2 }, () => rng.normal()),
        [n, 2],
      ),
      y: tf.tensor1d(Float32Array.from({ length: n }, () => rng.normal())),
    });
    const train = batch(6);
    const val = batch(5);
    const meta = presetMetaparameters('evidence', {
      size: 0.01,
      references: [{ structure: 'uniform', weight: 0.5 }],
    });
    // A fixed smooth relaxation (softmax at temperature 1) keeps the objective deterministic.
    const ctx: ObjectiveContext = {
      layout,
      meta,
      task: 'regression',
      objective: 'labels',
      n: 10,
      gammas: (h) => layout.logits.map((li) => (li === null ? null : (tf.softmax(h[li]) as tf.Tensor1D))),
    };
    const theta = v.theta.map((a, i) => tf.tensor(a, thetaShape(layout, i, a)));
    const h = v.h.map((a, i) => tf.tensor(a, hShape(layout, i, a)));
    const xi = 0.01;
    const hyper = secondOrderHypergradient(
      ctx,
      theta,
      h,
      { batch: train, noise: undefined },
      { batch: val, noise: undefined },
      { xi, epsilon: 1e-3 },
    );
    const dir = h.map((t) =>
      tf.tensor(
        Float32Array.from({ length: t.size }, () => rng.normal()),
        t.shape,
      ),
    );
    const analytic = hyper.reduce((s, g, i) => s + tf.sum(tf.mul(g, dir[i])).dataSync()[0], 0);
    const phi = (delta: number) =>
      tf.tidy(() => {
        const hh = h.map((t, i) => tf.add(t, tf.mul(delta, dir[i])));
        const gL = tf.grads((...t: tf.Tensor[]) => lowerObjective(ctx, t, hh, train))(theta);
        const thetaPrime = theta.map((t, i) => tf.add(t, tf.mul(xi, gL[i])));
        return upperObjective(ctx, thetaPrime, hh, val).dataSync()[0];
      });
    const delta = 1e-2;
    const numeric = (phi(delta) - phi(-delta)) / (2 * delta);
    expect(Math.abs(analytic - numeric)).toBeLessThan(0.02 * Math.max(1, Math.abs(numeric)));
    // The first-order part alone differs from the total derivative here (θ′ depends on h).
    const direct = tf.tidy(() => {
      const gL = tf.grads((...t: tf.Tensor[]) => lowerObjective(ctx, t, h, train))(theta);
      const thetaPrime = theta.map((t, i) => tf.add(t, tf.mul(xi, gL[i])));
      const gh = tf.grads((...hh: tf.Tensor[]) => upperObjective(ctx, thetaPrime, hh, val))(h);
      return gh.reduce((s, g, i) => s + tf.sum(tf.mul(g, dir[i])).dataSync()[0], 0);
    });
    expect(Math.abs(direct - numeric)).toBeGreaterThan(Math.abs(analytic - numeric));
    tf.dispose([...theta, ...h, ...hyper, ...dir, train.x, train.y, val.x, val.y]);
  });

  it('recovers a linear target: the skip edge is linear, the hidden path is dropped, ARD prunes the uninformative inputs', async () => {
    const d = 8;
    const informative = [0, 1, 2];
    const rng = new Rng(31);
    const make = (n: number) => {
      const x = Float32Array.from({ length: n * d }, () => rng.normal());
      const y = Float32Array.from(
        { length: n },
        (_, i) => 1.5 * x[i * d] - 1.0 * x[i * d + 1] + 0.7 * x[i * d + 2] + 0.1 * rng.normal(),
      );
      return { x, y, rows: n };
    };
    const data: SearchData = {
      task: 'regression',
      objective: 'labels',
      exampleShape: [d],
      train: make(400),
      validation: make(100),
    };
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build(
        { input: [d], outputUnits: 2 },
        { widths: [8, 16], activations: ['relu', 'tanh'] },
      ),
    );
    const layout = supernetLayout(sa);
    const counts: number[] = []; // live tensors after each epoch's state snapshot (320 steps in all)
    const values_ = await runSearch(
      layout,
      data,
      {
        relaxation: 'gumbel-softmax',
        hypergradient: 'first-order',
        epochs: 40,
        batchSize: 50,
        learningRate: 0.01,
        hyperLearningRate: 0.05,
        temperature: { start: 1, end: 0.2 },
        pruneThreshold: 0.5,
        seed: 1,
      },
      presetMetaparameters('evidence', { size: 0.5 }),
      {
        onEpoch: async (_point, state) => {
          await state();
          counts.push(tf.memory().numTensors);
        },
      },
    );
    expect(new Set(counts.slice(1)).size, counts.join(' ')).toBe(1);
    const result = discretize(layout, values_!, 0.5, 'recovered');
    const byEdge = Object.fromEntries(result.choices.map((c) => [c.edge.split('#')[0], c.choice]));
    expect(byEdge['input->out']).toBe('linear');
    expect(byEdge['h2->out']).toBe('zero');
    expect(result.analysis.spec.edges.map((e) => `${e.from}->${e.to}`)).toEqual(['input->out']);
    // The kept linear read-out's mean-weights: informative rows kept, the rest pruned to zero.
    const kernel = result.analysis.params.find((p) => p.role === 'kernel')!;
    for (let i = 0; i < d; i++) {
      const w = result.weights[kernel.offset + i * 2]; // column 0: the mean head
      if (informative.includes(i)) expect(Math.abs(w)).toBeGreaterThan(0.5);
      else expect(w).toBe(0);
    }
  });
});

function thetaShape(layout: SupernetLayout, i: number, a: Float32Array): number[] {
  const g = layout.groups.find((gg) => gg.mean === i || gg.rho === i);
  return g ? g.info.kernelShape : [a.length];
}
function hShape(layout: SupernetLayout, i: number, a: Float32Array): number[] {
  const g = layout.groups.find((gg) => gg.logA === i);
  return g ? g.logAShape : [a.length];
}

/** ∂/∂log A of (log p(A) − KL(q ‖ p(w|γ, A))) is zero at v's log A, for γ one-hot as given. */
function expectStationaryLogA(
  layout: SupernetLayout,
  v: TrainedValues,
  gamma: (number[] | null)[],
  meta: ReturnType<typeof presetMetaparameters>,
) {
  const grads = tf.tidy(() => {
    const theta = v.theta.map((a, i) => tf.tensor(a, thetaShape(layout, i, a)));
    const gs = gamma.map((g) => (g ? tf.tensor1d(g) : null));
    const h = v.h.map((a, i) => tf.tensor(a, hShape(layout, i, a)));
    const f = (...logA: tf.Tensor[]) => {
      const hh = [...h];
      layout.groups.forEach((g, k) => (hh[g.logA] = logA[k]));
      return tf.sub(
        ardLogPrior(layout, hh, meta),
        weightKl(layout, theta, hh, gs, meta.gammaFloor),
      ) as tf.Scalar;
    };
    return tf
      .grads(f)(layout.groups.map((g) => h[g.logA]))
      .map((t) => Array.from(t.dataSync()));
  });
  for (const g of grads) for (const d of g) expect(Math.abs(d)).toBeLessThan(1e-4);
}
