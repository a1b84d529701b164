import type { Analysis, ArchSpec } from './spec.js';

/**
 * Widening a network's output layer (docs/design.md §2.7): a searched regression student predicts
 * [μ, log σ²]; the `two-variance` head needs a third output. When every edge into the output node is a
 * dense layer (and the node does not concatenate), each of those layers gets `units` outputs; every
 * other layer is unchanged, so the search's weights carry over by parameter name.
 */

/** The spec with its output layers widened to `units`, or null when its output node is not of that form. */
export function widenDenseOutput(spec: ArchSpec, units: number): ArchSpec | null {
  const node = spec.nodes.find((n) => n.id === spec.output);
  if (!node || node.aggregate === 'concat') return null;
  const into = spec.edges.filter((e) => e.to === spec.output);
  if (!into.length || !into.every((e) => e.op.type === 'dense')) return null;
  return {
    ...spec,
    edges: spec.edges.map((e) =>
      e.to === spec.output && e.op.type === 'dense' ? { ...e, op: { ...e.op, units } } : e,
    ),
  };
}

/**
 * Weights of `from` laid out for `to` (the same spec with wider output layers): each parameter is
 * copied by name; a widened kernel [fanIn, k] fills the first k columns of [fanIn, k′] and a widened
 * bias its first k entries; the new columns and entries are zero.
 */
export function widenWeights(from: Analysis, to: Analysis, w: Float32Array): Float32Array {
  const out = new Float32Array(to.parameterCount);
  const source = new Map(from.params.map((p) => [p.name, p]));
  for (const p of to.params) {
    const q = source.get(p.name);
    if (!q) throw new Error(`widenWeights: parameter ${p.name} is not in ${from.spec.name}`);
    const src = w.subarray(q.offset, q.offset + q.size);
    if (q.size === p.size) {
      out.set(src, p.offset);
      continue;
    }
    const k = q.shape[q.shape.length - 1];
    const wide = p.shape[p.shape.length - 1];
    const rows = q.size / k;
    if (rows !== p.size / wide || wide < k)
      throw new Error(`widenWeights: ${p.name} has shape [${q.shape}], cannot widen to [${p.shape}]`);
    for (let r = 0; r < rows; r++) out.set(src.subarray(r * k, (r + 1) * k), p.offset + r * wide);
  }
  return out;
}
