import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { pathExists, readJsonOrNull } from '../core/json-file.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { inputShape, partArrays } from '../data/store.js';
import { gammaPlot } from '../eval/plots/search-gamma.js';
import { loadChainState, saveChainState } from '../core/chain-state.js';
import type { Activation } from '../model/spec.js';
import { resolveSpace } from '../search/space-file.js';
import { supernetLayout } from '../search/supernet.js';
import {
  presetMetaparameters,
  REFERENCE_STRUCTURES,
  type Metaparameters,
  type Preset,
  type ReferenceStructure,
} from '../search/objective.js';
import {
  runSearch,
  type SearchData,
  type SearchState,
  type SearchTracePoint,
} from '../search/train-search.js';
import { chosenCandidates, discretize, type RemovedUnits } from '../search/discretize.js';
import { expectedArchParameters } from '../search/budget-expectation.js';
import { BUDGET_DUAL_STEP, discreteParameters, repairToBudget } from '../search/budget.js';
import { checkBudgets, discreteLatencyUs, repairToBudgets } from '../search/latency-budget.js';
import type { LatencyTable } from '../search/latency-table.js';
import { resumedConfig } from './resume-check.js';
import { latencySummary, searchLatencyTable, type LatencySummary } from './search-latency.js';
import type { RelaxationKind } from '../search/relaxations.js';
import type { StageContext } from './context.js';
import type { RunFiles } from './finished-run.js';
import { lockRunForStage, prepareRunFolder } from './run-folder.js';
import { searchDataset, searchTeacher, subsample, targets } from './search-data.js';
import { SEARCH_ARCH, SEARCH_ARCH_WEIGHTS, writeCandidates } from './search-files.js';

export { SEARCH_ARCH, SEARCH_ARCH_WEIGHTS, searchedStudent } from './search-files.js';

/** Settings of a structure search (`bdk search`), stored as `search-config.json`. */
export interface SearchConfig {
  /** Dataset and split; with `--objective distill` they come from the teacher run. */
  dataset: string;
  split: number;
  space: string;
  objective: 'distill' | 'labels';
  teacher: string | null;
  relaxation: RelaxationKind;
  preset: Preset;
  hypergradient: 'first-order' | 'second-order';
  epochs: number;
  batchSize: number;
  learningRate: number;
  hyperLearningRate: number;
  temperatureStart: number;
  temperatureEnd: number;
  pruneThreshold: number;
  /** λ_size as nats per training example charged for the whole supernet's parameter count. */
  sizePenalty: number;
  /** β: multiplies both KL terms (λ^L_prior = β·preset, λ^Q_prior = β·preset); 1 is the plain preset. */
  klWeight: number;
  /**
   * The λ of the objective (docs/design.md §3.4), each stored only when given and then replacing the
   * preset's value: λ^L_prior, λ^Q_lik, λ^Q_prior (β still multiplies the two KL weights), λ^Q_struct per
   * reference structure, the inverse-gamma's λ₁ and λ₂, and whether Q uses the training rows.
   */
  lambdaLPrior?: number;
  lambdaQLik?: number;
  lambdaQPrior?: number;
  lambdaStruct?: Partial<Record<ReferenceStructure, number>>;
  ardShape?: number;
  ardRate?: number;
  singleLevel?: boolean;
  /** Search on at most this many training rows (a seeded random subset), null for all. */
  trainRows: number | null;
  /** Candidate hidden widths of the built-in spaces (default: by data size). */
  widths: number[] | null;
  /** Candidate activations of the built-in `mlp` space's hidden layers (default relu, tanh, sigmoid; absent in runs made before it existed). */
  activations?: Activation[] | null;
  seed: number;
  /** Parameter budget N of the searched architecture (§3.9); absent (not null) when none, so older configs match. */
  maxParameters?: number;
  /** Latency budget U, µs per example at `latencyBatch` examples per call (absent: 1) on the backend (§3.9). */
  maxLatencyUs?: number;
  latencyBatch?: number;
  /** `unit`: one ARD precision per input unit of each layer (docs/design.md §3.3); absent: one per weight. */
  ardGroups?: 'unit';
  /**
   * How many candidate architectures the search writes (docs/design.md §3.12): the searched one and its
   * one-edge neighbours within the budgets, largest first; absent (1) when only the searched one.
   */
  candidates?: number;
}

