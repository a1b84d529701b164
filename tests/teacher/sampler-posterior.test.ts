import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { Rng } from '../../src/core/rng.js';
import { effectiveSampleSize } from '../../src/eval/diagnostics.js';
import { BUILTIN_ARCHS } from '../../src/model/builtins.js';
import { analyzeSpec } from '../../src/model/spec.js';
import { chainSeed, runChains, type SamplerSettings } from '../../src/teacher/chains.js';
import type { PosteriorModel } from '../../src/teacher/posterior.js';

/**
 * Bayesian linear regression with a known noise precision τ and prior precision α has the exact
 * posterior N(μ, Σ), Σ = (αI + τX̃ᵀX̃)⁻¹, μ = τΣX̃ᵀy with X̃ = [X, 1] (the bias is a weight too).
 * Each sampler must recover μ and Σ within a tolerance scaled by the Monte-Carlo standard error
 * sd/√ESS, plus the O(η) discretization bias of a small step (stated per test).
 */
const N = 40;
const D = 2;
const TAU = 4;
const ALPHA = 1;

function makeData() {
  const rng = new Rng(11);
  const x = new Float32Array(N * D);
  const y = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    const x0 = rng.normal();
    const x1 = 0.6 * x0 + 0.8 * rng.normal(); // correlated inputs → correlated posterior
    x[i * D] = x0;
    x[i * D + 1] = x1;
    y[i] = 1.5 * x0 - 0.7 * x1 + 0.3 + rng.normal() / Math.sqrt(TAU);
  }
  return { x, y };
}

/** Exact posterior of (w0, w1, b) by solving the 3×3 system. */
function exactPosterior(x: Float32Array, y: Float32Array) {
  const k = D + 1;
  const A = Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (i === j ? ALPHA : 0)));
  const r = new Array(k).fill(0);
  for (let n = 0; n < N; n++) {
    const row = [x[n * D], x[n * D + 1], 1];
    for (let i = 0; i < k; i++) {
      r[i] += TAU * row[i] * y[n];
      for (let j = 0; j < k; j++) A[i][j] += TAU * row[i] * row[j];
    }
  }
  const inv = invert3(A);
  const mean = inv.map((rowI) => rowI.reduce((s, v, j) => s + v * r[j], 0));
  return { mean, cov: inv };
}

function invert3(m: number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

const base: Omit<SamplerSettings, 'sampler' | 'stepSize'> = {
  schedule: { kind: 'constant' },
  batchSize: N,
  burnIn: 2000,
  thin: 1,
  samples: 6000,
  temperature: 1,
  friction: 0.1,
  rmsDecay: 0.999,
  rmsEpsilon: 1e-5,
};

async function sample(settings: SamplerSettings, chains = 6) {
  const { x, y } = makeData();
  const analysis = analyzeSpec(BUILTIN_ARCHS.linear.build({ input: [D], outputUnits: 1 }));
  const model: PosteriorModel = {
    analysis,
    task: 'regression',
    dataSize: N,
    priorPrecision: ALPHA,
    noise: { fixed: TAU },
  };
  // draws[c][k] = trace of parameter k in chain c; layout is kernel (w0, w1) then bias (b)
  const draws = Array.from({ length: chains }, () => Array.from({ length: 3 }, () => [] as number[]));
  const xt = tf.tensor2d(x, [N, D]);
  const yt = tf.tensor1d(y);
  await runChains({
    model,
    settings,
    x: xt,
    y: yt,
    seeds: Array.from({ length: chains }, (_, c) => chainSeed(1, c)),
    onSamples: async (samples) => {
      for (const s of samples) for (let k = 0; k < 3; k++) draws[s.chain][k].push(s.weights[k]);
    },
  });
  tf.dispose([xt, yt]);
  return { draws, exact: exactPosterior(x, y) };
}

function check(
  draws: number[][][],
  exact: { mean: number[]; cov: number[][] },
  varianceScale: number,
  relBias: number,
) {
  for (let k = 0; k < 3; k++) {
    const chains = draws.map((c) => c[k]);
    const all = chains.flat();
    const mean = all.reduce((s, v) => s + v, 0) / all.length;
    const variance = all.reduce((s, v) => s + (v - mean) ** 2, 0) / all.length;
    const ess = effectiveSampleSize(chains);
    const trueVar = exact.cov[k][k] * varianceScale;
    const sd = Math.sqrt(trueVar);
    expect(ess, `ESS of parameter ${k}`).toBeGreaterThan(200);
    expect(Math.abs(mean - exact.mean[k]), `mean of parameter ${k}`).toBeLessThan(4 * (sd / Math.sqrt(ess)));
    // sd of a variance estimate ≈ var·√(2/ESS)
    expect(Math.abs(variance / trueVar - 1), `variance of parameter ${k}`).toBeLessThan(
      4 * Math.sqrt(2 / ess) + relBias,
    );
  }
  // the correlation of w0 and w1
  const a = draws.flatMap((c) => c[0]);
  const b = draws.flatMap((c) => c[1]);
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  const rho = exact.cov[0][1] / Math.sqrt(exact.cov[0][0] * exact.cov[1][1]);
  expect(Math.abs(sab / Math.sqrt(saa * sbb) - rho)).toBeLessThan(0.08);
}

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
});

describe('SG-MCMC recovers the exact Bayesian linear regression posterior', () => {
  // The largest posterior precision here is ≈ α + τ·λ_max(X̃ᵀX̃) ≈ 300, so η = 1e-3 gives an Euler
  // bias in the variance of about η·λ/4 ≈ 7.5% at most (less in the other directions).
  it('SGLD (full batch, η = 1e-3)', async () => {
    const { draws, exact } = await sample({ ...base, sampler: 'sgld', stepSize: 1e-3 });
    check(draws, exact, 1, 0.08);
  });

  it('SGLD at temperature T = 2 doubles the posterior variance', async () => {
    const { draws, exact } = await sample({ ...base, sampler: 'sgld', stepSize: 1e-3, temperature: 2 });
    check(draws, exact, 2, 0.08);
  });

  it('pSGLD (full batch)', async () => {
    const { draws, exact } = await sample({ ...base, sampler: 'psgld', stepSize: 2e-4 });
    check(draws, exact, 1, 0.1);
  });

  it('SGHMC (full batch, friction 0.1)', async () => {
    const { draws, exact } = await sample({ ...base, sampler: 'sghmc', stepSize: 1e-4, thin: 2 });
    check(draws, exact, 1, 0.1);
  });
});
