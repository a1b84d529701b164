import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.js';
import { simplexDensitySvg, simplexPanelsSvg } from '../src/eval/plots/simplex.js';
import { relaxationFigureSvg } from '../src/eval/plots/relaxation-figure.js';
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
  sampleDirichlet,
  sampleGumbelSoftmax,
  sampleLogitNormal,
  softmaxRelaxation,
  softmaxRelaxationTf,
  temperatureAt,
  type RelaxationKind,
} from '../src/search/relaxations.js';
import {
  concreteLogDensity,
  dirichletLogDensity,
  integrateSimplex2,
  integrateSimplex2LogRatio,
  logGamma,
  logitNormalLogDensity,
  simplexCells,
} from '../src/search/simplex-density.js';
import { ROOT, expectOneLineError, tempDir, type CliResult } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  expect(tf.getBackend()).toBe('cpu');
  dir = await tempDir('bdk-relax-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

// ---------- helpers ----------

const S = [1, 2, 3];
const ALPHA = [0.7, 2, 3];
const MU = [0, 0.5, -0.3];
const SIGMA = [0.8, 1, 0.6];

function draws(n: number, draw: () => ArrayLike<number>): number[][] {
  return Array.from({ length: n }, () => Array.from(draw()));
}

/** Sample mean of f over the draws and its Monte-Carlo standard error. */
function meanSe(xs: number[][], f: (x: number[]) => number): { mean: number; se: number } {
  const v = xs.map(f);
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s2 = v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
  return { mean: m, se: Math.sqrt(s2 / v.length) };
}

/** E f(x) under a log density on the 2-simplex, by the log-ratio integrator. */
function expectation(logp: (x: Float64Array) => number, f: (x: Float64Array) => number, halfWidth = 40) {
  return integrateSimplex2LogRatio((x) => f(x) * Math.exp(logp(x)), { n: 400, halfWidth });
}

const maxOf = (x: ArrayLike<number>) => Math.max(...Array.from(x));
const distToCentre = (x: ArrayLike<number>) => Math.hypot(...Array.from(x, (v) => v - 1 / 3));

// ---------- densities ----------

describe('closed-form densities on the simplex', () => {
  it('log Γ matches known values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 11);
    expect(logGamma(100)).toBeCloseTo(359.1342053695754, 9);
  });

  it('the triangle grid has n² cells covering the simplex', () => {
    const cells = simplexCells(7);
    expect(cells.length).toBe(49);
    let area = 0;
    for (const {
      corners: [a, b, c],
      centroid,
    } of cells) {
      area += Math.abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2;
      for (let k = 0; k < 3; k++) expect(centroid[k]).toBeCloseTo((a[k] + b[k] + c[k]) / 3, 12);
      for (const p of [a, b, c]) expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 12);
    }
    expect(area).toBeCloseTo(0.5, 12);
    expect(integrateSimplex2(() => 1, 7)).toBeCloseTo(0.5, 12);
    expect(integrateSimplex2((x) => x[0], 50)).toBeCloseTo(1 / 6, 10); // linear: exact
  });

  it('each density integrates to 1 on the triangle grid (moderate parameters)', () => {
    const tri = (logp: (x: Float64Array) => number) => integrateSimplex2((x) => Math.exp(logp(x)), 200);
    for (const lambda of [1, 2, 5]) expect(tri((x) => concreteLogDensity(x, S, lambda))).toBeCloseTo(1, 2);
    for (const a of [
      [1, 1, 1],
      [2, 3, 1.5],
      [5, 1, 2],
    ])
      expect(tri((x) => dirichletLogDensity(x, a))).toBeCloseTo(1, 2);
    expect(Math.abs(tri((x) => logitNormalLogDensity(x, MU, SIGMA)) - 1)).toBeLessThan(1e-3);
    expect(Math.abs(tri((x) => logitNormalLogDensity(x, MU, 0.5)) - 1)).toBeLessThan(1e-3);
  });

  it('singular densities integrate to 1 in log-ratio coordinates', () => {
    const lr = (logp: (x: Float64Array) => number, halfWidth = 40) =>
      integrateSimplex2LogRatio((x) => Math.exp(logp(x)), { n: 400, halfWidth });
    for (const lambda of [0.1, 0.3, 0.5, 1])
      expect(Math.abs(lr((x) => concreteLogDensity(x, S, lambda), 40 / lambda) - 1)).toBeLessThan(1e-6);
    expect(Math.abs(lr((x) => dirichletLogDensity(x, [0.3, 0.5, 0.8]), 60) - 1)).toBeLessThan(1e-6);
    expect(Math.abs(lr((x) => logitNormalLogDensity(x, MU, 3), 30) - 1)).toBeLessThan(1e-6);
    // A wrong normalizing constant would show up here: e.g. without the (K−1)! the mass is ½.
    expect(Math.abs(lr((x) => concreteLogDensity(x, S, 0.5) - Math.log(2), 80) - 0.5)).toBeLessThan(1e-6);
  });

  it('logit-normal density equals the Gaussian of the log-ratios over Π x_k (K = 2 and K = 4)', () => {
    // K = 2: y = log(x₁/x₂) ~ N(μ₁ − μ₂, σ₁² + σ₂²).
    const x2 = [0.3, 0.7];
    const v = 0.8 ** 2 + 1.3 ** 2;
    const y = Math.log(0.3 / 0.7) - (0.4 - -0.2);
    const ref2 = -0.5 * Math.log(2 * Math.PI * v) - (y * y) / (2 * v) - Math.log(0.3 * 0.7);
    expect(logitNormalLogDensity(x2, [0.4, -0.2], [0.8, 1.3])).toBeCloseTo(ref2, 12);
    // K = 4 against a dense Gaussian: C = D + σ₄² 11ᵀ, inverted by Gauss–Jordan.
    const x = [0.1, 0.2, 0.3, 0.4];
    const mu = [0.3, -0.1, 0.2, 0.5];
    const sd = [0.5, 0.9, 1.4, 0.7];
    const r = [0, 1, 2].map((k) => Math.log(x[k] / x[3]) - (mu[k] - mu[3]));
    const C = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (i === j ? sd[i] ** 2 : 0) + sd[3] ** 2));
    const inv = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (i === j ? 1 : 0)));
    let det = 1;
    for (let c = 0; c < 3; c++) {
      const p = C[c][c];
      det *= p;
      for (let j = 0; j < 3; j++) {
        C[c][j] /= p;
        inv[c][j] /= p;
      }
      for (let i = 0; i < 3; i++) {
        if (i === c) continue;
        const f = C[i][c];
        for (let j = 0; j < 3; j++) {
          C[i][j] -= f * C[c][j];
          inv[i][j] -= f * inv[c][j];
        }
      }
    }
    let quad = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) quad += r[i] * inv[i][j] * r[j];
    const ref4 =
      -1.5 * Math.log(2 * Math.PI) -
      0.5 * Math.log(det) -
      0.5 * quad -
      x.reduce((a, b) => a + Math.log(b), 0);
    expect(logitNormalLogDensity(x, mu, sd)).toBeCloseTo(ref4, 12);
  });

  it('concrete density: mass at the vertices for small λ, at the centre for large λ', () => {
    const centre = [1 / 3, 1 / 3, 1 / 3];
    const nearVertex = [0.98, 0.01, 0.01];
    const p = (x: number[], lambda: number) => concreteLogDensity(x, [1, 1, 1], lambda);
    expect(p(nearVertex, 0.1)).toBeGreaterThan(p(centre, 0.1));
    expect(p(nearVertex, 10)).toBeLessThan(p(centre, 10));
    // Off the simplex's interior: −∞.
    expect(p([1, 0, 0], 1)).toBe(-Infinity);
    expect(dirichletLogDensity([0.5, 0.6, 0.1], [1, 1, 1])).toBe(-Infinity);
  });
});

