import * as tf from '@tensorflow/tfjs';
import { abortPoller } from '../core/event-loop.js';
import { Rng } from '../core/rng.js';
import { augmentBatch, type Augmentation } from '../data/augment.js';
import { initialWeights, unflatten, flatten } from '../model/forward.js';
import { INPUT } from '../model/spec.js';
import { denseStack, denseStackPass } from './dense-gradient.js';
import {
  batchLogLikelihood,
  fixedNoisePrecision,
  logLikelihoodOutputGradient,
  priorGradient,
  samplesNoise,
  type PosteriorModel,
} from './posterior.js';
import { forward } from '../model/forward.js';
import type { DrawnSample } from './chains.js';

/**
 * MC dropout as a cheap teacher (Gal & Ghahramani 2016). Dropout acts on the hidden units: each
 * dense kernel fed by a hidden node (not the raw input) has its input rows kept with probability
 * 1 − p and scaled by 1/(1 − p); a network without hidden layers drops input features instead.
 * Training is MAP with Adam on the mean negative log posterior per example, with a fresh mask per
 * chain and step; afterwards each sample is the trained network under one mask, stored as masked
 * weights, so every later stage treats it like any other posterior sample. Chains are independent
 * dropout networks trained side by side (a deep ensemble of MC-dropout nets when C > 1).
 */
export interface DropoutSettings {
  rate: number;
  /** Adam steps. */
  steps: number;
  learningRate: number;
  batchSize: number;
  samples: number;
  /** Images: augment every training minibatch (each chain's examples from its own Rng); absent: none. */
  augment?: Augmentation;
}

/** Indices of the parameters that get row masks, with their row count. */
export function maskedKernels(model: PosteriorModel): { param: number; rows: number }[] {
  const a = model.analysis;
  const dense = a.params
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.role === 'kernel' && a.spec.edges[p.edge].op.type === 'dense');
  const hidden = dense.filter(({ p }) => a.spec.edges[p.edge].from !== INPUT);
  return (hidden.length ? hidden : dense).map(({ p, i }) => ({ param: i, rows: p.shape[0] }));
}

/** Keep-masks scaled by 1/(1−p), one per masked kernel: [C, rows, 1]. */
function drawMasks(rngs: Rng[], kernels: { rows: number }[], rate: number): Float32Array[] {
  return kernels.map(({ rows }) => {
    const m = new Float32Array(rngs.length * rows);
    rngs.forEach((r, c) => {
      for (let j = 0; j < rows; j++) m[c * rows + j] = r.uniform() < rate ? 0 : 1 / (1 - rate);
    });
    return m;
  });
}

function applyMasks(
  params: tf.Tensor[],
  kernels: { param: number; rows: number }[],
  masks: Float32Array[],
  C: number,
): tf.Tensor[] {
  const out = [...params];
  kernels.forEach((k, i) => {
    out[k.param] = tf.mul(params[k.param], tf.tensor3d(masks[i], [C, k.rows, 1]));
  });
  return out;
}

/**
 * ∇ of −(1/M)·Σ_batch log p(y|x, m ⊙ θ) with respect to every position (the network's parameters, then
 * s = log τ when τ is sampled), for the row masks m of `kernels`: the likelihood part of the dropout
 * objective. `dense` (plain dense stacks) runs the hand-written backward pass of `dense-gradient.ts`
 * through the masked kernels and applies the chain rule through the masks (∂/∂W = m ⊙ ∂/∂(m ⊙ W));
 * `tape` is tfjs's gradient of the same function (any architecture). Call inside `tf.tidy`.
 */
export function dropoutLikelihoodGradient(
  model: PosteriorModel,
  pos: tf.Tensor[],
  kernels: { param: number; rows: number }[],
  masks: Float32Array[],
  xb: tf.Tensor,
  yb: tf.Tensor,
  method: 'dense' | 'tape',
): tf.Tensor[] {
  const a = model.analysis;
  const nNet = a.params.length;
  const C = xb.shape[0];
  const M = xb.shape[1] as number;
  const stack = method === 'dense' ? denseStack(a) : null;
  if (method === 'dense' && !stack) throw new Error(`${a.spec.name} is not a plain dense stack`);
  if (stack) {
    const maskTensors = kernels.map((k, i) => tf.tensor3d(masks[i], [C, k.rows, 1]));
    const masked = pos.slice(0, nNet);
    kernels.forEach((k, i) => (masked[k.param] = tf.mul(pos[k.param], maskTensors[i])));
    const s = pos.length > nNet ? pos[nNet] : null;
    const pass = denseStackPass(stack, masked, xb);
    const { dOut, dS } = logLikelihoodOutputGradient(model, pass.outputs, yb, s);
    const gll = pass.backward(dOut);
    kernels.forEach((k, i) => (gll[k.param] = tf.mul(gll[k.param], maskTensors[i])));
    if (dS) gll.push(dS);
    return gll.map((t) => tf.div(t, -M));
  }
  const f = (...ps: tf.Tensor[]) => {
    const out = forward(a, applyMasks(ps.slice(0, nNet), kernels, masks, C), xb);
    return tf.neg(
      tf.div(tf.sum(batchLogLikelihood(model, out, yb, ps.length > nNet ? ps[nNet] : null)), M),
    ) as tf.Scalar;
  };
  return tf.grads(f)(pos);
}