export interface SearchSummary {
  run: string;
  dataset: string;
  split: number;
  space: string;
  objective: 'distill' | 'labels';
  teacher: string | null;
  /** The searched architecture's name and parameter count, and the supernet's. */
  arch: string;
  parameterCount: number;
  /** Parameters that are not exactly zero after ARD pruning. */
  nonzeroParameters: number;
  supernetParameters: number;
  choices: { edge: string; choice: string; probability: number }[];
  /** ARD-pruned (zero) weights among the exported kernels' weights. */
  pruned: { weights: number; total: number };
  /** Structured pruning (docs/design.md §3.10): the units removed per node, the edges dropped. */
  removedUnits: RemovedUnits[];
  droppedEdges: string[];
  /** The objective's effective λ (docs/design.md §3.4): the preset's, with the config's in place of them. */
  metaparameters: Metaparameters;
  epochs: number;
  seconds: number;
  /** With a parameter budget: N, the final μ, the exact E[parameters] at the end, and whether the repair changed the argmax architecture. */
  budget?: {
    maxParameters: number;
    minParameters: number;
    mu: number;
    expectedParameters: number;
    repaired: boolean;
    parametersBeforeRepair: number;
  };
  /** With a latency budget: U, μ_L, predicted latencies (expected, repaired, exported) and the measured one. */
  latency?: LatencySummary;
  /** How many candidate architectures `candidates.json` lists (with `--candidates`). */
  candidates?: number;
  /** With `--allow-incomplete` on an incomplete teacher: what was wrong with it. */
  teacherWarning?: string;
}

/** A search run's settings and completion files, for `checkFinishedRun`. */
export const SEARCH_RUN_FILES: RunFiles = {
  stage: 'search',
  settings: 'search',
  configFile: 'search-config.json',
  summaryFile: 'search.json',
};
const STATE = 'search-state.bin';

export interface SearchOptions extends StageContext {
  run: string;
  resume?: boolean;
  /** The latency table of a latency budget, instead of the backend's cached one (tests, repeats). */
  latencyTable?: LatencyTable;
  /** Search against an incomplete teacher's samples as they are, with a warning (see `openCompleteTeacher`). */
  allowIncomplete?: boolean;
}

/**
 * Variational structure search (docs/design.md §3): trains the supernet of `config.space` on the bilevel
 * objective, then writes the discrete architecture (`arch.json`, the format students read), its
 * summary (`search.json`), the per-epoch γ and pruning trace (`search-trace.json`) and a plot of γ over
 * training (`gamma.svg`). Interrupted runs resume from their last finished epoch.
 */
