import { z } from 'zod';
import { BACKENDS } from '../backend/select.js';
import { TARGET_TRANSFORMS } from '../data/target-transform.js';
import { ACTIVATIONS } from '../model/spec.js';
import { SAMPLE_DEFAULTS } from '../stages/sample-config.js';
import { missingCustomLambdas, needsLambdas, SEARCH_DEFAULTS } from '../stages/search-config.js';
import { DISTILL_DEFAULTS } from '../stages/distill-config.js';
import { SWEEPABLE_LAMBDAS } from '../stages/front-config.js';
import { messageOf } from '../core/errors.js';
import { parseOod, parseShift } from '../eval/image-shift.js';

/**
 * A pipeline file describes a whole run: dataset and splits, teacher sampling, structure search,
 * student distillation, evaluation and export. Every object is strict: an unknown key is an error.
 * Sections are optional; a missing section skips its stage. The defaults of the teacher, search and
 * distillation sections are those of `bdk sample`, `bdk search` and `bdk distill` (the stages'
 * `*_DEFAULTS`); what the schema leaves undefined the stage's config builder fills the same way.
 */
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const positive = z.number().positive();
const fraction = z.number().gt(0).lt(1);

export const BUILTIN_DATASETS = ['boston', 'mnist', 'cifar10'] as const;

const importSource = z.strictObject({
  /** CSV or Arrow file, relative to the pipeline file. */
  file: z.string().min(1),
  target: z.string().min(1),
  task: z.enum(['regression', 'classification']),
  features: z.array(z.string().min(1)).min(1).optional(),
  classes: z.number().int().min(2).optional(),
  /** The feature columns are pixels 0..255 of images [height, width, channels] (`--image-shape`). */
  imageShape: z.tuple([positiveInt, positiveInt, positiveInt]).optional(),
  /** IDX image data: the IDX file of the labels, relative to the pipeline file (`--labels`). */
  labels: z.string().min(1).optional(),
});

const splitsSection = z.strictObject({
  seed: nonNegativeInt.default(0),
  count: positiveInt.optional(),
  testFraction: fraction.optional(),
  validationFraction: fraction.optional(),
  /** Deprecated alias of `teacher.targetTransform`: the pipeline's default for its teacher (recorded in the dataset). */
  targetTransform: z.enum(TARGET_TRANSFORMS).optional(),
  /** Images: `per-channel` z-scores each channel over the training rows; default `none` (pixels / 255). */
  standardize: z.enum(['none', 'per-channel']).optional(),
});

const datasetSection = z.strictObject({
  /** Name under datasets/: `boston`, `mnist`, or the name given to an imported file. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" and "-"'),
  /** For user data: where to import it from. Omit for the built-in datasets. */
  import: importSource.optional(),
  /** cifar10: the folder of the official binary batches, relative to the pipeline file (`--from`). */
  from: z.string().min(1).optional(),
  splits: splitsSection.optional(),
  /** Which splits the run uses: `all`, or a list of split indices. */
  use: z.union([z.literal('all'), z.array(nonNegativeInt).min(1)]).default('all'),
});

const schedule = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant') }),
  /** η_t = a·(b + t)^(−γ) with a = stepSize. */
  z.strictObject({
    kind: z.literal('polynomial'),
    b: z.number().nonnegative(),
    gamma: z.number().gt(0.5).lte(1),
  }),
  /** η multiplied by `factor` every `every` steps. */
  z.strictObject({ kind: z.literal('step'), every: positiveInt, factor: z.number().gt(0).lte(1) }),
  /** Cosine cycles of `cycle` steps from a down towards 0 (cyclical SG-MCMC). */
  z.strictObject({ kind: z.literal('cyclical'), cycle: positiveInt }),
]);

