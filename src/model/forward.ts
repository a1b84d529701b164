import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { INPUT, type Activation, type Analysis } from './spec.js';
import { chainMatMul, dataMatMul } from './fast-matmul.js';
import { fusedConvTakesViews } from '../backend/wasm-conv.js';

/**
 * The network as a pure function of its parameters, vectorized over a leading "chain" axis:
 * every parameter tensor is [C, ...shape] (C chains, posterior samples or ensemble members) and the
 * input is [C, B, ...example] (each chain its own batch) or [1, B, ...example] (one batch shared by
 * all chains, broadcast inside the matmuls). Dense layers are batched matmuls over the chain axis;
 * conv layers loop over chains (tfjs has no grouped convolution).
 */
export interface ForwardOptions {
  /** Apply dropout edges with fresh masks (MC-dropout training); otherwise dropout is the identity. */
  training?: boolean;
  /** Seed of the dropout masks when training. */
  dropoutSeed?: number;
}

export function activate(x: tf.Tensor, activation: Activation | undefined): tf.Tensor {
  switch (activation ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'softplus':
      return tf.softplus(x);
    case 'elu':
      return tf.elu(x);
  }
}

/** Moves the batch axes [C, B] into one axis for image ops and back. */
function withMergedBatch(x: tf.Tensor, f: (x4: tf.Tensor4D) => tf.Tensor4D): tf.Tensor {
  const [c, b, ...rest] = x.shape as number[];
  const y = f(tf.reshape(x, [c * b, ...rest]) as unknown as tf.Tensor4D);
  return tf.reshape(y, [c, b, ...(y.shape.slice(1) as number[])]);
}

function broadcastChains(ts: tf.Tensor[]): tf.Tensor[] {
  const c = Math.max(...ts.map((t) => t.shape[0]));
  return ts.map((t) => (t.shape[0] === c ? t : tf.broadcastTo(t, [c, ...t.shape.slice(1)])));
}

/** Outputs [C, B, ...outputShape] of the network for parameters `params` (one tensor per ParamInfo). */
export function forward(
  a: Analysis,
  params: tf.Tensor[],
  x: tf.Tensor,
  opts: ForwardOptions = {},
): tf.Tensor {
  const values = new Map<string, tf.Tensor>([[INPUT, x]]);
  const byEdge = new Map<number, tf.Tensor[]>();
  a.params.forEach((p, i) => {
    const list = byEdge.get(p.edge) ?? [];
    list.push(params[i]);
    byEdge.set(p.edge, list);
  });
  let dropoutCount = 0;
  for (const id of a.order.slice(1)) {
    const outs = a.incoming.get(id)!.map((ei) => {
      const e = a.spec.edges[ei];
      const h = values.get(e.from)!;
      const op = e.op;
      switch (op.type) {
        case 'dense': {
          const [w, b] = byEdge.get(ei)!;
          // The input, and what parameter-free ops make of it (e.g. a flatten), is data: its gradient is never needed.
          const mm = a.dataNodes.has(e.from) ? dataMatMul : chainMatMul;
          const z = tf.add(mm(h, w), tf.expandDims(b, 1));
          return activate(z, op.activation);
        }
        case 'conv2d': {
          const [w, b] = byEdge.get(ei)!;
          const chains = Math.max(h.shape[0], w.shape[0]);
          const strides = op.strides ?? 1;
          const padding = op.padding ?? 'same';
          // The bias, and a ReLU, are fused into the convolution (one pass over the output, not three).
          const fusable = fusedConvTakesViews();
          const fused = fusable && op.activation === 'relu' ? 'relu' : 'linear';
          const per: tf.Tensor[] = [];
          for (let c = 0; c < chains; c++) {
            const hc = tf.squeeze(tf.slice(h, [h.shape[0] === 1 ? 0 : c], [1]), [0]) as tf.Tensor4D;
            const wc = tf.squeeze(tf.slice(w, [c], [1]), [0]) as tf.Tensor4D;
            const bc = tf.reshape(tf.slice(b, [c], [1]), [-1]);
            per.push(
              fusable
                ? tf.fused.conv2d({ x: hc, filter: wc, strides, pad: padding, bias: bc, activation: fused })
                : tf.add(tf.conv2d(hc, wc, strides, padding), bc),
            );
          }
          const y = chains === 1 ? tf.expandDims(per[0], 0) : tf.stack(per);
          return fused === 'relu' ? y : activate(y, op.activation);
        }
        case 'maxPool':
          return withMergedBatch(h, (x4) =>
            tf.maxPool(x4, op.poolSize, op.strides ?? op.poolSize, op.padding ?? 'valid'),
          );
        case 'flatten':
          return tf.reshape(h, [h.shape[0], h.shape[1] as number, -1]);
        case 'dropout': {
          if (!opts.training || op.rate === 0) return h;
          const keep = 1 - op.rate;
          const seed = (opts.dropoutSeed ?? 0) + 7919 * ++dropoutCount;
          const mask = tf.cast(tf.less(tf.randomUniform(h.shape, 0, 1, 'float32', seed), keep), 'float32');
          return tf.div(tf.mul(h, mask), keep);
        }
        case 'identity':
          return h;
      }
    });
    const node = a.spec.nodes.find((n) => n.id === id)!;
    let v: tf.Tensor;
    if (outs.length === 1) v = outs[0];
    else if ((node.aggregate ?? 'sum') === 'sum') v = outs.reduce((s, o) => tf.add(s, o));
    else v = tf.concat(broadcastChains(outs), -1);
    values.set(id, v);
  }
  return values.get(a.spec.output)!;
}

/** Splits flat weights [C, P] into the parameter tensors [C, ...shape] in layout order. */
export function unflatten(a: Analysis, flat: tf.Tensor2D): tf.Tensor[] {
  const c = flat.shape[0];
  return a.params.map((p) => tf.reshape(tf.slice(flat, [0, p.offset], [c, p.size]), [c, ...p.shape]));
}

/** Concatenates parameter tensors [C, ...shape] into flat weights [C, P]. */
export function flatten(params: tf.Tensor[]): tf.Tensor2D {
  const c = params[0].shape[0];
  return tf.concat(
    params.map((p) => tf.reshape(p, [c, -1])),
    1,
  ) as tf.Tensor2D;
}

/**
 * Flat weights [C·P] of parameter tensors, read back to JS. The flat tensor is built inside a tidy but
 * read outside it: a typed array returned from `tf.tidy` is walked element by element (looking for
 * tensors), which costs hundreds of milliseconds for a network of 400k weights.
 */
export function readFlatWeights(params: tf.Tensor[]): Float32Array {
  const t = tf.tidy(() => flatten(params));
  try {
    return Float32Array.from(t.dataSync() as Float32Array);
  } finally {
    t.dispose();
  }
}

/**
 * Initial weights of one network, drawn from `rng`: kernels N(0, gain/fanIn) with gain 2 for ReLU
 * layers (He et al. 2015) and 1 otherwise (LeCun), biases zero.
 */
export function initialWeights(a: Analysis, rng: Rng): Float32Array {
  const w = new Float32Array(a.parameterCount);
  for (const p of a.params) {
    if (p.role !== 'kernel') continue;
    const op = a.spec.edges[p.edge].op;
    const gain = 'activation' in op && op.activation === 'relu' ? 2 : 1;
    rng.fillNormal(w.subarray(p.offset, p.offset + p.size), 0, Math.sqrt(gain / p.fanIn));
  }
  return w;
}
