import { UserError } from '../core/errors.js';
import { INPUT } from '../model/spec.js';
import type { SpaceAnalysis } from './space.js';

/**
 * Parameter budgets of the structure search (docs/design.md §3.9): the exact parameter count of the
 * discrete architecture a choice vector gives, the smallest architecture a space can express, the
 * repair of a discretized architecture that exceeds the budget, and the step of the budget's penalty
 * weight μ. Everything here is plain float64 code without tfjs.
 */

/** The discrete architecture of one choice per space edge, as `discretize` exports it before ARD pruning. */
export interface DiscreteCount {
  /** Its parameter count (0 when no path from the input reaches the output). */
  parameters: number;
  /** False when `discretize` would refuse it: no path left, or a parameter-free edge joins units of different widths. */
  valid: boolean;
}

const lastAxis = (s: number[]) => s[s.length - 1];

/** A kept edge of a discrete architecture: its index and the units it reads and writes. */
export interface KeptEdge {
  edge: number;
  /** Units (channels) of its input node. */
  inWidth: number;
  /** Units it writes: the node's for `sum`, its own for `concat` (its input's for parameter-free ops). */
  outWidth: number;
}

/** The discrete architecture of a choice vector, as `discretize` exports it before ARD pruning. */
export interface KeptStructure {
  /** False when no path from the input reaches the output. */
  reachable: boolean;
  /** False when `discretize` would refuse it (also when a parameter-free edge joins units of different widths). */
  valid: boolean;
  edges: KeptEdge[];
  /** The kept nodes (besides the input): their width and how many kept edges they aggregate. */
  nodes: { id: string; width: number; inputs: number }[];
}

/**
 * The kept edges and nodes of the architecture that choosing candidate `chosen[e]` on every space
 * edge e gives, before ARD pruning. It mirrors `discretize`: `zero` edges are dropped with every node
 * that no longer reaches the output or is no longer reached from the input; a node keeps the union of
 * its incoming edges' units (the widest for `sum`, all of them side by side for `concat`).
 */
export function keptStructure(sa: SpaceAnalysis, chosen: readonly number[]): KeptStructure {
  const edges = sa.space.edges;
  const op = (ei: number) => edges[ei].choices[chosen[ei]].op;
  const isZero = (ei: number) => op(ei).type === 'zero';
  const reaches = new Set<string>([sa.space.output]);
  for (const id of [...sa.order].reverse())
    if (edges.some((e, ei) => e.from === id && !isZero(ei) && reaches.has(e.to))) reaches.add(id);
  if (!reaches.has(INPUT)) return { reachable: false, valid: false, edges: [], nodes: [] };
  const reached = new Set<string>([INPUT]);
  for (const id of sa.order)
    if (edges.some((e, ei) => e.to === id && !isZero(ei) && reached.has(e.from))) reached.add(id);
  const keep = (ei: number) =>
    !isZero(ei) && reaches.has(edges[ei].to) && reached.has(edges[ei].from) && reaches.has(edges[ei].from);
  // Kept unit (channel) indices per node, as in discretize without pruning.
  const kept = new Map<string, number[]>([[INPUT, [...Array(lastAxis(sa.shapes.get(INPUT)!)).keys()]]]);
  const edgeUnits = (ei: number): number[] => {
    const o = op(ei);
    if (o.type === 'dense') return [...Array(o.units).keys()];
    if (o.type === 'conv2d') return [...Array(o.filters).keys()];
    const from = kept.get(edges[ei].from)!;
    if (o.type !== 'flatten') return from;
    const shape = sa.shapes.get(edges[ei].from)!;
    const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const out: number[] = [];
    for (let p = 0; p < positions; p++) for (const ch of from) out.push(p * lastAxis(shape) + ch);
    return out;
  };
  const result: KeptStructure = { reachable: true, valid: true, edges: [], nodes: [] };
  for (const id of sa.order.slice(1)) {
    if (!reaches.has(id) || !reached.has(id)) continue;
    const concat = sa.space.nodes.find((n) => n.id === id)!.aggregate === 'concat';
    let set: number[] = [];
    if (concat) {
      let offset = 0;
      for (const ei of sa.incoming.get(id)!) {
        if (keep(ei)) set.push(...edgeUnits(ei).map((u) => u + offset));
        offset += lastAxis(sa.edgeShapes[ei]);
      }
    } else {
      const u = new Set<number>();
      for (const ei of sa.incoming.get(id)!) if (keep(ei)) for (const c of edgeUnits(ei)) u.add(c);
      set = [...u].sort((a, b) => a - b);
    }
    kept.set(id, set);
    let inputs = 0;
    for (const ei of sa.incoming.get(id)!) {
      if (!keep(ei)) continue;
      inputs++;
      const o = op(ei);
      const from = kept.get(edges[ei].from)!;
      const head = concat ? edgeUnits(ei) : set; // a concat node's edges each write their own units
      const layer = o.type === 'dense' || o.type === 'conv2d';
      result.edges.push({ edge: ei, inWidth: from.length, outWidth: layer ? head.length : from.length });
      if (!layer && o.type !== 'flatten' && from.join() !== head.join()) result.valid = false;
    }
    result.nodes.push({ id, width: set.length, inputs });
  }
  return result;
}

