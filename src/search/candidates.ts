import { enumerate, logSoftmax64, keptStructure, discreteParameters } from './budget.js';
import { budgetClasses, fitsBudgets, type Budgets } from './latency-budget.js';
import type { SpaceAnalysis } from './space.js';

/**
 * Candidate architectures of a search (docs/design.md §3.12): the searched architecture and its
 * neighbours within the budgets, to be distilled and compared on validation rows. Plain float64 code
 * without tfjs.
 */

/** One candidate: a choice per space edge, its size and its log-probability under the relaxation. */
export interface Candidate {
  chosen: number[];
  /** Parameters before ARD pruning (`discreteParameters`). */
  parameters: number;
  /** Σ_e log softmax(s_e)[c_e]. */
  logProbability: number;
}

/** A log-probability that rules a candidate out without making sums infinite. */
const EXCLUDED = -1e9;

/**
 * The most probable architecture within the budgets whose choice on edge `fixed.edge` is
 * `fixed.choice` and keeps that edge (unless the choice is `zero`), or null when none fits: the maximum of Σ_e logp[e][c_e] over the architectures of
 * distinct size and latency (as the repair enumerates them), with the other candidates of the fixed
 * edge ruled out.
 */
function mostProbableWith(
  sa: SpaceAnalysis,
  logp: number[][],
  budgets: Budgets,
  fixed: { edge: number; choice: number },
  space: string,
): number[] | null {
  const masked = logp.map((l, ei) =>
    ei === fixed.edge ? l.map((v, c) => (c === fixed.choice ? v : EXCLUDED)) : l,
  );
  const zero = sa.space.edges[fixed.edge].choices[fixed.choice].op.type === 'zero';
  const keeps = (cand: number[]) => zero || keptStructure(sa, cand).edges.some((e) => e.edge === fixed.edge);
  let best: { chosen: number[]; score: number } | null = null;
  enumerate(
    budgetClasses(sa, (ei, c) => masked[ei][c], space),
    (cand) => {
      if (cand[fixed.edge] !== fixed.choice) return;
      const score = cand.reduce((s, c, ei) => s + masked[ei][c], 0);
      if (best && !(score > best.score)) return;
      if (fitsBudgets(sa, cand, budgets) && keeps(cand)) best = { chosen: [...cand], score };
    },
  );
  return (best as { chosen: number[] } | null)?.chosen ?? null;
}

/**
 * What a choice vector exports, as a key: the kept edges with their chosen candidate. Choice vectors
 * that differ only on edges `discretize` drops give the same network and the same key.
 */
export function structureKey(sa: SpaceAnalysis, chosen: readonly number[]): string {
  return keptStructure(sa, chosen)
    .edges.map((e) => `${e.edge}:${sa.space.edges[e.edge].choices[chosen[e.edge]].label}`)
    .join(' ');
}

/**
 * The searched architecture `chosen` (already within the budgets) followed by its one-edge neighbours:
 * for every edge and every other candidate c on it, the most probable architecture within the budgets
 * that takes c there and keeps the edge unless c is `zero` (the other edges free). Architectures that export the same network count once
 * (the most probable choice vector); the neighbours are ordered by parameter count, largest first (the
 * relaxation under-rates networks that use the budget, docs/design.md §3.12), then by log-probability
 * under the structure logits, and the list is cut at `count`. `budgets` may be empty (every
 * architecture fits).
 */
export function budgetNeighbourhood(
  sa: SpaceAnalysis,
  chosen: readonly number[],
  logits: readonly ArrayLike<number>[],
  budgets: Budgets,
  count: number,
  space = sa.space.name,
): Candidate[] {
  const logp = logits.map(logSoftmax64);
  const make = (c: readonly number[]): Candidate => ({
    chosen: [...c],
    parameters: discreteParameters(sa, c).parameters,
    logProbability: c.reduce((s, ci, ei) => s + logp[ei][ci], 0),
  });
  const first = make(chosen);
  const seen = new Map<string, Candidate>([[structureKey(sa, chosen), first]]);
  sa.space.edges.forEach((e, ei) => {
    if (e.choices.length < 2) return;
    e.choices.forEach((_, c) => {
      if (c === chosen[ei]) return;
      const found = mostProbableWith(sa, logp, budgets, { edge: ei, choice: c }, space);
      if (!found) return;
      const cand = make(found);
      const key = structureKey(sa, found);
      const old = seen.get(key);
      if (!old || (old !== first && cand.logProbability > old.logProbability)) seen.set(key, cand);
    });
  });
  const rest = [...seen.values()]
    .filter((c) => c !== first)
    .sort((a, b) => b.parameters - a.parameters || b.logProbability - a.logProbability);
  return [first, ...rest].slice(0, Math.max(1, count));
}
