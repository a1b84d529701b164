import * as tf from '@tensorflow/tfjs';
import { channelPair } from '../model/channel-pairs.js';
import { groupMasks, supernetForward, type SupernetLayout } from './supernet.js';
import { expectedArchParameters } from './budget-expectation.js';
import { expectedArchLatency } from './latency-expectation.js';
import type { LatencyTable } from './latency-table.js';

/**
 * The generalized bilevel objective (docs/design.md §3, Bakhteev 2018), on minibatches:
 *
 *   L(θ | h) = (N/B)·Σ_b E_q log p(y_b|x_b, w, Γ) − λ^L_prior·KL(q(w) ‖ p(w|Γ, A))            (train)
 *   Q(h | θ) = λ^Q_lik·(N/B)·Σ_b E_q log p(y_b|x_b, w, Γ) − λ^Q_prior·KL(q(w) ‖ p(w|Γ, A))
 *              − Σ_{p′} λ^Q_struct,p′·KL(softmax s ‖ p′) − λ_size·E[parameters] + log p(A)    (validation)
 *
 * with w_i ~ N(0, γ̄_i²/A_i), where γ̄_i is the γ mass of the candidates that use weight i (its unit's
 * width mask), floored at `gammaFloor` so an unselected candidate's weights are pulled to zero
 * without an infinite KL; A_i⁻¹ ~ inv-gamma(λ₁, λ₂), which for the parameter log A gives
 * log p = λ₁·log A − λ₂·A + const. The structure Γ ~ relaxation(s, λ_temp) has the logits s as
 * hyperparameters (as DARTS' architecture weights), so q(Γ) is the structure prior itself and its KL
 * is zero; the structure terms act on s directly. Both likelihood terms are scaled to the training
 * size N so the KL weighs the same in L and Q.
 *
 * "Likelihood" is the data's for `labels` and, for `distill`, the expected log-likelihood under the
 * teacher's predictive: Σ_k p_T(k|x) log p(k|x) for classes, E_T[log N(y; μ, e^a)] for regression
 * (the Gaussian student's loss), so a candidate is scored by its fidelity to the ensemble.
 */
export interface Metaparameters {
  lPrior: number;
  qLik: number;
  qPrior: number;
  /** Reference structures p′ with their weights λ^Q_struct (positive pulls towards p′, negative pushes away). */
  references: { structure: ReferenceStructure | Record<string, string>; weight: number }[];
  /** λ_size: weight of the expected parameter count (a log-prior on structures favouring small ones). */
  size: number;
  /** inv-gamma(λ₁, λ₂) on the prior variances A⁻¹. */
  lambda1: number;
  lambda2: number;
  gammaFloor: number;
  /** Q uses the training batch (single-level optimization). */
  singleLevel: boolean;
}

/** The named reference structures p′: the uniform distribution, a smoothed one-hot on the cheapest candidate. */
export const REFERENCE_STRUCTURES = ['uniform', 'cheapest'] as const;
export type ReferenceStructure = (typeof REFERENCE_STRUCTURES)[number];

export const PRESETS = ['maximum-likelihood', 'evidence', 'single-level', 'custom'] as const;
export type Preset = (typeof PRESETS)[number];

/** Special cases of the bilevel objective, by name (docs/design.md §3). */
export function presetMetaparameters(
  preset: Preset,
  overrides: Partial<Metaparameters> = {},
): Metaparameters {
  const base: Metaparameters = {
    lPrior: 1,
    qLik: 1,
    qPrior: 1,
    references: [],
    size: 0,
    lambda1: 0.01,
    lambda2: 0.01,
    gammaFloor: 0.05,
    singleLevel: false,
  };
  const byPreset: Record<Preset, Partial<Metaparameters>> = {
    // λ^L_prior = 0: L is the likelihood alone; Q keeps the likelihood only too.
    'maximum-likelihood': { lPrior: 0, qPrior: 0 },
    // λ^L_prior = λ^Q_lik = λ^Q_prior = 1: both levels maximize the variational evidence.
    evidence: {},
    // λ^Q_prior / λ^Q_lik = λ^L_prior and one data split: Q is L, one level.
    'single-level': { singleLevel: true },
    // The base values; the CLI and pipelines require lPrior, qLik and qPrior to be given with it.
    custom: {},
  };
  return { ...base, ...byPreset[preset], ...overrides };
}

export type Task = 'regression' | 'classification';

/** A minibatch with what the likelihood needs. */
export interface ObjectiveBatch {
  x: tf.Tensor;
  /** labels: class indices [B] int32 or standardized targets [B]; distill: teacher probabilities [B, K] or teacher mixture mean [B]. */
  y: tf.Tensor;
  /** distill regression: the teacher mixture's variance [B]. */
  yVar?: tf.Tensor;
}

