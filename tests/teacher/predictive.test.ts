import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { Rng } from '../../src/core/rng.js';
import { BUILTIN_ARCHS } from '../../src/model/builtins.js';
import { forward, initialWeights, unflatten } from '../../src/model/forward.js';
import { analyzeSpec } from '../../src/model/spec.js';
import { ensemblePredictive } from '../../src/teacher/predictive.js';
import type { SampleBatch } from '../../src/samples/index.js';

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
});

function batches(
  a: ReturnType<typeof analyzeSpec>,
  S: number,
  perBatch: number,
  tau: (s: number) => number,
): SampleBatch[] {
  const P = a.parameterCount;
  const out: SampleBatch[] = [];
  for (let s0 = 0; s0 < S; s0 += perBatch) {
    const rows = Math.min(perBatch, S - s0);
    const weights = new Float32Array(rows * P);
    for (let r = 0; r < rows; r++) weights.set(initialWeights(a, new Rng(1000 + s0 + r)), r * P);
    out.push({
      chain: new Int32Array(rows),
      step: Int32Array.from({ length: rows }, (_, r) => s0 + r),
      logLikelihood: new Float64Array(rows),
      noisePrecision: Float64Array.from({ length: rows }, (_, r) => tau(s0 + r)),
      weights,
      rows,
      parameterCount: P,
    });
  }
  return out;
}

async function* iterate(bs: SampleBatch[]) {
  yield* bs;
}

/** One network at a time, in float64 where it matters: the reference the batched version must match. */
function naive(a: ReturnType<typeof analyzeSpec>, bs: SampleBatch[], x: tf.Tensor) {
  const outs: Float32Array[] = [];
  for (const b of bs) {
    for (let r = 0; r < b.rows; r++) {
      const w = b.weights.subarray(r * b.parameterCount, (r + 1) * b.parameterCount);
      outs.push(
        tf.tidy(
          () =>
            forward(
              a,
              unflatten(a, tf.tensor2d(w, [1, b.parameterCount])),
              tf.expandDims(x, 0),
            ).dataSync() as Float32Array,
        ),
      );
    }
  }
  return outs;
}

