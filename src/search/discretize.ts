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
import { aliveGraph, chosenLayers, deadEdges, scalarActivation } from './structured-pruning.js';

/**
 * From a trained supernet to a discrete architecture (docs/design.md §3.7):
 * - each edge takes its most probable candidate (argmax of the structure logits); zero edges are dropped,
 *   then nodes that no longer reach the output, or are no longer reached from the input;
 * - ARD pruning: weight i is pruned when its relative density at zero λ_i = exp(−μ_i²/2σ_i²) exceeds
 *   the threshold, and set to exactly zero;
 * - structured pruning (docs/design.md §3.10), every step exact:
 *   - a dense edge whose every weight is pruned outputs the constant act(b); it is dropped and the
 *     constant folded into the biases of its head node's outgoing dense edges (or, at the output node,
 *     into the bias of another linear dense edge into it), when its head keeps another incoming edge;
 *   - a hidden unit whose outgoing weights are all pruned is removed (`unused`);
 *   - a hidden unit whose incoming weights are all pruned is constant; it is removed and its value
 *     folded into the outgoing edges' biases (`constant`, dense edges only);
 *   units are removed only at `sum` nodes whose every incoming and outgoing edge is a dense/conv layer,
 *   so no identity or pooling edge needs matching shapes;
 * - widths shrink: a hidden unit beyond its candidate's width is not exported.
 * The exported weights (means of q(w), pruned weights zero, folded biases) give exactly the supernet's
 * mean output with one-hot γ and the same pruning: they are the warm start of the student.
 */
export interface RemovedUnits {
  node: string;
  /** Channel indices of the node (its numbering in the supernet), ascending. */
  units: number[];
  reason: 'unused' | 'constant';
}

export interface DiscreteResult {
  analysis: Analysis;
  weights: Float32Array;
  /** Chosen candidate label per space edge (`zero`, `dropped` or `pruned` when the edge is not in the result). */
  choices: { edge: string; choice: string; probability: number }[];
  /** ARD-pruned (zero) weights among the exported kernels' weights. */
  pruned: { weights: number; total: number };
  /** Units removed by structured pruning. */
  removedUnits: RemovedUnits[];
  /** Edges (`from->to#index`) dropped because every weight was pruned, their constant folded. */
  droppedEdges: string[];
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
  const output = sa.space.output;
  const isZero = (ei: number) => edges[ei].choices[chosen[ei]].op.type === 'zero';
  if (!aliveGraph(layout, isZero).reaches.has(INPUT))
    throw new UserError(
      'the search chose `zero` on every path from the input to the output; nothing to export',
    );
  const layers = chosenLayers(layout, chosen);
  const keepMask = pruneMasks(layout, values, pruneThreshold);
  const dead = deadEdges(layout, layers, keepMask, isZero);
  const { reaches, reached, keep: keepEdge } = aliveGraph(layout, (ei) => isZero(ei) || dead.has(ei));
  const alive = (id: string) => reaches.has(id) && reached.has(id);
  const isLayer = (ei: number) => layers[ei] !== null;
  const isDense = (ei: number) => layers[ei]?.slot.info.op.type === 'dense';
  const channels = (id: string) => sa.shapes.get(id)![sa.shapes.get(id)!.length - 1];
  const outgoing = (id: string) => edges.flatMap((e, ei) => (e.from === id && keepEdge(ei) ? [ei] : []));
  const maskAt = (ei: number) => keepMask[layers[ei]!.group];
  const kernelWidth = (ei: number) => {
    const s = layers[ei]!.slot.info.kernelShape;
    return s[s.length - 1];
  };
  const taps = (ei: number) => {
    const op = layers[ei]!.slot.info.op;
    return op.type === 'conv2d' ? op.kernelSize ** 2 : 1;
  };

  // Biases with the folded constants, per kept layer edge.
  const bias = new Map<number, Float64Array>();
  edges.forEach((_, ei) => {
    if (keepEdge(ei) && layers[ei]) bias.set(ei, Float64Array.from(values.theta[layers[ei]!.slot.bias]));
  });
  // Constants (dropped edges' outputs, constant units) to fold at each node.
  const constant = new Map<string, Float64Array>();
  const addConstant = (id: string, u: number, c: number) => {
    if (!constant.has(id)) constant.set(id, new Float64Array(channels(id)));
    constant.get(id)![u] += c;
  };
  for (const [ei] of dead) {
    const l = layers[ei]!;
    const b = values.theta[l.slot.bias];
    for (let u = 0; u < l.width; u++)
      addConstant(edges[ei].to, u, scalarActivation(l.slot.info.op.activation, b[u]));
  }
  /** b_o[col] += Σ_u c[u]·W_o[u, col] over the kept weights of every outgoing dense edge o. */
  const foldIntoOutgoing = (id: string, c: Float64Array) => {
    for (const o of outgoing(id)) {
      const l = layers[o]!;
      const mu = values.theta[l.slot.mean];
      const mask = keepMask[l.group];
      const W = kernelWidth(o);
      const b = bias.get(o)!;
      for (let u = 0; u < c.length; u++)
        if (c[u] !== 0)
          for (let col = 0; col < l.width; col++) b[col] += c[u] * mu[u * W + col] * mask[u * W + col];
    }
  };

