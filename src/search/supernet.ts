import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/rng.js';
import { activate } from '../model/forward.js';
import { dataMatMul2d } from '../model/fast-matmul.js';
import { INPUT } from '../model/spec.js';
import type { ChoiceGroup, SpaceAnalysis } from './space.js';

/**
 * The supernet of a search space with mean-field Gaussian weights q(w) = Π N(μ_i, σ_i²).
 *
 * Parameters are plain tensor lists so objectives are pure functions (θ, h, data, noise) → scalar:
 * - θ (trained on L): per kernel group its means μ, its pre-softplus scales ρ (σ = softplus ρ) and a
 *   bias (a point estimate, no prior);
 * - h (trained on Q): per kernel group the ARD log-precisions log A (one per weight), and per edge
 *   with several choices the structure logits s of γ ~ relaxation(s, λ_temp).
 *
 * Dense and conv layers use the local reparameterization (Kingma et al. 2015): the pre-activation is
 * Gaussian with mean x·μ and variance x²·σ², sampled once per example. A candidate narrower than its
 * group's kernel uses the kernel's first units: the edge computes Σ_g act_g(z_g) ⊙ m_g with the per-unit
 * mask m_g[u] = Σ_{c ∈ g, u < width_c} γ_c, plus γ_c·op_c(x) for parameter-free candidates.
 */
export interface GroupSlot {
  edge: number;
  group: number;
  info: ChoiceGroup;
  /** Indices into θ: mean, scale (ρ), bias; into h: log A. */
  mean: number;
  rho: number;
  bias: number;
  logA: number;
  /**
   * Shape of log A: the kernel's (one precision per weight), or with unit groups one per input channel,
   * [in, 1] or [1, 1, cin, 1], broadcast over the channel's outgoing weights (docs/design.md §3.3).
   */
  logAShape: number[];
  /** [K, width] 0/1 matrix over the edge's K choices: row c is 1 on the first width_c units of a member c. */
  choiceMask: Float32Array;
}

export interface SupernetLayout {
  sa: SpaceAnalysis;
  groups: GroupSlot[];
  /** For each edge, the index of its logits in h (edges with one choice have none: γ = [1]). */
  logits: (number | null)[];
  /** Indices into `groups` of each edge's kernel groups. */
  groupsByEdge: number[][];
  /** Each node's aggregation. */
  aggregates: Map<string, 'sum' | 'concat'>;
  thetaNames: string[];
  hNames: string[];
}

/** ARD groups: one precision per weight, or one per input unit (channel) of each kernel. */
export type ArdGroups = 'weight' | 'unit';

export function supernetLayout(sa: SpaceAnalysis, ardGroups: ArdGroups = 'weight'): SupernetLayout {
  const groups: GroupSlot[] = [];
  const thetaNames: string[] = [];
  const hNames: string[] = [];
  const logits: (number | null)[] = sa.space.edges.map(() => null);
  for (const id of sa.order.slice(1)) {
    for (const ei of sa.incoming.get(id)!) {
      const e = sa.space.edges[ei];
      if (e.choices.length > 1) {
        logits[ei] = hNames.length;
        hNames.push(`${e.from}->${e.to}#${ei}/logits`);
      }
      sa.groups[ei].forEach((g, gi) => {
        const w = g.kernelShape[g.kernelShape.length - 1];
        const choiceMask = new Float32Array(e.choices.length * w);
        g.members.forEach((m) => choiceMask.fill(1, m.choice * w, m.choice * w + m.width));
        const name = `${e.from}->${e.to}#${ei}/${g.key}`;
        groups.push({
          edge: ei,
          group: gi,
          info: g,
          mean: thetaNames.push(`${name}/mean`) - 1,
          rho: thetaNames.push(`${name}/rho`) - 1,
          bias: thetaNames.push(`${name}/bias`) - 1,
          logA: hNames.push(`${name}/logA`) - 1,
          logAShape:
            ardGroups === 'weight'
              ? g.kernelShape
              : g.kernelShape.map((d, i) => (i === g.kernelShape.length - 2 ? d : 1)),
          choiceMask,
        });
      });
    }
  }
  const groupsByEdge = sa.space.edges.map((_, ei) => groups.flatMap((g, k) => (g.edge === ei ? [k] : [])));
  const aggregates = new Map(sa.space.nodes.map((n) => [n.id, n.aggregate ?? 'sum'] as const));
  return { sa, groups, groupsByEdge, aggregates, logits, thetaNames, hNames };
}

