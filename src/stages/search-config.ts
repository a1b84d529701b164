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
  trainRows?: number | null;
  widths?: number[] | null;
  activations?: SearchConfig['activations'];
  seed?: number;
  /** Parameter budget; stored only when given. */
  maxParameters?: number | null;
}

/**
 * The search config of `bdk search` and of a pipeline's `search` section, with `SEARCH_DEFAULTS` for
 * what `input` leaves out. The keys keep one order, as stored configs are compared as JSON text.
 */
export function searchConfigFrom(input: SearchInput): SearchConfig {
  const d = SEARCH_DEFAULTS;
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
    trainRows: input.trainRows ?? null,
    widths: input.widths ?? null,
    activations: input.activations ?? null,
    seed: input.seed ?? d.seed,
    ...(input.maxParameters != null ? { maxParameters: input.maxParameters } : {}),
  };
}