const teacherSection = z.strictObject({
  arch: z.string().min(1),
  sampler: z.enum(['sgld', 'psgld', 'sghmc', 'dropout']).default(SAMPLE_DEFAULTS.sampler),
  samples: positiveInt,
  burnIn: nonNegativeInt.default(SAMPLE_DEFAULTS.burnIn),
  thin: positiveInt.default(SAMPLE_DEFAULTS.thin),
  /** Omit for the data-scaled default of `bdk sample`. */
  stepSize: positive.optional(),
  schedule: schedule.default(SAMPLE_DEFAULTS.schedule),
  batchSize: positiveInt,
  chains: positiveInt.default(SAMPLE_DEFAULTS.chains),
  priorPrecision: positive.default(SAMPLE_DEFAULTS.priorPrecision),
  temperature: z.number().nonnegative().default(SAMPLE_DEFAULTS.temperature),
  /** Fix the regression noise precision τ instead of sampling it. */
  noisePrecision: positive.optional(),
  /** Gamma(shape, rate) prior of a sampled τ. */
  noisePrior: z.strictObject({ shape: positive, rate: positive }).default(SAMPLE_DEFAULTS.noisePrior),
  /** Regression: mean and log-variance outputs, noise that depends on the input. */
  heteroscedastic: z.boolean().optional(),
  /** Heteroscedastic: prior precision of the output weights into the log-variance (default priorPrecision). */
  variancePriorPrecision: positive.optional(),
  /** Learn from the whole training part (`trainval`) or without its validation carve-out (`train`). */
  trainOn: z.enum(['train', 'trainval']).default(SAMPLE_DEFAULTS.trainOn),
  /** SGHMC friction; pSGLD RMSProp decay ρ and damping λ. */
  friction: positive.optional(),
  rmsDecay: fraction.optional(),
  rmsEpsilon: positive.optional(),
  /** MC-dropout teacher: drop rate and training epochs. */
  dropoutRate: fraction.optional(),
  seed: nonNegativeInt.optional(),
  /** How the samples files store the weights (`bdk sample --sample-dtype`). */
  sampleDtype: z.enum(['float32', 'float16']).optional(),
  /** MC dropout on images: `crop-flip` augments every training minibatch (`bdk sample --augment`). */
  augment: z.enum(['none', 'crop-flip']).optional(),
  /** `bdk sample --strict-diagnostics`: a teacher failing a convergence check stops the pipeline. */
  strictDiagnostics: z.boolean().default(false),
  /** Regression: `log` models log y (a log-normal likelihood for positive targets), applied at load; default `none`. */
  targetTransform: z.enum(TARGET_TRANSFORMS).optional(),
});