export async function searchStructure(
  requested: SearchConfig,
  opts: SearchOptions,
): Promise<{ runDir: string; completed: boolean; summary: SearchSummary | null }> {
  const log = opts.log ?? (() => {});
  let config = requested;
  const folder = await lockRunForStage<SearchConfig>(opts, 'search-config.json');
  const { runDir, configPath, lock } = folder;
  try {
    config = resumedConfig(opts.run, folder, config, opts.explicit);
    const searched = await searchTeacher(config, opts);
    config = searched.config;
    const teacherDir = searched.teacher?.teacherDir ?? null;
    const ds = await searchDataset(config, searched.teacher, opts.dataDir);
    const task = ds.meta.task;
    const shape = inputShape(ds);
    const train = subsample(partArrays(ds, config.split, 'train'), config.trainRows, config.seed, shape);
    const validation = partArrays(ds, config.split, 'validation');
    if (validation.rows === 0 && !(config.singleLevel ?? config.preset === 'single-level'))
      throw new UserError(
        `dataset '${config.dataset}' split ${config.split} has no validation rows; use --preset single-level or prepare splits with a validation fraction`,
      );
    const outputUnits = task === 'classification' ? ds.meta.classCount! : 2;
    const sa = await resolveSpace(
      config.space,
      { input: shape, outputUnits },
      {
        ...(config.widths ? { widths: config.widths } : {}),
        ...(config.activations ? { activations: config.activations } : {}),
      },
    );
    const budget = config.maxParameters;
    const maxLatencyUs = config.maxLatencyUs;
    await prepareRunFolder(folder, opts.force);
    const table =
      maxLatencyUs !== undefined
        ? await searchLatencyTable(sa, runDir, { ...opts, batch: config.latencyBatch, log })
        : undefined;
    const budgets = { maxParameters: budget, maxLatencyUs, table };
    const { minParameters, minLatencyUs } = checkBudgets(sa, budgets, config.space);
    const layout = supernetLayout(sa, config.ardGroups ?? 'weight');
    const supernetParameters = layout.groups.reduce(
      (s, g) => s + g.info.kernelShape.reduce((a, b) => a * b, 1),
      0,
    );
    await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n');
    await writeFileAtomic(path.join(runDir, 'space.json'), JSON.stringify(sa.space, null, 2) + '\n');
    log(
      `searching ${sa.space.name} (${supernetParameters} supernet weights, ${layout.logits.filter((l) => l !== null).length} searchable edges) ` +
        `on ${train.rows} training and ${validation.rows} validation rows of ${config.dataset} split ${config.split}, objective ${config.objective}`,
    );
    const [tTrain, tVal] = await targets(config, [train, validation], shape, task, teacherDir);
    const data: SearchData = {
      task,
      objective: config.objective,
      exampleShape: shape,
      classes: ds.meta.classCount ?? undefined,
      train: { x: train.x, rows: train.rows, ...tTrain },
      validation: { x: validation.x, rows: validation.rows, ...tVal },
    };
    const maxParams = sa.choiceParams.reduce((s, c) => s + Math.max(...c), 0);
    const meta = searchMetaparameters(config, train.rows, maxParams);
    const statePath = path.join(runDir, STATE);
    const tracePath = path.join(runDir, 'search-trace.json');
    let resume: SearchState | null = null;
    let trace: SearchTracePoint[] = [];
    if (opts.resume && (await pathExists(statePath))) {
      const st = await loadChainState<
        Omit<SearchState, 'values' | 'optimizers'> & {
          theta: number;
          h: number;
          opt: { theta: { name: string; shape: number[] }[]; h: { name: string; shape: number[] }[] };
        }
      >(statePath);
      resume = {
        epoch: st.meta.epoch,
        rng: st.meta.rng,
        values: {
          theta: Array.from({ length: st.meta.theta }, (_, i) => st.arrays[`t${i}`]),
          h: Array.from({ length: st.meta.h }, (_, i) => st.arrays[`h${i}`]),
        },
        optimizers: {
          theta: st.meta.opt.theta.map((w, i) => ({ ...w, values: st.arrays[`ot${i}`] })),
          h: st.meta.opt.h.map((w, i) => ({ ...w, values: st.arrays[`oh${i}`] })),
        },
        mu: st.meta.mu,
        muLatency: st.meta.muLatency,
      };
      trace = ((await readJsonOrNull<SearchTracePoint[]>(tracePath)) ?? []).slice(0, resume.epoch);
      log(`resuming at epoch ${resume.epoch}/${config.epochs}`);
    }
    const started = Date.now();
    const values = await runSearch(
      layout,
      data,
      {
        relaxation: config.relaxation,
        hypergradient: config.hypergradient,
        epochs: config.epochs,
        batchSize: config.batchSize,
        learningRate: config.learningRate,
        hyperLearningRate: config.hyperLearningRate,
        temperature: { start: config.temperatureStart, end: config.temperatureEnd },
        pruneThreshold: config.pruneThreshold,
        seed: config.seed,
        ...(budget !== undefined ? { budget: { maxParameters: budget, step: BUDGET_DUAL_STEP } } : {}),
        ...(table ? { latencyBudget: { maxLatencyUs: maxLatencyUs!, step: BUDGET_DUAL_STEP, table } } : {}),
      },
      meta,
      {
        signal: opts.signal,
        resume,
        onProgress: opts.onProgress,
        onEpoch: async (point, state) => {
          trace.push(point);
          const s = await state();
          const arrays: Record<string, Float32Array> = {};
          s.values.theta.forEach((a, i) => (arrays[`t${i}`] = a));
          s.values.h.forEach((a, i) => (arrays[`h${i}`] = a));
          s.optimizers.theta.forEach((w, i) => (arrays[`ot${i}`] = w.values));
          s.optimizers.h.forEach((w, i) => (arrays[`oh${i}`] = w.values));
          await saveChainState(
            statePath,
            {
              epoch: s.epoch,
              rng: s.rng,
              theta: s.values.theta.length,
              h: s.values.h.length,
              opt: {
                theta: s.optimizers.theta.map(({ name, shape }) => ({ name, shape })),
                h: s.optimizers.h.map(({ name, shape }) => ({ name, shape })),
              },
              ...(s.mu !== undefined ? { mu: s.mu } : {}),
              ...(s.muLatency !== undefined ? { muLatency: s.muLatency } : {}),
            },
            arrays,
          );
          await writeFileAtomic(tracePath, JSON.stringify(trace) + '\n');
          if (point.epoch % Math.max(1, Math.ceil(config.epochs / 10)) === 0 || point.epoch === config.epochs)
            log(
              `epoch ${point.epoch}/${config.epochs}: bound per example ${point.lowerPerExample.toFixed(4)}, expected parameters ${point.expectedParameters.toFixed(0)}, prunable ${(100 * point.prunable).toFixed(1)} %` +
                (point.budget
                  ? `; budget ${budget}: exact expected parameters ${point.budget.expectedParameters.toFixed(0)}, penalty weight μ ${point.budget.mu.toPrecision(3)}`
                  : '') +
                (point.latencyBudget
                  ? `; latency budget ${maxLatencyUs} µs: expected latency ${point.latencyBudget.expectedLatencyUs.toFixed(1)} µs, penalty weight μ_L ${point.latencyBudget.mu.toPrecision(3)}`
                  : ''),
              'detail',
            );
        },
      },
    );
    if (!values) {
      log(`interrupted; continue with: bdk search --resume --run ${opts.run}`);
      return { runDir, completed: false, summary: null };
    }
    const name = `${opts.run}-searched`;
    let repair: { chosen: number[]; parameters: number; changed: boolean } | null = null;
    let before = 0;
    const argmax = chosenCandidates(layout, values.h);
    if (budget !== undefined || table) {
      const logits = layout.logits.map((li) => (li === null ? [0] : values.h[li]));
      before = discreteParameters(sa, argmax).parameters;
      repair = table
        ? repairToBudgets(sa, argmax, logits, budgets, config.space)
        : repairToBudget(sa, argmax, logits, budget!, config.space);
      if (repair.changed)
        log(
          `the argmax architecture (${before} parameters${table ? `, ${discreteLatencyUs(sa, argmax, table).toFixed(1)} µs` : ''}) is over the budget: repaired to ${repair.parameters} parameters${table ? `, ${discreteLatencyUs(sa, repair.chosen, table).toFixed(1)} µs` : ''}`,
        );
    }
    const result = repair
      ? discretize(layout, values, config.pruneThreshold, name, repair.chosen)
      : discretize(layout, values, config.pruneThreshold, name);
    await writeFileAtomic(
      path.join(runDir, SEARCH_ARCH_WEIGHTS),
      Buffer.from(result.weights.buffer, result.weights.byteOffset, result.weights.byteLength),
    );
    const chosen = repair?.chosen ?? argmax;
    const candidates =
      (config.candidates ?? 1) > 1
        ? await writeCandidates({ runDir, name, layout, values, config, chosen, budgets })
        : null;
    if (candidates)
      log(
        `${candidates.length} candidates (candidates.json): ${candidates.map((c) => c.parameters).join(', ')} parameters`,
      );
    await writeFileAtomic(
      path.join(runDir, SEARCH_ARCH),
      JSON.stringify(result.analysis.spec, null, 2) + '\n',
    );
    await writeFileAtomic(
      path.join(runDir, 'gamma.svg'),
      gammaPlot(
        trace,
        Object.fromEntries(
          sa.space.edges.map((e, ei) => [`${e.from}->${e.to}#${ei}`, e.choices.map((c) => c.label)]),
        ),
      ),
    );
    const latency =
      table &&
      (await latencySummary({
        sa,
        layout,
        table,
        maxLatencyUs: maxLatencyUs!,
        minLatencyUs,
        mu: values.muLatency ?? 0,
        h: values.h,
        argmax,
        chosen: repair!.chosen,
        exported: result.analysis,
        weights: result.weights,
      }));
    const summary: SearchSummary = {
      run: opts.run,
      dataset: config.dataset,
      split: config.split,
      space: sa.space.name,
      objective: config.objective,
      teacher: config.teacher,
      arch: name,
      parameterCount: result.analysis.parameterCount,
      nonzeroParameters: result.weights.reduce((n, w) => n + (w !== 0 ? 1 : 0), 0),
      supernetParameters,
      choices: result.choices,
      pruned: result.pruned,
      removedUnits: result.removedUnits,
      droppedEdges: result.droppedEdges,
      metaparameters: meta,
      epochs: config.epochs,
      seconds: (Date.now() - started) / 1000,
      ...(searched.teacher?.warning ? { teacherWarning: searched.teacher.warning } : {}),
      ...(repair && budget !== undefined
        ? {
            budget: {
              maxParameters: budget,
              minParameters,
              mu: values.mu ?? 0,
              expectedParameters: tf.tidy(
                () =>
                  expectedArchParameters(
                    layout,
                    values.h.map((a) => tf.tensor1d(a)),
                  ).dataSync()[0],
              ),
              repaired: repair.changed,
              parametersBeforeRepair: before,
            },
          }
        : {}),
      ...(latency ? { latency } : {}),
      ...(candidates ? { candidates: candidates.length } : {}),
    };
    await writeFileAtomic(path.join(runDir, 'search.json'), JSON.stringify(summary, null, 2) + '\n');
    return { runDir, completed: true, summary };
  } finally {
    await lock.release();
  }
}

