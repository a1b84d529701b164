import { INPUT, type Activation } from '../model/spec.js';
import type { GroupSlot, SupernetLayout } from './supernet.js';

/**
 * Structured pruning's graph decisions (docs/design.md §3.10): which nodes and edges of the chosen
 * architecture stay alive, and which dense edges lost every weight to ARD and can be dropped with
 * their constant output folded into a neighbouring bias. `discretize` applies them.
 */

/** The kernel slot (and its index in the layout's groups) and the chosen width of an edge's layer. */
export interface EdgeLayer {
  slot: GroupSlot;
  group: number;
  width: number;
}

/** The layer of each edge's chosen candidate, or null for parameter-free candidates (zero included). */
export function chosenLayers(layout: SupernetLayout, chosen: readonly number[]): (EdgeLayer | null)[] {
  return layout.sa.space.edges.map((_, ei) => {
    const gi = layout.sa.groups[ei].findIndex((g) => g.members.some((m) => m.choice === chosen[ei]));
    if (gi < 0) return null;
    const group = layout.groups.findIndex((g) => g.edge === ei && g.group === gi);
    const slot = layout.groups[group];
    return { slot, group, width: slot.info.members.find((m) => m.choice === chosen[ei])!.width };
  });
}

/** An activation applied to one number (the value of a unit whose pre-activation is constant). */
export function scalarActivation(activation: Activation | undefined, x: number): number {
  switch (activation ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return Math.max(0, x);
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'softplus':
      return x > 20 ? x : Math.log1p(Math.exp(x));
    case 'elu':
      return x > 0 ? x : Math.expm1(x);
  }
}

export interface Alive {
  reaches: Set<string>;
  reached: Set<string>;
  /** The edge is in the result: not gone, and on a path from the input to the output. */
  keep: (ei: number) => boolean;
}

/** Nodes reached from the input and reaching the output through edges that are not `gone`. */
export function aliveGraph(layout: SupernetLayout, gone: (ei: number) => boolean): Alive {
  const { sa } = layout;
  const edges = sa.space.edges;
  const reaches = new Set<string>([sa.space.output]);
  for (const id of [...sa.order].reverse())
    if (edges.some((e, ei) => e.from === id && !gone(ei) && reaches.has(e.to))) reaches.add(id);
  const reached = new Set<string>([INPUT]);
  for (const id of sa.order)
    if (edges.some((e, ei) => e.to === id && !gone(ei) && reached.has(e.from))) reached.add(id);
  const keep = (ei: number) =>
    !gone(ei) && reaches.has(edges[ei].to) && reached.has(edges[ei].from) && reaches.has(edges[ei].from);
  return { reaches, reached, keep };
}

/** Every weight of the layer (all input channels and taps × its chosen width) is pruned. */
export function allPruned(layer: EdgeLayer, mask: Float32Array): boolean {
  const shape = layer.slot.info.kernelShape;
  const W = shape[shape.length - 1];
  const rows = mask.length / W;
  for (let r = 0; r < rows; r++) for (let o = 0; o < layer.width; o++) if (mask[r * W + o]) return false;
  return true;
}

/** Where a dropped edge's constant goes: the head's outgoing dense edges, or one linear dense edge into the output. */
export type FoldTarget = { kind: 'outgoing' } | { kind: 'bias'; edge: number };

const isDense = (l: EdgeLayer | null): l is EdgeLayer => l !== null && l.slot.info.op.type === 'dense';
const isLinear = (l: EdgeLayer) => (l.slot.info.op.activation ?? 'linear') === 'linear';

/**
 * The dense edges to drop, one at a time while the graph changes: an alive dense edge whose every
 * weight is pruned, into a `sum` node that keeps another alive incoming edge, and whose constant has a
 * home: every alive outgoing edge of the head is dense (their biases absorb W·c), or the head is the
 * output and another alive linear dense edge into it keeps a weight (its bias absorbs c).
 */
export function deadEdges(
  layout: SupernetLayout,
  layers: (EdgeLayer | null)[],
  masks: Float32Array[],
  isZero: (ei: number) => boolean,
): Map<number, FoldTarget> {
  const { sa } = layout;
  const edges = sa.space.edges;
  const dead = new Map<number, FoldTarget>();
  for (;;) {
    const alive = aliveGraph(layout, (ei) => isZero(ei) || dead.has(ei));
    let added = false;
    for (let ei = 0; ei < edges.length && !added; ei++) {
      const layer = layers[ei];
      if (!alive.keep(ei) || !isDense(layer) || !allPruned(layer, masks[layer.group])) continue;
      const head = edges[ei].to;
      if ((layout.aggregates.get(head) ?? 'sum') !== 'sum') continue;
      const others = sa.incoming.get(head)!.filter((ej) => ej !== ei && alive.keep(ej));
      if (others.length === 0) continue;
      let target: FoldTarget | null = null;
      if (head === sa.space.output) {
        const ej = others.find((j) => {
          const l = layers[j];
          return isDense(l) && isLinear(l) && !allPruned(l, masks[l.group]);
        });
        if (ej !== undefined) target = { kind: 'bias', edge: ej };
      } else {
        const outs = edges.flatMap((e, j) => (e.from === head && alive.keep(j) ? [j] : []));
        if (outs.length > 0 && outs.every((j) => isDense(layers[j]))) target = { kind: 'outgoing' };
      }
      if (target) {
        dead.set(ei, target);
        added = true;
      }
    }
    if (!added) return dead;
  }
}
