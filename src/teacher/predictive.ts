import * as tf from '@tensorflow/tfjs';
import { MixtureAccumulator } from '../eval/metrics.js';
import { forward, unflatten } from '../model/forward.js';
import type { Analysis } from '../model/spec.js';
import { hasVarianceOutput } from './posterior.js';
import {
  originalLocation,
  originalLogDensity,
  originalMoments,
  type TargetScaling,
} from '../data/target-transform.js';
import type { SampleBatch } from '../samples/index.js';

/**
 * Ensemble predictive p(y|x,D) ≈ 1/S Σ_s p(y|x,θˢ), evaluated for many samples at once: each chunk of
 * samples is one vectorized forward pass (samples on the chain axis, inputs broadcast), so there is
 * no per-sample loop, and chunks over samples and inputs keep memory bounded for S in the thousands.
 * Classification: the mean of the samples' softmaxes. Regression: the Gaussian mixture
 * 1/S Σ_s N(μ_s(x), σ_s²(x)), its mean, variance and log-density (by log-sum-exp), reported in the
 * target's original units; σ_s² = τ_s⁻¹, or e^(a_s(x)) for a heteroscedastic network (two outputs,
 * mean and log-variance). For a log target the mixture is one of log-normals: its mean and variance
 * are the average of the samples' log-normal moments (law of total variance), its log-density the
 * Gaussian mixture's at log y less log y.
 */
export interface PredictiveInput {
  analysis: Analysis;
  task: 'regression' | 'classification';
  /** Inputs [n, ...example], normalized as in training. */
  x: tf.Tensor;
  /** Regression: standardized targets; classification: labels. */
  y: Float32Array | Int32Array;
  /** Regression: the target standardization (and transform), to report in original units. */
  target?: TargetScaling | null;
  /** Keep every sample's prediction at the first `trackPoints` inputs (for convergence diagnostics). */
  trackPoints?: number;
  /**
   * Also keep what the uncertainty report needs: regression, every sample's Gaussian at every input
   * (`components`, S·n values twice); classification, each input's mean entropy over samples.
   */
  keepUncertainty?: boolean;
  /** Upper bound on the activations of one forward pass, in float32 values (default 16M = 64 MiB). */
  activationBudget?: number;
}

export interface RegressionPredictive {
  task: 'regression';
  samples: number;
  /** Predictive mean and variance per input, original units. */
  mean: Float64Array;
  variance: Float64Array;
  /** log p(y_i|x_i,D) per input, original units. */
  logDensity: Float64Array;
  /**
   * Per tracked point, the mean μ_s(x_i) of each sample in original units (for a log target the
   * sample's median e^μ), in sample order: tracked[i][s].
   */
  tracked: number[][];
  /**
   * With `keepUncertainty`: each sample's mean and variance of the standardized target per input,
   * S×n row-major (sample s, input i at s·n + i).
   */
  components?: { means: Float64Array; variances: Float64Array };
}

export interface ClassificationPredictive {
  task: 'classification';
  samples: number;
  /** n × K mean probabilities. */
  probs: Float64Array;
  classes: number;
  /** Per tracked point, each sample's probability of the true class. */
  tracked: number[][];
  /** With `keepUncertainty`: per input, the mean over samples of the entropy of their probabilities (nats). */
  expectedEntropy?: Float64Array;
}

export type Predictive = RegressionPredictive | ClassificationPredictive;

function widest(a: Analysis): number {
  let w = a.spec.input.reduce((p, v) => p * v, 1);
  for (const s of a.edgeOutputShapes)
    w = Math.max(
      w,
      s.reduce((p, v) => p * v, 1),
    );
  return w;
}