const softplusInverse = (y: number) => Math.log(Math.expm1(y));

/**
 * Initial θ and h: kernel means N(0, gain/fanIn) (He gain 2 for ReLU), σ = `initialScale`·√(1/fanIn),
 * biases 0; ARD precisions A = fanIn (prior variance 1/fanIn); structure logits 0 (uniform).
 */
export function initialParameters(
  layout: SupernetLayout,
  rng: Rng,
  initialScale = 0.01,
): { theta: tf.Tensor[]; h: tf.Tensor[] } {
  const theta: tf.Tensor[] = new Array(layout.thetaNames.length);
  const h: tf.Tensor[] = new Array(layout.hNames.length);
  for (const g of layout.groups) {
    const shape = g.info.kernelShape;
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const n = shape.reduce((a, b) => a * b, 1);
    const gain = g.info.op.activation === 'relu' ? 2 : 1;
    const mu = new Float32Array(n);
    rng.fillNormal(mu, 0, Math.sqrt(gain / fanIn));
    theta[g.mean] = tf.tensor(mu, shape);
    theta[g.rho] = tf.fill(shape, softplusInverse(initialScale * Math.sqrt(1 / fanIn)));
    theta[g.bias] = tf.zeros([shape[shape.length - 1]]);
    h[g.logA] = tf.fill(g.logAShape, Math.log(fanIn));
  }
  layout.logits.forEach((li, ei) => {
    if (li !== null) h[li] = tf.zeros([layout.sa.space.edges[ei].choices.length]);
  });
  return { theta, h };
}

/** Per-unit mask of a group given its edge's γ: m[u] = Σ_{c∈g, u<width_c} γ_c (a matmul, no gather). */
export function groupMask(g: GroupSlot, gamma: tf.Tensor1D): tf.Tensor1D {
  const w = g.info.kernelShape[g.info.kernelShape.length - 1];
  const K = gamma.shape[0];
  return tf.squeeze(
    tf.matMul(tf.expandDims(gamma, 0), tf.tensor2d(g.choiceMask, [K, w])),
    [0],
  ) as tf.Tensor1D;
}

/** Every group's mask for the edges' γ (null for single-choice edges, whose mask is all ones). */
export function groupMasks(layout: SupernetLayout, gammas: (tf.Tensor1D | null)[]): (tf.Tensor1D | null)[] {
  return layout.groups.map((g) => {
    const gamma = gammas[g.edge];
    return gamma ? groupMask(g, gamma) : null;
  });
}

/** Pre-activation of a dense or conv kernel: its mean, plus local-reparameterization noise when given. */
function preActivation(
  g: GroupSlot,
  x: tf.Tensor,
  xIsData: boolean,
  mu: tf.Tensor,
  sigma: tf.Tensor,
  noise?: tf.Tensor,
): tf.Tensor {
  const op = g.info.op;
  const mm = xIsData ? dataMatMul2d : (p: tf.Tensor2D, q: tf.Tensor2D) => tf.matMul(p, q);
  const apply = (inp: tf.Tensor, k: tf.Tensor) =>
    op.type === 'dense'
      ? mm(inp as tf.Tensor2D, k as tf.Tensor2D)
      : tf.conv2d(inp as tf.Tensor4D, k as tf.Tensor4D, op.strides ?? 1, op.padding ?? 'same');
  const mean = apply(x, mu);
  if (!noise) return mean;
  const variance = apply(tf.square(x), tf.square(sigma));
  return tf.add(mean, tf.mul(tf.sqrt(tf.add(variance, 1e-12)), noise));
}

