import { UserError } from '../core/errors.js';
import type { ArchContext } from '../model/builtins.js';
import {
  INPUT,
  opOutputShape,
  topologicalOrder,
  type Activation,
  type ArchNode,
  type Op,
} from '../model/spec.js';

/**
 * Search spaces (docs/design.md §3): a DAG whose every edge carries a vector of candidate ops and whose
 * every vertex aggregates its incoming edges (sum or concat), f_v = agg_v({⟨γ^{j,k}, g^{j,k}⟩ ∘ f_j}).
 * A one-hot γ is a discrete architecture in the `bdk-arch` format.
 *
 * Candidates of one edge that are the same kind of layer (dense with one activation, or conv with one
 * kernel size and activation) and differ only in width share one kernel of the widest width; the
 * narrower ones use its first units (a width mask), so "dense 100 / 200 / 400" costs one 400-wide
 * kernel. An edge's output has the widest candidate's shape; narrower outputs are zero-padded.
 */
export const SPACE_FORMAT = 'bdk-space';
export const SPACE_VERSION = 1;

export type ChoiceOp = Op | { type: 'zero' };

export interface Choice {
  label: string;
  op: ChoiceOp;
}

export interface SpaceEdge {
  from: string;
  to: string;
  choices: Choice[];
}

export interface SearchSpace {
  format: typeof SPACE_FORMAT;
  version: typeof SPACE_VERSION;
  name: string;
  input: number[];
  nodes: ArchNode[];
  edges: SpaceEdge[];
  output: string;
}

/** Candidates of one edge sharing one kernel: same op type, activation, kernel size, strides, padding. */
export interface ChoiceGroup {
  key: string;
  /** The widest op of the group (its kernel is the shared one). */
  op: Extract<Op, { type: 'dense' } | { type: 'conv2d' }>;
  /** Indices into the edge's choices, and each one's width (units or filters). */
  members: { choice: number; width: number }[];
  /** Kernel shape [in, width] or [k, k, cin, filters]. */
  kernelShape: number[];
}