const searchSection = z.strictObject({
  space: z.string().min(1),
  objective: z.enum(['distill', 'labels']).default(SEARCH_DEFAULTS.objective),
  relaxation: z
    .enum(['softmax', 'gumbel-softmax', 'logit-normal', 'dirichlet'])
    .default(SEARCH_DEFAULTS.relaxation),
  preset: z
    .enum(['maximum-likelihood', 'evidence', 'single-level', 'custom'])
    .default(SEARCH_DEFAULTS.preset),
  hypergradient: z.enum(['first-order', 'second-order']).default(SEARCH_DEFAULTS.hypergradient),
  epochs: positiveInt,
  batchSize: positiveInt.optional(),
  learningRate: positive.default(SEARCH_DEFAULTS.learningRate),
  hyperLearningRate: positive.default(SEARCH_DEFAULTS.hyperLearningRate),
  temperatureStart: positive.default(SEARCH_DEFAULTS.temperatureStart),
  temperatureEnd: positive.default(SEARCH_DEFAULTS.temperatureEnd),
  pruneThreshold: fraction.optional(),
  /** Nats per training example charged for the whole supernet (the expected-parameter-count penalty). */
  sizePenalty: z.number().nonnegative().default(SEARCH_DEFAULTS.sizePenalty),
  /** Search on a seeded random subset of at most this many training rows. */
  trainRows: positiveInt.optional(),
  /** β multiplying both KL terms of the preset. */
  klWeight: z.number().nonnegative().default(SEARCH_DEFAULTS.klWeight),
  /** The λ of docs/design.md §3.4, each in place of the preset's value; `custom` needs the first three. */
  lambdaLPrior: z.number().nonnegative().optional(),
  lambdaQLik: z.number().nonnegative().optional(),
  lambdaQPrior: z.number().nonnegative().optional(),
  /** λ^Q_struct per reference structure. */
  lambdaStruct: z
    .strictObject({ uniform: z.number().optional(), cheapest: z.number().optional() })
    .optional(),
  /** λ₁, λ₂ of the inverse-gamma prior of the ARD variances. */
  ardShape: positive.optional(),
  ardRate: positive.optional(),
  /** One ARD precision per weight, or per input unit of each layer (`bdk search --ard-groups`). */
  ardGroups: z.enum(['weight', 'unit']).optional(),
  singleLevel: z.boolean().optional(),
  /** Candidate hidden widths of the built-in spaces. */
  widths: z.array(positiveInt).min(1).optional(),
  /** Candidate activations of the built-in mlp space's hidden layers. */
  activations: z.array(z.enum(ACTIVATIONS)).min(1).optional(),
  seed: nonNegativeInt.optional(),
  /** Parameter budget of the searched architecture (`bdk search --max-parameters`). */
  maxParameters: positiveInt.optional(),
  /** Latency budget, µs per example on the backend (`bdk search --max-latency-us`). */
  maxLatencyUs: positive.optional(),
  /** Examples per call the latency budget is measured at, 1 unless given (`bdk search --latency-batch`). */
  latencyBatch: positiveInt.optional(),
  /**
   * Candidate architectures per search (`bdk search --candidates`): the searched one and its one-edge
   * neighbours within the budget; a front distills each and keeps the best on validation rows.
   */
  candidates: positiveInt.optional(),
  /** A front: one search, student and evaluation per budget (`bdk search --budgets`). */
  budgets: z.array(positiveInt).min(1).optional(),
  /** A front over the values of one λ (`bdk search --lambda-sweep NAME=v1,…`); with budgets, every pair. */
  lambdaSweep: z
    .strictObject({ name: z.string().min(1), values: z.array(z.number().nonnegative()).min(1) })
    .optional(),
  /** Front: hand-picked student architectures distilled the same way (`--reference-students`). */
  referenceStudents: z.array(z.string().min(1)).min(1).optional(),
});

/** Preset `custom` without its three weights, reported at the first missing key (where it goes). */
const checkedSearchSection = searchSection.superRefine((s, ctx) => {
  const missing = missingCustomLambdas(s);
  if (missing.length)
    ctx.addIssue({ code: 'custom', path: [missing[0]], message: `preset "custom" ${needsLambdas(missing)}` });
  const sweep = s.lambdaSweep?.name;
  if (
    sweep !== undefined &&
    !Object.entries(SWEEPABLE_LAMBDAS).some(([flag, key]) => sweep === flag || sweep === key)
  )
    ctx.addIssue({
      code: 'custom',
      path: ['lambdaSweep', 'name'],
      message: `cannot sweep '${sweep}' (expected one of ${Object.keys(SWEEPABLE_LAMBDAS).join(', ')})`,
    });
  if ((s.candidates ?? 1) > 1 && s.budgets === undefined && s.lambdaSweep === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['candidates'],
      message:
        'candidates above 1 need budgets or lambdaSweep (a front distills each candidate and keeps the best on validation rows)',
    });
  if (s.maxParameters !== undefined && s.budgets !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['budgets'],
      message: 'give either maxParameters or budgets, not both',
    });
});

/** The object form of a front's selection rule (docs/design.md §3.11); the string form is `bdk search --select`'s. */
const metricRule = { metric: z.string().min(1).optional(), part: z.enum(['validation', 'test']).optional() };
const selectionRule = z.union([
  z.string().min(1),
  z.discriminatedUnion('rule', [
    z.strictObject({ rule: z.literal('best'), ...metricRule }),
    z.strictObject({
      rule: z.literal('smallest-within'),
      ...metricRule,
      tolerance: z.number().nonnegative(),
      relative: z.boolean().optional(),
    }),
    z.strictObject({ rule: z.literal('member'), name: z.string().min(1) }),
  ]),
]);