export interface SupernetInput {
  theta: tf.Tensor[];
  /** γ per edge (length K), null for single-choice edges (γ = [1]). */
  gammas: (tf.Tensor1D | null)[];
  /** Inputs [B, ...example]. */
  x: tf.Tensor;
  /** Standard-normal noise per group (shape of its pre-activation), or omitted for the mean network. */
  noise?: tf.Tensor[];
  /** The groups' masks for these γ ({@link groupMasks}), when the caller already has them. */
  masks?: (tf.Tensor1D | null)[];
}

const PARAMETER_FREE = new Set(['flatten', 'identity', 'maxPool', 'dropout', 'zero']);
const dataNodeSets = new WeakMap<SupernetLayout, Set<string>>();

/**
 * The input and the nodes that parameter-free choices (flatten, identity, pooling) make from it
 * only: their values are data, so products with them need no input gradient.
 */
function dataNodes(layout: SupernetLayout): Set<string> {
  let set = dataNodeSets.get(layout);
  if (set) return set;
  set = new Set([INPUT]);
  for (const id of layout.sa.order.slice(1)) {
    const edges = layout.sa.incoming.get(id)!.map((ei) => layout.sa.space.edges[ei]);
    if (edges.every((e) => set!.has(e.from) && e.choices.every((c) => PARAMETER_FREE.has(c.op.type))))
      set.add(id);
  }
  dataNodeSets.set(layout, set);
  return set;
}

/** Output [B, ...] of the supernet. */
export function supernetForward(layout: SupernetLayout, input: SupernetInput): tf.Tensor {
  const { sa } = layout;
  const values = new Map<string, tf.Tensor>([[INPUT, input.x]]);
  const masks = input.masks ?? groupMasks(layout, input.gammas);
  const data = dataNodes(layout);
  for (const id of sa.order.slice(1)) {
    const outs = sa.incoming.get(id)!.map((ei) => {
      const e = sa.space.edges[ei];
      const h = values.get(e.from)!;
      const gamma = input.gammas[ei];
      const outWidth = sa.edgeShapes[ei][sa.edgeShapes[ei].length - 1];
      const terms: tf.Tensor[] = [];
      for (const k of layout.groupsByEdge[ei]) {
        const slot = layout.groups[k];
        const mu = input.theta[slot.mean];
        const sigma = tf.softplus(input.theta[slot.rho]);
        const z = tf.add(
          preActivation(slot, h, data.has(e.from), mu, sigma, input.noise?.[k]),
          input.theta[slot.bias],
        );
        const a = activate(z, slot.info.op.activation);
        let t = masks[k] ? tf.mul(a, masks[k]!) : a;
        const w = slot.info.kernelShape[slot.info.kernelShape.length - 1];
        if (w < outWidth)
          t = tf.pad(t, [...t.shape.slice(0, -1).map(() => [0, 0] as [number, number]), [0, outWidth - w]]);
        terms.push(t);
      }
      e.choices.forEach((c, ci) => {
        if (c.op.type === 'dense' || c.op.type === 'conv2d' || c.op.type === 'zero') return;
        let y: tf.Tensor;
        switch (c.op.type) {
          case 'maxPool':
            y = tf.maxPool(
              h as tf.Tensor4D,
              c.op.poolSize,
              c.op.strides ?? c.op.poolSize,
              c.op.padding ?? 'valid',
            );
            break;
          case 'flatten':
            y = tf.reshape(h, [h.shape[0], -1]);
            break;
          default: // identity, dropout (the identity at evaluation)
            y = h;
        }
        terms.push(gamma ? tf.mul(y, tf.reshape(tf.slice(gamma, [ci], [1]), [])) : y);
      });
      return terms.length === 1 ? terms[0] : tf.addN(terms);
    });
    const agg = layout.aggregates.get(id)!;
    values.set(id, outs.length === 1 ? outs[0] : agg === 'sum' ? tf.addN(outs) : tf.concat(outs, -1));
  }
  return values.get(sa.space.output)!;
}

/** Shapes of the noise tensors of one forward pass with batch B (pre-activation shape per group). */
export function noiseShapes(layout: SupernetLayout, batch: number): number[][] {
  return layout.groups.map((g) => {
    const s = layout.sa.edgeShapes[g.edge];
    const w = g.info.kernelShape[g.info.kernelShape.length - 1];
    return [batch, ...s.slice(0, -1), w];
  });
}
