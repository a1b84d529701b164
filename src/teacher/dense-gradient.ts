import * as tf from '@tensorflow/tfjs';
import { sumOverRows } from '../model/fast-matmul.js';
import { throughActivation } from '../model/dense-dag.js';
import { activate } from '../model/forward.js';
import type { Activation, Analysis } from '../model/spec.js';

/**
 * A hand-written backward pass for the networks most teachers are: a plain stack of dense layers
 * (input, optionally flattened, → dense → … → dense), every node with one incoming edge. tfjs's tape
 * (`tf.grads`) records every op, saves its inputs and walks the graph back in JavaScript; for the
 * small products of `mlp-50` that bookkeeping, not the arithmetic, is most of an SG-MCMC step. Here
 * the forward pass keeps each layer's input and output and the backward pass is the textbook one:
 *
 *   dz_l = da_l ⊙ act′(z_l),  dW_l = a_{l−1}ᵀ·dz_l,  db_l = Σ_batch dz_l,  da_{l−1} = dz_l·W_lᵀ
 *
 * (on wasm bdk's product kernel reads the transposed operands in place).
 */
export interface DenseLayer {
  /** Indices into the analysis' params (and so into the positions) of the kernel [C, in, out] and bias [C, out]. */
  kernel: number;
  bias: number;
  activation: Activation;
}

const SUPPORTED: ReadonlySet<Activation> = new Set(['linear', 'relu', 'tanh', 'sigmoid']);
const stacks = new WeakMap<Analysis, DenseLayer[] | null>();

/** The dense layers of `a` in order, or null when `a` is anything but a plain dense stack. */
export function denseStack(a: Analysis): DenseLayer[] | null {
  if (stacks.has(a)) return stacks.get(a)!;
  const layers: DenseLayer[] = [];
  let ok = true;
  let prev = a.order[0];
  for (const id of a.order.slice(1)) {
    const incoming = a.incoming.get(id)!;
    const e = a.spec.edges[incoming[0]];
    if (incoming.length !== 1 || e.from !== prev) {
      ok = false;
      break;
    }
    const op = e.op;
    if (op.type === 'flatten' && layers.length === 0) {
      prev = id;
      continue;
    }
    const activation = op.type === 'dense' ? (op.activation ?? 'linear') : null;
    if (activation === null || !SUPPORTED.has(activation)) {
      ok = false;
      break;
    }
    const kernel = a.params.findIndex((p) => p.edge === incoming[0] && p.role === 'kernel');
    const bias = a.params.findIndex((p) => p.edge === incoming[0] && p.role === 'bias');
    if (kernel < 0 || bias < 0) {
      ok = false;
      break;
    }
    layers.push({ kernel, bias, activation });
    prev = id;
  }
  const result = ok && prev === a.spec.output && layers.length > 0 ? layers : null;
  stacks.set(a, result);
  return result;
}

/**
 * Forward pass of a dense stack over inputs [C, M, ...example] → outputs [C, M, units], keeping what
 * the backward pass needs; then `backward(dOut)` gives the gradient of Σ dOut ⊙ outputs with respect
 * to every parameter, in the analysis' parameter order. Call inside `tf.tidy`.
 */
export function denseStackPass(
  layers: DenseLayer[],
  params: tf.Tensor[],
  x: tf.Tensor,
): { outputs: tf.Tensor; backward: (dOut: tf.Tensor) => tf.Tensor[] } {
  const [c, m] = x.shape as number[];
  const inputs: tf.Tensor3D[] = [];
  const outs: tf.Tensor[] = [];
  let h = (x.rank === 3 ? x : tf.reshape(x, [c, m, -1])) as tf.Tensor3D;
  for (const l of layers) {
    inputs.push(h);
    const z = tf.add(tf.matMul(h, params[l.kernel] as tf.Tensor3D), tf.expandDims(params[l.bias], 1));
    h = activate(z, l.activation) as tf.Tensor3D;
    outs.push(h);
  }
  const backward = (dOut: tf.Tensor): tf.Tensor[] => {
    const grads: tf.Tensor[] = new Array(params.length);
    let da = dOut as tf.Tensor3D;
    for (let i = layers.length - 1; i >= 0; i--) {
      const l = layers[i];
      const dz = throughActivation(da, outs[i], l.activation) as tf.Tensor3D;
      let dW: tf.Tensor = tf.matMul(inputs[i], dz, true, false);
      if (dW.shape[0] !== params[l.kernel].shape[0]) dW = tf.sum(dW, 0, true);
      grads[l.kernel] = dW;
      grads[l.bias] = sumOverRows(dz);
      if (i > 0) da = tf.matMul(dz, params[l.kernel] as tf.Tensor3D, false, true);
    }
    return grads;
  };
  return { outputs: h, backward };
}
