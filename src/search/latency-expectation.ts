import * as tf from '@tensorflow/tfjs';
import {
  aliveProbabilities,
  edgeProbabilities,
  expectedMaxWith,
  mean,
  total,
  widthDistributions,
} from './budget-expectation.js';
import { aggregationUs, baseUs, edgeCost } from './latency-budget.js';
import type { LatencyTable } from './latency-table.js';
import type { SupernetLayout } from './supernet.js';

/**
 * The expected predicted latency of the discrete architecture, E_γ[L(c)] (µs per example), when every
 * edge e takes candidate c_e with probability softmax(s_e)[c_e] independently and L(c) is
 * `discreteLatencyUs` under `table`: the quantity a latency budget constrains (docs/design.md §3.9).
 * Differentiable in the structure logits; built on the width distributions of the parameter budget's
 * expectation (`budget-expectation.ts`), since a kept edge's cost is, like its parameter count, a
 * function of the units it reads and writes:
 *
 *   E[cost_e] = Σ_c p_c · A_k · (f_c·P(j) + i_c·E[w_j 1_j] + o_c·P(j)·E[w_k | c] + m_c·E[w_j 1_j]·E[w_k | c]),
 *
 * and a node k that aggregates n kept edges costs (n − 1)·(f + u·w_k) for `sum` (additions) and
 * 1{n ≥ 2}·(f + u·w_k) for `concat`, whose expectations follow from the same distributions:
 * E[(n − 1)⁺ w_k] = Σ_e E[K_e·max(W_e, M_−e)] − E[w_k 1_k] and
 * E[1{n = 1} w_k] = Σ_e E[K_e W_e]·Π_{e′≠e} P(K_e′ = 0). Exact under the independence the parameter
 * expectation assumes; with `fixedGates` the probabilities of `zero` candidates pass no gradient.
 */
export function expectedArchLatency(
  layout: SupernetLayout,
  h: tf.Tensor[],
  table: LatencyTable,
  fixedGates = false,
): tf.Scalar {
  const { sa } = layout;
  const edges = sa.space.edges;
  const probs = edgeProbabilities(layout, h, fixedGates);
  const { node, edgeDist } = widthDistributions(layout, probs);
  const alive = aliveProbabilities(layout, probs);
  const layerWidth = (ei: number, c: number) => {
    const o = edges[ei].choices[c].op;
    return o.type === 'dense' ? o.units : o.type === 'conv2d' ? o.filters : 0;
  };
  const terms: tf.Tensor[] = [tf.scalar(baseUs(table, sa.shapes.get(sa.space.output)!))];
  edges.forEach((e, ei) => {
    const costs = e.choices.map((c) => edgeCost(table, c.op, sa.shapes.get(e.from)!, sa.edgeShapes[ei]));
    if (costs.every((c) => !c.fixed && !c.perIn && !c.perOut && !c.perInOut)) return;
    const from = node.get(e.from)!;
    const concat = sa.space.nodes.find((n) => n.id === e.to)!.aggregate === 'concat';
    const siblings = sa.incoming.get(e.to)!.filter((x) => x !== ei);
    const g = expectedMaxWith(
      concat ? [] : siblings.map((s) => edgeDist[s]),
      e.choices.map((_, c) => layerWidth(ei, c)),
    );
    const dot = (f: (c: number) => number, times?: tf.Tensor1D) => {
      const v = tf.tensor1d(costs.map((_, c) => f(c)));
      return tf.dot(probs[ei], times ? tf.mul(v, times) : v);
    };
    const reached = tf.add(
      tf.mul(
        total(from),
        tf.add(
          dot((c) => costs[c].fixed),
          dot((c) => costs[c].perOut, g),
        ),
      ),
      tf.mul(
        mean(from),
        tf.add(
          dot((c) => costs[c].perIn),
          dot((c) => costs[c].perInOut, g),
        ),
      ),
    );
    terms.push(tf.mul(alive.get(e.to)!, reached));
  });
  for (const id of sa.order.slice(1)) {
    const inc = sa.incoming.get(id)!;
    if (inc.length < 2) continue;
    const agg = sa.space.nodes.find((n) => n.id === id)!.aggregate ?? 'sum';
    const shape = sa.shapes.get(id)!;
    // cost(n, w) = n-dependent count × (f + u·w): read f and u off the table through aggregationUs.
    const f = aggregationUs(table, agg, 2, 0, shape);
    const u = aggregationUs(table, agg, 2, 1, shape) - f;
    const k = node.get(id)!;
    let count: tf.Tensor; // E[(n − 1)⁺] or P(n ≥ 2)
    let width: tf.Tensor; // E[(n − 1)⁺ w_k] or E[1{n ≥ 2} w_k]
    if (agg === 'sum') {
      count = tf.sub(tf.addN(inc.map((ei) => total(edgeDist[ei]))), total(k));
      width = tf.sub(
        tf.addN(
          inc.map((ei) => {
            const others = inc.filter((x) => x !== ei).map((x) => edgeDist[x]);
            return tf.dot(edgeDist[ei].p, expectedMaxWith(others, edgeDist[ei].support));
          }),
        ),
        mean(k),
      );
    } else {
      const none = (ei: number) =>
        inc
          .filter((x) => x !== ei)
          .reduce((q: tf.Tensor, x) => tf.mul(q, tf.sub(1, total(edgeDist[x]))), tf.scalar(1));
      count = tf.sub(total(k), tf.addN(inc.map((ei) => tf.mul(total(edgeDist[ei]), none(ei)))));
      width = tf.sub(mean(k), tf.addN(inc.map((ei) => tf.mul(mean(edgeDist[ei]), none(ei)))));
    }
    terms.push(tf.mul(alive.get(id)!, tf.add(tf.mul(f, count), tf.mul(u, width))));
  }
  return tf.addN(terms) as tf.Scalar;
}
