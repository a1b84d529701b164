import * as tf from '@tensorflow/tfjs';
import { INPUT } from '../model/spec.js';
import type { SupernetLayout } from './supernet.js';

/**
 * The expected parameter count of the discrete architecture, E_γ[P(c)], when every edge e takes
 * candidate c_e with probability softmax(s_e)[c_e] independently and P(c) is the exact count of the
 * architecture `discretize` exports for those choices (`discreteParameters` in budget.ts): the
 * quantity a parameter budget constrains (docs/design.md §3.9). Differentiable in the structure logits.
 *
 * Each node j carries the sub-probability distribution of its width, D_j(x) = P(j reached from the
 * input through non-zero edges, width(j) = x); each edge the distribution of the units it brings; a
 * `sum` node takes the largest of its incoming edges' units, a `concat` node their sum. A kept
 * dense or convolution edge j → k with candidate c has (τ_c·width(j) + 1)·width(k) parameters (τ_c:
 * the kernel's taps; its own width instead of width(k) when k concatenates), so it adds
 *
 *   p_c · A_k · (τ_c·E[width(j)·1{reached j}] + P(reached j)) · E[width(k) | c]
 *
 * with A_k = P(k reaches the output). The value is exact when these events are independent: when
 * the edges that decide a node's width, the edges that decide whether it reaches the output, and the
 * edges into a node's siblings share no choice, as in both built-in spaces; otherwise it is the
 * mean-field value of the same formula.
 */

export interface WidthDist {
  /** Widths > 0, increasing. */
  support: number[];
  /** P(reached ∧ width = support[i]). */
  p: tf.Tensor1D;
}

const uniq = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);

/** p on `d.support`, moved to `support` through x ↦ f(x) (a constant 0/1 matrix). */
function remap(d: WidthDist, support: number[], f: (x: number) => number = (x) => x): tf.Tensor1D {
  const m = new Float32Array(d.support.length * support.length);
  d.support.forEach((x, i) => (m[i * support.length + support.indexOf(f(x))] = 1));
  return tf.dot(d.p, tf.tensor2d(m, [d.support.length, support.length])) as tf.Tensor1D;
}

export const total = (d: WidthDist) => tf.sum(d.p);
export const mean = (d: WidthDist) => tf.dot(d.p, tf.tensor1d(d.support));

/** The probability mass function of max(W_1, …) of independent sub-distributions (0 when none). */
export function maxOf(ds: WidthDist[]): WidthDist {
  if (ds.length === 1) return ds[0];
  const support = uniq(ds.flatMap((d) => d.support));
  let cdf: tf.Tensor1D | null = null; // P(max ≤ support[i])
  let none: tf.Tensor | null = null; // P(max = 0)
  for (const d of ds) {
    const miss = tf.sub(1, total(d));
    const c = tf.add(miss, tf.cumsum(remap(d, support))) as tf.Tensor1D;
    cdf = cdf ? (tf.mul(cdf, c) as tf.Tensor1D) : c;
    none = none ? tf.mul(none, miss) : miss;
  }
  const prev = tf.concat([tf.reshape(none!, [1]), tf.slice(cdf!, [0], [support.length - 1])]);
  return { support, p: tf.sub(cdf!, prev) as tf.Tensor1D };
}

/** The probability mass function of W_1 + W_2 + … of independent sub-distributions (0 when none). */
export function sumOf(ds: WidthDist[]): WidthDist {
  if (ds.length === 1) return ds[0];
  // Full distributions with 0 at index 0.
  let support = [0];
  let p: tf.Tensor1D = tf.ones([1]);
  for (const d of ds) {
    const s2 = [0, ...d.support];
    const p2 = tf.concat([tf.reshape(tf.sub(1, total(d)), [1]), d.p]) as tf.Tensor1D;
    const next = uniq(support.flatMap((a) => s2.map((b) => a + b)));
    const m = new Float32Array(support.length * s2.length * next.length);
    support.forEach((a, i) =>
      s2.forEach((b, j) => (m[(i * s2.length + j) * next.length + next.indexOf(a + b)] = 1)),
    );
    const outer = tf.reshape(tf.outerProduct(p, p2), [-1]) as tf.Tensor1D;
    p = tf.dot(outer, tf.tensor2d(m, [support.length * s2.length, next.length])) as tf.Tensor1D;
    support = next;
  }
  return { support: support.slice(1), p: tf.slice(p, [1], [support.length - 1]) };
}

