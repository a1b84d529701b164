import * as tf from '@tensorflow/tfjs';
import { sumOverRows } from './fast-matmul.js';
import { activate } from './forward.js';
import { INPUT, type Activation, type Analysis } from './spec.js';

/**
 * A hand-written forward and backward pass for networks built from dense layers whose nodes sum
 * their incoming edges: plain stacks, and the searched students with skip connections (for example
 * 13-100-100-2 plus a linear 13→2 edge). tfjs's tape records every op, saves its inputs and walks the
 * graph back in JavaScript; for the small products of Boston's networks that bookkeeping, not the
 * arithmetic, is most of a training step. Here each edge keeps its input and output and the backward
 * pass is the textbook one, node by node in reverse topological order:
 *
 *   dz_e = d(node)_e ⊙ act′(z_e),  dW_e = a_fromᵀ·dz_e,  db_e = Σ_batch dz_e,  d(from) += dz_e·W_eᵀ
 *
 * with a node's gradient the sum over the edges leaving it. The input and what parameter-free ops
 * make of it are data: no gradient is formed for them.
 */

const SUPPORTED: ReadonlySet<Activation> = new Set(['linear', 'relu', 'tanh', 'sigmoid']);

/** One edge of a dense DAG: its endpoints, and for a dense edge its parameters and activation. */
export interface DagEdge {
  from: string;
  to: string;
  kind: 'dense' | 'identity' | 'flatten';
  /** Dense edges: indices into the analysis' params of the kernel [C, in, out] and bias [C, out]. */
  kernel: number;
  bias: number;
  activation: Activation;
}

const plans = new WeakMap<Analysis, DagEdge[][] | null>();

/**
 * The incoming edges of every node after the input, in topological order, or null when `a` has
 * anything but dense layers (linear, relu, tanh or sigmoid), identities, flattens of data, dropout
 * (the identity outside training) and sum aggregation.
 */
export function denseDag(a: Analysis): DagEdge[][] | null {
  if (plans.has(a)) return plans.get(a)!;
  let plan: DagEdge[][] | null = [];
  for (const id of a.order.slice(1)) {
    const node = a.spec.nodes.find((n) => n.id === id)!;
    const incoming = a.incoming.get(id)!;
    if (incoming.length > 1 && (node.aggregate ?? 'sum') !== 'sum') {
      plan = null;
      break;
    }
    const edges: DagEdge[] = [];
    for (const ei of incoming) {
      const e = a.spec.edges[ei];
      const base = { from: e.from, to: id, kernel: -1, bias: -1, activation: 'linear' as Activation };
      if (e.op.type === 'dense') {
        const activation = e.op.activation ?? 'linear';
        const kernel = a.params.findIndex((p) => p.edge === ei && p.role === 'kernel');
        const bias = a.params.findIndex((p) => p.edge === ei && p.role === 'bias');
        if (!SUPPORTED.has(activation) || kernel < 0 || bias < 0) break;
        edges.push({ ...base, kind: 'dense', kernel, bias, activation });
      } else if (e.op.type === 'identity' || e.op.type === 'dropout')
        edges.push({ ...base, kind: 'identity' });
      else if (e.op.type === 'flatten' && a.dataNodes.has(e.from)) edges.push({ ...base, kind: 'flatten' });
      else break;
    }
    if (edges.length !== incoming.length) {
      plan = null;
      break;
    }
    plan.push(edges);
  }
  plans.set(a, plan);
  return plan;
}

/** da ⊙ act′(z), from the layer's output a = act(z). */
export function throughActivation(da: tf.Tensor, a: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.mul(da, tf.step(a));
    case 'tanh':
      return tf.mul(da, tf.sub(1, tf.square(a)));
    case 'sigmoid':
      return tf.mul(da, tf.mul(a, tf.sub(1, a)));
    default:
      return da;
  }
}

/**
 * Forward pass of a dense DAG over inputs [C, M, ...example] → outputs [C, M, units], the same
 * values as `forward`, keeping what the backward pass needs; then `backward(dOut)` gives the gradient
 * of Σ dOut ⊙ outputs with respect to every parameter, in the analysis' parameter order (a kernel
 * broadcast over the chain axis gets its gradient summed over it). Call inside `tf.tidy`.
 */
export function denseDagPass(
  a: Analysis,
  plan: DagEdge[][],
  params: tf.Tensor[],
  x: tf.Tensor,
): { outputs: tf.Tensor; backward: (dOut: tf.Tensor) => tf.Tensor[] } {
  const values = new Map<string, tf.Tensor>([[INPUT, x]]);
  const edgeOut: tf.Tensor[][] = [];
  plan.forEach((edges, i) => {
    const outs = edges.map((e) => {
      const h = values.get(e.from)!;
      if (e.kind === 'identity') return h;
      if (e.kind === 'flatten') return tf.reshape(h, [h.shape[0], h.shape[1]!, -1]);
      const z = tf.add(
        tf.matMul(h as tf.Tensor3D, params[e.kernel] as tf.Tensor3D),
        tf.expandDims(params[e.bias], 1),
      );
      return activate(z, e.activation);
    });
    edgeOut.push(outs);
    values.set(a.order[i + 1], outs.length === 1 ? outs[0] : outs.reduce((s, o) => tf.add(s, o)));
  });
  const backward = (dOut: tf.Tensor): tf.Tensor[] => {
    const grads: tf.Tensor[] = new Array(params.length);
    const dNode = new Map<string, tf.Tensor>([[a.spec.output, dOut]]);
    const addTo = (id: string, g: tf.Tensor) => {
      const prev = dNode.get(id);
      dNode.set(id, prev ? tf.add(prev, g) : g);
    };
    for (let i = plan.length - 1; i >= 0; i--) {
      const d = dNode.get(a.order[i + 1]);
      if (!d) continue; // a node nothing downstream of it reads
      plan[i].forEach((e, j) => {
        const needed = !a.dataNodes.has(e.from);
        if (e.kind === 'identity') {
          if (needed) addTo(e.from, d);
          return;
        }
        if (e.kind === 'flatten') return; // flattens only data
        const dz = throughActivation(d, edgeOut[i][j], e.activation) as tf.Tensor3D;
        let dW: tf.Tensor = tf.matMul(values.get(e.from) as tf.Tensor3D, dz, true, false);
        if (dW.shape[0] !== params[e.kernel].shape[0]) dW = tf.sum(dW, 0, true);
        let db: tf.Tensor = sumOverRows(dz);
        if (db.shape[0] !== params[e.bias].shape[0]) db = tf.sum(db, 0, true);
        grads[e.kernel] = dW;
        grads[e.bias] = db;
        if (needed) addTo(e.from, tf.matMul(dz, params[e.kernel] as tf.Tensor3D, false, true));
      });
    }
    a.params.forEach((p, i) => {
      grads[i] ??= tf.zerosLike(params[i]); // parameters that do not reach the output
    });
    return grads;
  };
  return { outputs: values.get(a.spec.output)!, backward };
}