const studentSection = z.strictObject({
  /** Architecture name or spec path, or `search` to take the structure search's result. */
  arch: z.string().min(1).optional(),
  /** With `arch: "search"`: start the student from the search's weights (docs/design.md §3.10); false starts from scratch. */
  warmStart: z.boolean().optional(),
  /** With a front (`search.budgets`): which searched student the pipeline takes. */
  select: selectionRule.optional(),
});

const distillationSection = z.strictObject({
  mode: z.enum(['offline', 'online']).default(DISTILL_DEFAULTS.mode),
  /** `bdk distill --student-head`: absent is the task's default head. */
  studentHead: z.enum(['softmax', 'gaussian', 'dirichlet', 'two-variance']).optional(),
  /** Absent: 1, or 2.5 (annealed to 1) with `studentHead: "dirichlet"`. */
  temperature: positive.optional(),
  klDirection: z.enum(['forward', 'reverse']).default(DISTILL_DEFAULTS.klDirection),
  inputNoise: z.number().nonnegative().default(DISTILL_DEFAULTS.inputNoise),
  epochs: positiveInt,
  batchSize: positiveInt,
  learningRate: positive,
  /** `cosine`: the learning rate falls to 0 over the run (`bdk distill --lr-schedule`). */
  learningRateSchedule: z.enum(['constant', 'cosine']).optional(),
  samplesPerBatch: positiveInt.optional(),
  /** A CSV/Arrow file of extra student inputs (relative to the pipeline file). */
  unlabeledInputs: z.string().min(1).optional(),
  /** Uniform samples from the training box added to D′ each epoch. */
  boxSamples: nonNegativeInt.optional(),
  /** Images: `crop-flip` augments every minibatch for teacher and student (`bdk distill --augment`). */
  augment: z.enum(['none', 'crop-flip']).optional(),
  seed: nonNegativeInt.optional(),
});

const evaluationSection = z.strictObject({
  /** Also train the single SGD/MAP network of the teacher's architecture as a baseline. */
  map: z.boolean().default(true),
  /** Epochs of that MAP network. */
  mapEpochs: positiveInt.default(100),
  latencyRuns: positiveInt.default(20),
  plots: z.boolean().default(true),
  /** `bdk evaluate --shift`: `rotate:ANGLES` (images) or `noise:SCALES` (tabular), checked as the flag is. */
  shift: z
    .string()
    .superRefine((v, ctx) => checkWith(() => parseShift(v), ctx))
    .optional(),
  /** `bdk evaluate --ood`: the OOD sets, `permute`, `invert`, `noise` or prepared dataset names. */
  ood: z
    .array(z.string())
    .min(1)
    .superRefine((v, ctx) => checkWith(() => parseOod(v.join(',')), ctx))
    .optional(),
});

/** A zod issue with the message of what `parse` throws, if it throws. */
function checkWith(parse: () => unknown, ctx: z.RefinementCtx): void {
  try {
    parse();
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: messageOf(e) });
  }
}

const exportSection = z.strictObject({
  quantize: z.enum(['none', 'float16', 'uint8']).default('none'),
});

export const pipelineSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" and "-"'),
    description: z.string().optional(),
    seed: nonNegativeInt.default(0),
    backend: z.enum(['auto', ...BACKENDS]).optional(),
    dataset: datasetSection,
    teacher: teacherSection.optional(),
    search: checkedSearchSection.optional(),
    student: studentSection.optional(),
    distillation: distillationSection.optional(),
    evaluation: evaluationSection.optional(),
    export: exportSection.optional(),
  })
  .superRefine((p, ctx) => {
    const own = p.teacher?.targetTransform;
    const alias = p.dataset.splits?.targetTransform;
    if (own !== undefined && alias !== undefined && own !== alias)
      ctx.addIssue({
        code: 'custom',
        path: ['teacher', 'targetTransform'],
        message: `disagrees with dataset.splits.targetTransform "${alias}" (its deprecated alias; set only teacher.targetTransform)`,
      });
  });

export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;
