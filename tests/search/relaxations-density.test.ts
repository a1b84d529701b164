import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { sampleDirichlet, sampleGumbelSoftmax, sampleLogitNormal } from '../../src/search/relaxations.js';
import {
  concreteLogDensity,
  dirichletLogDensity,
  integrateSimplex2,
  integrateSimplex2LogRatio,
  logGamma,
  logitNormalLogDensity,
  simplexCells,
} from '../../src/search/simplex-density.js';
import {
  ALPHA,
  MU,
  S,
  SIGMA,
  distToCentre,
  draws,
  expectation,
  maxOf,
  meanSe,
} from './relaxation-helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  expect(tf.getBackend()).toBe('cpu');
});

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
