import { UserError } from '../core/errors.js';
import { describeDataset } from '../data/store.js';
import { getSplit, rangeSize } from '../data/splits.js';
import { DEFAULT_SAMPLER, type SamplerName } from '../teacher/chains.js';
import type { Schedule } from '../teacher/schedule.js';
import type { WeightDtype } from '../samples/index.js';
import type { Augmentation } from '../data/augment.js';
import type { TargetTransform } from '../data/target-transform.js';
import { resolveTargetTransform } from '../data/target-view.js';

/** Settings of a teacher run (`bdk sample`), stored as `config.json` in the run folder. */
export interface SampleConfig {
  dataset: string;
  split: number;
  /** Which rows the teacher learns from: `trainval` (default, the whole training part) or `train`. */
  trainOn: 'train' | 'trainval';
  /**
   * Which rows the final report scores: `test`, or `validation` for choosing hyperparameters by the
   * UCI protocol (with `trainOn: 'train'`, so the validation rows stay unseen).
   */
  evaluateOn?: 'test' | 'validation';
  arch: string;
  /** SG-MCMC kernel, or `dropout` for an MC-dropout teacher (burnIn = Adam steps, stepSize = learning rate). */
  sampler: SamplerName | 'dropout';
  /** MC dropout: the drop rate p. */
  dropoutRate: number;
  samples: number;
  burnIn: number;
  thin: number;
  stepSize: number;
  schedule: Schedule;
  batchSize: number;
  chains: number;
  seed: number;
  priorPrecision: number;
  temperature: number;
  /** Regression: fix τ (standardized units) instead of sampling it. */
  noisePrecision: number | null;
  /** Regression: Gamma(shape, rate) prior on τ when it is sampled. */
  noisePrior: { shape: number; rate: number };
  /**
   * Regression: the network has two outputs, mean and log-variance, so the noise depends on the input
   * (τ is then neither sampled nor fixed). Absent means false.
   */
  heteroscedastic?: boolean;
  /**
   * Heteroscedastic regression: prior precision of the output weights into the log-variance (absent:
   * `priorPrecision`); larger values pull the model towards a single noise level.
   */
  variancePriorPrecision?: number;
  /**
   * Regression: the target transform the samples model (`log`: z = (log y − mean)/std, a log-normal
   * likelihood); absent for the identity. A teacher setting, applied when the data is loaded: every
   * stage that reads the run loads its dataset with this transform (`loadTeacherDataset`).
   */
  targetTransform?: 'log';
  friction: number;
  rmsDecay: number;
  rmsEpsilon: number;
  /**
   * How the samples file stores the weights; absent means float32. `float16` halves the file (chains
   * still run in float32; only the stored copies are rounded).
   */
  sampleDtype?: WeightDtype;
  /**
   * MC dropout on images: `crop-flip` augments every training minibatch (docs/design.md §7.3); absent
   * means none, so configs written before the option existed compare equal.
   */
  augment?: 'crop-flip';
}

/** A finished teacher run's summary, stored as `teacher.json` in the run folder. */
export interface TeacherSummary {
  run: string;
  dataset: string;
  split: number;
  arch: string;
  sampler: SamplerName | 'dropout';
  parameterCount: number;
  samples: number;
  chains: number;
  metrics: Record<string, number>;
  diagnostics: {
    logLikelihood: { ess: number; rhat: number };
    testPredictions: { points: number; rhatMax: number; rhatMedian: number; essMin: number };
    /** The convergence checks it failed (`eval/convergence-check.ts`); absent in runs made before them. */
    warnings?: string[];
    thresholds?: { rhat: number; ess: number };
  };
  seconds: number;
}

/**
 * The one set of teacher defaults: `bdk sample`'s option defaults and a pipeline's `teacher` section
 * both come from here (through `sampleConfigFrom`), so the two cannot drift apart. The step size has
 * no constant default (see `defaultStepSize`); `evaluateOn` is a `bdk sample` option only.
 */
