import { UserError } from '../core/errors.js';
import {
  ARCH_FORMAT,
  ARCH_VERSION,
  INPUT,
  analyzeSpec,
  type Analysis,
  type ArchEdge,
  type ArchSpec,
  type Op,
} from '../model/spec.js';
import type { SupernetLayout } from './supernet.js';
import { softmax64 } from './relaxations.js';

/**
 * From a trained supernet to a discrete architecture (docs/design.md §3, "Result"):
 * - each edge takes its most probable candidate (argmax of the structure logits); zero edges are dropped,
 *   then nodes that no longer reach the output, or are no longer reached from the input;
 * - ARD pruning: weight i is pruned when its relative density at zero λ_i = exp(−μ_i²/2σ_i²) exceeds
 *   the threshold, and set to exactly zero;
 * - widths shrink: a hidden unit beyond its candidate's width, or whose outgoing weights are all
 *   pruned, is removed (units are removed only at nodes whose every incoming and outgoing edge is a
 *   dense/conv layer, so no identity or pooling edge needs matching shapes).
 * The exported weights (means of q(w), pruned weights zero) give exactly the supernet's mean output
 * with one-hot γ and the same pruning.
 */
export interface DiscreteResult {
  analysis: Analysis;
  weights: Float32Array;
  /** Chosen candidate label per space edge (`zero` or `dropped` when the edge is not in the result). */
  choices: { edge: string; choice: string; probability: number }[];
  pruned: { weights: number; total: number };
}

export interface TrainedValues {
  /** θ and h as arrays, in layout order. */
  theta: Float32Array[];
  h: Float32Array[];
}

const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));

/** λ_i = exp(−μ²/2σ²) for every weight of a group. */
export function relativeDensity(mu: Float32Array, rho: Float32Array): Float32Array {
  return Float32Array.from(mu, (m, i) => {
    const s = softplus(rho[i]);
    return Math.exp((-m * m) / (2 * s * s));
  });
}

/** One-hot γ per edge at the argmax of its logits (for the supernet's equivalence with the export). */
export function chosenCandidates(layout: SupernetLayout, h: Float32Array[]): number[] {
  return layout.sa.space.edges.map((_, ei) => {
    const li = layout.logits[ei];
    if (li === null) return 0;
    const p = Array.from(softmax64(h[li]));
    return p.indexOf(Math.max(...p));
  });
}

/**
 * The discrete architecture and its weights (see above). `chosen` overrides the argmax candidates,
 * e.g. with a parameter budget's repair (budget.ts); the reported probabilities are the chosen ones'.
 */