  // Kept channel indices (last axis) per node, in topological order, folding constants as they appear.
  const kept = new Map<string, number[]>();
  const removedUnits: RemovedUnits[] = [];
  kept.set(INPUT, [...Array(channels(INPUT)).keys()]);
  for (const id of sa.order.slice(1)) {
    if (!alive(id)) continue;
    const inc = sa.incoming.get(id)!.filter(keepEdge);
    const outEdges = outgoing(id);
    const agg = layout.aggregates.get(id)!;
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
    if (
      agg === 'sum' &&
      inc.every(isLayer) &&
      outEdges.length > 0 &&
      outEdges.every(isLayer) &&
      id !== output
    ) {
      // Unused: every outgoing weight of the unit is pruned.
      const unused = set.filter((u) =>
        outEdges.every((ei) => {
          const mask = maskAt(ei);
          const W = kernelWidth(ei);
          const cin = channels(id);
          for (let t = 0; t < taps(ei); t++)
            for (let o = 0; o < layers[ei]!.width; o++) if (mask[(t * cin + u) * W + o]) return false;
          return true;
        }),
      );
      let rest = set.filter((u) => !unused.includes(u));
      // Constant: every incoming weight of the unit (from the kept channels) is pruned; dense only.
      const constantUnits =
        inc.every(isDense) && outEdges.every(isDense)
          ? rest.filter((u) =>
              inc.every((ei) => {
                const mask = maskAt(ei);
                const W = kernelWidth(ei);
                return kept.get(edges[ei].from)!.every((r) => !mask[r * W + u]);
              }),
            )
          : [];
      if (constantUnits.length > 0 && constantUnits.length < rest.length) {
        for (const u of constantUnits) {
          let c = 0;
          for (const ei of inc)
            if (u < layers[ei]!.width)
              c += scalarActivation(layers[ei]!.slot.info.op.activation, bias.get(ei)![u]);
          addConstant(id, u, c);
        }
        rest = rest.filter((u) => !constantUnits.includes(u));
        removedUnits.push({ node: id, units: constantUnits, reason: 'constant' });
      }
      if (rest.length === 0) rest = [unused[0]]; // keep one (unused) unit so the graph stays valid
      const removed = unused.filter((u) => !rest.includes(u));
      if (removed.length > 0) removedUnits.push({ node: id, units: removed, reason: 'unused' });
      set = rest;
    }
    kept.set(id, set);
    const c = constant.get(id);
    if (!c) continue;
    if (id === output) {
      // Only dropped edges leave constants at the output; their target is a linear dense edge into it.
      for (const [ei, target] of dead) {
        if (edges[ei].to !== id || target.kind !== 'bias') continue;
        const b = bias.get(target.edge)!;
        for (let u = 0; u < layers[ei]!.width; u++)
          b[u] += scalarActivation(
            layers[ei]!.slot.info.op.activation,
            values.theta[layers[ei]!.slot.bias][u],
          );
      }
    } else foldIntoOutgoing(id, c);
  }
  function edgeKept(ei: number): number[] {
    const e = edges[ei];
    const l = layers[ei];
    if (l) return [...Array(l.width).keys()];
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
    layout.aggregates.get(edges[ei].to) === 'concat' ? edgeKept(ei) : kept.get(edges[ei].to)!;

  // The spec.
  const specEdges: ArchEdge[] = [];
  const source: { ei: number }[] = [];
  for (const id of sa.order.slice(1)) {
    for (const ei of sa.incoming.get(id)!) {
      if (!keepEdge(ei)) continue;
      const e = edges[ei];
      const l = layers[ei];
      let op: Op;
      if (l) {
        const base = l.slot.info.op;
        op =
          base.type === 'dense'
            ? { ...base, units: headUnits(ei).length }
            : { ...base, filters: headUnits(ei).length };
      } else op = e.choices[chosen[ei]].op as Op;
      if (!l && kept.get(e.from)!.join() !== headUnits(ei).join() && op.type !== 'flatten')
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
    output,
  };
  const analysis = analyzeSpec(spec, `searched architecture '${name}'`);
  const weights = new Float32Array(analysis.parameterCount);
  let prunedCount = 0;
  let total = 0;
  for (const p of analysis.params) {
    const { ei } = source[p.edge];
    const l = layers[ei]!;
    const e = edges[ei];
    const colsOut = headUnits(ei);
    const inEdge = new Set(edgeKept(ei));
    if (p.role === 'bias') {
      const b = bias.get(ei)!;
      colsOut.forEach((u, j) => (weights[p.offset + j] = inEdge.has(u) ? b[u] : 0));
      continue;
    }
    const rowsIn = kept.get(e.from)!;
    const W = kernelWidth(ei);
    const mu = values.theta[l.slot.mean];
    const mask = keepMask[l.group];
    const cin = channels(e.from);
    let o = p.offset;
    for (let t = 0; t < taps(ei); t++)
      for (const r of rowsIn)
        for (const u of colsOut) {
          const src = (t * cin + r) * W + u;
          if (inEdge.has(u)) {
            total++;
            if (!mask[src]) prunedCount++;
          }
          weights[o++] = inEdge.has(u) && mask[src] ? mu[src] : 0;
        }
  }
  const choices = edges.map((e, ei) => {
    const li = layout.logits[ei];
    const p = li === null ? [1] : Array.from(softmax64(values.h[li]));
    const choice = keepEdge(ei)
      ? e.choices[chosen[ei]].label
      : isZero(ei)
        ? 'zero'
        : dead.has(ei)
          ? 'pruned'
          : 'dropped';
    return { edge: `${e.from}->${e.to}#${ei}`, choice, probability: p[chosen[ei]] };
  });
  return {
    analysis,
    weights,
    choices,
    pruned: { weights: prunedCount, total },
    removedUnits,
    droppedEdges: [...dead.keys()].map((ei) => `${edges[ei].from}->${edges[ei].to}#${ei}`),
  };
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
