import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../core/errors.js';

/**
 * A Keras-style functional model (`model.json`'s `modelTopology`, as tfjs-layers saves it) run with
 * tfjs-core ops alone: the layer classes bdk's exports hold (src/model/layers-model.ts) and their
 * activations. An unknown layer class, activation or option is a one-line error naming it, rather
 * than a silently different model.
 */
interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

type Ref = [string, number, number];

export interface Topology {
  class_name: string;
  config: { layers: LayerJson[]; input_layers: Ref[]; output_layers: Ref[] };
}

const ACTIVATIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x,
  relu: tf.relu,
  tanh: tf.tanh,
  sigmoid: tf.sigmoid,
  softplus: tf.softplus,
  elu: tf.elu,
};

export const LAYER_CLASSES = [
  'InputLayer',
  'Dense',
  'Conv2D',
  'MaxPooling2D',
  'Flatten',
  'Concatenate',
  'Add',
  'Dropout',
  'Activation',
] as const;

/** A compiled graph: call it on a standardized input batch inside `tf.tidy`. */
export type Graph = (x: tf.Tensor) => tf.Tensor;

export function buildGraph(topology: Topology, weights: tf.NamedTensorMap, where: string): Graph {
  if (topology?.class_name !== 'Model' || !Array.isArray(topology.config?.layers))
    throw new UserError(
      `${where}: model topology ${JSON.stringify(topology?.class_name)} is not a functional Model (the runtime runs bdk exports)`,
    );
  const { layers, input_layers: inputs, output_layers: outputs } = topology.config;
  if (inputs?.length !== 1 || outputs?.length !== 1)
    throw new UserError(`${where}: the runtime runs models with one input and one output`);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const steps = layers.map((l) => compileLayer(l, weights, where));
  const order = layers.map((l) => l.name);
  const inputName = inputs[0][0];
  const outputName = outputs[0][0];
  for (const l of layers)
    for (const [from] of l.inbound_nodes.flat())
      if (!byName.has(from)) throw new UserError(`${where}: layer '${l.name}' reads unknown layer '${from}'`);
  if (!byName.has(outputName)) throw new UserError(`${where}: unknown output layer '${outputName}'`);
  return (x) => {
    const values = new Map<string, tf.Tensor>([[inputName, x]]);
    const visiting = new Set<string>();
    const value = (name: string): tf.Tensor => {
      const known = values.get(name);
      if (known) return known;
      const i = order.indexOf(name);
      const l = layers[i];
      if (l.inbound_nodes.length !== 1)
        throw new UserError(
          `${where}: layer '${name}' is applied ${l.inbound_nodes.length} times; the runtime runs layers applied once`,
        );
      if (visiting.has(name)) throw new UserError(`${where}: layer '${name}' is part of a cycle`);
      visiting.add(name);
      const out = steps[i](l.inbound_nodes[0].map(([from]) => value(from)));
      values.set(name, out);
      return out;
    };
    return value(outputName);
  };
}

const num = (v: unknown) =>
  (Array.isArray(v) ? (v as number[]) : [v as number, v as number]) as [number, number];

function compileLayer(
  l: LayerJson,
  weights: tf.NamedTensorMap,
  where: string,
): (xs: tf.Tensor[]) => tf.Tensor {
  const c = l.config ?? {};
  const fail = (what: string) => new UserError(`${where}: layer '${l.name}' (${l.class_name}): ${what}`);
  const weight = (w: string) => {
    const t = weights[`${l.name}/${w}`];
    if (!t) throw fail(`weight '${l.name}/${w}' is missing from the weights manifest`);
    return t;
  };
  const activation = () => {
    const name = (c.activation as string | undefined) ?? 'linear';
    const f = ACTIVATIONS[name];
    if (!f)
      throw fail(`unknown activation '${name}' (the runtime knows ${Object.keys(ACTIVATIONS).join(', ')})`);
    return f;
  };
  const channelsLast = () => {
    if ((c.data_format ?? 'channels_last') !== 'channels_last')
      throw fail(`data_format ${c.data_format} is not supported`);
  };
  const one = (xs: tf.Tensor[]) => xs[0];
  switch (l.class_name) {
    case 'InputLayer':
    case 'Dropout':
      return one;
    case 'Activation': {
      const act = activation();
      return (xs) => act(xs[0]);
    }
    case 'Dense': {
      const act = activation();
      const kernel = weight('kernel') as tf.Tensor2D;
      const bias = c.use_bias === false ? null : weight('bias');
      return ([x]) => {
        const flat =
          x.rank === 2 ? (x as tf.Tensor2D) : (tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D);
        let y: tf.Tensor = tf.matMul(flat, kernel);
        if (bias) y = tf.add(y, bias);
        if (x.rank !== 2) y = tf.reshape(y, [...x.shape.slice(0, -1), kernel.shape[1]]);
        return act(y);
      };
    }
    case 'Conv2D': {
      channelsLast();
      const act = activation();
      const kernel = weight('kernel') as tf.Tensor4D;
      const bias = c.use_bias === false ? null : weight('bias');
      const strides = num(c.strides ?? 1);
      const dilations = num(c.dilation_rate ?? 1);
      const padding = c.padding as 'same' | 'valid';
      if (padding !== 'same' && padding !== 'valid') throw fail(`unknown padding '${String(c.padding)}'`);
      return ([x]) => {
        let y: tf.Tensor = tf.conv2d(x as tf.Tensor4D, kernel, strides, padding, 'NHWC', dilations);
        if (bias) y = tf.add(y, bias);
        return act(y);
      };
    }
    case 'MaxPooling2D': {
      channelsLast();
      const pool = num(c.pool_size);
      const strides = num(c.strides ?? c.pool_size);
      const padding = (c.padding ?? 'valid') as 'same' | 'valid';
      if (padding !== 'same' && padding !== 'valid') throw fail(`unknown padding '${String(c.padding)}'`);
      return ([x]) => tf.maxPool(x as tf.Tensor4D, pool, strides, padding);
    }
    case 'Flatten':
      return ([x]) => tf.reshape(x, [x.shape[0], -1]);
    case 'Concatenate': {
      const axis = (c.axis as number | undefined) ?? -1;
      return (xs) => tf.concat(xs, axis < 0 ? xs[0].rank + axis : axis);
    }
    case 'Add':
      return (xs) => tf.addN(xs);
    default:
      throw new UserError(
        `${where}: layer '${l.name}' has class '${l.class_name}', which the runtime does not run (it runs ${LAYER_CLASSES.join(', ')})`,
      );
  }
}