// ---------- samplers against the densities ----------

describe('samplers agree with the closed-form densities', () => {
  const N = 20000;
  const families: {
    name: string;
    logp: (x: Float64Array) => number;
    draw: (rng: Rng) => ArrayLike<number>;
    halfWidth: number;
  }[] = [
    {
      name: 'concrete λ = 0.5',
      logp: (x) => concreteLogDensity(x, S, 0.5),
      draw: (rng) => sampleGumbelSoftmax(S.map(Math.log), 0.5, rng),
      halfWidth: 80,
    },
    {
      name: 'concrete λ = 2',
      logp: (x) => concreteLogDensity(x, S, 2),
      draw: (rng) => sampleGumbelSoftmax(S.map(Math.log), 2, rng),
      halfWidth: 40,
    },
    {
      name: 'Dirichlet',
      logp: (x) => dirichletLogDensity(x, ALPHA),
      draw: (rng) => sampleDirichlet(ALPHA, rng),
      halfWidth: 60,
    },
    {
      name: 'logit-normal',
      logp: (x) => logitNormalLogDensity(x, MU, SIGMA),
      draw: (rng) => sampleLogitNormal(MU, SIGMA, rng),
      halfWidth: 30,
    },
  ];
  for (const fam of families) {
    it(`${fam.name}: sample means of x₁, x₂, x₁x₂ and x₃² match the density's within 4 MC s.e.`, () => {
      const rng = new Rng(11);
      const xs = draws(N, () => fam.draw(rng));
      const stats: ((x: ArrayLike<number>) => number)[] = [
        (x) => x[0],
        (x) => x[1],
        (x) => x[0] * x[1],
        (x) => x[2] * x[2],
      ];
      expect(expectation(fam.logp, () => 1, fam.halfWidth)).toBeCloseTo(1, 6);
      for (const f of stats) {
        const { mean, se } = meanSe(xs, f);
        const exact = expectation(fam.logp, f, fam.halfWidth);
        expect(Math.abs(mean - exact)).toBeLessThan(4 * se);
      }
    });
  }

  it('the exact Dirichlet sampler has mean α/α₀ and variance α_k(α₀ − α_k)/(α₀²(α₀ + 1))', () => {
    const alpha = [0.5, 2, 4];
    const a0 = alpha.reduce((a, b) => a + b, 0);
    const rng = new Rng(5);
    const xs = draws(N, () => sampleDirichlet(alpha, rng));
    for (let k = 0; k < 3; k++) {
      const { mean, se } = meanSe(xs, (x) => x[k]);
      expect(Math.abs(mean - alpha[k] / a0)).toBeLessThan(4 * se);
      const variance = (alpha[k] * (a0 - alpha[k])) / (a0 * a0 * (a0 + 1));
      const sq = meanSe(xs, (x) => (x[k] - alpha[k] / a0) ** 2);
      expect(Math.abs(sq.mean - variance)).toBeLessThan(4 * sq.se);
    }
    // Tiny concentrations still give valid points (log-space normalization).
    const tiny = draws(200, () => sampleDirichlet([0.01, 0.02, 0.05], rng));
    for (const x of tiny) {
      expect(x.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
      expect(x[0] + x[1] + x[2]).toBeCloseTo(1, 12);
    }
  });

  it('Gumbel-softmax concentrates at the vertices as λ shrinks and at the centre as λ grows', () => {
    const rng = new Rng(3);
    const lambdas = [0.1, 0.5, 1, 2, 10];
    const sets = lambdas.map((l) => draws(4000, () => sampleGumbelSoftmax([0, 0, 0], l, rng)));
    const meanMax = sets.map((xs) => meanSe(xs, maxOf).mean);
    for (let i = 1; i < meanMax.length; i++) expect(meanMax[i]).toBeLessThan(meanMax[i - 1]);
    const nearVertex = sets[0].filter((x) => maxOf(x) > 0.95).length / sets[0].length;
    expect(nearVertex).toBeGreaterThan(0.8);
    const dCold = meanSe(sets[4], distToCentre).mean;
    expect(dCold).toBeLessThan(0.1);
    expect(meanSe(sets[2], distToCentre).mean).toBeGreaterThan(3 * dCold);
    // The density says the same: E max_k x_k by integration matches the samples.
    for (const i of [1, 3]) {
      const exact = expectation((x) => concreteLogDensity(x, [1, 1, 1], lambdas[i]), maxOf, 80);
      const { mean, se } = meanSe(sets[i], maxOf);
      expect(Math.abs(mean - exact)).toBeLessThan(4 * se);
    }
  });

  it('same seed, same draws', () => {
    const a = sampleGumbelSoftmax(S, 0.7, new Rng(9));
    const b = sampleGumbelSoftmax(S, 0.7, new Rng(9));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(sampleDirichlet(ALPHA, new Rng(9)))).toEqual(
      Array.from(sampleDirichlet(ALPHA, new Rng(9))),
    );
  });
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

// ---------- plots and CLI ----------

/** The built CLI, asynchronously, so that independent invocations run side by side. */
function bdkAsync(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/bdk.js'), ...args],
      { cwd, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Total area of the heat-map polygons (shoelace), in square pixels. */
function heatmapArea(svg: string): number {
  const heat = svg.match(/<g class="heatmap">(.*?)<\/g>/s);
  if (!heat) throw new Error('no heat map');
  let area = 0;
  for (const [, d] of heat[1].matchAll(/ d="([^"]*)"/g)) {
    for (const poly of d.split('Z').filter(Boolean)) {
      const pts = poly
        .replace(/^M/, '')
        .split('L')
        .map((p) => p.split(' ').map(Number));
      let a = 0;
      for (let i = 0; i < pts.length; i++) {
        const [x1, y1] = pts[i];
        const [x2, y2] = pts[(i + 1) % pts.length];
        a += x1 * y2 - x2 * y1;
      }
      area += Math.abs(a) / 2;
    }
  }
  return area;
}

describe('simplex plots', () => {
  it('tile the triangle exactly with the merged heat-map cells', () => {
    const side = 240;
    const full = (side * side * Math.sqrt(3)) / 4;
    const svg = simplexDensitySvg(
      { logDensity: (x) => concreteLogDensity(x, S, 1), temperature: 1 },
      { side },
    );
    expect(Math.abs(heatmapArea(svg) - full) / full).toBeLessThan(2e-3);
    // A constant density is one colour: each of the 60 strips merges into one polygon.
    const flat = simplexDensitySvg({ logDensity: (x) => dirichletLogDensity(x, [1, 1, 1]) }, { side });
    const heat = flat.match(/<g class="heatmap">(.*?)<\/g>/s)![1];
    expect(heat.match(/M/g)!.length).toBe(60);
    expect(Math.abs(heatmapArea(flat) - full) / full).toBeLessThan(2e-3);
  });

  it('draws one outlined triangle per panel, with captions, valid numbers and escaped text', () => {
    const svg = simplexPanelsSvg(
      [0.5, 2].map((t) => ({
        logDensity: (x: Float64Array) => concreteLogDensity(x, S, t),
        title: `λ = ${t}`,
        temperature: t,
        samples: [[0.2, 0.3, 0.5]],
      })),
      { title: 'a < b & c', caption: 'p(x) = …' },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polygon class="simplex-outline"/g)!.length).toBe(2);
    expect(svg.match(/<g[ >]/g)!.length).toBe(svg.match(/<\/g>/g)!.length);
    expect(svg).toContain('temperature 0.5');
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('p(x) = …');
    expect(svg.match(/<circle /g)!.length).toBe(2);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('relaxation figures are deterministic and carry the formula', () => {
    const a = relaxationFigureSvg({
      dist: 'dirichlet',
      temperatures: [0.5, 1],
      concentration: [1, 2, 3],
      samples: 25,
      seed: 4,
    });
    const b = relaxationFigureSvg({
      dist: 'dirichlet',
      temperatures: [0.5, 1],
      concentration: [1, 2, 3],
      samples: 25,
      seed: 4,
    });
    expect(a).toBe(b);
    expect(a.match(/<circle /g)!.length).toBe(50);
    expect(a).toContain('α/τ = (2, 4, 6)');
    expect(a).toContain('Γ(α₀) / ∏ₖ Γ(αₖ)');
    const ln = relaxationFigureSvg({ dist: 'logit-normal', temperatures: [1], concentration: [1, 1, 1] });
    expect(ln).toContain('σ²(I + 11ᵀ)');
    expect(ln).not.toMatch(/NaN|Infinity/);
  });
});

describe('bdk viz relaxation', () => {
  it('writes an SVG with one triangle per temperature, refuses to overwrite it, rejects bad values', async () => {
    const file = path.join(dir, 'relaxation-gumbel-softmax.svg');
    const out = path.join(dir, 'sub', 'd.svg');
    const viz = (...args: string[]) => bdkAsync(['viz', 'relaxation', ...args], dir);
    const never = ['--out', path.join(dir, 'never.svg')];
    const [r, j, ...bad] = await Promise.all([
      viz('--dist', 'gumbel-softmax', '--temperatures', '0.1,1,5'),
      viz(
        ...['--dist', 'dirichlet', '--temperatures', '2', '--concentration', '1,2,3'],
        ...['--samples', '10', '--seed', '3', '--out', out, '--json'],
      ),
      viz('--dist', 'beta', ...never),
      viz('--temperatures', '1,0', ...never),
      viz('--concentration', '1,2', ...never),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${file} (gumbel-softmax, 3 panels)`);
    const svg = await fs.readFile(file, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polygon class="simplex-outline"/g)!.length).toBe(3);
    expect(svg).toContain('p(x) = 2 λ² ∏ₖ sₖ xₖ^(−λ−1) / (∑ₖ sₖ xₖ^(−λ))³');
    for (const t of ['λ = 0.1', 'λ = 1', 'λ = 5']) expect(svg).toContain(t);

    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      file: out,
      dist: 'dirichlet',
      temperatures: [2],
      samples: 10,
    });
    const d = await fs.readFile(out, 'utf8');
    expect(d.match(/<circle /g)!.length).toBe(10);
    expect(d).toContain('α/τ = (0.5, 1, 1.5)');

    const messages = [
      "bdk: --dist: unknown distribution 'beta'; expected gumbel-softmax, dirichlet, logit-normal",
      "bdk: --temperatures: temperature '0' is not a positive number",
      "bdk: --concentration: expected 3 values (one per vertex of the 2-simplex), got 2 in '1,2'",
    ];
    bad.forEach((b, i) => {
      expect(b.code).toBe(1);
      expect(expectOneLineError(b)).toBe(messages[i]);
    });
    await expect(fs.access(path.join(dir, 'never.svg'))).rejects.toThrow();

    const again = await viz();
    expect(again.code).toBe(1);
    expect(expectOneLineError(again)).toBe(`bdk: ${file} already exists; pass --force to replace it`);
  });
});