/**
 * The exact parameter count of the architecture that choosing candidate `chosen[e]` on every space
 * edge e gives, before ARD pruning (pruning only removes units, so it never adds parameters): over the
 * kept edges of `keptStructure`, a dense or convolution edge into node k from node j has
 * (taps·width(j) + 1)·width(k) parameters (its own width instead of width(k) when k concatenates).
 */
export function discreteParameters(sa: SpaceAnalysis, chosen: readonly number[]): DiscreteCount {
  const s = keptStructure(sa, chosen);
  if (!s.reachable) return { parameters: 0, valid: false };
  let parameters = 0;
  for (const e of s.edges) {
    const o = sa.space.edges[e.edge].choices[chosen[e.edge]].op;
    if (o.type === 'dense') parameters += (e.inWidth + 1) * e.outWidth;
    else if (o.type === 'conv2d') parameters += (o.kernelSize ** 2 * e.inWidth + 1) * e.outWidth;
  }
  return { parameters, valid: s.valid };
}

/** What a candidate contributes to the count: its kind and width for layers, its kind otherwise. */
export function signature(sa: SpaceAnalysis, ei: number, c: number): string {
  const o = sa.space.edges[ei].choices[c].op;
  if (o.type === 'dense') return `dense/${o.units}`;
  if (o.type === 'conv2d') return `conv/${o.kernelSize}/${o.filters}`;
  if (o.type === 'zero' || o.type === 'flatten') return o.type;
  return 'pass'; // identity, dropout, max-pool: the input's units
}

/**
 * Per edge, one representative of each group of candidates that give the same parameter count (same
 * kind and width), the one with the highest `score` (the first on ties): the architectures worth
 * enumerating. Fails, naming the space, when their product exceeds `MAX_ARCHITECTURES`.
 */
export function representatives(
  sa: SpaceAnalysis,
  score: (ei: number, c: number) => number,
  space: string,
  classOf: (sa: SpaceAnalysis, ei: number, c: number) => string = signature,
  budget = 'a parameter budget',
) {
  const reps = sa.space.edges.map((e, ei) => {
    const best = new Map<string, number>();
    e.choices.forEach((_, c) => {
      const key = classOf(sa, ei, c);
      const b = best.get(key);
      if (b === undefined || score(ei, c) > score(ei, b)) best.set(key, c);
    });
    return [...best.values()].sort((a, b) => a - b);
  });
  const total = reps.reduce((n, r) => n * r.length, 1);
  if (total > MAX_ARCHITECTURES)
    throw new UserError(
      `space '${space}' has ${total} architectures of distinct size, too many to enforce ${budget} (at most ${MAX_ARCHITECTURES})`,
    );
  return reps;
}

/** The most architectures of distinct size a budget enumerates. */
export const MAX_ARCHITECTURES = 1_000_000;

/** Calls `visit` with every combination of one entry of each list (the last list varies fastest). */
export function enumerate(lists: number[][], visit: (chosen: number[]) => void): void {
  const chosen = lists.map((l) => l[0]);
  const go = (i: number) => {
    if (i === lists.length) return visit(chosen);
    for (const c of lists[i]) {
      chosen[i] = c;
      go(i + 1);
    }
  };
  go(0);
}

