import { UserError } from '../core/errors.js';
import type { Analysis } from '../model/spec.js';
import {
  discreteParameters,
  enumerate,
  keptStructure,
  logSoftmax64,
  representatives,
  smallestArchitecture,
  checkBudget,
  signature,
} from './budget.js';
import { latencyKind, opCostUs, type LatencyTable } from './latency-table.js';
import type { ChoiceOp, SpaceAnalysis } from './space.js';

/**
 * Latency budgets of the structure search (docs/design.md §3.9): the predicted per-example latency of
 * the discrete architecture a choice vector gives, under a per-op latency table (`latency-table.ts`),
 * the smallest latency a space can express, and the repair of a discretized architecture so that it
 * fits a latency budget, a parameter budget, or both. Plain float64 code without tfjs.
 */

const positions = (s: readonly number[]) => s.slice(0, -1).reduce((a, b) => a * b, 1);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The cost of a kept edge as a function of the units a it reads and b it writes:
 * fixed + perIn·a + perOut·b + perInOut·a·b (µs per example). `inShape` and `outShape` are its input's
 * and output's shapes, for the spatial positions (their last axis is not used).
 */
export interface EdgeCost {
  fixed: number;
  perIn: number;
  perOut: number;
  perInOut: number;
}

export function edgeCost(
  table: LatencyTable,
  op: ChoiceOp,
  inShape: readonly number[],
  outShape: readonly number[],
): EdgeCost {
  const kind = latencyKind(op);
  if (!kind) return { fixed: 0, perIn: 0, perOut: 0, perInOut: 0 };
  const c = table.ops[kind];
  if (!c) throw new Error(`latency table has no entry for '${kind}'`);
  const pOut = positions(outShape);
  if (op.type === 'dense' || op.type === 'conv2d') {
    const taps = op.type === 'conv2d' ? op.kernelSize ** 2 : 1;
    return { fixed: c.fixedUs, perIn: 0, perOut: c.perOutputUs * pOut, perInOut: c.perMacUs * taps * pOut };
  }
  if (op.type === 'maxPool')
    return {
      fixed: c.fixedUs,
      perIn: (c.perMacUs * op.poolSize ** 2 + c.perOutputUs) * pOut,
      perOut: 0,
      perInOut: 0,
    };
  // flatten: writes every input value once
  return { fixed: c.fixedUs, perIn: c.perOutputUs * positions(inShape), perOut: 0, perInOut: 0 };
}

const costOf = (e: EdgeCost, a: number, b: number) =>
  e.fixed + e.perIn * a + e.perOut * b + e.perInOut * a * b;

/**
 * The cost of a node of width w (per position) that aggregates n kept edges: n − 1 additions for `sum`,
 * one concatenation for `concat` when n ≥ 2.
 */
export function aggregationUs(
  table: LatencyTable,
  aggregate: 'sum' | 'concat',
  n: number,
  width: number,
  shape: readonly number[],
): number {
  if (n < 2) return 0;
  const elements = width * positions(shape);
  return aggregate === 'sum'
    ? (n - 1) * opCostUs(table, 'add', 0, elements)
    : opCostUs(table, 'concat', 0, elements);
}

/** The base cost of a network whose output has `shape`: running at all and reading the output back. */
export const baseUs = (table: LatencyTable, shape: readonly number[]) =>
  opCostUs(table, 'base', 0, size(shape));

/** The op kinds a space's candidates need in the table. */
export function spaceKinds(sa: SpaceAnalysis): string[] {
  const kinds = sa.space.edges.flatMap((e) => e.choices.map((c) => latencyKind(c.op)));
  return [...new Set(kinds.filter((k): k is string => k !== null))].sort();
}

/**
 * The predicted latency (µs per example, batch 1) of the architecture `chosen` gives, before ARD
 * pruning: the base cost, every kept edge's cost at the units it reads and writes (`keptStructure`),
 * and every node's aggregation. Pruning only removes units and edges, so it never adds latency
 * (every cost coefficient is ≥ 0). An architecture without a path costs the base alone.
 */
export function discreteLatencyUs(sa: SpaceAnalysis, chosen: readonly number[], table: LatencyTable): number {
  const s = keptStructure(sa, chosen);
  let us = baseUs(table, sa.shapes.get(sa.space.output)!);
  for (const e of s.edges) {
    const edge = sa.space.edges[e.edge];
    us += costOf(
      edgeCost(table, edge.choices[chosen[e.edge]].op, sa.shapes.get(edge.from)!, sa.edgeShapes[e.edge]),
      e.inWidth,
      e.outWidth,
    );
  }
  for (const n of s.nodes) {
    const agg = sa.space.nodes.find((v) => v.id === n.id)!.aggregate ?? 'sum';
    us += aggregationUs(table, agg, n.inputs, n.width, sa.shapes.get(n.id)!);
  }
  return us;
}

/** The predicted latency of an architecture spec (an exported one, after pruning), µs per example. */
export function specLatencyUs(a: Analysis, table: LatencyTable): number {
  const last = (s: number[]) => s[s.length - 1];
  let us = baseUs(table, a.outputShape);
  a.spec.edges.forEach((e, ei) => {
    const inShape = a.shapes.get(e.from)!;
    const outShape = a.edgeOutputShapes[ei];
    us += costOf(edgeCost(table, e.op, inShape, outShape), last(inShape), last(outShape));
  });
  for (const n of a.spec.nodes) {
    const shape = a.shapes.get(n.id)!;
    us += aggregationUs(table, n.aggregate ?? 'sum', a.incoming.get(n.id)!.length, last(shape), shape);
  }
  return us;
}

