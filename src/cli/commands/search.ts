import { shows } from '../output-level.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { UserError } from '../../core/errors.js';
import { PRESETS, REFERENCE_STRUCTURES, type ReferenceStructure } from '../../search/objective.js';
import { RELAXATION_KINDS } from '../../search/relaxations.js';
import { BUILTIN_SPACES } from '../../search/space.js';
import { ACTIVATIONS, type Activation } from '../../model/spec.js';
import { searchStructure, type SearchConfig } from '../../stages/search.js';
import {
  missingCustomLambdas,
  needsLambdas,
  SEARCH_DEFAULTS,
  searchConfigFrom,
} from '../../stages/search-config.js';
import { runStage } from '../interrupt.js';
import { addFrontOptions, isFront, searchFront, type FrontFlags } from './search-front.js';
import {
  addBackendOption,
  addJsonOption,
  explicitSettings,
  parseFraction,
  parseInteger,
  parseList,
  parseNonNegative,
  parsePositive,
  printJson,
} from '../options.js';

type SearchFlags = Omit<SearchConfig, 'teacher' | 'widths' | 'activations' | 'dataset' | 'trainRows'> & {
  trainRows?: number;
  dataset?: string;
  teacher?: string;
  widths?: string[];
  activations?: string[];
  run: string;
  resume?: boolean;
  force?: boolean;
  allowIncomplete?: boolean;
  backend: BackendChoice;
  json?: boolean;
} & FrontFlags;

