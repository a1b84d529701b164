import * as tf from '@tensorflow/tfjs';
import { INPUT, type Analysis } from './spec.js';

/**
 * Builds a standard tfjs LayersModel (functional API) from an analyzed spec, optionally loading one
 * network's flat weights (layout of `Analysis.params`). The result can be saved with `model.save`
 * and opened with `tf.loadLayersModel` in Node or a browser; its outputs equal `forward` on the
 * same weights.
 */
export function buildLayersModel(a: Analysis, weights?: Float32Array): tf.LayersModel {
  const input = tf.input({ shape: a.spec.input, name: 'input' });
  const values = new Map<string, tf.SymbolicTensor>([[INPUT, input]]);
  const weighted: { layer: tf.layers.Layer; edge: number }[] = [];
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  for (const id of a.order.slice(1)) {
    const outs = a.incoming.get(id)!.map((ei) => {
      const e = a.spec.edges[ei];
      const h = values.get(e.from)!;
      const name = `e${ei}_${safe(e.from)}_${safe(e.to)}`;
      const op = e.op;
      let layer: tf.layers.Layer | null = null;
      switch (op.type) {
        case 'dense':
          layer = tf.layers.dense({ units: op.units, activation: op.activation ?? 'linear', name });
          weighted.push({ layer, edge: ei });
          break;
        case 'conv2d':
          layer = tf.layers.conv2d({
            filters: op.filters,
            kernelSize: op.kernelSize,
            strides: op.strides ?? 1,
            padding: op.padding ?? 'same',
            activation: op.activation ?? 'linear',
            name,
          });
          weighted.push({ layer, edge: ei });
          break;
        case 'maxPool':
          layer = tf.layers.maxPooling2d({
            poolSize: op.poolSize,
            strides: op.strides ?? op.poolSize,
            padding: op.padding ?? 'valid',
            name,
          });
          break;
        case 'flatten':
          layer = tf.layers.flatten({ name });
          break;
        case 'dropout':
          layer = tf.layers.dropout({ rate: op.rate, name });
          break;
        case 'identity':
          return h;
      }
      return layer.apply(h) as tf.SymbolicTensor;
    });
    const node = a.spec.nodes.find((n) => n.id === id)!;
    let v: tf.SymbolicTensor;
    if (outs.length === 1) v = outs[0];
    else if ((node.aggregate ?? 'sum') === 'sum')
      v = tf.layers.add({ name: `sum_${safe(id)}` }).apply(outs) as tf.SymbolicTensor;
    else v = tf.layers.concatenate({ axis: -1, name: `concat_${safe(id)}` }).apply(outs) as tf.SymbolicTensor;
    values.set(id, v);
  }
  const model = tf.model({ inputs: input, outputs: values.get(a.spec.output)!, name: safe(a.spec.name) });
  if (weights) setFlatWeights(a, weights, weighted);
  return model;
}

function setFlatWeights(
  a: Analysis,
  weights: Float32Array,
  weighted: { layer: tf.layers.Layer; edge: number }[],
): void {
  if (weights.length !== a.parameterCount) {
    throw new Error(`expected ${a.parameterCount} weights for ${a.spec.name}, got ${weights.length}`);
  }
  for (const { layer, edge } of weighted) {
    const ps = a.params.filter((p) => p.edge === edge);
    tf.tidy(() =>
      layer.setWeights(ps.map((p) => tf.tensor(weights.subarray(p.offset, p.offset + p.size), p.shape))),
    );
  }
}