/** Σ_b of the (expected) log-likelihood of a batch, from supernet outputs [B, units]. */
export function batchLogLikelihood(
  out: tf.Tensor,
  batch: ObjectiveBatch,
  task: Task,
  objective: 'distill' | 'labels',
): tf.Scalar {
  if (task === 'classification') {
    const logp = tf.logSoftmax(out as tf.Tensor2D);
    const target =
      objective === 'labels' ? tf.oneHot(tf.cast(batch.y, 'int32') as tf.Tensor1D, out.shape[1]!) : batch.y;
    return tf.sum(tf.mul(target, logp));
  }
  const [mu, a] = channelPair(out);
  let spread = tf.square(tf.sub(batch.y, mu));
  if (objective === 'distill' && batch.yVar) spread = tf.add(spread, batch.yVar);
  return tf.mul(-0.5, tf.sum(tf.add(tf.add(a, Math.log(2 * Math.PI)), tf.mul(tf.exp(tf.neg(a)), spread))));
}

/** KL(q(w) ‖ p(w|Γ, A)) summed over every kernel weight. */
export function weightKl(
  layout: SupernetLayout,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  gammas: (tf.Tensor1D | null)[],
  gammaFloor: number,
  masks: (tf.Tensor1D | null)[] = groupMasks(layout, gammas),
): tf.Scalar {
  const terms = layout.groups.map((g, k) => {
    const mu = theta[g.mean];
    const s2 = tf.square(tf.softplus(theta[g.rho]));
    const logA = h[g.logA];
    const mask = masks[k];
    // prior variance γ̄²/A; log of the precision ratio: log(A σ²/γ̄²)
    const logPriorPrec = mask ? tf.sub(logA, tf.mul(2, tf.log(tf.maximum(mask, gammaFloor)))) : logA;
    const prec = tf.exp(logPriorPrec);
    const t = tf.sub(tf.mul(prec, tf.add(s2, tf.square(mu))), tf.add(1, tf.add(logPriorPrec, tf.log(s2))));
    return tf.mul(0.5, tf.sum(t));
  });
  return (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
}

/** log p(A) for inv-gamma(λ₁, λ₂) variances, in the log A parameterization, up to a constant. */
export function ardLogPrior(layout: SupernetLayout, h: tf.Tensor[], m: Metaparameters): tf.Scalar {
  const terms = layout.groups.map((g) =>
    tf.sum(tf.sub(tf.mul(m.lambda1, h[g.logA]), tf.mul(m.lambda2, tf.exp(h[g.logA])))),
  );
  return (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
}

/**
 * Expected parameter count of the discrete network under γ ~ softmax(s): each edge's expected
 * parameters times the probability that its head node is alive (reaches the output through non-zero
 * edges, edges taken independently). A candidate is charged its `choiceParams`, computed with its
 * input at the supernet's (widest) width, so this is not the exact expectation of the exported count
 * (`expectedArchParameters` is, for the parameter budget); it is the size penalty's measure (§3.4).
 */
export function expectedParameters(layout: SupernetLayout, h: tf.Tensor[]): tf.Scalar {
  const { sa } = layout;
  const probs = sa.space.edges.map((_, ei) => {
    const li = layout.logits[ei];
    return li === null ? tf.ones([1]) : tf.softmax(h[li]);
  });
  const nonZero = sa.space.edges.map((e, ei) => {
    const z = e.choices.findIndex((c) => c.op.type === 'zero');
    return z < 0 ? tf.scalar(1) : tf.sub(1, tf.reshape(tf.slice(probs[ei], [z], [1]), []));
  });
  const alive = new Map<string, tf.Tensor>([[sa.space.output, tf.scalar(1)]]);
  for (const id of [...sa.order].reverse()) {
    if (id === sa.space.output) continue;
    const outs = sa.space.edges.map((e, ei) => ({ e, ei })).filter(({ e }) => e.from === id);
    let dead: tf.Tensor = tf.scalar(1);
    for (const { e, ei } of outs)
      dead = tf.mul(dead, tf.sub(1, tf.mul(nonZero[ei], alive.get(e.to) ?? tf.scalar(0))));
    alive.set(id, tf.sub(1, dead));
  }
  const terms = sa.space.edges.map((e, ei) =>
    tf.mul(alive.get(e.to)!, tf.sum(tf.mul(probs[ei], tf.tensor1d(sa.choiceParams[ei])))),
  );
  return tf.addN(terms) as tf.Scalar;
}

/** Σ over edges of KL(softmax s ‖ p′) for one reference structure. */
export function referenceKl(
  layout: SupernetLayout,
  h: tf.Tensor[],
  structure: Metaparameters['references'][number]['structure'],
): tf.Scalar {
  const terms: tf.Tensor[] = [];
  layout.logits.forEach((li, ei) => {
    if (li === null) return;
    const choices = layout.sa.space.edges[ei].choices;
    const K = choices.length;
    let ref: number[];
    if (structure === 'uniform') ref = new Array(K).fill(1 / K);
    else {
      const target =
        structure === 'cheapest'
          ? layout.sa.choiceParams[ei].indexOf(Math.min(...layout.sa.choiceParams[ei]))
          : choices.findIndex(
              (c) =>
                c.label === structure[`${layout.sa.space.edges[ei].from}->${layout.sa.space.edges[ei].to}`],
            );
      if (target < 0) return;
      const eps = 0.01; // a smoothed one-hot keeps the KL finite
      ref = choices.map((_, k) => (k === target ? 1 - eps : eps / (K - 1)));
    }
    const logp = tf.logSoftmax(h[li]);
    terms.push(tf.sum(tf.mul(tf.exp(logp), tf.sub(logp, tf.log(tf.tensor1d(ref))))));
  });
  return (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
}

/** Everything one evaluation of L or Q needs besides θ and h. */
export interface ObjectiveContext {
  layout: SupernetLayout;
  meta: Metaparameters;
  task: Task;
  objective: 'distill' | 'labels';
  /** Training-set size N (likelihoods are scaled to it). */
  n: number;
  /** Maps the structure logits to γ per edge (the relaxation, with its noise already drawn). */
  gammas: (h: tf.Tensor[]) => (tf.Tensor1D | null)[];
  /**
   * A parameter budget N and its penalty weight μ: Q gains −μ·n·max(0, E[parameters]/N − 1), whose
   * gradient leaves the probabilities of `zero` candidates alone (§3.9).
   */
  budget?: { maxParameters: number; mu: number };
  /** A latency budget U (µs per example under `table`) and its weight μ_L: the same hinge on E[latency]/U. */
  latencyBudget?: { maxLatencyUs: number; mu: number; table: LatencyTable };
}

export interface Terms {
  loglik: tf.Scalar;
  kl: tf.Scalar;
}

function terms(
  ctx: ObjectiveContext,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  batch: ObjectiveBatch,
  noise?: tf.Tensor[],
): Terms {
  const gammas = ctx.gammas(h);
  const masks = groupMasks(ctx.layout, gammas);
  const out = supernetForward(ctx.layout, { theta, gammas, x: batch.x, noise, masks });
  const ll = batchLogLikelihood(out, batch, ctx.task, ctx.objective);
  const loglik = tf.mul(ll, ctx.n / batch.x.shape[0]) as tf.Scalar;
  const kl = weightKl(ctx.layout, theta, h, gammas, ctx.meta.gammaFloor, masks);
  return { loglik, kl };
}

/** The lower level L(θ | h) on a training batch. */
export function lowerObjective(
  ctx: ObjectiveContext,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  batch: ObjectiveBatch,
  noise?: tf.Tensor[],
): tf.Scalar {
  const t = terms(ctx, theta, h, batch, noise);
  return tf.sub(t.loglik, tf.mul(ctx.meta.lPrior, t.kl)) as tf.Scalar;
}

/** The upper level Q(h | θ) on a validation batch. */
export function upperObjective(
  ctx: ObjectiveContext,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  batch: ObjectiveBatch,
  noise?: tf.Tensor[],
): tf.Scalar {
  const m = ctx.meta;
  const t = terms(ctx, theta, h, batch, noise);
  let q: tf.Tensor = tf.sub(tf.mul(m.qLik, t.loglik), tf.mul(m.qPrior, t.kl));
  for (const r of m.references) q = tf.sub(q, tf.mul(r.weight, referenceKl(ctx.layout, h, r.structure)));
  if (m.size > 0) q = tf.sub(q, tf.mul(m.size, expectedParameters(ctx.layout, h)));
  const b = ctx.budget;
  if (b && b.mu > 0)
    q = tf.sub(
      q,
      tf.mul(
        b.mu * ctx.n,
        tf.relu(tf.sub(tf.div(expectedArchParameters(ctx.layout, h, true), b.maxParameters), 1)),
      ),
    );
  const l = ctx.latencyBudget;
  if (l && l.mu > 0)
    q = tf.sub(
      q,
      tf.mul(
        l.mu * ctx.n,
        tf.relu(tf.sub(tf.div(expectedArchLatency(ctx.layout, h, l.table, true), l.maxLatencyUs), 1)),
      ),
    );
  return tf.add(q, ardLogPrior(ctx.layout, h, m)) as tf.Scalar;
}