/**
 * softmax(s) of every edge ([1] for an edge with one choice). With `fixedGates`, an edge with a `zero`
 * candidate z gets p = g·softmax(s without z) + (1 − g)·onehot(z) with g = 1 − softmax(s)_z taken as
 * a constant: the same values, but no gradient moves the probability of `zero`.
 */
export function edgeProbabilities(
  layout: SupernetLayout,
  h: tf.Tensor[],
  fixedGates: boolean,
): tf.Tensor1D[] {
  return layout.sa.space.edges.map((e, ei) => {
    const li = layout.logits[ei];
    if (li === null) return tf.ones([1]) as tf.Tensor1D;
    const p = tf.softmax(h[li]) as tf.Tensor1D;
    const z = e.choices.findIndex((c) => c.op.type === 'zero');
    if (!fixedGates || z < 0) return p;
    const g = 1 - p.dataSync()[z];
    const mask = tf.tensor1d(e.choices.map((_, k) => (k === z ? -Infinity : 0)));
    const rest = tf.softmax(tf.add(h[li], mask));
    return tf.add(
      tf.mul(g, rest),
      tf
        .oneHot([z], e.choices.length)
        .reshape([-1])
        .mul(1 - g),
    ) as tf.Tensor1D;
  });
}

type CandidateOp = SupernetLayout['sa']['space']['edges'][number]['choices'][number]['op'];
const layerWidth = (o: CandidateOp) => (o.type === 'dense' ? o.units : o.type === 'conv2d' ? o.filters : 0);
const passes = (o: CandidateOp) => !['zero', 'flatten', 'dense', 'conv2d'].includes(o.type);

/** p · f(candidate) summed over an edge's candidates. */
function indicator(layout: SupernetLayout, probs: tf.Tensor1D[], ei: number, f: (o: CandidateOp) => number) {
  return tf.dot(probs[ei], tf.tensor1d(layout.sa.space.edges[ei].choices.map((c) => f(c.op)))) as tf.Scalar;
}

/**
 * Forward: the width sub-distributions of every node (P(reached ∧ width = x)) and of the units every
 * edge brings, for edge probabilities `probs`.
 */
export function widthDistributions(
  layout: SupernetLayout,
  probs: tf.Tensor1D[],
): { node: Map<string, WidthDist>; edgeDist: WidthDist[] } {
  const { sa } = layout;
  const edges = sa.space.edges;
  const ops = (ei: number) => edges[ei].choices.map((c) => c.op);
  const inWidth = sa.shapes.get(INPUT)![sa.shapes.get(INPUT)!.length - 1];
  const node = new Map<string, WidthDist>([[INPUT, { support: [inWidth], p: tf.ones([1]) }]]);
  const edgeDist: WidthDist[] = new Array(edges.length);
  for (const id of sa.order.slice(1)) {
    for (const ei of sa.incoming.get(id)!) {
      const from = node.get(edges[ei].from)!;
      const shape = sa.shapes.get(edges[ei].from)!;
      const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const os = ops(ei);
      const layers = os.map(layerWidth).filter((w) => w > 0);
      const pass = os.some(passes);
      const flat = os.some((o) => o.type === 'flatten');
      const support = uniq([
        ...layers,
        ...(pass ? from.support : []),
        ...(flat ? from.support.map((x) => x * positions) : []),
      ]);
      const terms: tf.Tensor1D[] = [];
      if (layers.length) {
        const m = new Float32Array(os.length * support.length);
        os.forEach((o, c) => {
          if (layerWidth(o) > 0) m[c * support.length + support.indexOf(layerWidth(o))] = 1;
        });
        const byWidth = tf.dot(probs[ei], tf.tensor2d(m, [os.length, support.length]));
        terms.push(tf.mul(total(from), byWidth) as tf.Tensor1D);
      }
      if (pass) {
        const share = indicator(layout, probs, ei, (o) => (passes(o) ? 1 : 0));
        terms.push(tf.mul(share, remap(from, support)) as tf.Tensor1D);
      }
      if (flat) {
        const share = indicator(layout, probs, ei, (o) => (o.type === 'flatten' ? 1 : 0));
        terms.push(
          tf.mul(
            share,
            remap(from, support, (x) => x * positions),
          ) as tf.Tensor1D,
        );
      }
      edgeDist[ei] = { support, p: terms.length === 1 ? terms[0] : (tf.addN(terms) as tf.Tensor1D) };
    }
    const inc = sa.incoming.get(id)!.map((ei) => edgeDist[ei]);
    const concat = sa.space.nodes.find((n) => n.id === id)!.aggregate === 'concat';
    node.set(id, concat ? sumOf(inc) : maxOf(inc));
  }
  return { node, edgeDist };
}

