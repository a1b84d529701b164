import * as tf from '@tensorflow/tfjs';
import { abortPoller } from '../core/event-loop.js';
import { UserError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { initialWeights, readFlatWeights, unflatten } from '../model/forward.js';
import { psgld, sghmc, sgld, type Kernel, type KernelState } from './sgmcmc.js';
import {
  disposeGradient,
  estimateGradient,
  fixedNoisePrecision,
  samplesNoise,
  type PosteriorModel,
} from './posterior.js';
import { stepSizeAt, type Schedule } from './schedule.js';
import { prefetchedDraws, type DrawLayout } from './step-draws.js';

export type SamplerName = 'sgld' | 'psgld' | 'sghmc';

export interface SamplerSettings {
  sampler: SamplerName | 'dropout';
  /** a in η_t = schedule(a, t). */
  stepSize: number;
  schedule: Schedule;
  batchSize: number;
  burnIn: number;
  thin: number;
  /** Samples to draw per chain. */
  samples: number;
  temperature: number;
  /** SGHMC friction α. */
  friction: number;
  /** pSGLD RMSProp decay ρ and damping λ. */
  rmsDecay: number;
  rmsEpsilon: number;
}

export const DEFAULT_SAMPLER = { friction: 0.05, rmsDecay: 0.99, rmsEpsilon: 1e-5 } as const;

export function makeKernel(s: SamplerSettings, dataSize: number): Kernel {
  switch (s.sampler as SamplerName) {
    case 'sgld':
      return sgld({ temperature: s.temperature });
    case 'psgld':
      return psgld({ temperature: s.temperature, dataSize, decay: s.rmsDecay, epsilon: s.rmsEpsilon });
    case 'sghmc':
      return sghmc({ temperature: s.temperature, friction: s.friction });
  }
}

/** Everything needed to continue the chains exactly where they stopped. */
export interface ChainSnapshot {
  /** Steps taken so far (burn-in included). */
  step: number;
  /** Samples recorded per chain so far. */
  samplesDrawn: number;
  rngStates: number[][];
  /** Flat network weights [C·P]. */
  weights: Float32Array;
  /** log τ per chain [C] when τ is sampled. */
  logNoisePrecision: Float32Array | null;
  /** Kernel auxiliaries (momentum / mean square), same layout as weights and log τ. */
  auxWeights: Float32Array | null;
  auxLogNoisePrecision: Float32Array | null;
}

export interface DrawnSample {
  chain: number;
  step: number;
  logLikelihood: number;
  noisePrecision: number;
  weights: Float32Array;
}

export interface TracePoint {
  step: number;
  chain: number;
  logLikelihood: number;
  stepSize: number;
}

export interface ChainRunOptions {
  model: PosteriorModel;
  settings: SamplerSettings;
  /** Training inputs [N, ...example] and targets [N] (float32 regression, int32 labels). */
  x: tf.Tensor;
  y: tf.Tensor;
  /** One seed per chain; chain c draws initialization, minibatches and noise from its own stream. */
  seeds: number[];
  /** Continue from a snapshot instead of initializing. */
  resume?: ChainSnapshot;
  /** Called with the samples of every chain drawn at one step, and a snapshot taken right after them. */
  onSamples?: (samples: DrawnSample[], snapshot: () => ChainSnapshot) => Promise<void>;
  onTrace?: (points: TracePoint[]) => void;
  /** Called with a snapshot at least every `checkpointSeconds` between samples (e.g. during a long burn-in); 0 means after every step. */
  onCheckpoint?: (snapshot: ChainSnapshot) => Promise<void>;
  checkpointSeconds?: number;
  /** Trace every k steps (and at every sample). */
  traceEvery?: number;
  onProgress?: (step: number, total: number) => void;
  /** Stop cleanly after the current step; the final snapshot is returned. */
  signal?: AbortSignal;
}

export interface ChainRunResult {
  snapshot: ChainSnapshot;
  completed: boolean;
}

/** A seed for chain `index` of a run seeded with `seed` (chains of one run never share a stream). */
export function chainSeed(seed: number, index: number): number {
  const r = new Rng(seed);
  const base = r.nextUint32();
  const mixed = new Rng(base ^ Math.imul(index + 1, 0x9e3779b9));
  return mixed.nextUint32();
}

function readFloat(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/**
 * Runs C chains as one vectorized computation: the chain axis is batched inside the matmuls, and
 * each chain c has its own random stream (initialization, then per step its minibatch indices and
 * its noise), so a chain gives the same samples whether it runs alone or with others.
 * Step t (1-based) records a sample when t > burnIn and (t − burnIn) is a multiple of thin.
 */
export async function runChains(o: ChainRunOptions): Promise<ChainRunResult> {
  const { model, settings } = o;
  const a = model.analysis;
  const C = o.seeds.length;
  const P = a.parameterCount;
  const N = o.x.shape[0];
  const M = Math.min(settings.batchSize, N);
  // M ≥ N: every row every step, the exact full-data gradient (no minibatch noise, no index draws).
  const fullBatch = settings.batchSize >= N;
  const noiseSampled = samplesNoise(model);
  const kernel = makeKernel(settings, N);
  const total = settings.burnIn + settings.samples * settings.thin;

  let rngs: Rng[];
  let state: KernelState;
  let step: number;
  let samplesDrawn: number;
  if (o.resume) {
    const r = o.resume;
    rngs = r.rngStates.map((s) => Rng.fromState(s));
    const pos = unflatten(a, tf.tensor2d(r.weights, [C, P]));
    if (noiseSampled) pos.push(tf.tensor2d(r.logNoisePrecision!, [C, 1]));
    state = kernel.init(pos);
    if (kernel.auxName && r.auxWeights) {
      tf.dispose(state.aux);
      const aux = unflatten(a, tf.tensor2d(r.auxWeights, [C, P]));
      if (noiseSampled) aux.push(tf.tensor2d(r.auxLogNoisePrecision!, [C, 1]));
      state = { position: state.position, aux };
    }
    step = r.step;
    samplesDrawn = r.samplesDrawn;
  } else {
    rngs = o.seeds.map((s) => new Rng(s));
    const w = new Float32Array(C * P);
    rngs.forEach((rng, c) => w.set(initialWeights(a, rng), c * P));
    const pos = tf.tidy(() => unflatten(a, tf.tensor2d(w, [C, P])));
    // τ starts at the mean of its Gamma prior, in standardized target units.
    if (noiseSampled) {
      const g = model.noise as { shape: number; rate: number };
      pos.push(tf.fill([C, 1], Math.log(g.shape / g.rate)));
    }
    state = kernel.init(pos);
    step = 0;
    samplesDrawn = 0;
  }

  const snapshot = (): ChainSnapshot => {
    const weights = readFlatWeights(state.position.slice(0, a.params.length));
    const logNoise = noiseSampled ? readFloat(state.position[a.params.length]).slice() : null;
    let auxWeights: Float32Array | null = null;
    let auxLog: Float32Array | null = null;
    if (state.aux.length) {
      auxWeights = readFlatWeights(state.aux.slice(0, a.params.length));
      auxLog = noiseSampled ? readFloat(state.aux[a.params.length]).slice() : null;
    }
    return {
      step,
      samplesDrawn,
      rngStates: rngStates.map((st) => st.slice()),
      weights,
      logNoisePrecision: logNoise,
      auxWeights,
      auxLogNoisePrecision: auxLog,
    };
  };

  // Noise buffer laid out parameter by parameter ([C, ...shape] blocks), so each noise tensor is made
  // from one subarray with no slicing ops; every chain still draws its own stream in parameter order.
  const blocks: { offset: number; size: number; shape: number[] }[] = a.params.map((p) => ({
    offset: C * p.offset,
    size: p.size,
    shape: p.shape,
  }));
  if (noiseSampled) blocks.push({ offset: C * P, size: 1, shape: [1] });
  const noiseLength = C * (P + (noiseSampled ? 1 : 0));
  // With the full batch every chain uses every row, in order, and no indices are drawn.
  const allRows = Int32Array.from({ length: C * M }, (_, i) => i % M);
  const layout: DrawLayout = { chains: C, batch: M, dataSize: N, fullBatch, blocks, noiseLength };
  let rngStates = rngs.map((r) => r.state());
  const draws = prefetchedDraws(rngStates, layout);
  const traceEvery = o.traceEvery ?? Math.max(1, Math.floor(total / 500));
  const exampleShape = o.x.shape.slice(1);

  const checkpointMs = (o.checkpointSeconds ?? 60) * 1000;
  let lastCheckpoint = Date.now();
  const aborted = abortPoller(o.signal); // so Ctrl-C is seen within a step or so
  try {
    while (step < total) {
      if (await aborted()) {
        const snap = snapshot();
        tf.dispose([...state.position, ...state.aux]);
        return { snapshot: snap, completed: false };
      }
      const eta = stepSizeAt(settings.stepSize, settings.schedule, step);
      // Each chain's minibatch indices, then its noise parameter by parameter into the parameter-major
      // buffer (drawn one step ahead by a worker thread when the noise is large).
      const d = draws.next();
      rngStates = d.states;
      const noiseBuf = d.noise;
      const idx = fullBatch ? allRows : d.idx;
      const { xb, yb, noise } = tf.tidy(() => {
        const ids = tf.tensor1d(idx, 'int32');
        const xb = tf.reshape(tf.gather(o.x, ids), [C, M, ...exampleShape]);
        const yb = tf.reshape(tf.gather(o.y, ids), [C, M]);
        const noise = blocks.map((b) =>
          tf.tensor(noiseBuf.subarray(b.offset, b.offset + C * b.size), [C, ...b.shape]),
        );
        return { xb, yb, noise };
      });
      const g = estimateGradient(model, state.position, xb, yb, {}, kernel.needsPrior);
      const next = kernel.step(state, g.grad, eta, noise);
      tf.dispose([...state.position, ...state.aux, xb, yb, ...noise]);
      state = next;
      step++;
      const isSample = step > settings.burnIn && (step - settings.burnIn) % settings.thin === 0;
      if (isSample || step % traceEvery === 0) {
        const ll = readFloat(g.logLikelihood);
        o.onTrace?.(Array.from(ll, (v, c) => ({ step, chain: c, logLikelihood: v, stepSize: eta })));
        if (isSample) {
          samplesDrawn++;
          const w = readFlatWeights(state.position.slice(0, a.params.length));
          const tau = noiseSampled ? readFloat(state.position[a.params.length]) : null;
          const badWeight = w.findIndex((v) => !Number.isFinite(v));
          const badTau = tau ? tau.findIndex((s) => !Number.isFinite(Math.exp(s))) : -1;
          const badLl = ll.findIndex((v) => !Number.isFinite(v));
          if (badLl >= 0 && badWeight < 0 && badTau < 0)
            throw new UserError(
              `chain ${badLl} diverged before step ${step} (its log-likelihood is ${ll[badLl]}); use a smaller --step-size`,
            );
          if (badWeight >= 0 || badTau >= 0)
            throw new UserError(
              `chain ${badWeight >= 0 ? Math.floor(badWeight / P) : badTau} diverged before step ${step} (its ${badWeight >= 0 ? 'weights are' : 'noise precision τ is'} no longer finite); use a smaller --step-size`,
            );
          const fixedTau = fixedNoisePrecision(model);
          const samples: DrawnSample[] = Array.from({ length: C }, (_, c) => ({
            chain: c,
            step,
            logLikelihood: ll[c],
            noisePrecision: tau ? Math.exp(tau[c]) : fixedTau,
            weights: w.slice(c * P, (c + 1) * P),
          }));
          if (o.onSamples) await o.onSamples(samples, snapshot);
        }
      }
      disposeGradient(g);
      if (isSample) lastCheckpoint = Date.now();
      else if (o.onCheckpoint && Date.now() - lastCheckpoint >= checkpointMs) {
        await o.onCheckpoint(snapshot());
        lastCheckpoint = Date.now();
      }
      o.onProgress?.(step, total);
    }
  } finally {
    draws.close();
  }
  const final = snapshot();
  tf.dispose([...state.position, ...state.aux]);
  return { snapshot: final, completed: true };
}