/**
 * The metaparameters a search config asks for (docs/design.md §3.4): its preset's, with each λ the
 * config gives in place of the preset's value; β = `klWeight` multiplies both KL weights; λ_size is
 * the size penalty (nats per example) times the `rows` training rows over `maxParams`, the supernet's
 * parameter count with every edge at its largest candidate.
 */
export function searchMetaparameters(config: SearchConfig, rows: number, maxParams: number): Metaparameters {
  const preset = presetMetaparameters(config.preset);
  const struct = config.lambdaStruct;
  return presetMetaparameters(config.preset, {
    ...(config.lambdaQLik === undefined ? {} : { qLik: config.lambdaQLik }),
    ...(config.ardShape === undefined ? {} : { lambda1: config.ardShape }),
    ...(config.ardRate === undefined ? {} : { lambda2: config.ardRate }),
    ...(config.singleLevel === undefined ? {} : { singleLevel: config.singleLevel }),
    ...(struct === undefined
      ? {}
      : {
          references: REFERENCE_STRUCTURES.filter((r) => struct[r] !== undefined).map((r) => ({
            structure: r,
            weight: struct[r]!,
          })),
        }),
    // λ_size per parameter from the per-example budget for the whole supernet.
    size: (config.sizePenalty * rows) / Math.max(1, maxParams),
    lPrior: (config.lambdaLPrior ?? preset.lPrior) * config.klWeight,
    qPrior: (config.lambdaQPrior ?? preset.qPrior) * config.klWeight,
  });
}