/** Backward: A_v = P(v reaches the output through non-zero edges). */
export function aliveProbabilities(layout: SupernetLayout, probs: tf.Tensor1D[]): Map<string, tf.Tensor> {
  const { sa } = layout;
  const edges = sa.space.edges;
  const nonZero = edges.map((_, ei) => indicator(layout, probs, ei, (o) => (o.type === 'zero' ? 0 : 1)));
  const alive = new Map<string, tf.Tensor>([[sa.space.output, tf.scalar(1)]]);
  for (const id of [...sa.order].reverse()) {
    if (id === sa.space.output) continue;
    let dead: tf.Tensor = tf.scalar(1);
    edges.forEach((e, ei) => {
      if (e.from === id) dead = tf.mul(dead, tf.sub(1, tf.mul(nonZero[ei], alive.get(e.to)!)));
    });
    alive.set(id, tf.sub(1, dead));
  }
  return alive;
}

/**
 * E[max(x, M)] per point x of `support`, M the widest of the units edges `siblings` bring
 * (a sub-distribution: M = 0 when none is kept): x + Σ_s P(M = s)·max(0, s − x); x itself when
 * there are no siblings. Points x = 0 stay 0 (candidates that bring no layer of their own).
 */
export function expectedMaxWith(siblings: WidthDist[], support: number[]): tf.Tensor1D {
  const a = tf.tensor1d(support);
  if (!siblings.length) return a;
  const m = maxOf(siblings);
  const excess = new Float32Array(m.support.length * support.length);
  m.support.forEach((s, i) =>
    support.forEach((w, c) => (excess[i * support.length + c] = w > 0 ? Math.max(0, s - w) : 0)),
  );
  return tf.add(a, tf.dot(m.p, tf.tensor2d(excess, [m.support.length, support.length]))) as tf.Tensor1D;
}

/**
 * E_γ[parameters of the discrete architecture] (see the module comment), a scalar. With `fixedGates`
 * the probabilities of `zero` candidates pass no gradient (the budget's term in Q, docs/design.md §3.9).
 */
export function expectedArchParameters(
  layout: SupernetLayout,
  h: tf.Tensor[],
  fixedGates = false,
): tf.Scalar {
  const { sa } = layout;
  const edges = sa.space.edges;
  const probs = edgeProbabilities(layout, h, fixedGates);
  const { node, edgeDist } = widthDistributions(layout, probs);
  const alive = aliveProbabilities(layout, probs);

  // The layer edges' expected parameters.
  const terms: tf.Tensor[] = [];
  edges.forEach((e, ei) => {
    const os = e.choices.map((c) => c.op);
    if (!os.some((o) => layerWidth(o) > 0)) return;
    const from = node.get(e.from)!;
    const siblings = sa.incoming.get(e.to)!.filter((x) => x !== ei);
    const concat = sa.space.nodes.find((n) => n.id === e.to)!.aggregate === 'concat';
    // E[width(k) | c] for each candidate c (0 for the parameter-free ones, which add nothing).
    const g = expectedMaxWith(concat ? [] : siblings.map((s) => edgeDist[s]), os.map(layerWidth));
    const taps = tf.tensor1d(os.map((o) => (o.type === 'conv2d' ? o.kernelSize ** 2 : 1)));
    const perWidth = tf.dot(probs[ei], tf.mul(taps, g)); // Σ_c p_c τ_c E[width(k) | c]
    const perBias = tf.dot(probs[ei], g); // Σ_c p_c E[width(k) | c]
    terms.push(tf.mul(alive.get(e.to)!, tf.add(tf.mul(mean(from), perWidth), tf.mul(total(from), perBias))));
  });
  return (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
}
