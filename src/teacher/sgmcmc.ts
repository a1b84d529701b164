import * as tf from '@tensorflow/tfjs';
import { linearCombination } from '../model/fused-ops.js';

/**
 * SG-MCMC solvers as pure functions over lists of tensors (one per parameter, each with a leading
 * chain axis). Settings are bound by closure; `step` takes the gradient of the stochastic log
 * posterior ∇log p̃(θ) = ∇log p(θ) + (N/M)·Σ_batch ∇log p(y|x,θ) (see `posterior.ts`), the step size
 * η and standard-normal noise of the same shapes, and returns the next state. The caller owns and
 * disposes states. Temperature T scales the injected noise variance, so the stationary law is
 * p(θ|D)^(1/T).
 */
export interface KernelState {
  position: tf.Tensor[];
  /** SGHMC momentum v, or pSGLD's running mean square V. */
  aux: tf.Tensor[];
}

export interface GradientEstimate {
  /** ∇log p̃(θ). */
  logPosterior: tf.Tensor[];
  /** ∇log p(θ) of the prior alone (pSGLD needs the per-example likelihood gradient ḡ). */
  logPrior: tf.Tensor[];
}

export interface Kernel {
  name: string;
  /** Names of the auxiliary tensors, for saving chain state. */
  auxName: string | null;
  /** Whether `step` reads `grad.logPrior` (otherwise the estimator may leave it empty). */
  needsPrior: boolean;
  init(position: tf.Tensor[]): KernelState;
  step(state: KernelState, grad: GradientEstimate, stepSize: number, noise: tf.Tensor[]): KernelState;
}

/**
 * SGLD (Welling & Teh 2011): θ ← θ + (η/2)·∇log p̃(θ) + N(0, η·T·I).
 */
export function sgld(opts: { temperature: number }): Kernel {
  return {
    name: 'sgld',
    auxName: null,
    needsPrior: false,
    init: (position) => ({ position, aux: [] }),
    step: (state, grad, eta, noise) => {
      const noiseScale = Math.sqrt(eta * opts.temperature);
      const position = state.position.map((p, i) =>
        linearCombination([p, grad.logPosterior[i], noise[i]], [1, eta / 2, noiseScale]),
      );
      return { position, aux: [] };
    },
  };
}

/**
 * pSGLD (Li et al. 2016): RMSProp preconditioner V ← ρV + (1−ρ)·ḡ⊙ḡ with ḡ the mean per-example
 * likelihood gradient, G = 1/(λ + √V); θ ← θ + (η/2)·G⊙∇log p̃(θ) + N(0, η·T·G). The Γ(θ) correction
 * term is dropped, as in the paper's experiments.
 */
export function psgld(opts: {
  temperature: number;
  dataSize: number;
  decay: number;
  epsilon: number;
}): Kernel {
  return {
    name: 'psgld',
    auxName: 'meanSquare',
    needsPrior: true,
    init: (position) => ({ position, aux: position.map((p) => tf.zerosLike(p)) }),
    step: (state, grad, eta, noise) => {
      const aux: tf.Tensor[] = [];
      const position = state.position.map((p, i) =>
        tf.tidy(() => {
          const gBar = tf.div(tf.sub(grad.logPosterior[i], grad.logPrior[i]), opts.dataSize);
          const v = tf.add(tf.mul(state.aux[i], opts.decay), tf.mul(tf.square(gBar), 1 - opts.decay));
          aux.push(tf.keep(v));
          const g = tf.reciprocal(tf.add(tf.sqrt(v), opts.epsilon));
          const drift = tf.mul(tf.mul(g, grad.logPosterior[i]), eta / 2);
          const diffusion = tf.mul(tf.mul(tf.sqrt(g), noise[i]), Math.sqrt(eta * opts.temperature));
          return tf.add(tf.add(p, drift), diffusion);
        }),
      );
      return { position, aux };
    },
  };
}

/**
 * SGHMC (Chen et al. 2014, eq. 15, with β̂ = 0): v ← (1−α)·v + η·∇log p̃(θ) + N(0, 2αη·T),
 * θ ← θ + v, where η is the learning rate (ε² in the paper's notation) and α the friction.
 */
export function sghmc(opts: { temperature: number; friction: number }): Kernel {
  const alpha = opts.friction;
  return {
    name: 'sghmc',
    auxName: 'momentum',
    needsPrior: false,
    init: (position) => ({ position, aux: position.map((p) => tf.zerosLike(p)) }),
    step: (state, grad, eta, noise) => {
      const scale = Math.sqrt(2 * alpha * eta * opts.temperature);
      const aux = state.aux.map((v, i) =>
        linearCombination([v, grad.logPosterior[i], noise[i]], [1 - alpha, eta, scale]),
      );
      const position = state.position.map((p, i) => tf.add(p, aux[i]));
      return { position, aux };
    },
  };
}
