import { UserError } from '../core/errors.js';

/**
 * Architecture specs: one versioned JSON format for teachers, students and the structure search's
 * output. A network is a DAG: the implicit node `input`, named nodes that aggregate their incoming
 * edges (`sum` or `concat` along the last axis), and edges that each carry one op. The output node's
 * value is the network's output (logits for classification; the mean, or mean and log-variance, for
 * regression).
 */
export const ARCH_FORMAT = 'bdk-arch';
export const ARCH_VERSION = 1;
export const ACTIVATIONS = ['linear', 'relu', 'tanh', 'sigmoid', 'softplus', 'elu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export type Op =
  | { type: 'dense'; units: number; activation?: Activation }
  | {
      type: 'conv2d';
      filters: number;
      kernelSize: number;
      strides?: number;
      padding?: 'same' | 'valid';
      activation?: Activation;
    }
  | { type: 'maxPool'; poolSize: number; strides?: number; padding?: 'same' | 'valid' }
  | { type: 'flatten' }
  | { type: 'dropout'; rate: number }
  | { type: 'identity' };

export interface ArchNode {
  id: string;
  aggregate?: 'sum' | 'concat';
}

export interface ArchEdge {
  from: string;
  to: string;
  op: Op;
}

export interface ArchSpec {
  format: typeof ARCH_FORMAT;
  version: typeof ARCH_VERSION;
  name: string;
  /** Shape of one example: [features] for tabular data, [height, width, channels] for images. */
  input: number[];
  nodes: ArchNode[];
  edges: ArchEdge[];
  output: string;
}

export const INPUT = 'input';

/** A trainable tensor of the network, in the order of the flat weight vector. */
export interface ParamInfo {
  name: string;
  shape: number[];
  size: number;
  /** Offset into the flat weight vector. */
  offset: number;
  /** Index of the edge that owns it. */
  edge: number;
  role: 'kernel' | 'bias';
  /** Fan-in of the op, for initialization. */
  fanIn: number;
}

/** A validated spec with its topological order, shapes and parameter layout. */
export interface Analysis {
  spec: ArchSpec;
  /** Node ids in topological order, `input` first. */
  order: string[];
  /** Incoming edge indices per node, in spec order. */
  incoming: Map<string, number[]>;
  shapes: Map<string, number[]>;
  edgeOutputShapes: number[][];
  params: ParamInfo[];
  parameterCount: number;
  outputShape: number[];
  /**
   * Nodes whose value is data: the input, and what parameter-free ops (flatten, identity, max-pool,
   * dropout) make of data. Their gradient is never needed.
   */
  dataNodes: Set<string>;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function fail(where: string, message: string): never {
  throw new UserError(`${where}: ${message}`);
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function checkKeys(where: string, obj: Record<string, unknown>, allowed: string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(where, `unknown key '${k}' (allowed: ${allowed.join(', ')})`);
  }
}

function checkOp(where: string, op: unknown): Op {
  if (!op || typeof op !== 'object') fail(where, `expected an op object, found ${JSON.stringify(op)}`);
  const o = op as Record<string, unknown>;
  const act = (key = 'activation') => {
    if (o[key] !== undefined && !(ACTIVATIONS as readonly string[]).includes(o[key] as string)) {
      fail(`${where}.${key}`, `expected one of ${ACTIVATIONS.join(', ')}, found ${JSON.stringify(o[key])}`);
    }
  };
  const posInt = (key: string, optional = false) => {
    if (optional && o[key] === undefined) return;
    if (!isPosInt(o[key]))
      fail(`${where}.${key}`, `expected a positive integer, found ${JSON.stringify(o[key])}`);
  };
  const padding = () => {
    if (o.padding !== undefined && o.padding !== 'same' && o.padding !== 'valid') {
      fail(`${where}.padding`, `expected "same" or "valid", found ${JSON.stringify(o.padding)}`);
    }
  };
  switch (o.type) {
    case 'dense':
      checkKeys(where, o, ['type', 'units', 'activation']);
      posInt('units');
      act();
      break;
    case 'conv2d':
      checkKeys(where, o, ['type', 'filters', 'kernelSize', 'strides', 'padding', 'activation']);
      posInt('filters');
      posInt('kernelSize');
      posInt('strides', true);
      padding();
      act();
      break;
    case 'maxPool':
      checkKeys(where, o, ['type', 'poolSize', 'strides', 'padding']);
      posInt('poolSize');
      posInt('strides', true);
      padding();
      break;
    case 'dropout':
      checkKeys(where, o, ['type', 'rate']);
      if (!(typeof o.rate === 'number' && o.rate >= 0 && o.rate < 1)) {
        fail(`${where}.rate`, `expected a number in [0, 1), found ${JSON.stringify(o.rate)}`);
      }
      break;
    case 'flatten':
    case 'identity':
      checkKeys(where, o, ['type']);
      break;
    default:
      fail(
        `${where}.type`,
        `expected one of dense, conv2d, maxPool, flatten, dropout, identity, found ${JSON.stringify(o.type)}`,
      );
  }
  return o as unknown as Op;
}

function convOut(n: number, k: number, s: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1;
}

/** Output shape of an op applied to one example of `shape`; errors name the edge. */
export function opOutputShape(where: string, op: Op, shape: number[]): number[] {
  switch (op.type) {
    case 'dense':
      if (shape.length !== 1)
        fail(where, `dense needs a flat input, found shape [${shape}] (add a flatten edge first)`);
      return [op.units];
    case 'conv2d':
    case 'maxPool': {
      if (shape.length !== 3)
        fail(where, `${op.type} needs an image input [height, width, channels], found shape [${shape}]`);
      const k = op.type === 'conv2d' ? op.kernelSize : op.poolSize;
      const s = op.strides ?? (op.type === 'conv2d' ? 1 : op.poolSize);
      const pad = op.padding ?? (op.type === 'conv2d' ? 'same' : 'valid');
      const h = convOut(shape[0], k, s, pad);
      const w = convOut(shape[1], k, s, pad);
      if (h < 1 || w < 1) fail(where, `${op.type} of size ${k} does not fit an input of shape [${shape}]`);
      return [h, w, op.type === 'conv2d' ? op.filters : shape[2]];
    }
    case 'flatten':
      return [size(shape)];
    case 'dropout':
    case 'identity':
      return shape;
  }
}

/**
 * Nodes reachable from `input` in topological order (Kahn's algorithm; edge order breaks ties so
 * layouts are stable). Shorter than the node count when the graph has a cycle.
 */
export function topologicalOrder(
  incoming: Map<string, number[]>,
  edges: { from: string; to: string }[],
): string[] {
  const indeg = new Map([...incoming].map(([id, inc]) => [id, inc.length]));
  const order: string[] = [];
  const ready = [INPUT];
  while (ready.length) {
    const id = ready.shift()!;
    order.push(id);
    edges.forEach((e) => {
      if (e.from !== id) return;
      const d = indeg.get(e.to)! - 1;
      indeg.set(e.to, d);
      if (d === 0) ready.push(e.to);
    });
  }
  return order;
}

/**
 * Validates a spec (structure, ops, acyclicity, shape agreement at every aggregation) and computes
 * its parameter layout. Every error names the offending node or edge.
 */
export function analyzeSpec(raw: unknown, where = 'architecture'): Analysis {
  if (!raw || typeof raw !== 'object') fail(where, 'expected a JSON object');
  const s = raw as Record<string, unknown>;
  checkKeys(where, s, ['format', 'version', 'name', 'input', 'nodes', 'edges', 'output']);
  if (s.format !== ARCH_FORMAT)
    fail(where, `expected format "${ARCH_FORMAT}", found ${JSON.stringify(s.format)}`);
  if (s.version !== ARCH_VERSION)
    fail(where, `unsupported version ${JSON.stringify(s.version)} (expected ${ARCH_VERSION})`);
  if (typeof s.name !== 'string' || !s.name) fail(`${where}.name`, 'expected a non-empty string');
  if (
    !Array.isArray(s.input) ||
    s.input.length === 0 ||
    !s.input.every(isPosInt) ||
    (s.input.length !== 1 && s.input.length !== 3)
  ) {
    fail(
      `${where}.input`,
      `expected [features] or [height, width, channels] of positive integers, found ${JSON.stringify(s.input)}`,
    );
  }
  if (!Array.isArray(s.nodes)) fail(`${where}.nodes`, 'expected an array');
  if (!Array.isArray(s.edges) || s.edges.length === 0) fail(`${where}.edges`, 'expected a non-empty array');
  const nodes = new Map<string, ArchNode>();
  (s.nodes as unknown[]).forEach((n, i) => {
    const w = `${where}.nodes[${i}]`;
    if (!n || typeof n !== 'object') fail(w, 'expected an object');
    const node = n as Record<string, unknown>;
    checkKeys(w, node, ['id', 'aggregate']);
    if (typeof node.id !== 'string' || !node.id) fail(`${w}.id`, 'expected a non-empty string');
    if (node.id === INPUT) fail(`${w}.id`, `'${INPUT}' is the implicit input node and cannot be declared`);
    if (nodes.has(node.id)) fail(`${w}.id`, `duplicate node id '${node.id}'`);
    if (node.aggregate !== undefined && node.aggregate !== 'sum' && node.aggregate !== 'concat') {
      fail(`${w}.aggregate`, `expected "sum" or "concat", found ${JSON.stringify(node.aggregate)}`);
    }
    nodes.set(node.id, node as unknown as ArchNode);
  });
  const edges: ArchEdge[] = (s.edges as unknown[]).map((e, i) => {
    const w = `${where}.edges[${i}]`;
    if (!e || typeof e !== 'object') fail(w, 'expected an object');
    const edge = e as Record<string, unknown>;
    checkKeys(w, edge, ['from', 'to', 'op']);
    for (const end of ['from', 'to'] as const) {
      const id = edge[end];
      if (typeof id !== 'string' || (id !== INPUT && !nodes.has(id)))
        fail(`${w}.${end}`, `unknown node ${JSON.stringify(id)}`);
    }
    if (edge.to === INPUT) fail(`${w}.to`, `edges cannot end at '${INPUT}'`);
    return { from: edge.from as string, to: edge.to as string, op: checkOp(`${w}.op`, edge.op) };
  });
  if (typeof s.output !== 'string' || !nodes.has(s.output))
    fail(`${where}.output`, `unknown node ${JSON.stringify(s.output)}`);

  const incoming = new Map<string, number[]>([[INPUT, []]]);
  for (const id of nodes.keys()) incoming.set(id, []);
  edges.forEach((e, i) => incoming.get(e.to)!.push(i));
  for (const [id, inc] of incoming)
    if (id !== INPUT && inc.length === 0) fail(`${where}: node '${id}'`, 'has no incoming edge');

  const order = topologicalOrder(incoming, edges);
  if (order.length !== nodes.size + 1) {
    const stuck = [...nodes.keys()].filter((id) => !order.includes(id));
    fail(
      where,
      `the graph has a cycle through node${stuck.length > 1 ? 's' : ''} ${stuck.map((x) => `'${x}'`).join(', ')}`,
    );
  }

  const shapes = new Map<string, number[]>([[INPUT, s.input as number[]]]);
  const edgeOutputShapes: number[][] = new Array(edges.length);
  const params: ParamInfo[] = [];
  let offset = 0;
  const edgeIndexOrder = order.slice(1).flatMap((id) => incoming.get(id)!);
  for (const id of order.slice(1)) {
    const inc = incoming.get(id)!;
    for (const ei of inc) {
      const e = edges[ei];
      const w = `${where}.edges[${ei}] (${e.from} → ${e.to})`;
      edgeOutputShapes[ei] = opOutputShape(w, e.op, shapes.get(e.from)!);
    }
    const outs = inc.map((ei) => edgeOutputShapes[ei]);
    const agg = nodes.get(id)!.aggregate ?? 'sum';
    let shape: number[];
    if (agg === 'sum') {
      shape = outs[0];
      for (const o of outs) {
        if (o.join() !== shape.join())
          fail(`${where}: node '${id}'`, `sum needs equal shapes, found [${shape}] and [${o}]`);
      }
    } else {
      shape = [...outs[0]];
      for (const o of outs.slice(1)) {
        if (o.length !== shape.length || o.slice(0, -1).join() !== shape.slice(0, -1).join()) {
          fail(
            `${where}: node '${id}'`,
            `concat needs equal shapes except the last axis, found [${outs[0]}] and [${o}]`,
          );
        }
        shape[shape.length - 1] += o[o.length - 1];
      }
    }
    shapes.set(id, shape);
  }
  for (const ei of edgeIndexOrder) {
    const e = edges[ei];
    const inShape = shapes.get(e.from)!;
    const add = (role: 'kernel' | 'bias', shape: number[], fanIn: number) => {
      params.push({
        name: `${e.from}->${e.to}#${ei}/${role}`,
        shape,
        size: size(shape),
        offset,
        edge: ei,
        role,
        fanIn,
      });
      offset += size(shape);
    };
    if (e.op.type === 'dense') {
      add('kernel', [inShape[0], e.op.units], inShape[0]);
      add('bias', [e.op.units], inShape[0]);
    } else if (e.op.type === 'conv2d') {
      const fanIn = e.op.kernelSize * e.op.kernelSize * inShape[2];
      add('kernel', [e.op.kernelSize, e.op.kernelSize, inShape[2], e.op.filters], fanIn);
      add('bias', [e.op.filters], fanIn);
    }
  }
  const spec: ArchSpec = {
    format: ARCH_FORMAT,
    version: ARCH_VERSION,
    name: s.name as string,
    input: s.input as number[],
    nodes: [...nodes.values()],
    edges,
    output: s.output as string,
  };
  const parameterFree = new Set(['flatten', 'identity', 'maxPool', 'dropout']);
  const dataNodes = new Set([INPUT]);
  for (const id of order.slice(1))
    if (
      incoming.get(id)!.every((ei) => parameterFree.has(edges[ei].op.type) && dataNodes.has(edges[ei].from))
    )
      dataNodes.add(id);
  return {
    dataNodes,
    spec,
    order,
    incoming,
    shapes,
    edgeOutputShapes,
    params,
    parameterCount: offset,
    outputShape: shapes.get(spec.output)!,
  };
}
