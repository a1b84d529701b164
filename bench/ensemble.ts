import { spawn } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../src/core/rng.js';
import { resolveArch } from '../src/model/builtins.js';
import { initialWeights } from '../src/model/forward.js';
import { ensemblePredictive } from '../src/teacher/predictive.js';
import type { SampleBatch } from '../src/samples/index.js';
import { flopsPerExample } from './flops.js';
import { now } from './measure.js';
import { MNIST_SHAPE, mnistLike } from './sections.js';

/** What one ensemble child process reports. */
export interface EnsembleChildResult {
  samples: number;
  /** Samples the timed prediction used (fewer than `samples` when the time cap chose a subset). */
  timedSamples: number;
  /** Inputs the prediction ran over (always all of them). */
  inputs: number;
  requestedInputs: number;
  /** Throughput of the untimed calibration run that chose `timedSamples`, GFLOP/s. */
  calibrationGflops: number;
  parameters: number;
  /** Samples per streamed chunk (as `readSamples` chunks a samples file: about 32 MiB of weights). */
  chunkRows: number;
  /** Wall time of `ensemblePredictive`, less the time spent producing the sample chunks, ms. */
  ms: number;
  /** Time spent producing the sample chunks (copying weights), excluded from `ms`. */
  generateMs: number;
  flops: number;
  gflops: number;
  /** Resident set size just before the timed prediction, and the process's peak (maxRSS), bytes. */
  rssBefore: number;
  peakRss: number;
}

export const CHILD_MARK = 'BDK_BENCH_CHILD ';

/** Rows per chunk that `readSamples` uses by default (DEFAULT_CHUNK_BYTES = 32 MiB of weights). */
function defaultChunkRows(p: number): number {
  return Math.max(1, Math.min(1 << 16, Math.floor((32 << 20) / (4 * p))));
}

/**
 * S samples of `mlp-400-400` streamed in chunks shaped like `readSamples`' (a fresh set of arrays per
 * chunk, so the old chunk becomes garbage as on the real path); the weights are copied from a small
 * pool of He-initialized networks instead of read from a 1.9 GB samples file.
 */
async function* syntheticSamples(
  pool: Float32Array[],
  samples: number,
  chunkRows: number,
  timer: { ms: number },
): AsyncGenerator<SampleBatch> {
  const p = pool[0].length;
  for (let start = 0; start < samples; start += chunkRows) {
    const t0 = now();
    const rows = Math.min(chunkRows, samples - start);
    const weights = new Float32Array(rows * p);
    for (let r = 0; r < rows; r++) weights.set(pool[(start + r) % pool.length], r * p);
    const batch: SampleBatch = {
      chain: new Int32Array(rows),
      step: Int32Array.from({ length: rows }, (_, r) => start + r + 1),
      logLikelihood: new Float64Array(rows),
      noisePrecision: new Float64Array(rows).fill(NaN),
      weights,
      rows,
      parameterCount: p,
    };
    timer.ms += now() - t0;
    yield batch;
  }
}

/**
 * Runs in a child process (its own peak RSS): the classification ensemble predictive of `samples`
 * `mlp-400-400` samples over MNIST-shaped inputs through `ensemblePredictive`. All `inputs` inputs are
 * allocated (the test set's memory counts); an untimed calibration run (one chunk of samples over 200
 * inputs, after a warm-up) measures the throughput, and when predicting with all samples would take
 * longer than `maxSeconds`, the timed run uses the first k samples that fit (at least two streamed
 * chunks) over all the inputs, and the caller scales the time. Cutting samples, not inputs, keeps every
 * product at its real shape: with few inputs the per-product cost of packing each sample's weights
 * (XNNPACK, on wasm) is amortized over few rows, which made an input-capped run look 3–4× slower.
 */
export async function ensembleChild(
  samples: number,
  inputs: number,
  maxSeconds: number,
): Promise<EnsembleChildResult> {
  const a = await resolveArch('mlp-400-400', { input: MNIST_SHAPE, outputUnits: 10 });
  const P = a.parameterCount;
  const perInput = flopsPerExample(a).forward;
  const pool = Array.from({ length: 4 }, (_, i) => initialWeights(a, new Rng(200 + i)));
  const data = mnistLike(inputs, 31);
  const chunkRows = defaultChunkRows(P);
  const predict = async (x: tf.Tensor, s: number, timer: { ms: number }) => {
    const n = x.shape[0];
    const t0 = now();
    const pred = await ensemblePredictive(
      { analysis: a, task: 'classification', x, y: data.labels.subarray(0, n) },
      syntheticSamples(pool, s, chunkRows, timer),
    );
    const ms = now() - t0 - timer.ms;
    const first = pred.task === 'classification' ? pred.probs[0] : NaN;
    if (pred.samples !== s || !Number.isFinite(first))
      throw new Error(`ensemble predictive returned ${pred.samples} samples, first probability ${first}`);
    return ms;
  };
  try {
    const calN = Math.min(inputs, 200);
    const calX = tf.slice(data.x, [0], [calN]);
    await predict(calX, 2, { ms: 0 });
    const calS = Math.min(samples, chunkRows);
    const calMs = await predict(calX, calS, { ms: 0 });
    calX.dispose();
    const calibrationGflops = (calS * calN * perInput) / (calMs * 1e6);
    const fit = (maxSeconds * calibrationGflops * 1e9) / (inputs * perInput);
    const k = Math.min(samples, Math.max(2 * chunkRows, Math.floor(fit)));

    const rssBefore = process.memoryUsage().rss;
    const timer = { ms: 0 };
    const ms = await predict(data.x, k, timer);
    const flops = k * inputs * perInput;
    return {
      samples,
      timedSamples: k,
      inputs,
      requestedInputs: inputs,
      calibrationGflops,
      parameters: P,
      chunkRows,
      ms,
      generateMs: timer.ms,
      flops,
      gflops: flops / (ms * 1e6),
      rssBefore,
      peakRss: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    tf.dispose([data.x, data.y]);
  }
}

/** Runs `ensembleChild` in a fresh Node process (same script, `--child ensemble`) and returns its report. */
export function runEnsembleChild(
  script: string,
  backend: string,
  samples: number,
  inputs: number,
  maxSeconds: number,
): Promise<EnsembleChildResult> {
  return new Promise((resolve, reject) => {
    const args = [script, '--child', 'ensemble', '--backend', backend];
    args.push('--samples', `${samples}`, '--inputs', `${inputs}`, '--max-seconds', `${maxSeconds}`);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(CHILD_MARK));
      if (code !== 0 || !line) {
        const tail = err.trim().split('\n').slice(-3).join(' | ');
        reject(new Error(`ensemble child (S=${samples}) exited with ${code}: ${tail}`));
        return;
      }
      resolve(JSON.parse(line.slice(CHILD_MARK.length)) as EnsembleChildResult);
    });
  });
}