export const SAMPLE_DEFAULTS = {
  dataset: 'boston',
  split: 0,
  trainOn: 'trainval',
  arch: 'mlp-50',
  sampler: 'sgld',
  dropoutRate: 0.05,
  samples: 100,
  burnIn: 1000,
  thin: 10,
  schedule: { kind: 'constant' },
  batchSize: 32,
  chains: 4,
  seed: 0,
  priorPrecision: 1,
  temperature: 1,
  noisePrior: { shape: 6, rate: 6 },
  friction: DEFAULT_SAMPLER.friction,
  rmsDecay: DEFAULT_SAMPLER.rmsDecay,
  rmsEpsilon: DEFAULT_SAMPLER.rmsEpsilon,
  sampleDtype: 'float32',
} as const;

/**
 * A teacher's settings as the CLI flags or a pipeline's `teacher` section give them: every field
 * optional (`SAMPLE_DEFAULTS` fills it), the step size absent for `defaultStepSize`, τ absent to sample
 * it, and the optional fields in their user-facing form (`heteroscedastic: false`, `sampleDtype:
 * 'float32'`). Keys other than these are ignored, so parsed flags can be passed as they are.
 */
export interface SampleInput {
  dataset?: string;
  split?: number;
  trainOn?: SampleConfig['trainOn'];
  /** Left out of the config when absent (pipelines never set it; `bdk sample` always does). */
  evaluateOn?: SampleConfig['evaluateOn'];
  arch?: string;
  sampler?: SampleConfig['sampler'];
  dropoutRate?: number;
  samples?: number;
  burnIn?: number;
  thin?: number;
  stepSize?: number;
  schedule?: Schedule;
  batchSize?: number;
  chains?: number;
  seed?: number;
  priorPrecision?: number;
  temperature?: number;
  noisePrecision?: number;
  noisePrior?: { shape: number; rate: number };
  heteroscedastic?: boolean;
  variancePriorPrecision?: number;
  friction?: number;
  rmsDecay?: number;
  rmsEpsilon?: number;
  sampleDtype?: WeightDtype;
  /** `none` (left out of the config) or `crop-flip`. */
  augment?: Augmentation;
  /**
   * Regression: `log` models log y, `none` y itself; absent, the dataset's recorded default (the
   * deprecated `bdk data prepare --target-transform`), else none. Stored resolved (`log` or absent).
   */
  targetTransform?: TargetTransform;
}

/**
 * The `sampleDtype` field of a config: float32, the format's default, is left out, so configs written
 * before the option existed still compare equal.
 */
export const sampleDtypeField = (dtype: WeightDtype | undefined): { sampleDtype?: 'float16' } =>
  dtype === 'float16' ? { sampleDtype: 'float16' } : {};

/** The `augment` field of a teacher or student config: left out for `none`. */
export const augmentField = (kind: Augmentation | undefined): { augment?: 'crop-flip' } =>
  kind === 'crop-flip' ? { augment: 'crop-flip' } : {};

/** The `variancePriorPrecision` field of a config, left out when not given (the plain prior). */
export const variancePriorField = (alpha: number | undefined): { variancePriorPrecision?: number } =>
  alpha !== undefined ? { variancePriorPrecision: alpha } : {};

/** The `targetTransform` field of a teacher config, left out for the identity. */
export const targetTransformField = (transform: TargetTransform | undefined): { targetTransform?: 'log' } =>
  transform === 'log' ? { targetTransform: 'log' } : {};

/** The `heteroscedastic` field of a config, left out when false (like `sampleDtype`). */
export const heteroscedasticField = (on: boolean | undefined): { heteroscedastic?: true } =>
  on ? { heteroscedastic: true } : {};

/**
 * The teacher config of `bdk sample` and of a pipeline's `teacher` section: `SAMPLE_DEFAULTS` for
 * what `input` leaves out, and `defaultStepSize` (which reads the dataset's split sizes from
 * `dataDir`) when it gives no step size. The keys keep one order, as stored configs are compared as
 * JSON text.
 */