export async function runMcDropout(o: {
  model: PosteriorModel;
  settings: DropoutSettings;
  x: tf.Tensor;
  y: tf.Tensor;
  seeds: number[];
  onSamples: (samples: DrawnSample[]) => Promise<void>;
  onProgress?: (step: number, total: number, info: string) => void;
  signal?: AbortSignal;
}): Promise<boolean> {
  const { model, settings: s } = o;
  const a = model.analysis;
  const C = o.seeds.length;
  const P = a.parameterCount;
  const N = o.x.shape[0];
  const M = Math.min(s.batchSize, N);
  const rngs = o.seeds.map((seed) => new Rng(seed));
  const w = new Float32Array(C * P);
  rngs.forEach((r, c) => w.set(initialWeights(a, r), c * P));
  const noise = samplesNoise(model);
  let pos = tf.tidy(() => unflatten(a, tf.tensor2d(w, [C, P])));
  if (noise) {
    const g = model.noise as { shape: number; rate: number };
    pos.push(tf.fill([C, 1], Math.log(g.shape / g.rate)));
  }
  let m1 = pos.map((p) => tf.zerosLike(p));
  let m2 = pos.map((p) => tf.zerosLike(p));
  const kernels = maskedKernels(model);
  const idx = new Int32Array(C * M);
  const exampleShape = o.x.shape.slice(1);
  const gather = () =>
    tf.tidy(() => {
      for (let c = 0; c < C; c++) for (let j = 0; j < M; j++) idx[c * M + j] = rngs[c].int(N);
      const ids = tf.tensor1d(idx, 'int32');
      return [
        tf.reshape(tf.gather(o.x, ids), [C, M, ...exampleShape]),
        tf.reshape(tf.gather(o.y, ids), [C, M]),
      ];
    });
  /** Crops and mirrors each chain's training examples, drawn from that chain's Rng after its indices. */
  const augmented = (xb: tf.Tensor): tf.Tensor => {
    if (!s.augment || s.augment === 'none') return xb;
    const values = Float32Array.from(xb.dataSync() as Float32Array);
    const d = values.length / (C * M);
    rngs.forEach((r, c) =>
      augmentBatch(values.subarray(c * M * d, (c + 1) * M * d), M, exampleShape, s.augment!, r),
    );
    xb.dispose();
    return tf.tensor(values, xb.shape);
  };
  const nNet = a.params.length;
  const stack = denseStack(a);
  const total = s.steps + s.samples;
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const aborted = abortPoller(o.signal); // so Ctrl-C is seen within a step or so
  for (let t = 1; t <= s.steps; t++) {
    if (await aborted()) {
      tf.dispose([...pos, ...m1, ...m2]);
      return false;
    }
    const masks = drawMasks(rngs, kernels, s.rate);
    const [raw, yb] = gather();
    const xb = augmented(raw);
    const next = tf.tidy(() => {
      const g = dropoutLikelihoodGradient(model, pos, kernels, masks, xb, yb, stack ? 'dense' : 'tape');
      const prior = priorGradient(model, pos);
      const grads = g.map((gi, i) => tf.sub(gi, tf.div(prior[i], N)));
      const nm1 = m1.map((m, i) => tf.add(tf.mul(m, b1), tf.mul(grads[i], 1 - b1)));
      const nm2 = m2.map((m, i) => tf.add(tf.mul(m, b2), tf.mul(tf.square(grads[i]), 1 - b2)));
      const lr = (s.learningRate * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
      const np = pos.map((p, i) => tf.sub(p, tf.mul(tf.div(nm1[i], tf.add(tf.sqrt(nm2[i]), eps)), lr)));
      return { np, nm1, nm2 };
    });
    tf.dispose([...pos, ...m1, ...m2, xb, yb]);
    pos = next.np;
    m1 = next.nm1;
    m2 = next.nm2;
    o.onProgress?.(t, total, 'training with dropout');
  }
  tf.dispose([...m1, ...m2]);
  const tau = noise ? Array.from(pos[nNet].dataSync(), (v) => Math.exp(v)) : null;
  const fixedTau = fixedNoisePrecision(model);
  for (let k = 0; k < s.samples; k++) {
    const masks = drawMasks(rngs, kernels, s.rate);
    const [xb, yb] = gather();
    const { weights, ll } = tf.tidy(() => {
      const masked = applyMasks(pos.slice(0, nNet), kernels, masks, C);
      const out = forward(a, masked, xb);
      const ll = tf.div(batchLogLikelihood(model, out, yb, noise ? pos[nNet] : null), M);
      return { weights: flatten(masked), ll };
    });
    const wv = weights.dataSync() as Float32Array;
    const lv = ll.dataSync();
    tf.dispose([weights, ll, xb, yb]);
    await o.onSamples(
      Array.from({ length: C }, (_, c) => ({
        chain: c,
        step: s.steps + k + 1,
        logLikelihood: lv[c],
        noisePrecision: tau ? tau[c] : fixedTau,
        weights: wv.slice(c * P, (c + 1) * P),
      })),
    );
    o.onProgress?.(s.steps + k + 1, total, 'drawing masks');
  }
  tf.dispose(pos);
  return true;
}