/** A validated space with shapes, kernel groups and parameter counts per choice. */
export interface SpaceAnalysis {
  space: SearchSpace;
  order: string[];
  incoming: Map<string, number[]>;
  shapes: Map<string, number[]>;
  edgeShapes: number[][];
  groups: ChoiceGroup[][];
  /** Parameters a choice adds to the discrete network (kernel + bias of its width; 0 for parameter-free ops). */
  choiceParams: number[][];
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function fail(where: string, message: string): never {
  throw new UserError(`${where}: ${message}`);
}

const width = (op: ChoiceOp) => (op.type === 'dense' ? op.units : op.type === 'conv2d' ? op.filters : 0);

function groupKey(op: ChoiceOp): string | null {
  if (op.type === 'dense') return `dense/${op.activation ?? 'linear'}`;
  if (op.type === 'conv2d')
    return `conv2d/${op.kernelSize}/${op.strides ?? 1}/${op.padding ?? 'same'}/${op.activation ?? 'linear'}`;
  return null;
}

/** Short label of an op, for choices declared without one. */
export function opLabel(op: ChoiceOp): string {
  switch (op.type) {
    case 'dense':
      return `dense-${op.units}-${op.activation ?? 'linear'}`;
    case 'conv2d':
      return `conv${op.kernelSize}x${op.kernelSize}-${op.filters}-${op.activation ?? 'linear'}`;
    case 'maxPool':
      return `maxpool${op.poolSize}`;
    case 'dropout':
      return `dropout-${op.rate}`;
    default:
      return op.type;
  }
}

/** Validates a space (structure, acyclicity, equal candidate shapes, aggregation) and lays out its kernels. */
export function analyzeSpace(space: SearchSpace, where = 'search space'): SpaceAnalysis {
  if (space.format !== SPACE_FORMAT)
    fail(where, `expected format "${SPACE_FORMAT}", found ${JSON.stringify(space.format)}`);
  if (space.version !== SPACE_VERSION)
    fail(where, `unsupported version ${JSON.stringify(space.version)} (expected ${SPACE_VERSION})`);
  const nodes = new Map(space.nodes.map((n) => [n.id, n]));
  if (nodes.has(INPUT)) fail(where, `'${INPUT}' is the implicit input node and cannot be declared`);
  if (!nodes.has(space.output)) fail(`${where}.output`, `unknown node ${JSON.stringify(space.output)}`);
  const incoming = new Map<string, number[]>([[INPUT, []]]);
  for (const id of nodes.keys()) incoming.set(id, []);
  space.edges.forEach((e, i) => {
    const w = `${where}.edges[${i}]`;
    for (const end of [e.from, e.to]) if (!incoming.has(end)) fail(w, `unknown node ${JSON.stringify(end)}`);
    if (e.to === INPUT) fail(w, `edges cannot end at '${INPUT}'`);
    if (!Array.isArray(e.choices) || e.choices.length === 0)
      fail(`${w}.choices`, 'expected a non-empty array');
    const labels = new Set<string>();
    for (const c of e.choices) {
      if (labels.has(c.label)) fail(`${w}.choices`, `duplicate label '${c.label}'`);
      labels.add(c.label);
    }
    incoming.get(e.to)!.push(i);
  });
  for (const [id, inc] of incoming)
    if (id !== INPUT && inc.length === 0) fail(`${where}: node '${id}'`, 'has no incoming edge');
  const order = topologicalOrder(incoming, space.edges);
  if (order.length !== nodes.size + 1) fail(where, 'the graph has a cycle');

  const shapes = new Map<string, number[]>([[INPUT, space.input]]);
  const edgeShapes: number[][] = new Array(space.edges.length);
  const groups: ChoiceGroup[][] = new Array(space.edges.length);
  const choiceParams: number[][] = new Array(space.edges.length);
  for (const id of order.slice(1)) {
    for (const ei of incoming.get(id)!) {
      const e = space.edges[ei];
      const w = `${where}.edges[${ei}] (${e.from} → ${e.to})`;
      const inShape = shapes.get(e.from)!;
      const outs = e.choices.map((c) =>
        c.op.type === 'zero' ? null : opOutputShape(`${w} choice '${c.label}'`, c.op, inShape),
      );
      const known = outs.filter((o): o is number[] => o !== null);
      if (known.length === 0) fail(w, 'needs at least one choice that is not zero');
      // Widths may differ (masked); everything else must agree.
      const out = [...known[0]];
      for (const [i, o] of outs.entries()) {
        if (!o) continue;
        if (o.length !== out.length || o.slice(0, -1).join() !== out.slice(0, -1).join())
          fail(w, `choice '${e.choices[i].label}' gives shape [${o}] but others give [${out}]`);
        out[out.length - 1] = Math.max(out[out.length - 1], o[o.length - 1]);
      }
      for (const [i, o] of outs.entries()) {
        if (o && width(e.choices[i].op) === 0 && o[o.length - 1] !== out[out.length - 1])
          fail(
            w,
            `choice '${e.choices[i].label}' gives shape [${o}] but the edge's widest choice gives [${out}]`,
          );
      }
      edgeShapes[ei] = out;
      const byKey = new Map<string, ChoiceGroup>();
      e.choices.forEach((c, i) => {
        const key = groupKey(c.op);
        if (!key) return;
        const op = c.op as ChoiceGroup['op'];
        const g = byKey.get(key) ?? { key, op, members: [], kernelShape: [] };
        g.members.push({ choice: i, width: width(op) });
        if (width(op) > width(g.op)) g.op = op;
        byKey.set(key, g);
      });
      groups[ei] = [...byKey.values()].map((g) => ({
        ...g,
        kernelShape:
          g.op.type === 'dense'
            ? [inShape[0], g.op.units]
            : [g.op.kernelSize, g.op.kernelSize, inShape[2], g.op.filters],
      }));
      choiceParams[ei] = e.choices.map((c) => {
        if (c.op.type === 'dense') return (inShape[0] + 1) * c.op.units;
        if (c.op.type === 'conv2d')
          return (c.op.kernelSize * c.op.kernelSize * inShape[2] + 1) * c.op.filters;
        return 0;
      });
    }
    const inc = incoming.get(id)!.map((ei) => edgeShapes[ei]);
    const agg = nodes.get(id)!.aggregate ?? 'sum';
    let shape = [...inc[0]];
    for (const o of inc.slice(1)) {
      if (agg === 'sum' && o.join() !== shape.join())
        fail(`${where}: node '${id}'`, `sum needs equal shapes, found [${shape}] and [${o}]`);
      if (agg === 'concat') {
        if (o.slice(0, -1).join() !== shape.slice(0, -1).join())
          fail(
            `${where}: node '${id}'`,
            `concat needs equal shapes except the last axis, found [${shape}] and [${o}]`,
          );
        shape = [...shape.slice(0, -1), shape[shape.length - 1] + o[o.length - 1]];
      }
    }
    shapes.set(id, shape);
  }
  return { space, order, incoming, shapes, edgeShapes, groups, choiceParams };
}

const denseChoices = (widths: number[], activations: Activation[]): Choice[] =>
  activations.flatMap((activation) =>
    widths.map((units) => {
      const op: Op = { type: 'dense', units, activation };
      return { label: opLabel(op), op };
    }),
  );
const ZERO: Choice = { label: 'zero', op: { type: 'zero' } };
const IDENTITY: Choice = { label: 'identity', op: { type: 'identity' } };

export interface BuiltinSpaceOptions {
  /** Candidate widths of the hidden layers (default: 50, 100, 200 for tabular data; 100, 200, 400 for images). */
  widths?: number[];
  activations?: Activation[];
}

/**
 * Built-in spaces.
 * - `mlp`: input → h1 → h2 → out, plus a skip edge input → out. input→h1 and h1→h2 choose a dense
 *   layer (widths × relu/tanh/sigmoid); h1→h2 may also be `identity` (one hidden layer instead of two);
 *   h2→out and input→out choose a linear dense read-out or `zero`, so the search can drop the hidden
 *   path (a linear model) or the skip.
 * - `conv`: input → c1 (conv 3×3 / 5×5 stem) → c2 (conv 3×3 / 5×5, max-pool 3×3, identity, zero,
 *   summed with c1 by a fixed identity edge, a residual cell) → 2×2 max-pool → flatten → dense read-out.
 * - `lenet`: two conv cells and a searched dense head, LeNet-5's depth: input → c1 (conv 3×3 / 5×5 with
 *   4, 8 or 16 filters) → p1 (max-pool 2×2, or 3×3 with stride 2) → c2, which concatenates a conv 3×3 /
 *   5×5 with 8, 16 or 32 filters of p1 and a skip (identity or zero) of p1 → p2 (pooled as p1) →
 *   flatten → d1 (dense, `widths` × `activations`) → d2 (dense or identity) → linear read-out.
 */
export const BUILTIN_SPACES: Record<
  string,
  { description: string; build: (ctx: ArchContext, o?: BuiltinSpaceOptions) => SearchSpace }
> = {
  mlp: {
    description:
      'two hidden dense layers (widths × relu/tanh/sigmoid), identity to skip the second, linear or zero read-out, linear skip from the inputs',
    build: ({ input, outputUnits }, o = {}) => {
      const flat = size(input);
      const widths = o.widths ?? (flat > 100 ? [100, 200, 400] : [25, 50, 100]);
      const acts = o.activations ?? ['relu', 'tanh', 'sigmoid'];
      const readout: Op = { type: 'dense', units: outputUnits };
      const first = input.length > 1 ? 'x' : INPUT;
      return {
        format: SPACE_FORMAT,
        version: SPACE_VERSION,
        name: 'mlp',
        input,
        nodes: [...(input.length > 1 ? [{ id: 'x' }] : []), { id: 'h1' }, { id: 'h2' }, { id: 'out' }],
        edges: [
          ...(input.length > 1
            ? [{ from: INPUT, to: 'x', choices: [{ label: 'flatten', op: { type: 'flatten' } }] }]
            : []),
          { from: first, to: 'h1', choices: denseChoices(widths, acts) },
          { from: 'h1', to: 'h2', choices: [...denseChoices(widths, acts), IDENTITY] },
          { from: 'h2', to: 'out', choices: [{ label: 'linear', op: readout }, ZERO] },
          { from: first, to: 'out', choices: [{ label: 'linear', op: readout }, ZERO] },
        ] as SpaceEdge[],
        output: 'out',
      };
    },
  },
  conv: {
    description:
      'conv 3×3/5×5 stem, then a residual cell choosing conv 3×3/5×5, max-pool 3×3, identity or zero, 2×2 pooling and a dense read-out',
    build: ({ input, outputUnits }, o = {}) => {
      if (input.length !== 3)
        throw new UserError(
          `the conv space needs image input [height, width, channels], the data has shape [${input}]`,
        );
      const filters = Math.max(...(o.widths ?? [16]));
      const act = (o.activations ?? ['relu'])[0];
      const conv = (k: number): Choice => {
        const op: Op = { type: 'conv2d', filters, kernelSize: k, padding: 'same', activation: act };
        return { label: opLabel(op), op };
      };
      return {
        format: SPACE_FORMAT,
        version: SPACE_VERSION,
        name: 'conv',
        input,
        nodes: [{ id: 'c1' }, { id: 'c2' }, { id: 'p' }, { id: 'f' }, { id: 'out' }],
        edges: [
          { from: INPUT, to: 'c1', choices: [conv(3), conv(5)] },
          {
            from: 'c1',
            to: 'c2',
            choices: [
              conv(3),
              conv(5),
              { label: 'maxpool3', op: { type: 'maxPool', poolSize: 3, strides: 1, padding: 'same' } },
              IDENTITY,
              ZERO,
            ],
          },
          { from: 'c1', to: 'c2', choices: [IDENTITY] },
          { from: 'c2', to: 'p', choices: [{ label: 'maxpool2', op: { type: 'maxPool', poolSize: 2 } }] },
          { from: 'p', to: 'f', choices: [{ label: 'flatten', op: { type: 'flatten' } }] },
          { from: 'f', to: 'out', choices: [{ label: 'linear', op: { type: 'dense', units: outputUnits } }] },
        ],
        output: 'out',
      };
    },
  },
  lenet: {
    description:
      'LeNet depth: conv 3×3/5×5 (4/8/16 filters), pool 2×2 or 3×3/2, conv 3×3/5×5 (8/16/32 filters) concatenated with an optional skip, pool, then dense (widths) → dense or identity → read-out',
    build: ({ input, outputUnits }, o = {}) => {
      if (input.length !== 3)
        throw new UserError(
          `the lenet space needs image input [height, width, channels], the data has shape [${input}]`,
        );
      const act = o.activations ?? ['relu'];
      const convs = (filters: number[]): Choice[] =>
        [3, 5].flatMap((kernelSize) =>
          filters.map((f) => {
            const op: Op = { type: 'conv2d', filters: f, kernelSize, padding: 'same', activation: 'relu' };
            return { label: opLabel(op), op };
          }),
        );
      const pools: Choice[] = [
        { label: 'maxpool2', op: { type: 'maxPool', poolSize: 2 } },
        { label: 'maxpool3s2', op: { type: 'maxPool', poolSize: 3, strides: 2, padding: 'same' } },
      ];
      const widths = o.widths ?? [32, 64, 128];
      return {
        format: SPACE_FORMAT,
        version: SPACE_VERSION,
        name: 'lenet',
        input,
        nodes: [
          { id: 'c1' },
          { id: 'p1' },
          { id: 'c2', aggregate: 'concat' },
          { id: 'p2' },
          { id: 'f' },
          { id: 'd1' },
          { id: 'd2' },
          { id: 'out' },
        ],
        edges: [
          { from: INPUT, to: 'c1', choices: convs([4, 8, 16]) },
          { from: 'c1', to: 'p1', choices: pools },
          { from: 'p1', to: 'c2', choices: convs([8, 16, 32]) },
          { from: 'p1', to: 'c2', choices: [IDENTITY, ZERO] },
          { from: 'c2', to: 'p2', choices: pools },
          { from: 'p2', to: 'f', choices: [{ label: 'flatten', op: { type: 'flatten' } }] },
          { from: 'f', to: 'd1', choices: denseChoices(widths, act) },
          { from: 'd1', to: 'd2', choices: [...denseChoices(widths, act), IDENTITY] },
          {
            from: 'd2',
            to: 'out',
            choices: [{ label: 'linear', op: { type: 'dense', units: outputUnits } }],
          },
        ],
        output: 'out',
      };
    },
  },
};
