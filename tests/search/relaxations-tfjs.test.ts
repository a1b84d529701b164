import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  dirichletLaplaceFromNoise,
  dirichletLaplaceMoments,
  dirichletLaplaceTf,
  drawRelaxationNoise,
  gumbelSoftmaxFromNoise,
  gumbelSoftmaxTf,
  logitNormalFromNoise,
  logitNormalTf,
  noiseCount,
  relaxTf,
  softmaxRelaxation,
  softmaxRelaxationTf,
  temperatureAt,
  type RelaxationKind,
} from '../../src/search/relaxations.js';
import { draws, meanSe } from './relaxation-helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  expect(tf.getBackend()).toBe('cpu');
});

// ---------- tfjs versions ----------

describe('tfjs relaxations', () => {
  const B = 5;
  const K = 4;
  const rng = new Rng(21);
  const logits = Array.from({ length: B * K }, () => 1.5 * rng.normal());
  const uniform = Float32Array.from({ length: B * K }, () => rng.uniform());
  const normal = Float32Array.from({ length: B * K }, () => rng.normal());
  const row = (a: ArrayLike<number>, b: number) => Array.from(a).slice(b * K, (b + 1) * K);
  // float32 logits, so the JS float64 reference sees exactly the tensor's inputs.
  const logits32 = Float32Array.from(logits);

  function expectRowsClose(t: tf.Tensor, ref: (b: number) => ArrayLike<number>, tol = 1e-5) {
    expect(t.shape).toEqual([B, K]);
    const got = t.dataSync();
    for (let b = 0; b < B; b++) {
      const r = ref(b);
      for (let k = 0; k < K; k++) expect(Math.abs(got[b * K + k] - r[k])).toBeLessThan(tol);
    }
    t.dispose();
  }

  it('equal the JS versions given the same noise', () => {
    const L = tf.tensor2d(logits32, [B, K]);
    const U = tf.tensor2d(uniform, [B, K]);
    const E = tf.tensor2d(normal, [B, K]);
    const sig = tf.tensor1d([0.5, 1, 1.5, 2]);
    expectRowsClose(softmaxRelaxationTf(L, 0.3), (b) => softmaxRelaxation(row(logits32, b), 0.3));
    expectRowsClose(gumbelSoftmaxTf(L, 0.7, U), (b) =>
      gumbelSoftmaxFromNoise(row(logits32, b), 0.7, row(uniform, b)),
    );
    expectRowsClose(logitNormalTf(L, sig, E), (b) =>
      logitNormalFromNoise(row(logits32, b), [0.5, 1, 1.5, 2], row(normal, b)),
    );
    expectRowsClose(dirichletLaplaceTf(L, 2, E), (b) =>
      dirichletLaplaceFromNoise(row(logits32, b), 2, row(normal, b)),
    );
    // The dispatcher.
    const noise = { uniform: U, normal: E };
    expectRowsClose(relaxTf('softmax', L, 0.3, noise), (b) => softmaxRelaxation(row(logits32, b), 0.3));
    expectRowsClose(relaxTf('gumbel-softmax', L, 0.7, noise), (b) =>
      gumbelSoftmaxFromNoise(row(logits32, b), 0.7, row(uniform, b)),
    );
    expectRowsClose(relaxTf('logit-normal', L, 0.5, noise, { sigma: sig }), (b) =>
      logitNormalFromNoise(row(logits32, b), [0.25, 0.5, 0.75, 1], row(normal, b)),
    );
    expectRowsClose(relaxTf('logit-normal', L, 0.5, noise), (b) =>
      logitNormalFromNoise(row(logits32, b), 0.5, row(normal, b)),
    );
    expectRowsClose(relaxTf('dirichlet', L, 2, noise), (b) =>
      dirichletLaplaceFromNoise(row(logits32, b), 2, row(normal, b)),
    );
    expect(() => relaxTf('gumbel-softmax', L, 1, { normal: E })).toThrow(/needs uniform noise/);
    expect(() => relaxTf('dirichlet', L, 1, { normal: tf.zeros([B, K + 1]) })).toThrow(/shape/);
    tf.dispose([L, U, E, sig]);
  });

  it('allocate no tensors beyond their result', () => {
    const L = tf.tensor2d(logits32, [B, K]);
    const noise = drawRelaxationNoise('gumbel-softmax', [B, K], new Rng(1));
    const before = tf.memory().numTensors;
    for (const kind of ['softmax', 'gumbel-softmax', 'logit-normal', 'dirichlet'] as RelaxationKind[]) {
      const n = kind === 'gumbel-softmax' ? noise : drawRelaxationNoise(kind, [B, K], new Rng(2));
      const mid = tf.memory().numTensors;
      relaxTf(kind, L, 0.8, n).dispose();
      expect(tf.memory().numTensors).toBe(mid);
      if (n !== noise) tf.dispose(Object.values(n));
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([L, ...Object.values(noise)]);
  });

  it('gradients with respect to logits and σ match finite differences of the float64 versions', () => {
    const w = [0.3, -1.2, 2.0, 0.7];
    // Moderate values, so that no softmax saturates and every gradient is far from 0.
    const l0 = [0.2, -0.4, 0.1, 0.5];
    const u0 = [0.3, 0.65, 0.5, 0.8];
    const e0 = [0.5, -0.3, 0.2, -0.8];
    const sd0 = [0.3, 0.5, 0.4, 0.6];
    const dot = (g: ArrayLike<number>) => Array.from(g).reduce((a, v, k) => a + v * w[k], 0);
    const fdGrad = (f: (p: number[]) => number, p: number[]) =>
      p.map((_, i) => {
        const h = 1e-6;
        const up = p.slice();
        const dn = p.slice();
        up[i] += h;
        dn[i] -= h;
        return (f(up) - f(dn)) / (2 * h);
      });
    const W = tf.tensor1d(w);
    const U = tf.tensor1d(u0);
    const E = tf.tensor1d(e0);
    const check = (
      tfFn: (p: tf.Tensor) => tf.Tensor,
      jsFn: (p: number[]) => ArrayLike<number>,
      p: number[],
    ) => {
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tfFn(x), W)));
      const P = tf.tensor1d(p);
      const got = g(P);
      const ref = fdGrad((q) => dot(jsFn(q)), p);
      const vals = got.dataSync();
      const scale = Math.max(1, ...ref.map(Math.abs));
      for (let i = 0; i < p.length; i++) expect(Math.abs(vals[i] - ref[i])).toBeLessThan(1e-3 * scale);
      expect(ref.some((v) => Math.abs(v) > 1e-2)).toBe(true); // not a vacuous comparison
      tf.dispose([P, got]);
    };
    check(
      (x) => gumbelSoftmaxTf(x, 0.7, U),
      (q) => gumbelSoftmaxFromNoise(q, 0.7, u0),
      l0,
    );
    check(
      (x) => softmaxRelaxationTf(x, 0.5),
      (q) => softmaxRelaxation(q, 0.5),
      l0,
    );
    check(
      (x) => logitNormalTf(x, tf.tensor1d(sd0), E),
      (q) => logitNormalFromNoise(q, sd0, e0),
      l0,
    );
    check(
      (s) => logitNormalTf(tf.tensor1d(l0), s, E),
      (q) => logitNormalFromNoise(l0, q, e0),
      sd0,
    );
    check(
      (x) => dirichletLaplaceTf(x, 1.5, E),
      (q) => dirichletLaplaceFromNoise(q, 1.5, e0),
      l0.map((v) => v + 1),
    );
    tf.dispose([W, U, E]);
  });

  it('the Dirichlet approximation uses MacKay’s softmax-basis moments and matches the mean for large α', () => {
    const { mu, sigma } = dirichletLaplaceMoments([1, 2, 4]);
    const meanLog = (Math.log(1) + Math.log(2) + Math.log(4)) / 3;
    expect(mu[1]).toBeCloseTo(Math.log(2) - meanLog, 12);
    expect(sigma[1] ** 2).toBeCloseTo((1 / 2) * (1 - 2 / 3) + (1 + 1 / 2 + 1 / 4) / 9, 12);
    const alpha = [20, 30, 50];
    const rng = new Rng(4);
    const xs = draws(4000, () =>
      dirichletLaplaceFromNoise(
        alpha.map(Math.log),
        1,
        [0, 1, 2].map(() => rng.normal()),
      ),
    );
    for (let k = 0; k < 3; k++) expect(meanSe(xs, (x) => x[k]).mean).toBeCloseTo(alpha[k] / 100, 2);
  });

  it('noise bookkeeping and seeded noise', () => {
    expect(noiseCount('softmax', 4)).toEqual({ uniform: 0, normal: 0 });
    expect(noiseCount('gumbel-softmax', 4)).toEqual({ uniform: 4, normal: 0 });
    expect(noiseCount('logit-normal', 4)).toEqual({ uniform: 0, normal: 4 });
    expect(noiseCount('dirichlet', 4)).toEqual({ uniform: 0, normal: 4 });
    const a = drawRelaxationNoise('gumbel-softmax', [2, 3], new Rng(8));
    const b = drawRelaxationNoise('gumbel-softmax', [2, 3], new Rng(8));
    expect(a.normal).toBeUndefined();
    expect(Array.from(a.uniform!.dataSync())).toEqual(Array.from(b.uniform!.dataSync()));
    expect(drawRelaxationNoise('softmax', [2, 3], new Rng(8))).toEqual({});
    tf.dispose([a.uniform!, b.uniform!]);
  });

  it('temperatureAt decays exponentially from start to end', () => {
    const s = { start: 5, end: 0.2, steps: 100 };
    expect(temperatureAt(s, 0)).toBe(5);
    expect(temperatureAt(s, 100)).toBe(0.2);
    expect(temperatureAt(s, 1000)).toBe(0.2);
    expect(temperatureAt(s, 50)).toBeCloseTo(1, 12); // geometric mean of 5 and 0.2
    expect(temperatureAt(s, 25) / temperatureAt(s, 0)).toBeCloseTo(
      temperatureAt(s, 75) / temperatureAt(s, 50),
      12,
    );
    expect(temperatureAt({ start: 1, end: 3, steps: 0 }, 0)).toBe(3);
    expect(() => temperatureAt({ start: 0, end: 1, steps: 10 }, 1)).toThrow(/positive/);
  });
});
