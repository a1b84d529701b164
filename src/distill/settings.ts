import type { LogLine } from '../core/log-line.js';
import type { SavedOptimizerSlot } from '../core/optimizer-state.js';
import type { StudentHead } from './heads.js';
import type { KlDirection } from './losses.js';

/**
 * What the distillation training loops (offline `trainOffline`, online `trainOnline`) need: the
 * optimization and the loss, without the run folder (teacher run, student architecture, D′ files).
 * `bdk distill` builds it from its stored `DistillConfig`.
 */
export interface DistillSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /**
   * `cosine`: the learning rate falls from `learningRate` to 0 over the run, ½(1 + cos(π·t/T)) at step t
   * of T (Loshchilov & Hutter 2017); absent means constant.
   */
  learningRateSchedule?: 'cosine';
  /**
   * Softmax temperature T of the classification KL (scaled by T²); with the `dirichlet` head the
   * starting temperature of the annealing (`annealedTemperature`).
   */
  temperature: number;
  /** The student's head; absent: the task's default (`softmax` or `gaussian`). */
  studentHead?: StudentHead;
  klDirection: KlDirection;
  /** Standard deviation of the Gaussian perturbation of the (standardized) training inputs, D′ = {x + ε}. */
  inputNoise: number;
  /** Offline: this many points drawn uniformly from the training inputs' bounding box, fresh each epoch. */
  boxSamples?: number;
  /** Offline, images: `crop-flip` crops and mirrors each minibatch (src/data/augment.ts); absent: none. */
  augment?: 'crop-flip';
  /** Offline: teacher samples drawn per minibatch (BDK uses one). */
  samplesPerBatch: number;
  /** Seed of the loop's RNG (student initialization, minibatches, sample picks, input noise). */
  seed: number;
}

/** How a training loop reports to its caller (a stage's context fits). */
export interface DistillHooks {
  /** Stop cleanly (the state of the last finished epoch is kept) when aborted. */
  signal?: AbortSignal;
  log?: LogLine;
  onProgress?: (step: number, total: number, info: string) => void;
}

/** A student's training state at an epoch boundary: enough to continue the run exactly. */
export interface StudentState {
  /** Epochs finished. */
  epoch: number;
  /** The loop's RNG state (`Rng.state()`). */
  rng: number[];
  /** The student's flat float32 weights, in its spec's parameter layout. */
  weights: Float32Array;
  /** Adam's iteration count and moments. */
  optimizer: SavedOptimizerSlot[];
}

/**
 * Where a training loop keeps its state (the stage writes run-folder files): `load` gives the state to
 * resume from (null: start afresh), `save` stores a state with the loss-trace CSV lines finished since
 * the last save (`epoch,mean loss\n` each).
 */
export interface Checkpoints<S extends StudentState> {
  load: () => Promise<S | null>;
  save: (state: S, trace: string) => Promise<void>;
}
