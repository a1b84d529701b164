import * as tf from '@tensorflow/tfjs';
import { lowerObjective, upperObjective, type ObjectiveBatch, type ObjectiveContext } from './objective.js';

/**
 * Gradients of the two levels. Both levels are maximized.
 *
 * First order (alternating): the hypergradient is ∂Q/∂h at the current θ.
 *
 * Second order (DARTS, Liu et al. 2018, for maximization): with one unrolled step
 * θ′ = θ + ξ·∇_θ L(θ, h), the total derivative of Q(θ′(h), h) is
 *   dQ/dh = ∇_h Q(θ′, h) + ξ·∇²_{h,θ} L(θ, h)·∇_θ′ Q(θ′, h),
 * and the mixed second derivative times v = ∇_θ′ Q comes from a central finite difference
 *   ∇²_{h,θ} L·v ≈ (∇_h L(θ + εv, h) − ∇_h L(θ − εv, h)) / 2ε,  ε = `epsilon`/‖v‖.
 * (docs/design.md §3 also gives the minimizing form, where the unrolled step goes down and the sign flips.)
 */
export type Noise = tf.Tensor[] | undefined;

function gradsWrt(f: (xs: tf.Tensor[]) => tf.Scalar, at: tf.Tensor[]): tf.Tensor[] {
  return tf.grads((...xs: tf.Tensor[]) => f(xs))(at);
}

/** ∇_θ L(θ, h) on a training batch. */
export function lowerGradient(
  ctx: ObjectiveContext,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  batch: ObjectiveBatch,
  noise: Noise,
): tf.Tensor[] {
  return gradsWrt((t) => lowerObjective(ctx, t, h, batch, noise), theta);
}

/** ∂Q/∂h at θ: the first-order hypergradient. */
export function firstOrderHypergradient(
  ctx: ObjectiveContext,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  batch: ObjectiveBatch,
  noise: Noise,
): tf.Tensor[] {
  return gradsWrt((hh) => upperObjective(ctx, theta, hh, batch, noise), h);
}

export interface SecondOrderOptions {
  /** ξ: the unrolled step size (DARTS uses the lower level's learning rate). */
  xi: number;
  /** ε·‖v‖ of the finite difference (DARTS: 0.01). */
  epsilon?: number;
}

/** dQ/dh through one unrolled lower step, with the finite-difference Hessian-vector product. */
export function secondOrderHypergradient(
  ctx: ObjectiveContext,
  theta: tf.Tensor[],
  h: tf.Tensor[],
  train: { batch: ObjectiveBatch; noise: Noise },
  val: { batch: ObjectiveBatch; noise: Noise },
  o: SecondOrderOptions,
  /** ∇_θ L(θ, h) on the training batch, when the caller already has it. */
  lowerGrad?: tf.Tensor[],
): tf.Tensor[] {
  return tf.tidy(() => {
    const gL = lowerGrad ?? lowerGradient(ctx, theta, h, train.batch, train.noise);
    const thetaPrime = theta.map((t, i) => tf.add(t, tf.mul(o.xi, gL[i])));
    // v = ∇_θ′ Q and the direct ∂Q/∂h from one backward pass.
    const nT = thetaPrime.length;
    const both = gradsWrt(
      (xs) => upperObjective(ctx, xs.slice(0, nT), xs.slice(nT), val.batch, val.noise),
      [...thetaPrime, ...h],
    );
    const v = both.slice(0, nT);
    const direct = both.slice(nT);
    const squares = tf.stack(v.map((t) => tf.sum(tf.square(t)))).dataSync();
    const norm = Math.sqrt(Array.from(squares).reduce((s, q) => s + q, 0));
    if (!(norm > 0)) return direct;
    const r = (o.epsilon ?? 0.01) / norm;
    const shifted = (sign: number) => theta.map((t, i) => tf.add(t, tf.mul(sign * r, v[i])));
    const gPlus = gradsWrt((hh) => lowerObjective(ctx, shifted(1), hh, train.batch, train.noise), h);
    const gMinus = gradsWrt((hh) => lowerObjective(ctx, shifted(-1), hh, train.batch, train.noise), h);
    return direct.map((d, i) => tf.add(d, tf.mul(o.xi / (2 * r), tf.sub(gPlus[i], gMinus[i]))));
  });
}
