/**
 * The random draws of one SG-MCMC step, for every chain: minibatch indices, then the injected noise,
 * each chain from its own stream. Drawing the noise is a large part of a step for a big network (the
 * 478 410 normals of an `mlp-400-400` step take about 3 ms in JavaScript, a quarter of the step), and
 * none of it depends on the step's computation, so a worker thread can draw step t + 1 while the
 * main thread computes step t ({@link prefetchedDraws}). The worker runs the same code on the same
 * streams, so the samples are identical either way; only the wall time changes, and only where a
 * second core is free.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Rng } from '../core/rng.js';

export interface DrawLayout {
  chains: number;
  /** Minibatch size M and data size N; with `fullBatch` no indices are drawn. */
  batch: number;
  dataSize: number;
  fullBatch: boolean;
  /** Noise blocks in the parameter-major buffer: chain c's draws of block b go to offset + c·size. */
  blocks: { offset: number; size: number }[];
  noiseLength: number;
}

export interface StepDraws {
  /** [C·M] minibatch row indices, chain-major. */
  idx: Int32Array;
  /** [noiseLength] standard normals, parameter-major. */
  noise: Float32Array;
  /** Each chain's generator state after these draws (what a snapshot saves). */
  states: number[][];
}

/** Draws one step for every chain into idx and noise, advancing the generators. */
export function drawStep(rngs: Rng[], layout: DrawLayout, idx: Int32Array, noise: Float32Array): void {
  const { batch: M, dataSize: N } = layout;
  rngs.forEach((r, c) => {
    if (!layout.fullBatch) for (let j = 0; j < M; j++) idx[c * M + j] = r.int(N);
    for (const b of layout.blocks)
      r.fillStandardNormal32(noise.subarray(b.offset + c * b.size, b.offset + (c + 1) * b.size));
  });
}

export interface DrawSource {
  /** The next step's draws; valid until the next call. */
  next(): StepDraws;
  close(): void;
  /** Whether a worker thread draws ahead. */
  readonly prefetching: boolean;
}

/** Draws in this thread, on demand. */
export function inlineDraws(states: number[][], layout: DrawLayout): DrawSource {
  const rngs = states.map((s) => Rng.fromState(s));
  const idx = new Int32Array(layout.chains * layout.batch);
  const noise = new Float32Array(layout.noiseLength);
  return {
    prefetching: false,
    next() {
      drawStep(rngs, layout, idx, noise);
      return { idx, noise, states: rngs.map((r) => r.state()) };
    },
    close() {},
  };
}

/**
 * Fewer normals per step than this are drawn inline: handing a step over from the worker costs about
 * 45 µs, about what drawing 8 000 normals costs (measured with `npm run bench`: 8 `mlp-50` chains,
 * 6 000 normals a step, ran at the same speed either way; 32 chains, 24 000, ran 1.3× faster).
 */
const PREFETCH_MIN_NORMALS = 1 << 14;

/** Slot flags in the shared control array: the worker fills EMPTY slots, the main thread takes FULL ones. */
export const EMPTY = 0;
export const FULL = 1;
/** Control words: [flag slot 0, flag slot 1, stop]. */
const CONTROL_WORDS = 3;

/** Bytes of one slot: indices, noise, then each chain's 5 state numbers as float64. */
function slotBytes(layout: DrawLayout): { idx: number; noise: number; states: number; total: number } {
  const idx = 4 * layout.chains * layout.batch;
  const noise = 4 * layout.noiseLength;
  const states = 8 * 5 * layout.chains;
  const pad = (n: number) => Math.ceil(n / 8) * 8;
  return { idx: pad(idx), noise: pad(noise), states, total: pad(idx) + pad(noise) + states };
}

export function slotViews(buffer: SharedArrayBuffer, layout: DrawLayout, slot: number) {
  const b = slotBytes(layout);
  const base = slot * b.total;
  return {
    idx: new Int32Array(buffer, base, layout.chains * layout.batch),
    noise: new Float32Array(buffer, base + b.idx, layout.noiseLength),
    states: new Float64Array(buffer, base + b.idx + b.noise, 5 * layout.chains),
  };
}

export interface WorkerData {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  layout: DrawLayout;
  states: number[][];
}

const WORKER_FILE = new URL('./step-draws-worker.js', import.meta.url);

/**
 * Draws one step ahead in a worker thread, into two shared slots used in turn. Falls back to
 * {@link inlineDraws} when the step has few normals (below {@link PREFETCH_MIN_NORMALS}, unless
 * `force`), when `BDK_DRAW_WORKER=0`, or when the compiled worker is not there (running from the
 * TypeScript sources).
 */
export function prefetchedDraws(
  states: number[][],
  layout: DrawLayout,
  opts: { force?: boolean; workerFile?: URL } = {},
): DrawSource {
  const file = opts.workerFile ?? WORKER_FILE;
  const wanted =
    process.env.BDK_DRAW_WORKER !== '0' &&
    (opts.force || process.env.BDK_DRAW_WORKER === '1' || layout.noiseLength >= PREFETCH_MIN_NORMALS);
  if (!wanted || !existsSync(fileURLToPath(file))) return inlineDraws(states, layout);
  const control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
  const slots = new SharedArrayBuffer(2 * slotBytes(layout).total);
  const data: WorkerData = { control: control.buffer as SharedArrayBuffer, slots, layout, states };
  let worker: Worker;
  try {
    worker = new Worker(file, { workerData: data });
  } catch {
    return inlineDraws(states, layout); // e.g. no thread can be started
  }
  worker.unref();
  let failure: Error | null = null;
  worker.on('error', (e) => {
    failure = e;
  });
  let slot = 0;
  let held = -1;
  const release = () => {
    if (held < 0) return;
    Atomics.store(control, held, EMPTY);
    Atomics.notify(control, held);
    held = -1;
  };
  return {
    prefetching: true,
    next() {
      release();
      // Wait for the worker; a worker that died is seen within a second (its error arrives as an
      // event, which a blocked thread cannot receive, so the worker also marks the stop word).
      while (Atomics.load(control, slot) !== FULL) {
        Atomics.wait(control, slot, EMPTY, 1000);
        if (Atomics.load(control, 2) === 2 || failure)
          throw new Error(`the noise worker failed${failure ? `: ${(failure as Error).message}` : ''}`);
      }
      const v = slotViews(slots, layout, slot);
      const st: number[][] = [];
      for (let c = 0; c < layout.chains; c++) st.push(Array.from(v.states.subarray(5 * c, 5 * c + 5)));
      held = slot;
      slot ^= 1;
      return { idx: v.idx, noise: v.noise, states: st };
    },
    close() {
      Atomics.store(control, 2, 1);
      Atomics.notify(control, 0);
      Atomics.notify(control, 1);
      void worker.terminate();
    },
  };
}