describe('ensemble predictive', () => {
  it('regression: the batched, chunked mixture equals a per-sample loop (mean, variance, log-density in original units)', async () => {
    const a = analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [5], outputUnits: 1 }));
    const n = 37;
    const S = 23;
    const x = tf.tensor2d(new Rng(1).fillNormal(new Float32Array(n * 5)), [n, 5]);
    const y = new Rng(2).fillNormal(new Float32Array(n));
    const tau = (s: number) => 0.5 + s / 10;
    const bs = batches(a, S, 10, tau);
    const target = { mean: 22, std: 9 };
    // a tiny activation budget forces chunks over both samples and inputs
    const pred = await ensemblePredictive(
      { analysis: a, task: 'regression', x, y, target, trackPoints: 3, activationBudget: 300 },
      iterate(bs),
    );
    if (pred.task !== 'regression') throw new Error('wrong task');
    const outs = naive(a, bs, x);
    expect(pred.samples).toBe(S);
    for (const i of [0, 17, 36]) {
      const mus = outs.map((o) => o[i]);
      const mean = mus.reduce((s, v) => s + v, 0) / S;
      const second = mus.reduce((s, v, k) => s + v * v + 1 / tau(k), 0) / S;
      expect(pred.mean[i]).toBeCloseTo(target.mean + target.std * mean, 4);
      expect(pred.variance[i]).toBeCloseTo((second - mean * mean) * target.std ** 2, 3);
      const dens =
        mus.reduce(
          (s, mu, k) => s + Math.sqrt(tau(k) / (2 * Math.PI)) * Math.exp((-tau(k) * (y[i] - mu) ** 2) / 2),
          0,
        ) / S;
      expect(pred.logDensity[i]).toBeCloseTo(Math.log(dens) - Math.log(target.std), 5);
    }
    expect(pred.tracked.length).toBe(3);
    expect(pred.tracked[1]).toHaveLength(S);
    expect(pred.tracked[1][4]).toBeCloseTo(target.mean + target.std * outs[4][1], 3);
  });

  it('heteroscedastic regression: every sample’s variance is e^(its second output) at each input', async () => {
    const a = analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [4], outputUnits: 2 }));
    const n = 19;
    const S = 13;
    const x = tf.tensor2d(new Rng(3).fillNormal(new Float32Array(n * 4)), [n, 4]);
    const y = new Rng(4).fillNormal(new Float32Array(n));
    // τ of the samples file is NaN for a heteroscedastic teacher: it must not be read.
    const bs = batches(a, S, 5, () => NaN);
    const target = { mean: -3, std: 2 };
    const pred = await ensemblePredictive(
      { analysis: a, task: 'regression', x, y, target, activationBudget: 200, keepUncertainty: true },
      iterate(bs),
    );
    if (pred.task !== 'regression') throw new Error('wrong task');
    const outs = naive(a, bs, x); // [n, 2] per sample
    for (const i of [0, 9, 18]) {
      const mus = outs.map((o) => o[2 * i]);
      const vars = outs.map((o) => Math.exp(o[2 * i + 1]));
      expect(new Set(vars.map((v) => v.toFixed(6))).size).toBeGreaterThan(1);
      const mean = mus.reduce((s, v) => s + v, 0) / S;
      const second = mus.reduce((s, v, k) => s + v * v + vars[k], 0) / S;
      expect(pred.mean[i]).toBeCloseTo(target.mean + target.std * mean, 4);
      expect(pred.variance[i]).toBeCloseTo((second - mean * mean) * target.std ** 2, 3);
      const dens =
        mus.reduce(
          (s, mu, k) => s + Math.exp(-((y[i] - mu) ** 2) / vars[k] / 2) / Math.sqrt(2 * Math.PI * vars[k]),
          0,
        ) / S;
      expect(pred.logDensity[i]).toBeCloseTo(Math.log(dens) - Math.log(target.std), 5);
      // keepUncertainty: every sample's Gaussian over the standardized target, S×n in sample order.
      for (const k of [0, 6, 12]) {
        expect(pred.components!.means[k * n + i]).toBe(outs[k][2 * i]);
        expect(pred.components!.variances[k * n + i]).toBeCloseTo(vars[k], 12);
      }
    }
    expect(pred.components!.means).toHaveLength(S * n);
    x.dispose();
  });

  it('log target: a mixture of log-normals in original units (mean, variance, density with the Jacobian)', async () => {
    const a = analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [4], outputUnits: 2 }));
    const n = 11;
    const S = 9;
    const x = tf.tensor2d(new Rng(5).fillNormal(new Float32Array(n * 4)), [n, 4]);
    const z = new Rng(6).fillNormal(new Float32Array(n));
    const bs = batches(a, S, 4, () => NaN);
    const target = { mean: 3, std: 0.4, transform: 'log' as const };
    const pred = await ensemblePredictive(
      { analysis: a, task: 'regression', x, y: z, target, trackPoints: 2, activationBudget: 200 },
      iterate(bs),
    );
    if (pred.task !== 'regression') throw new Error('wrong task');
    const outs = naive(a, bs, x);
    for (const i of [0, 5, 10]) {
      // Each sample: log y ~ N(m, v) with m = 3 + 0.4·μ, v = 0.16·e^a; y itself in original units.
      const m = outs.map((o) => 3 + 0.4 * o[2 * i]);
      const v = outs.map((o) => 0.16 * Math.exp(o[2 * i + 1]));
      const y = Math.exp(3 + 0.4 * z[i]);
      const mean = m.reduce((s, mk, k) => s + Math.exp(mk + v[k] / 2), 0) / S;
      const second = m.reduce((s, mk, k) => s + Math.exp(2 * mk + 2 * v[k]), 0) / S;
      const dens =
        m.reduce(
          (s, mk, k) =>
            s + Math.exp(-((Math.log(y) - mk) ** 2) / (2 * v[k])) / (y * Math.sqrt(2 * Math.PI * v[k])),
          0,
        ) / S;
      expect(pred.mean[i]).toBeCloseTo(mean, 4);
      expect(pred.variance[i] / (second - mean * mean)).toBeCloseTo(1, 4);
      expect(pred.logDensity[i]).toBeCloseTo(Math.log(dens), 5);
    }
    expect(pred.tracked[1][3]).toBeCloseTo(Math.exp(3 + 0.4 * outs[3][2]), 4); // the sample's median
    x.dispose();
  });

  it('classification: the mean of softmaxes equals a per-sample loop, and tensors do not leak', async () => {
    const a = analyzeSpec(BUILTIN_ARCHS.lenet5.build({ input: [12, 12, 1], outputUnits: 4 }));
    const n = 9;
    const S = 7;
    const x = tf.tensor4d(new Rng(3).fillNormal(new Float32Array(n * 144)), [n, 12, 12, 1]);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
    const bs = batches(a, S, 3, () => NaN);
    const before = tf.memory().numTensors;
    const pred = await ensemblePredictive(
      {
        analysis: a,
        task: 'classification',
        x,
        y: labels,
        trackPoints: 2,
        activationBudget: 5000,
        keepUncertainty: true,
      },
      iterate(bs),
    );
    expect(tf.memory().numTensors).toBe(before);
    if (pred.task !== 'classification') throw new Error('wrong task');
    const outs = naive(a, bs, x);
    for (let i = 0; i < n; i++) {
      // keepUncertainty: the mean over samples of each sample's entropy at the input.
      let h = 0;
      for (const o of outs) {
        const z = Array.from(o.subarray(i * 4, i * 4 + 4));
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const sum = e.reduce((t, v) => t + v, 0);
        h -= e.reduce((t, v) => t + (v / sum) * Math.log(v / sum), 0);
      }
      expect(pred.expectedEntropy![i]).toBeCloseTo(h / S, 5);
      for (let k = 0; k < 4; k++) {
        let p = 0;
        for (const o of outs) {
          const z = Array.from(o.subarray(i * 4, i * 4 + 4));
          const m = Math.max(...z);
          const e = z.map((v) => Math.exp(v - m));
          p += e[k] / e.reduce((s, v) => s + v, 0);
        }
        expect(pred.probs[i * 4 + k]).toBeCloseTo(p / S, 5);
      }
    }
    expect(pred.tracked[0]).toHaveLength(S);
  });
});