/**
 * What a candidate contributes to the latency: the parameter class (`signature`) refined by the
 * activation, kernel, stride and padding, and the pass-through op (free, pooling, flatten).
 */
export function latencySignature(sa: SpaceAnalysis, ei: number, c: number): string {
  const o = sa.space.edges[ei].choices[c].op;
  const kind = latencyKind(o);
  if (!kind) return o.type === 'zero' ? 'zero' : 'free';
  return `${signature(sa, ei, c)}/${kind}/${JSON.stringify(o)}`;
}

const formatUs = (us: number) => `${Math.ceil(us * 100) / 100} µs`;

/** The smallest predicted latency of a valid architecture of a space, by enumeration (ties: the first). */
export function smallestLatency(
  sa: SpaceAnalysis,
  table: LatencyTable,
  space = sa.space.name,
): { chosen: number[]; latencyUs: number } {
  let best: { chosen: number[]; latencyUs: number } | null = null;
  enumerate(
    representatives(sa, (_, c) => -c, space, latencySignature, 'a latency budget'),
    (chosen) => {
      if (!discreteParameters(sa, chosen).valid) return;
      const us = discreteLatencyUs(sa, chosen, table);
      if (!best || us < best.latencyUs) best = { chosen: [...chosen], latencyUs: us };
    },
  );
  if (!best) throw new UserError(`space '${space}' has no valid architecture`);
  return best;
}

/** Both budgets of a search; either may be absent. */
export interface Budgets {
  maxParameters?: number;
  maxLatencyUs?: number;
  /** Required with `maxLatencyUs`. */
  table?: LatencyTable;
}

/** Whether a valid architecture fits the budgets. */
export function fitsBudgets(sa: SpaceAnalysis, chosen: readonly number[], b: Budgets): boolean {
  const p = discreteParameters(sa, chosen);
  if (!p.valid || (b.maxParameters !== undefined && p.parameters > b.maxParameters)) return false;
  return b.maxLatencyUs === undefined || discreteLatencyUs(sa, chosen, b.table!) <= b.maxLatencyUs;
}

/**
 * Checks budgets against the space: a one-line user error when one is below the smallest
 * architecture (naming that minimum), or when together they exclude every architecture. Returns
 * the minima (0 for a budget not given).
 */
export function checkBudgets(
  sa: SpaceAnalysis,
  b: Budgets,
  space: string,
): { minParameters: number; minLatencyUs: number } {
  const minParameters = b.maxParameters !== undefined ? checkBudget(sa, b.maxParameters, space) : 0;
  if (b.maxLatencyUs === undefined) return { minParameters, minLatencyUs: 0 };
  const minLatencyUs = smallestLatency(sa, b.table!, space).latencyUs;
  if (b.maxLatencyUs < minLatencyUs)
    throw new UserError(
      `--max-latency-us ${b.maxLatencyUs} is below the smallest architecture of space '${space}' on this data (${formatUs(minLatencyUs)} on the ${b.table!.backend} backend${b.table!.batch > 1 ? ` at batch ${b.table!.batch}` : ''})`,
    );
  if (b.maxParameters !== undefined) {
    let any = false;
    enumerate(
      budgetClasses(sa, () => 0, space),
      (c) => void (any ||= fitsBudgets(sa, c, b)),
    );
    if (!any)
      throw new UserError(
        `--max-parameters ${b.maxParameters} and --max-latency-us ${b.maxLatencyUs} together exclude every architecture of space '${space}' on this data`,
      );
  }
  return { minParameters, minLatencyUs };
}

export const budgetClasses = (sa: SpaceAnalysis, score: (ei: number, c: number) => number, space: string) =>
  representatives(sa, score, space, latencySignature, 'a latency budget');

export interface BudgetRepair {
  /** The candidate chosen on every space edge. */
  chosen: number[];
  /** Its parameter count and predicted latency before ARD pruning. */
  parameters: number;
  latencyUs: number | null;
  /** Whether the repair changed the argmax architecture. */
  changed: boolean;
}

/**
 * Makes a discretized architecture fit the budgets: the argmax choices `chosen` when they fit, else
 * the most probable valid architecture that fits both, the maximum of Σ_e log softmax(s_e)[c_e]
 * (as `repairToBudget` for parameters alone), by enumerating the architectures of distinct size and
 * latency, keeping the most probable candidate of each class; ties go to the first in enumeration
 * order. Throws the `checkBudgets` error when nothing fits.
 */
export function repairToBudgets(
  sa: SpaceAnalysis,
  chosen: readonly number[],
  logits: readonly ArrayLike<number>[],
  b: Budgets,
  space = sa.space.name,
): BudgetRepair {
  const result = (c: readonly number[], changed: boolean): BudgetRepair => ({
    chosen: [...c],
    parameters: discreteParameters(sa, c).parameters,
    latencyUs: b.maxLatencyUs !== undefined ? discreteLatencyUs(sa, c, b.table!) : null,
    changed,
  });
  if (fitsBudgets(sa, chosen, b)) return result(chosen, false);
  const logp = logits.map(logSoftmax64);
  let best: { chosen: number[]; score: number } | null = null;
  enumerate(
    budgetClasses(sa, (ei, c) => logp[ei][c], space),
    (cand) => {
      const score = cand.reduce((s, c, ei) => s + logp[ei][c], 0);
      if (best && !(score > best.score)) return;
      if (fitsBudgets(sa, cand, b)) best = { chosen: [...cand], score };
    },
  );
  if (!best) {
    checkBudgets(sa, b, space);
    smallestArchitecture(sa, space);
  }
  const c = (best as { chosen: number[] } | null)!.chosen;
  return result(
    c,
    c.some((k, ei) => k !== chosen[ei]),
  );
}
