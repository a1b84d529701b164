import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  annealedTemperature,
  dirichletLogDensity,
  end2Loss,
  TARGET_SMOOTHING,
} from '../../src/distill/dirichlet.js';
import { digamma, digamma64, lgamma, lgamma64 } from '../../src/distill/special-functions.js';
import { lossOfStudentOutputs } from '../../src/distill/student-loss.js';
import { twoVarianceLoss, twoVarianceOptimum } from '../../src/distill/two-variance.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

const EULER_GAMMA = 0.5772156649015329;

/** A Gamma(shape ≥ 1, 1) draw (Marsaglia & Tsang 2000). */
function gamma(rng: Rng, shape: number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = rng.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

function dirichletDraw(rng: Rng, alpha: number[]): number[] {
  const g = alpha.map((a) => gamma(rng, a));
  const sum = g.reduce((s, v) => s + v, 0);
  return g.map((v) => v / sum);
}

/** ψ⁻¹(y) by Newton's method (Minka 2000). */
function inverseDigamma(y: number): number {
  let x = y >= -2.22 ? Math.exp(y) + 0.5 : -1 / (y + EULER_GAMMA);
  for (let i = 0; i < 50; i++) {
    const h = 1e-6 * x;
    x -= (digamma64(x) - y) / ((digamma64(x + h) - digamma64(x - h)) / (2 * h));
  }
  return x;
}

/** The maximum-likelihood Dirichlet of samples with these mean log-probabilities (Minka's fixed point). */
function dirichletMle(meanLog: number[]): number[] {
  let a = meanLog.map(() => 1);
  for (let i = 0; i < 2000; i++) {
    const psi0 = digamma64(a.reduce((t, v) => t + v, 0));
    a = meanLog.map((m) => inverseDigamma(psi0 + m));
  }
  return a;
}

/** log Dir(π | e^z) in float64. */
function logDensity64(z: number[], logPi: number[]): number {
  const alpha = z.map(Math.exp);
  const a0 = alpha.reduce((s, v) => s + v, 0);
  return lgamma64(a0) - alpha.reduce((s, a, k) => s + lgamma64(a) - (a - 1) * logPi[k], 0);
}

describe('special functions', () => {
  it('lgamma and digamma match known values, in float64 and as tf ops', () => {
    const known: [number, number, number][] = [
      // x, log Γ(x), ψ(x)
      [1, 0, -EULER_GAMMA],
      [0.5, Math.log(Math.sqrt(Math.PI)), -EULER_GAMMA - 2 * Math.log(2)],
      [2, 0, 1 - EULER_GAMMA],
      [10, Math.log(362880), 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5 + 1 / 6 + 1 / 7 + 1 / 8 + 1 / 9 - EULER_GAMMA],
      [0.1, 2.252712651734206, -10.423754940411076],
      [123.5, 469.81727549193056, 4.812187109433143],
    ];
    for (const [x, lg, psi] of known) {
      expect(lgamma64(x)).toBeCloseTo(lg, 12);
      expect(digamma64(x)).toBeCloseTo(psi, 12);
    }
    const xs = tf.tensor1d(known.map((k) => k[0]));
    const lg = lgamma(xs).dataSync();
    const psi = digamma(xs).dataSync();
    known.forEach(([, l, p], i) => {
      expect(Math.abs(lg[i] - l)).toBeLessThan(1e-5 * Math.max(1, Math.abs(l)));
      expect(Math.abs(psi[i] - p)).toBeLessThan(1e-5 * Math.max(1, Math.abs(p)));
    });
    // The tf lgamma's gradient is ψ.
    const g = tf
      .grad((x: tf.Tensor) => tf.sum(lgamma(x)))(xs)
      .dataSync();
    known.forEach(([, , p], i) => expect(Math.abs(g[i] - p)).toBeLessThan(1e-4 * Math.max(1, Math.abs(p))));
  });
});

describe('Dirichlet log-density', () => {
  const z = [
    [0.3, -1.2, 2.0, 0.7],
    [-2.5, 1.1, 0.0, 3.1],
  ];
  const pi = [
    [0.1, 0.2, 0.6, 0.1],
    [0.05, 0.25, 0.3, 0.4],
  ];
  const logPi = pi.map((r) => r.map(Math.log));

  it('matches a float64 reference', () => {
    const got = dirichletLogDensity(tf.tensor2d(z), tf.tensor2d(logPi)).dataSync();
    z.forEach((zr, b) => expect(Math.abs(got[b] - logDensity64(zr, logPi[b]))).toBeLessThan(2e-4));
    // Dir(1, 1, 1, 1) is uniform on the simplex: density Γ(4) = 6 everywhere.
    const flat = dirichletLogDensity(tf.zeros([1, 4]), tf.tensor2d([logPi[0]])).dataSync()[0];
    expect(flat).toBeCloseTo(Math.log(6), 5);
  });

  it('its gradient with respect to z matches finite differences of the float64 reference', () => {
    const g = tf
      .grad((t: tf.Tensor) => tf.sum(dirichletLogDensity(t, tf.tensor2d(logPi))))(tf.tensor2d(z))
      .arraySync() as number[][];
    const h = 1e-6;
    z.forEach((zr, b) =>
      zr.forEach((_, k) => {
        const up = zr.slice();
        const down = zr.slice();
        up[k] += h;
        down[k] -= h;
        const fd = (logDensity64(up, logPi[b]) - logDensity64(down, logPi[b])) / (2 * h);
        expect(Math.abs(g[b][k] - fd)).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
      }),
    );
  });

  it('the EnD² loss at T = 1 is the mean negative log-density of the smoothed teacher probabilities', () => {
    const teacher = [[logPi[0]], [logPi[1]]]; // [S = 2, B = 1, K]: log π are logits of π
    const student = [z[0]];
    const loss = end2Loss(tf.tensor3d(teacher), tf.tensor2d(student), 1).dataSync()[0];
    const smoothed = (r: number[]) =>
      r.map((p) => Math.log((1 - TARGET_SMOOTHING) * p + TARGET_SMOOTHING / 4));
    const ref = -(logDensity64(z[0], smoothed(pi[0])) + logDensity64(z[0], smoothed(pi[1]))) / 2;
    expect(Math.abs(loss - ref)).toBeLessThan(2e-4);
  });

  it('anneals the temperature linearly from T₀ to 1 over the first half of the run', () => {
    expect([0, 25, 50, 75, 99].map((s) => annealedTemperature(2.5, s, 100))).toEqual([2.5, 1.75, 1, 1, 1]);
    expect(annealedTemperature(1, 0, 100)).toBe(1);
  });
});

describe('EnD² on a synthetic ensemble', () => {
  it('recovers the concentrations of the Dirichlet its samples were drawn from', () => {
    const alpha = [2, 5, 10];
    const rng = new Rng(7);
    const S = 1000;
    const logits = Array.from({ length: S }, () => [dirichletDraw(rng, alpha).map(Math.log)]);
    const batch = { xin: tf.zeros([1, 1, 1]), outputs: tf.tensor3d(logits), variances: null };
    const z = tf.variable(tf.zeros([1, 1, 3]));
    const opt = tf.train.adam(0.05);
    const steps = 600;
    for (let step = 0; step < steps; step++) {
      const settings = {
        task: 'classification' as const,
        temperature: annealedTemperature(2.5, step, steps),
        klDirection: 'forward' as const,
        head: 'dirichlet' as const,
      };
      tf.dispose(opt.minimize(() => lossOfStudentOutputs(settings, z, batch), true) ?? []);
    }
    const fitted = Array.from(z.dataSync(), Math.exp);
    fitted.forEach((a, k) => expect(Math.abs(a / alpha[k] - 1)).toBeLessThan(0.1));
    // And it is the maximum-likelihood estimate of these draws (Minka's fixed point in float64).
    const meanLog = [0, 1, 2].map(
      (k) =>
        logits.reduce(
          (t, [r]) => t + Math.log((1 - TARGET_SMOOTHING) * Math.exp(r[k]) + TARGET_SMOOTHING / 3),
          0,
        ) / S,
    );
    const mle = dirichletMle(meanLog);
    fitted.forEach((a, k) => expect(Math.abs(a / mle[k] - 1)).toBeLessThan(0.002));
  });
});

describe('the two-variance loss', () => {
  it('is minimised by μ = mean μ_s, σ²_epi = Var μ_s, σ²_ale = mean σ²_s', () => {
    const rng = new Rng(3);
    const S = 50;
    const B = 4;
    const means = Array.from({ length: S }, () =>
      Array.from({ length: B }, (_, b) => b + 0.7 * rng.normal()),
    );
    const variances = Array.from({ length: S }, () => Array.from({ length: B }, () => 0.2 + rng.uniform()));
    const opt = twoVarianceOptimum(means, variances);
    const tm = tf.tensor2d(means);
    const tv = tf.tensor2d(variances);
    const at = (mu: number[], a: number[], e: number[]) =>
      twoVarianceLoss(tm, tv, tf.tensor1d(mu), tf.tensor1d(a), tf.tensor1d(e));
    const logA = opt.aleatoric.map(Math.log);
    const logE = opt.epistemic.map(Math.log);
    // The gradient vanishes at the closed form, and moving any coordinate raises the loss.
    const grads = tf.grads((m: tf.Tensor, a: tf.Tensor, e: tf.Tensor) => twoVarianceLoss(tm, tv, m, a, e))([
      tf.tensor1d(opt.mean),
      tf.tensor1d(logA),
      tf.tensor1d(logE),
    ]);
    for (const g of grads) for (const v of g.dataSync()) expect(Math.abs(v)).toBeLessThan(1e-5);
    const best = at(opt.mean, logA, logE).dataSync()[0];
    for (const d of [-0.1, 0.1]) {
      expect(
        at(
          opt.mean.map((m) => m + d),
          logA,
          logE,
        ).dataSync()[0],
      ).toBeGreaterThan(best);
      expect(
        at(
          opt.mean,
          logA.map((a) => a + d),
          logE,
        ).dataSync()[0],
      ).toBeGreaterThan(best);
      expect(
        at(
          opt.mean,
          logA,
          logE.map((e) => e + d),
        ).dataSync()[0],
      ).toBeGreaterThan(best);
    }
    // The closed form is the ensemble's E[σ²] and Var[μ] (population variance, 1/S).
    const m0 = means.reduce((s, r) => s + r[0], 0) / S;
    expect(opt.epistemic[0]).toBeCloseTo(means.reduce((s, r) => s + (r[0] - m0) ** 2, 0) / S, 12);
    expect(opt.aleatoric[0]).toBeCloseTo(variances.reduce((s, r) => s + r[0], 0) / S, 12);
  });
});