/**
 * The smallest valid architecture of a space and its exact parameter count, by enumerating every
 * architecture of distinct size (candidates that differ only in activation count once). Ties go to
 * the first in enumeration order. Why: a budget below it cannot be met, which is a user error.
 */
export function smallestArchitecture(
  sa: SpaceAnalysis,
  space = sa.space.name,
): { chosen: number[]; parameters: number } {
  let best: { chosen: number[]; parameters: number } | null = null;
  enumerate(
    representatives(sa, (_, c) => -c, space),
    (chosen) => {
      const r = discreteParameters(sa, chosen);
      if (r.valid && (!best || r.parameters < best.parameters))
        best = { chosen: [...chosen], parameters: r.parameters };
    },
  );
  if (!best) throw new UserError(`space '${space}' has no valid architecture`);
  return best;
}

/** The space's smallest parameter count; a one-line user error when `maxParameters` is below it. */
export function checkBudget(sa: SpaceAnalysis, maxParameters: number, space: string): number {
  const min = smallestArchitecture(sa, space).parameters;
  if (maxParameters < min)
    throw new UserError(
      `--max-parameters ${maxParameters} is below the smallest architecture of space '${space}' on this data (${min} parameters)`,
    );
  return min;
}

/** log softmax in float64. */
export function logSoftmax64(z: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(z));
  const lse = m + Math.log(Array.from(z).reduce((s, v) => s + Math.exp(v - m), 0));
  return Array.from(z, (v) => v - lse);
}

export interface RepairResult {
  /** The candidate chosen on every space edge. */
  chosen: number[];
  /** The parameter count before ARD pruning (`discreteParameters`). */
  parameters: number;
  /** Whether the repair changed the argmax architecture. */
  changed: boolean;
}

/**
 * Makes a discretized architecture fit a budget: when the argmax choices `chosen` give more than
 * `maxParameters` parameters, they are replaced by the most probable architecture that fits, the
 * maximum of Σ_e log softmax(s_e)[c_e] over valid choice vectors with at most `maxParameters`
 * parameters (the structure probability lost is the least possible). Exact, by enumerating the
 * architectures of distinct size, keeping on each edge the most probable candidate of each size
 * class; ties go to the first in enumeration order. `logits[e]` are the edge's structure logits s
 * (`[0]` for an edge with one choice). Throws when nothing fits (a budget below the smallest
 * architecture, see `checkBudget`).
 */
export function repairToBudget(
  sa: SpaceAnalysis,
  chosen: readonly number[],
  logits: readonly ArrayLike<number>[],
  maxParameters: number,
  space = sa.space.name,
): RepairResult {
  const current = discreteParameters(sa, chosen);
  if (current.valid && current.parameters <= maxParameters)
    return { chosen: [...chosen], parameters: current.parameters, changed: false };
  const logp = logits.map(logSoftmax64);
  let best: { chosen: number[]; parameters: number; score: number } | null = null;
  enumerate(
    representatives(sa, (ei, c) => logp[ei][c], space),
    (cand) => {
      const score = cand.reduce((s, c, ei) => s + logp[ei][c], 0);
      if (best && !(score > best.score)) return;
      const r = discreteParameters(sa, cand);
      if (r.valid && r.parameters <= maxParameters)
        best = { chosen: [...cand], parameters: r.parameters, score };
    },
  );
  if (!best) checkBudget(sa, maxParameters, space);
  const b = best!;
  return { chosen: b.chosen, parameters: b.parameters, changed: b.chosen.some((c, ei) => c !== chosen[ei]) };
}

/**
 * One step of the budget's penalty weight (a penalty schedule, docs/design.md §3.9):
 * μ ← μ + η_μ·min(1, max(0, (E[parameters] − N)/N)). The violation is relative to the budget N so that
 * η_μ does not depend on the model's size, and capped at 1 so that a start far over the budget does not
 * run μ up faster than the structure can follow; μ never decreases (the hinge penalty stops pushing
 * by itself once E[parameters] ≤ N).
 */
export function dualStep(mu: number, expected: number, maxParameters: number, step: number): number {
  return mu + step * Math.min(1, Math.max(0, (expected - maxParameters) / maxParameters));
}

/** η_μ of `bdk search --max-parameters`: μ grows by at most 0.2 nats per training example per step. */
export const BUDGET_DUAL_STEP = 0.2;
