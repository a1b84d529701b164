import { UserError } from '../core/errors.js';
import { REFERENCE_STRUCTURES } from '../search/objective.js';
import type { SearchConfig } from './search.js';

/**
 * The one set of structure-search defaults: `bdk search`'s option defaults and a pipeline's `search`
 * section both come from here (through `searchConfigFrom`), so the two cannot drift apart.
 */
export const SEARCH_DEFAULTS = {
  split: 0,
  space: 'mlp',
  objective: 'distill',
  relaxation: 'gumbel-softmax',
  preset: 'evidence',
  hypergradient: 'first-order',
  epochs: 50,
  batchSize: 64,
  learningRate: 3e-3,
  hyperLearningRate: 3e-2,
  temperatureStart: 1,
  temperatureEnd: 0.2,
  pruneThreshold: 0.9,
  sizePenalty: 0.05,
  klWeight: 1,
  seed: 0,
} as const;

/**
 * A search's settings as the CLI flags or a pipeline's `search` section give them: every field optional
 * (`SEARCH_DEFAULTS` fills it; an absent dataset is '', an absent teacher, row limit, widths or
 * activations null). Keys other than these are ignored, so parsed flags can be passed as they are.
 */
export interface SearchInput {
  dataset?: string;
  split?: number;
  space?: string;
  objective?: SearchConfig['objective'];
  teacher?: string | null;
  relaxation?: SearchConfig['relaxation'];
  preset?: SearchConfig['preset'];
  hypergradient?: SearchConfig['hypergradient'];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  hyperLearningRate?: number;
  temperatureStart?: number;
  temperatureEnd?: number;
  pruneThreshold?: number;
  sizePenalty?: number;
  klWeight?: number;
  lambdaLPrior?: number;
  lambdaQLik?: number;
  lambdaQPrior?: number;
  lambdaStruct?: SearchConfig['lambdaStruct'];
  ardShape?: number;
  ardRate?: number;
  ardGroups?: 'weight' | 'unit';
  singleLevel?: boolean;
  trainRows?: number | null;
  widths?: number[] | null;
  activations?: SearchConfig['activations'];
  seed?: number;
  /** Parameter budget; stored only when given. */
  maxParameters?: number | null;
  /** Latency budget, µs per example; stored only when given. */
  maxLatencyUs?: number | null;
  /** Examples per call the latency budget is measured at (1 unless given); stored only when above 1. */
  latencyBatch?: number | null;
  /** Candidate architectures to write (the searched one and its neighbours); stored only when above 1. */
  candidates?: number | null;
}

/** The weights that preset `custom` must be given: it has no values of its own. */
export const CUSTOM_LAMBDAS = ['lambdaLPrior', 'lambdaQLik', 'lambdaQPrior'] as const;

/** The keys of `CUSTOM_LAMBDAS` that `input` leaves out when its preset is `custom` (none for the others). */
export function missingCustomLambdas(
  input: Pick<SearchInput, 'preset' | (typeof CUSTOM_LAMBDAS)[number]>,
): (typeof CUSTOM_LAMBDAS)[number][] {
  return input.preset === 'custom' ? CUSTOM_LAMBDAS.filter((k) => input[k] === undefined) : [];
}

/** `needs a, b and c (the λ of docs/design.md §3)`: the tail of the error for a `custom` preset without them. */
export function needsLambdas(names: string[]): string {
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0];
  return `needs ${list} (the λ of docs/design.md §3)`;
}

/**
 * The λ keys `input` gives, in one order (the reference structures too), and no others: a config
 * without them is stored as before they existed.
 */
function lambdaFields(input: SearchInput): Partial<SearchConfig> {
  const {
    lambdaLPrior,
    lambdaQLik,
    lambdaQPrior,
    lambdaStruct: struct,
    ardShape,
    ardRate,
    singleLevel,
  } = input;
  const lambdaStruct =
    struct &&
    Object.fromEntries(
      REFERENCE_STRUCTURES.filter((r) => struct[r] !== undefined).map((r) => [r, struct[r]]),
    );
  const all = { lambdaLPrior, lambdaQLik, lambdaQPrior, lambdaStruct, ardShape, ardRate, singleLevel };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

/**
 * The search config of `bdk search` and of a pipeline's `search` section, with `SEARCH_DEFAULTS` for
 * what `input` leaves out. The keys keep one order, as stored configs are compared as JSON text. Preset
 * `custom` without its three weights is a `UserError` naming the missing keys.
 */
export function searchConfigFrom(input: SearchInput): SearchConfig {
  const d = SEARCH_DEFAULTS;
  const missing = missingCustomLambdas(input);
  if (missing.length) throw new UserError(`search preset "custom" ${needsLambdas(missing)}`);
  if (input.latencyBatch != null && input.latencyBatch > 1 && input.maxLatencyUs == null)
    throw new UserError(
      `a latency batch (${input.latencyBatch}) needs a latency budget (--max-latency-us, or search.maxLatencyUs in a pipeline)`,
    );
  return {
    dataset: input.dataset ?? '',
    split: input.split ?? d.split,
    space: input.space ?? d.space,
    objective: input.objective ?? d.objective,
    teacher: input.teacher ?? null,
    relaxation: input.relaxation ?? d.relaxation,
    preset: input.preset ?? d.preset,
    hypergradient: input.hypergradient ?? d.hypergradient,
    epochs: input.epochs ?? d.epochs,
    batchSize: input.batchSize ?? d.batchSize,
    learningRate: input.learningRate ?? d.learningRate,
    hyperLearningRate: input.hyperLearningRate ?? d.hyperLearningRate,
    temperatureStart: input.temperatureStart ?? d.temperatureStart,
    temperatureEnd: input.temperatureEnd ?? d.temperatureEnd,
    pruneThreshold: input.pruneThreshold ?? d.pruneThreshold,
    sizePenalty: input.sizePenalty ?? d.sizePenalty,
    klWeight: input.klWeight ?? d.klWeight,
    ...lambdaFields(input),
    trainRows: input.trainRows ?? null,
    widths: input.widths ?? null,
    activations: input.activations ?? null,
    seed: input.seed ?? d.seed,
    ...(input.maxParameters != null ? { maxParameters: input.maxParameters } : {}),
    ...(input.maxLatencyUs != null ? { maxLatencyUs: input.maxLatencyUs } : {}),
    ...(input.latencyBatch != null && input.latencyBatch > 1 ? { latencyBatch: input.latencyBatch } : {}),
    ...(input.ardGroups === 'unit' ? { ardGroups: 'unit' as const } : {}),
    ...(input.candidates != null && input.candidates > 1 ? { candidates: input.candidates } : {}),
  };
}
