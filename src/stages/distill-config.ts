import { UserError } from '../core/errors.js';
import { checkStudentHead, type StudentHead } from '../distill/heads.js';
import type { Augmentation } from '../data/augment.js';

/** Settings of a distillation run (`bdk distill`), stored as `distill-config.json`. */
export interface DistillConfig {
  teacher: string;
  /** Student architecture: a built-in name or a spec file (regression students get 2 outputs: mean, log-variance). */
  arch: string;
  /**
   * Warm start (docs/design.md §3.10): a float32 file of the student's initial weights in its spec's
   * parameter layout (a search run's `arch-weights.bin`); absent means a seeded random initialization.
   */
  initialWeights?: string;
  /**
   * What the student's outputs are (docs/design.md §2.6, §2.7): `dirichlet` (EnD²) or `two-variance`
   * keep the ensemble's epistemic part; absent means the task's default head.
   */
  studentHead?: StudentHead;
  /** The KL's softmax temperature; with the `dirichlet` head, the start of its annealing to 1. */
  temperature: number;
  klDirection: 'forward' | 'reverse';
  /** Standard deviation of the Gaussian perturbation of the (standardized) training inputs, D′ = {x + ε}. */
  inputNoise: number;
  /** `online`: run the teacher's chains again and take one student step after each teacher step, storing no sample (absent = offline). */
  mode?: 'online';
  /** D′ also holds the inputs of this CSV/Arrow file (feature columns by name; labels, if any, unused). */
  unlabeledInputs?: string;
  /** D′ also holds this many points drawn uniformly from the training inputs' bounding box, fresh each epoch (tabular data). */
  boxSamples?: number;
  /** Images: `crop-flip` augments every minibatch of D′ before the teacher and the student see it; absent: none. */
  augment?: 'crop-flip';
  /** Teacher samples drawn per minibatch (BDK uses one). */
  samplesPerBatch: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /**
   * `cosine`: the learning rate falls from `learningRate` to 0 over the run, ½(1 + cos(π·t/T)) at step t
   * of T (Loshchilov & Hutter 2017); absent means constant.
   */
  learningRateSchedule?: 'cosine';
  seed: number;
}

/** The `learningRateSchedule` field of a config, left out when constant (configs from before it compare equal). */
export const learningRateScheduleField = (
  schedule: 'constant' | 'cosine' | undefined,
): { learningRateSchedule?: 'cosine' } => (schedule === 'cosine' ? { learningRateSchedule: 'cosine' } : {});

/** The `dirichlet` head's starting temperature when none is given (annealed to 1, docs/design.md §2.6). */
export const DIRICHLET_START_TEMPERATURE = 2.5;

/**
 * The one set of distillation defaults: `bdk distill`'s option defaults and a pipeline's `distillation`
 * section both come from here (through `distillConfigFrom`), so the two cannot drift apart.
 */
export const DISTILL_DEFAULTS = {
  arch: 'mlp-50',
  temperature: 1,
  klDirection: 'forward',
  inputNoise: 0,
  mode: 'offline',
  boxSamples: 0,
  samplesPerBatch: 1,
  epochs: 50,
  batchSize: 32,
  learningRate: 1e-3,
  learningRateSchedule: 'constant',
  seed: 0,
} as const;

/**
 * A distillation's settings as the CLI flags or a pipeline's `distillation` section give them: the
 * teacher run, and every other field optional (`DISTILL_DEFAULTS` fills it), in its user-facing form
 * (`mode: 'offline'`, `learningRateSchedule: 'constant'`, `boxSamples: 0`). `unlabeledInputs` is a
 * path already resolved by the caller.
 */
export interface DistillInput {
  teacher: string;
  arch?: string;
  initialWeights?: string;
  studentHead?: StudentHead;
  /** Absent: 1, or DIRICHLET_START_TEMPERATURE with the `dirichlet` head. */
  temperature?: number;
  klDirection?: DistillConfig['klDirection'];
  inputNoise?: number;
  mode?: 'offline' | 'online';
  unlabeledInputs?: string;
  boxSamples?: number;
  augment?: Augmentation;
  samplesPerBatch?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  learningRateSchedule?: 'constant' | 'cosine';
  seed?: number;
}

/**
 * The distillation config of `bdk distill` and of a pipeline's `distillation` section, with
 * `DISTILL_DEFAULTS` for what `input` leaves out. Settings at their defaults that older configs lack
 * (offline mode, no extra inputs, a constant learning rate) are left out, and the keys keep one order,
 * as stored configs are compared as JSON text.
 */
export function distillConfigFrom(input: DistillInput): DistillConfig {
  const d = DISTILL_DEFAULTS;
  const boxSamples = input.boxSamples ?? d.boxSamples;
  return {
    teacher: input.teacher,
    arch: input.arch ?? d.arch,
    ...(input.initialWeights ? { initialWeights: input.initialWeights } : {}),
    ...(input.studentHead ? { studentHead: input.studentHead } : {}),
    temperature:
      input.temperature ?? (input.studentHead === 'dirichlet' ? DIRICHLET_START_TEMPERATURE : d.temperature),
    klDirection: input.klDirection ?? d.klDirection,
    inputNoise: input.inputNoise ?? d.inputNoise,
    samplesPerBatch: input.samplesPerBatch ?? d.samplesPerBatch,
    ...((input.mode ?? d.mode) === 'online' ? { mode: 'online' as const } : {}),
    ...(input.unlabeledInputs ? { unlabeledInputs: input.unlabeledInputs } : {}),
    ...(boxSamples ? { boxSamples } : {}),
    ...(input.augment === 'crop-flip' ? { augment: 'crop-flip' as const } : {}),
    epochs: input.epochs ?? d.epochs,
    batchSize: input.batchSize ?? d.batchSize,
    learningRate: input.learningRate ?? d.learningRate,
    ...learningRateScheduleField(input.learningRateSchedule ?? d.learningRateSchedule),
    seed: input.seed ?? d.seed,
  };
}

/**
 * Settings that only a classification distillation reads are errors on a regression teacher (the
 * student matches the ensemble's Gaussian, with no softmax temperature or KL direction to set), and a
 * student head must be one of the task's; the `dirichlet` head has no KL direction.
 */
export function checkDistillTask(config: DistillConfig, task: 'regression' | 'classification'): void {
  checkStudentHead(config.studentHead, task, config.teacher);
  if (config.studentHead === 'dirichlet' && config.klDirection !== DISTILL_DEFAULTS.klDirection)
    throw new UserError(
      `--kl-direction ${config.klDirection}: --student-head dirichlet fits a Dirichlet by maximum likelihood, with no KL direction; leave it out`,
    );
  if (task !== 'regression') return;
  const off = [
    ...(config.temperature !== DISTILL_DEFAULTS.temperature ? [`--temperature ${config.temperature}`] : []),
    ...(config.klDirection !== DISTILL_DEFAULTS.klDirection ? [`--kl-direction ${config.klDirection}`] : []),
  ];
  if (off.length)
    throw new UserError(
      `${off.join(' and ')}: classification only, but teacher '${config.teacher}' is a regression run (the student matches the ensemble's Gaussian); leave ${off.length > 1 ? 'them' : 'it'} out`,
    );
}