export async function ensemblePredictive(
  input: PredictiveInput,
  batches: AsyncIterable<SampleBatch>,
): Promise<Predictive> {
  const { analysis: a, x } = input;
  const n = x.shape[0];
  const units = a.outputShape[0];
  const budget = input.activationBudget ?? 16 * 2 ** 20;
  const width = widest(a);
  const inputChunk = Math.max(1, Math.min(n, Math.floor(budget / width)));
  const sampleChunk = Math.max(1, Math.floor(budget / (width * inputChunk)));
  const track = Math.min(input.trackPoints ?? 0, n);
  const tracked: number[][] = Array.from({ length: track }, () => []);
  const regression = input.task === 'regression';
  const heteroscedastic = hasVarianceOutput(a, input.task);
  const acc = regression ? new MixtureAccumulator(n, input.y) : null;
  const t: TargetScaling = input.target ?? { mean: 0, std: 1 };
  // A log target's mixture moments in original units: Σ_s E_s[y] and Σ_s E_s[y²] per input.
  const logTarget = regression && t.transform === 'log';
  const rawSum = logTarget ? new Float64Array(n) : null;
  const rawSq = logTarget ? new Float64Array(n) : null;
  const probSum = regression ? null : new Float64Array(n * units);
  const labels = regression ? null : tf.tensor1d(input.y as Int32Array, 'int32');
  const keep = input.keepUncertainty === true;
  const kept: { means: Float64Array; variances: Float64Array }[] = [];
  const entropySum = keep && !regression ? new Float64Array(n) : null;
  let samples = 0;

  for await (const batch of batches) {
    for (let start = 0; start < batch.rows; start += sampleChunk) {
      const s = Math.min(sampleChunk, batch.rows - start);
      const w = batch.weights.subarray(start * batch.parameterCount, (start + s) * batch.parameterCount);
      const params = tf.tidy(() => unflatten(a, tf.tensor2d(w, [s, batch.parameterCount])));
      const means = regression ? new Float64Array(s * n) : null;
      const variances = regression ? new Float64Array(s * n) : null;
      for (let i0 = 0; i0 < n; i0 += inputChunk) {
        const b = Math.min(inputChunk, n - i0);
        const out = tf.tidy(() => {
          const xb = tf.expandDims(tf.slice(x, [i0], [b]), 0);
          return forward(a, params, xb);
        });
        if (regression) {
          const o = (await out.data()) as Float32Array; // [s, b, units]
          for (let j = 0; j < s; j++)
            for (let i = 0; i < b; i++) {
              means![j * n + i0 + i] = o[(j * b + i) * units];
              if (heteroscedastic) variances![j * n + i0 + i] = Math.exp(o[(j * b + i) * units + 1]);
            }
        } else {
          const [sum, truthProbs, entropy] = tf.tidy(() => {
            const p = tf.softmax(out);
            const onTrue =
              track > i0 ? tf.sum(tf.mul(p, tf.oneHot(tf.slice(labels!, [i0], [b]), units)), -1) : null;
            // Σ_s H[p_s] per input, with log p from logSoftmax (finite where p underflows to 0).
            const h = entropySum ? tf.neg(tf.sum(tf.mul(p, tf.logSoftmax(out)), [0, 2])) : null;
            return [tf.sum(p, 0), onTrue, h];
          });
          const sv = (await sum.data()) as Float32Array;
          for (let k = 0; k < b * units; k++) probSum![i0 * units + k] += sv[k];
          if (entropy) {
            const hv = (await entropy.data()) as Float32Array;
            for (let i = 0; i < b; i++) entropySum![i0 + i] += hv[i];
          }
          if (truthProbs) {
            const tv = (await truthProbs.data()) as Float32Array;
            for (let i = 0; i < Math.min(b, track - i0); i++)
              for (let j = 0; j < s; j++) tracked[i0 + i].push(tv[j * b + i]);
          }
          tf.dispose([sum, truthProbs, entropy]);
        }
        out.dispose();
      }
      tf.dispose(params);
      if (regression) {
        if (!heteroscedastic)
          for (let j = 0; j < s; j++)
            variances!.fill(1 / batch.noisePrecision[start + j], j * n, (j + 1) * n);
        acc!.add(means!, variances!, s);
        if (keep) kept.push({ means: means!, variances: variances! });
        if (logTarget)
          for (let k = 0; k < s * n; k++) {
            const o = originalMoments(t, means![k], variances![k]);
            rawSum![k % n] += o.mean;
            rawSq![k % n] += o.variance + o.mean * o.mean;
          }
        for (let i = 0; i < track; i++) for (let j = 0; j < s; j++) tracked[i].push(means![j * n + i]);
      }
      samples += s;
    }
  }
  labels?.dispose();
  if (samples === 0) throw new Error('ensemblePredictive: no samples');
  if (!regression) {
    const probs = probSum!.map((v) => v / samples);
    return {
      task: 'classification',
      samples,
      probs,
      classes: units,
      tracked,
      ...(entropySum ? { expectedEntropy: entropySum.map((v) => v / samples) } : {}),
    };
  }
  const r = acc!.result();
  let mean: Float64Array;
  let variance: Float64Array;
  if (logTarget) {
    mean = rawSum!.map((v) => v / samples);
    variance = rawSq!.map((v, i) => Math.max(0, v / samples - mean[i] * mean[i]));
  } else {
    mean = r.mean.map((v) => t.mean + t.std * v);
    variance = r.variance.map((v) => v * t.std * t.std);
  }
  const logDensity = r.logDensity!.map((v, i) => originalLogDensity(t, input.y[i], v));
  const trackedOrig = tracked.map((row) => row.map((v) => originalLocation(t, v)));
  return {
    task: 'regression',
    samples,
    mean,
    variance,
    logDensity,
    tracked: trackedOrig,
    ...(keep ? { components: concatComponents(kept, samples * n) } : {}),
  };
}

/** The kept chunks of samples' Gaussians, one after the other (each chunk is s×n row-major). */
function concatComponents(
  chunks: { means: Float64Array; variances: Float64Array }[],
  total: number,
): { means: Float64Array; variances: Float64Array } {
  if (chunks.length === 1) return chunks[0];
  const means = new Float64Array(total);
  const variances = new Float64Array(total);
  let at = 0;
  for (const c of chunks) {
    means.set(c.means, at);
    variances.set(c.variances, at);
    at += c.means.length;
  }
  return { means, variances };
}
