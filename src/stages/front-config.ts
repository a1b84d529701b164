import path from 'node:path';
import { UserError } from '../core/errors.js';
import type { SelectionRule } from '../search/front.js';
import type { DistillInput } from './distill-config.js';
import type { SearchConfig } from './search.js';
import { searchConfigFrom } from './search-config.js';

/**
 * The λ a front can sweep (`--lambda-sweep NAME=v1,v2,…`), by their `bdk search` flag names, with the
 * search-config key each sets.
 */
export const SWEEPABLE_LAMBDAS = {
  'lambda-l-prior': 'lambdaLPrior',
  'lambda-q-lik': 'lambdaQLik',
  'lambda-q-prior': 'lambdaQPrior',
  'kl-weight': 'klWeight',
  'size-penalty': 'sizePenalty',
  'ard-shape': 'ardShape',
  'ard-rate': 'ardRate',
} as const;
export type SweepableLambda = keyof typeof SWEEPABLE_LAMBDAS;

/** A swept λ: its flag name and values. */
export interface LambdaSweep {
  name: SweepableLambda;
  values: number[];
}

/**
 * A λ's flag name from the flag name itself or its search-config key (`kl-weight` or `klWeight`), or a
 * `UserError` naming `where`.
 */
export function sweepableLambda(name: string, where: string): SweepableLambda {
  const entries = Object.entries(SWEEPABLE_LAMBDAS) as [SweepableLambda, string][];
  const hit = entries.find(([flag, key]) => name === flag || name === key);
  if (!hit)
    throw new UserError(
      `${where}: cannot sweep '${name}' (expected one of ${entries.map(([f]) => f).join(', ')})`,
    );
  return hit[0];
}

/** `kl-weight=0.1,1,10` → { name: 'kl-weight', values: [0.1, 1, 10] } (values ≥ 0, distinct). */
export function parseLambdaSweep(text: string, where = '--lambda-sweep'): LambdaSweep {
  const eq = text.indexOf('=');
  if (eq < 0) throw new UserError(`${where}: expected NAME=v1,v2,…, got '${text}'`);
  const name = sweepableLambda(text.slice(0, eq).trim(), where);
  const parts = text
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim());
  return { name, values: checkedValues(parts, where) };
}

/** Sweep values from text or numbers: finite, ≥ 0, at least one, no repeats. */
export function checkedValues(parts: (string | number)[], where: string): number[] {
  const values = parts.map((p) => {
    const v = typeof p === 'number' ? p : p === '' ? NaN : Number(p);
    if (!Number.isFinite(v) || v < 0) throw new UserError(`${where}: expected numbers ≥ 0, got '${p}'`);
    return v;
  });
  if (!values.length) throw new UserError(`${where}: expected at least one value`);
  if (new Set(values).size !== values.length) throw new UserError(`${where}: repeated value`);
  return values;
}

/** `--budgets 400,800,2000` → [400, 800, 2000]: positive integers, no repeats, sorted ascending. */
export function parseBudgets(text: string, where = '--budgets'): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const budgets = parts.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(n) || n < 1)
      throw new UserError(`${where}: expected positive integers like 400,800,2000, got '${p}'`);
    return n;
  });
  return checkedBudgets(budgets, where);
}

/** Budgets sorted ascending; a repeat is a `UserError`. */
export function checkedBudgets(budgets: number[], where: string): number[] {
  if (new Set(budgets).size !== budgets.length) throw new UserError(`${where}: repeated budget`);
  return [...budgets].sort((a, b) => a - b);
}

/** Settings of a front (`bdk search --budgets`, a pipeline's `search.budgets`), stored as `front-config.json`. */
export interface FrontConfig {
  /** The teacher run every student is distilled from (and the search's objective reads). */
  teacher: string;
  /** The search settings every searched member shares (its budget and swept λ set per member). */
  search: SearchConfig;
  /** Parameter budgets, ascending; empty with a λ sweep alone. */
  budgets: number[];
  lambdaSweep: LambdaSweep | null;
  /** Hand-picked student architectures (built-in names, `mlp-W[-W…]`, spec files). */
  references: string[];
  /** Distillation settings every student shares (teacher and architecture set per member). */
  distillation: Omit<DistillInput, 'teacher' | 'arch'>;
  select: SelectionRule;
  /** Searched students start from their search's weights (docs/design.md §3.10) unless this is false. */
  warmStart?: boolean;
  /** Repetitions of each student's latency measurement. */
  latencyRuns: number;
}

/** One searched student of a front: its name, budget, swept λ and search settings. */
export interface SearchedMember {
  name: string;
  budget: number | null;
  lambda: { name: SweepableLambda; value: number } | null;
  search: SearchConfig;
}

/** `0.1` → `0.1`, `1e-7` → `1e-7`: a λ value as it appears in a member's name. */
const valueName = (v: number) => String(v).replace('+', '');

/**
 * The searched members: one per budget, one per λ value, or one per pair (budget × value) when both are
 * given, named `b<N>`, `<λ>-<v>` or `b<N>-<λ>-<v>`.
 */
export function searchedMembers(config: FrontConfig): SearchedMember[] {
  const budgets: (number | null)[] = config.budgets.length ? config.budgets : [null];
  const sweep = config.lambdaSweep;
  const values: (number | null)[] = sweep ? sweep.values : [null];
  if (!config.budgets.length && !sweep) throw new UserError('a front needs budgets or a λ sweep');
  return budgets.flatMap((budget) =>
    values.map((value) => {
      const lambda = sweep && value !== null ? { name: sweep.name, value } : null;
      const name = [
        ...(budget !== null ? [`b${budget}`] : []),
        ...(lambda ? [`${lambda.name}-${valueName(lambda.value)}`] : []),
      ].join('-');
      const search = searchConfigFrom({
        ...config.search,
        ...(lambda ? { [SWEEPABLE_LAMBDAS[lambda.name]]: lambda.value } : {}),
        maxParameters: budget,
      });
      return { name, budget, lambda, search };
    }),
  );
}

/** The member name of a reference student: `ref-` and the architecture (a spec file's base name). */
export function referenceName(arch: string): string {
  const base = arch.endsWith('.json') ? path.basename(arch, '.json') : arch;
  return `ref-${base.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}
