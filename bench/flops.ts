import { INPUT, type Analysis } from '../src/model/spec.js';

/** Multiply-accumulates of one parametric edge (dense or conv2d) for one example. */
export interface LayerMacs {
  edge: number;
  op: 'dense' | 'conv2d';
  macs: number;
  /** Whether the edge's input depends on parameters, so that backprop needs its input gradient. */
  needsInputGradient: boolean;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The matmul / conv work of a network per example, read from the spec's shapes: a dense edge with
 * input [..., n] and output [..., m] does prod(...)·n·m multiply-accumulates, a conv2d edge with
 * output [h, w, f], kernel k×k and c input channels h·w·f·k·k·c. Element-wise ops (bias, activations,
 * pooling, softmax) are not counted.
 */
export function layerMacs(a: Analysis): LayerMacs[] {
  const out: LayerMacs[] = [];
  for (const id of a.order.slice(1)) {
    for (const ei of a.incoming.get(id)!) {
      const e = a.spec.edges[ei];
      const fromParams = !a.dataNodes.has(e.from);
      const inShape = e.from === INPUT ? a.spec.input : a.shapes.get(e.from)!;
      const outShape = a.edgeOutputShapes[ei];
      if (e.op.type === 'dense') {
        const n = inShape[inShape.length - 1];
        out.push({ edge: ei, op: 'dense', macs: prod(outShape) * n, needsInputGradient: fromParams });
      } else if (e.op.type === 'conv2d') {
        const c = inShape[inShape.length - 1];
        const k = e.op.kernelSize;
        out.push({
          edge: ei,
          op: 'conv2d',
          macs: prod(outShape) * k * k * c,
          needsInputGradient: fromParams,
        });
      }
    }
  }
  return out;
}

/** FLOPs (2 per multiply-accumulate) of a network for one example. */
export interface FlopCount {
  /** Forward pass. */
  forward: number;
  /**
   * Useful backward pass: every kernel gradient (same work as the forward product) plus the input
   * gradient of every layer whose input depends on parameters. The gradient with respect to the data
   * is not useful work and is not counted, even where the code computes it.
   */
  backward: number;
}

export function flopsPerExample(a: Analysis): FlopCount {
  let forward = 0;
  let backward = 0;
  for (const l of layerMacs(a)) {
    forward += 2 * l.macs;
    backward += 2 * l.macs * (l.needsInputGradient ? 2 : 1);
  }
  return { forward, backward };
}