export async function sampleConfigFrom(input: SampleInput, dataDir?: string): Promise<SampleConfig> {
  const d = SAMPLE_DEFAULTS;
  const config: SampleConfig = {
    dataset: input.dataset ?? d.dataset,
    split: input.split ?? d.split,
    trainOn: input.trainOn ?? d.trainOn,
    ...(input.evaluateOn !== undefined ? { evaluateOn: input.evaluateOn } : {}),
    arch: input.arch ?? d.arch,
    sampler: input.sampler ?? d.sampler,
    dropoutRate: input.dropoutRate ?? d.dropoutRate,
    samples: input.samples ?? d.samples,
    burnIn: input.burnIn ?? d.burnIn,
    thin: input.thin ?? d.thin,
    stepSize: input.stepSize ?? NaN,
    schedule: input.schedule ?? d.schedule,
    batchSize: input.batchSize ?? d.batchSize,
    chains: input.chains ?? d.chains,
    seed: input.seed ?? d.seed,
    priorPrecision: input.priorPrecision ?? d.priorPrecision,
    temperature: input.temperature ?? d.temperature,
    noisePrecision: input.noisePrecision ?? null,
    noisePrior: input.noisePrior ?? d.noisePrior,
    friction: input.friction ?? d.friction,
    rmsDecay: input.rmsDecay ?? d.rmsDecay,
    rmsEpsilon: input.rmsEpsilon ?? d.rmsEpsilon,
    ...heteroscedasticField(input.heteroscedastic),
    ...variancePriorField(input.variancePriorPrecision),
    ...sampleDtypeField(input.sampleDtype),
    ...augmentField(input.augment),
    ...targetTransformField(await teacherTargetTransform(input, dataDir)),
  };
  if (input.stepSize === undefined) config.stepSize = await defaultStepSize(config, dataDir);
  return config;
}

/**
 * The teacher's target transform: its own, else its dataset's recorded default. A dataset that cannot
 * be read has none here; the stage that loads it reports why.
 */
async function teacherTargetTransform(input: SampleInput, dataDir?: string): Promise<TargetTransform> {
  if (input.targetTransform !== undefined) return input.targetTransform;
  const described = await describeDataset(input.dataset ?? SAMPLE_DEFAULTS.dataset, dataDir).catch(
    (err: unknown) => {
      if (err instanceof UserError) return null;
      throw err;
    },
  );
  return described ? resolveTargetTransform(undefined, described.splits) : 'none';
}

/**
 * A default step size scaled to the data size N. Stability needs η·λ_max < 2 for the largest
 * curvature λ_max of N·(−log-likelihood), which grows like N; on Boston (N = 455, mlp-50) SGLD was
 * stable and mixed at 1e-5 ≈ 0.005/N and diverged at 0.5/N. SGHMC's η multiplies the gradient in
 * the momentum, so it is smaller; pSGLD's preconditioner already divides by the gradient scale.
 */
export async function defaultStepSize(config: SampleConfig, dataDir?: string): Promise<number> {
  if (config.sampler === 'dropout') return 1e-3; // Adam learning rate
  // Row counts come from the splits file; the rows themselves are not read.
  const { splits } = await describeDataset(config.dataset, dataDir);
  const part = getSplit(splits, config.split);
  const n = rangeSize(part.train) + (config.trainOn === 'trainval' ? rangeSize(part.validation) : 0);
  const scale = { sgld: 5e-3, sghmc: 1e-4, psgld: 1e-3 }[config.sampler];
  return scale / n;
}

/** Sampler settings and the samplers that read them: given to another sampler, each would do nothing. */
const SAMPLER_ONLY: Record<string, { flag: string; samplers: SampleConfig['sampler'][] }> = {
  friction: { flag: '--friction', samplers: ['sghmc'] },
  rmsDecay: { flag: '--rms-decay', samplers: ['psgld'] },
  rmsEpsilon: { flag: '--rms-epsilon', samplers: ['psgld'] },
  dropoutRate: { flag: '--dropout-rate', samplers: ['dropout'] },
  augment: { flag: '--augment', samplers: ['dropout'] },
};

/** A sampler setting given explicitly (`explicit`: config keys) to a sampler that does not read it is an error. */
export function checkSamplerSettings(config: SampleConfig, explicit: readonly string[] | undefined): void {
  if (config.augment && config.sampler !== 'dropout')
    throw new UserError(
      `--augment ${config.augment} applies to --sampler dropout only (an SG-MCMC likelihood is over the data as it is), and this run uses --sampler ${config.sampler}`,
    );
  for (const key of explicit ?? []) {
    const only = SAMPLER_ONLY[key];
    if (only && !only.samplers.includes(config.sampler))
      throw new UserError(
        `${only.flag} applies to --sampler ${only.samplers.join(' or ')} only, and this run uses --sampler ${config.sampler}; leave it out`,
      );
  }
}