export function registerSearch(program: Command): void {
  const cmd = program
    .command('search')
    .description(
      'variational, differentiable structure search: train a supernet on the bilevel objective and write the discrete student architecture',
    )
    .option('--dataset <name>', 'dataset (with --objective labels; distill takes it from the teacher run)')
    .option('--split <k>', 'split index (with --objective labels)', parseInteger(0), SEARCH_DEFAULTS.split)
    .option(
      '--space <space>',
      `search space: ${Object.keys(BUILTIN_SPACES).join(', ')} or a space .json file`,
      SEARCH_DEFAULTS.space,
    )
    .addOption(
      new Option(
        '--objective <o>',
        'distill = fidelity to the teacher ensemble predictive + complexity; labels = plain supervised search',
      )
        .choices(['distill', 'labels'])
        .default(SEARCH_DEFAULTS.objective),
    )
    .option('--teacher <run>', 'teacher run (from bdk sample), for --objective distill')
    .requiredOption('--run <name>', 'run name for the search')
    .addOption(
      new Option('--relaxation <r>', 'relaxation of the structure γ')
        .choices([...RELAXATION_KINDS])
        .default(SEARCH_DEFAULTS.relaxation),
    )
    .addOption(
      new Option(
        '--preset <p>',
        'special case of the bilevel objective: evidence (all λ = 1), maximum-likelihood (no KL), single-level (Q = L on the training split), custom (the --lambda-* flags alone)',
      )
        .choices(PRESETS)
        .default(SEARCH_DEFAULTS.preset),
    )
    .addOption(
      new Option('--hypergradient <h>', 'first-order (alternating) or second-order (DARTS unrolled step)')
        .choices(['first-order', 'second-order'])
        .default(SEARCH_DEFAULTS.hypergradient),
    )
    .option('--epochs <e>', 'passes over the training rows', parseInteger(1), SEARCH_DEFAULTS.epochs)
    .option('--batch-size <b>', 'minibatch size', parseInteger(1), SEARCH_DEFAULTS.batchSize)
    .option(
      '--learning-rate <lr>',
      'Adam learning rate of the weights θ',
      parsePositive,
      SEARCH_DEFAULTS.learningRate,
    )
    .option(
      '--hyper-learning-rate <lr>',
      'Adam learning rate of h (structure logits, ARD precisions)',
      parsePositive,
      SEARCH_DEFAULTS.hyperLearningRate,
    )
    .option(
      '--temperature-start <t>',
      'relaxation temperature at the start (annealed exponentially)',
      parsePositive,
      SEARCH_DEFAULTS.temperatureStart,
    )
    .option(
      '--temperature-end <t>',
      'relaxation temperature at the end',
      parsePositive,
      SEARCH_DEFAULTS.temperatureEnd,
    )
    .option(
      '--prune-threshold <λ>',
      'ARD: prune weights whose relative density exp(−μ²/2σ²) exceeds λ',
      parseFraction,
      SEARCH_DEFAULTS.pruneThreshold,
    )
    .option(
      '--size-penalty <nats>',
      'complexity: nats per training example charged for the whole supernet, proportional to the expected parameter count',
      parseNonNegative,
      SEARCH_DEFAULTS.sizePenalty,
    )
    .option(
      '--kl-weight <β>',
      'multiplies both KL terms of the preset (β < 1 tempers the prior on small data)',
      parseNonNegative,
      SEARCH_DEFAULTS.klWeight,
    )
    .option('--lambda-l-prior <λ>', 'λ^L_prior: weight of the KL in the training level L', parseNonNegative)
    .option(
      '--lambda-q-lik <λ>',
      'λ^Q_lik: weight of the likelihood in the validation level Q',
      parseNonNegative,
    )
    .option('--lambda-q-prior <λ>', 'λ^Q_prior: weight of the KL in Q', parseNonNegative)
    .option(
      '--lambda-struct <weights>',
      `λ^Q_struct per reference structure, ref=weight,… with ref ${REFERENCE_STRUCTURES.join(' or ')} (> 0 pulls towards it, < 0 pushes away)`,
      parseStructWeights,
    )
    .option(
      '--ard-shape <λ₁>',
      'shape λ₁ of the inverse-gamma prior of the ARD variances (default 0.01)',
      parsePositive,
    )
    .option('--ard-rate <λ₂>', 'rate λ₂ of that inverse-gamma (default 0.01)', parsePositive)
    .addOption(
      new Option(
        '--ard-groups <g>',
        'ARD precisions: one per weight, or one per input unit of each layer (prunes whole units)',
      )
        .choices(['weight', 'unit'])
        .default('weight'),
    )
    .option('--single-level', 'evaluate Q on the training rows (one level), whatever the preset')
    .option(
      '--train-rows <n>',
      'search on a seeded random subset of at most n training rows',
      parseInteger(1),
    )
    .option('--widths <list>', 'candidate hidden widths of the built-in spaces, e.g. 50,100,200', parseList)
    .option(
      '--activations <list>',
      `candidate hidden activations of the mlp space, e.g. relu (default relu,tanh,sigmoid; from ${ACTIVATIONS.join(', ')})`,
      parseList,
    )
    .option(
      '--max-parameters <n>',
      'parameter budget: constrain E[parameters] ≤ n during the search and repair the result to fit it',
      parseInteger(1),
    )
    .option(
      '--max-latency-us <U>',
      'latency budget, µs per example on this backend (at --latency-batch examples per call): constrain E[latency] ≤ U (per-op table cached in <runs>/.latency) and repair the result to fit it',
      parsePositive,
    )
    .option(
      '--latency-batch <B>',
      'examples per call the latency budget is measured at: 1 (default) for a served model answering one request, e.g. 1000 for the time per example of scoring many rows (what bdk evaluate reports)',
      parseInteger(1),
    )
    .option(
      '--candidates <k>',
      'also write the one-edge neighbours of the searched architecture within the budgets (largest first), k architectures in all (a front distills each and keeps the best on validation rows)',
      parseInteger(1),
    )
    .option('--seed <n>', 'random seed', parseInteger(0), SEARCH_DEFAULTS.seed)
    .option('--resume', 'continue an interrupted search from its last finished epoch')
    .option('--force', 'replace an existing run')
    .option(
      '--allow-incomplete',
      'use the teacher run even if it is unfinished, being sampled or damaged, with a warning (recorded in the output)',
    );
  addFrontOptions(cmd);
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (o: SearchFlags) => {
    const missing = missingCustomLambdas(o);
    if (missing.length)
      throw new UserError(`--preset custom ${needsLambdas(missing.map((k) => `--${kebab(k)}`))}`);
    if (o.objective === 'labels' && !o.dataset && !o.resume)
      throw new UserError('--objective labels needs --dataset NAME');
    const widths = o.widths?.map((w) => {
      const n = Number(w);
      if (!Number.isInteger(n) || n < 1)
        throw new UserError(`--widths: expected positive integers, found '${w}'`);
      return n;
    });
    const activations = o.activations?.map((a) => {
      if (!(ACTIVATIONS as readonly string[]).includes(a))
        throw new UserError(`--activations: unknown activation '${a}' (expected ${ACTIVATIONS.join(', ')})`);
      return a as Activation;
    });
    const backend = await selectBackend(o.backend);
    if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
    const config = searchConfigFrom({
      ...o,
      // On --resume only an explicit --epochs extends the run.
      epochs: o.resume && cmd.getOptionValueSource('epochs') !== 'cli' ? 0 : o.epochs,
      widths,
      activations,
    });
    if (isFront(o)) {
      if (o.allowIncomplete)
        throw new UserError(
          '--allow-incomplete is not for a front (--budgets, --lambda-sweep): its teacher must be complete',
        );
      return searchFront(o, config);
    }
    if (o.allowIncomplete && config.objective !== 'distill')
      throw new UserError('--allow-incomplete needs --objective distill (it is about the teacher run)');
    const result = await runStage(`search ${o.run}`, o.json, (hooks) =>
      searchStructure(config, {
        run: o.run,
        resume: o.resume,
        explicit: explicitSettings(cmd),
        force: o.force,
        allowIncomplete: o.allowIncomplete,
        ...hooks,
      }),
    );
    if (!result) return;
    const s = result.summary!;
    if (o.json) return printJson(s);
    const chosen = s.choices.map((c) => `${c.edge.split('#')[0]}: ${c.choice}`).join(', ');
    console.log(
      `searched architecture: ${s.parameterCount} parameters, ${s.nonzeroParameters} non-zero (supernet ${s.supernetParameters} weights); ${chosen}`,
    );
    console.log(
      `ARD pruned ${s.pruned.weights} of the ${s.pruned.total} kernel weights of the exported architecture`,
    );
    const structured = [
      ...s.removedUnits.map((r) => `${r.units.length} ${r.reason} unit(s) of ${r.node}`),
      ...s.droppedEdges.map((e) => `edge ${e.split('#')[0]} (every weight pruned)`),
    ];
    if (structured.length) console.log(`structured pruning removed ${structured.join(', ')}`);
    if (s.budget)
      console.log(
        `budget ${s.budget.maxParameters}: final μ ${s.budget.mu.toPrecision(3)}, E[parameters] ${s.budget.expectedParameters.toFixed(0)}, ${s.budget.repaired ? `repaired from ${s.budget.parametersBeforeRepair} parameters` : 'no repair needed'}`,
      );
    if (s.latency)
      console.log(
        `latency budget ${s.latency.maxLatencyUs} µs (${s.latency.backend}, batch ${s.latency.batch ?? 1}): final μ_L ${s.latency.mu.toPrecision(3)}, E[latency] ${s.latency.expectedLatencyUs.toFixed(1)} µs, predicted ${s.latency.predictedLatencyUs.toFixed(1)} µs${s.latency.repaired ? ` (repaired from ${s.latency.latencyBeforeRepairUs.toFixed(1)} µs)` : ''}; exported ${s.latency.exportedPredictedUs.toFixed(1)} µs predicted, ${s.latency.measuredLatencyUs.toFixed(1)} µs measured`,
      );
    console.log(
      `wrote ${result.runDir}/arch.json and arch-weights.bin in ${s.seconds.toFixed(1)} s (use: bdk distill --arch-from ${s.run})`,
    );
  });
}

/** `lambdaQLik` → `lambda-q-lik`: a flag's name from its option key. */
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `--lambda-struct uniform=0.5,cheapest=1` → { uniform: 0.5, cheapest: 1 } (weights may be negative). */
function parseStructWeights(value: string): Partial<Record<ReferenceStructure, number>> {
  const out: Partial<Record<ReferenceStructure, number>> = {};
  for (const part of parseList(value)) {
    const [ref, w, ...rest] = part.split('=').map((t) => t.trim());
    const weight = Number(w);
    if (
      !(REFERENCE_STRUCTURES as readonly string[]).includes(ref) ||
      !w ||
      rest.length ||
      !Number.isFinite(weight)
    )
      throw new InvalidArgumentError(
        `expected ref=weight,… with ref ${REFERENCE_STRUCTURES.join(' or ')} and a number, got '${part}'`,
      );
    out[ref as ReferenceStructure] = weight;
  }
  if (!Object.keys(out).length) throw new InvalidArgumentError(`expected ref=weight,…, got '${value}'`);
  return out;
}