export function discretize(
  layout: SupernetLayout,
  values: TrainedValues,
  pruneThreshold: number,
  name: string,
  chosen: readonly number[] = chosenCandidates(layout, values.h),
): DiscreteResult {
  const { sa } = layout;
  const edges = sa.space.edges;
  const isZero = (ei: number) => edges[ei].choices[chosen[ei]].op.type === 'zero';
  // Alive: reached from the input and reaching the output through non-zero edges.
  const reaches = new Set<string>([sa.space.output]);
  for (const id of [...sa.order].reverse())
    if (edges.some((e, ei) => e.from === id && !isZero(ei) && reaches.has(e.to))) reaches.add(id);
  const reached = new Set<string>([INPUT]);
  for (const id of sa.order)
    if (edges.some((e, ei) => e.to === id && !isZero(ei) && reached.has(e.from))) reached.add(id);
  const keepEdge = (ei: number) =>
    !isZero(ei) && reaches.has(edges[ei].to) && reached.has(edges[ei].from) && reaches.has(edges[ei].from);
  if (!reaches.has(INPUT))
    throw new UserError(
      'the search chose `zero` on every path from the input to the output; nothing to export',
    );

  // Group slot and member of each kept edge's choice.
  const slotOf = (ei: number) => {
    const gi = sa.groups[ei].findIndex((g) => g.members.some((m) => m.choice === chosen[ei]));
    if (gi < 0) return null;
    const slot = layout.groups.find((g) => g.edge === ei && g.group === gi)!;
    const width = slot.info.members.find((m) => m.choice === chosen[ei])!.width;
    return { slot, width };
  };
  // Pruning masks per group (1 = kept).
  let prunedCount = 0;
  let total = 0;
  const keepMask = pruneMasks(layout, values, pruneThreshold);
  layout.groups.forEach((g, k) => {
    const m = keepMask[k];
    if (keepEdge(g.edge) && slotOf(g.edge)?.slot === g) {
      total += m.length;
      prunedCount += m.length - m.reduce((a, b) => a + b, 0);
    }
  });

  // Kept channel indices (last axis) per node.
  const kept = new Map<string, number[]>();
  const channels = (id: string) => sa.shapes.get(id)![sa.shapes.get(id)!.length - 1];
  kept.set(INPUT, [...Array(channels(INPUT)).keys()]);
  const isLayer = (ei: number) => slotOf(ei) !== null;
  for (const id of sa.order.slice(1)) {
    if (!reaches.has(id) || !reached.has(id)) continue;
    const inc = sa.incoming.get(id)!.filter(keepEdge);
    const outEdges = edges.map((_, ei) => ei).filter((ei) => edges[ei].from === id && keepEdge(ei));
    const agg = sa.space.nodes.find((n) => n.id === id)!.aggregate ?? 'sum';
    let set: number[];
    if (agg === 'concat') {
      set = [];
      let offset = 0;
      for (const ei of sa.incoming.get(id)!) {
        const w = sa.edgeShapes[ei][sa.edgeShapes[ei].length - 1];
        if (keepEdge(ei)) set.push(...edgeKept(ei).map((u) => u + offset));
        offset += w;
      }
    } else {
      const u = new Set<number>();
      for (const ei of inc) for (const c of edgeKept(ei)) u.add(c);
      set = [...u].sort((a, b) => a - b);
    }
    // ARD: drop units whose outgoing weights are all pruned, where every edge around is a layer.
    if (
      agg === 'sum' &&
      inc.every(isLayer) &&
      outEdges.length > 0 &&
      outEdges.every(isLayer) &&
      id !== sa.space.output
    ) {
      set = set.filter((u) =>
        outEdges.some((ei) => {
          const { slot, width } = slotOf(ei)!;
          const mask = keepMask[layout.groups.indexOf(slot)];
          const W = slot.info.kernelShape[slot.info.kernelShape.length - 1];
          const cin = slot.info.kernelShape[slot.info.kernelShape.length - 2];
          const taps = slot.info.op.type === 'conv2d' ? slot.info.op.kernelSize ** 2 : 1;
          for (let t = 0; t < taps; t++)
            for (let o = 0; o < width; o++) if (mask[(t * cin + u) * W + o]) return true;
          return false;
        }),
      );
      if (set.length === 0) set = [0]; // keep one unit so the graph stays valid
    }
    kept.set(id, set);
  }
  function edgeKept(ei: number): number[] {
    const e = edges[ei];
    const s = slotOf(ei);
    if (s) return [...Array(s.width).keys()];
    const op = e.choices[chosen[ei]].op;
    if (op.type === 'flatten') {
      const shape = sa.shapes.get(e.from)!;
      const c = shape[shape.length - 1];
      const from = kept.get(e.from)!;
      const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const out: number[] = [];
      for (let p = 0; p < positions; p++) for (const ch of from) out.push(p * c + ch);
      return out;
    }
    return kept.get(e.from)!;
  }

  // The units an edge writes into its head node: all of a `sum` node's, its own ones of a `concat` node's.
  const headUnits = (ei: number) =>
    (sa.space.nodes.find((n) => n.id === edges[ei].to)!.aggregate ?? 'sum') === 'concat'
      ? edgeKept(ei)
      : kept.get(edges[ei].to)!;

  // The spec.
  const specEdges: ArchEdge[] = [];
  const source: { ei: number }[] = [];
  for (const id of sa.order.slice(1)) {
    for (const ei of sa.incoming.get(id)!) {
      if (!keepEdge(ei)) continue;
      const e = edges[ei];
      const s = slotOf(ei);
      let op: Op;
      if (s) {
        const base = s.slot.info.op;
        op =
          base.type === 'dense'
            ? { ...base, units: headUnits(ei).length }
            : { ...base, filters: headUnits(ei).length };
      } else op = e.choices[chosen[ei]].op as Op;
      if (!s && kept.get(e.from)!.join() !== headUnits(ei).join() && op.type !== 'flatten')
        throw new UserError(
          `cannot export edge ${e.from} → ${e.to}: its '${op.type}' would join units of different widths`,
        );
      specEdges.push({ from: e.from, to: e.to, op });
      source.push({ ei });
    }
  }
  const spec: ArchSpec = {
    format: ARCH_FORMAT,
    version: ARCH_VERSION,
    name,
    input: sa.space.input,
    nodes: sa.space.nodes.filter((n) => kept.has(n.id)).map((n) => ({ ...n })),
    edges: specEdges,
    output: sa.space.output,
  };
  const analysis = analyzeSpec(spec, `searched architecture '${name}'`);
  const weights = new Float32Array(analysis.parameterCount);
  for (const p of analysis.params) {
    const { ei } = source[p.edge];
    const { slot } = slotOf(ei)!;
    const k = layout.groups.indexOf(slot);
    const e = edges[ei];
    const rowsIn = kept.get(e.from)!;
    const colsOut = headUnits(ei);
    const edgeOut = edgeKept(ei);
    const inEdge = new Set(edgeOut);
    const W = slot.info.kernelShape[slot.info.kernelShape.length - 1];
    if (p.role === 'bias') {
      colsOut.forEach((u, j) => (weights[p.offset + j] = inEdge.has(u) ? values.theta[slot.bias][u] : 0));
      continue;
    }
    const mu = values.theta[slot.mean];
    const mask = keepMask[k];
    const cin = slot.info.kernelShape[slot.info.kernelShape.length - 2];
    const taps = slot.info.op.type === 'conv2d' ? slot.info.op.kernelSize ** 2 : 1;
    let o = p.offset;
    for (let t = 0; t < taps; t++)
      for (const r of rowsIn)
        for (const u of colsOut) {
          const src = (t * cin + r) * W + u;
          weights[o++] = inEdge.has(u) && mask[src] ? mu[src] : 0;
        }
  }
  const choices = edges.map((e, ei) => {
    const li = layout.logits[ei];
    const p = li === null ? [1] : Array.from(softmax64(values.h[li]));
    return {
      edge: `${e.from}->${e.to}#${ei}`,
      choice: keepEdge(ei) ? e.choices[chosen[ei]].label : isZero(ei) ? 'zero' : 'dropped',
      probability: p[chosen[ei]],
    };
  });
  return { analysis, weights, choices, pruned: { weights: prunedCount, total } };
}

/** The pruning mask of every group (1 = kept), for zeroing pruned weights in the supernet. */
export function pruneMasks(
  layout: SupernetLayout,
  values: TrainedValues,
  pruneThreshold: number,
): Float32Array[] {
  return layout.groups.map((g) =>
    Float32Array.from(relativeDensity(values.theta[g.mean], values.theta[g.rho]), (d) =>
      d > pruneThreshold ? 0 : 1,
    ),
  );
}
