import { promises as fs } from 'node:fs';
import { UserError } from '../core/errors.js';
import {
  ARCH_FORMAT,
  ARCH_VERSION,
  INPUT,
  analyzeSpec,
  type Analysis,
  type ArchEdge,
  type ArchSpec,
  type Op,
} from './spec.js';

/** What a built-in architecture needs to know about the data. */
export interface ArchContext {
  /** Shape of one example: [d] or [h, w, c]. */
  input: number[];
  /** Units of the output node (K logits, 1 regression mean, 2 for mean and log-variance). */
  outputUnits: number;
}

/** A chain of ops from the input to node `out`. */
function chain(name: string, input: number[], ops: Op[]): ArchSpec {
  const ids = ops.map((_, i) => (i === ops.length - 1 ? 'out' : `h${i + 1}`));
  const edges: ArchEdge[] = ops.map((op, i) => ({ from: i === 0 ? INPUT : ids[i - 1], to: ids[i], op }));
  return {
    format: ARCH_FORMAT,
    version: ARCH_VERSION,
    name,
    input,
    nodes: ids.map((id) => ({ id })),
    edges,
    output: 'out',
  };
}

const flattenIfImage = (input: number[]): Op[] => (input.length > 1 ? [{ type: 'flatten' }] : []);

/** Builders of the built-in architectures, by name. */
export const BUILTIN_ARCHS: Record<string, { description: string; build: (ctx: ArchContext) => ArchSpec }> = {
  linear: {
    description: 'Bayesian linear / logistic regression: one dense layer from the inputs to the outputs',
    build: ({ input, outputUnits }) =>
      chain('linear', input, [...flattenIfImage(input), { type: 'dense', units: outputUnits }]),
  },
  'mlp-50': {
    description: 'one hidden layer of 50 ReLU units (the UCI protocol of Hernández-Lobato & Adams 2015)',
    build: ({ input, outputUnits }) =>
      chain('mlp-50', input, [
        ...flattenIfImage(input),
        { type: 'dense', units: 50, activation: 'relu' },
        { type: 'dense', units: outputUnits },
      ]),
  },
  'mlp-400-400': {
    description:
      'two hidden layers of 400 ReLU units (784-400-400-10 on MNIST, the Bayesian dark knowledge reference)',
    build: ({ input, outputUnits }) =>
      chain('mlp-400-400', input, [
        ...flattenIfImage(input),
        { type: 'dense', units: 400, activation: 'relu' },
        { type: 'dense', units: 400, activation: 'relu' },
        { type: 'dense', units: outputUnits },
      ]),
  },
  lenet5: {
    description:
      'LeNet-5 (LeCun et al. 1998): conv5×5×6 → pool → conv5×5×16 → pool → 120 → 84 → outputs, ReLU',
    build: ({ input, outputUnits }) => {
      if (input.length !== 3)
        throw new UserError(
          `lenet5 needs image input [height, width, channels], the data has shape [${input}]`,
        );
      return chain('lenet5', input, [
        { type: 'conv2d', filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' },
        { type: 'maxPool', poolSize: 2 },
        { type: 'conv2d', filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' },
        { type: 'maxPool', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 120, activation: 'relu' },
        { type: 'dense', units: 84, activation: 'relu' },
        { type: 'dense', units: outputUnits },
      ]);
    },
  },
  'vgg-small': {
    description:
      'VGG-style (Simonyan & Zisserman 2015): three blocks of two 3×3 ReLU convs (32, 64, 128 filters), 2×2 max-pool and dropout 0.25, then dense 512 ReLU, dropout 0.5 and the outputs (1 341 226 parameters on 32×32×3 → 10)',
    build: ({ input, outputUnits }) => {
      if (input.length !== 3)
        throw new UserError(
          `vgg-small needs image input [height, width, channels], the data has shape [${input}]`,
        );
      const block = (filters: number): Op[] => [
        { type: 'conv2d', filters, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'conv2d', filters, kernelSize: 3, padding: 'same', activation: 'relu' },
        { type: 'maxPool', poolSize: 2 },
        { type: 'dropout', rate: 0.25 },
      ];
      return chain('vgg-small', input, [
        ...VGG_SMALL_FILTERS.flatMap(block),
        { type: 'flatten' },
        { type: 'dense', units: VGG_SMALL_DENSE, activation: 'relu' },
        { type: 'dropout', rate: 0.5 },
        { type: 'dense', units: outputUnits },
      ]);
    },
  },
};

/** vgg-small's filters per block and the width of its dense layer. */
export const VGG_SMALL_FILTERS = [32, 64, 128];
export const VGG_SMALL_DENSE = 512;

/**
 * `mlp-W1-W2-…`: ReLU hidden layers of W1, W2, … units (e.g. `mlp-10`, `mlp-100-100`, the hand-picked
 * students of a front), or undefined when `arch` is not of that form. `mlp-50` and `mlp-400-400` are
 * the same networks as their named built-ins.
 */
function widthsMlp(arch: string): (typeof BUILTIN_ARCHS)[string] | undefined {
  if (!/^mlp(-[1-9]\d{0,5})+$/.test(arch)) return undefined;
  const widths = arch.split('-').slice(1).map(Number);
  return {
    description: `ReLU hidden layers of ${widths.join(', ')} units`,
    build: ({ input, outputUnits }) =>
      chain(arch, input, [
        ...flattenIfImage(input),
        ...widths.map((units): Op => ({ type: 'dense', units, activation: 'relu' })),
        { type: 'dense', units: outputUnits },
      ]),
  };
}

/**
 * Resolves `--arch`: a built-in name (instantiated for the data's input shape and output units) or
 * the path of a spec JSON file, which must agree with the data.
 */
export async function resolveArch(arch: string, ctx: ArchContext): Promise<Analysis> {
  const builtin = BUILTIN_ARCHS[arch] ?? widthsMlp(arch);
  let analysis: Analysis;
  if (builtin) {
    analysis = analyzeSpec(builtin.build(ctx), arch);
  } else {
    if (!arch.endsWith('.json')) {
      throw new UserError(
        `unknown architecture '${arch}': expected one of ${Object.keys(BUILTIN_ARCHS).join(', ')}, mlp-W[-W…] or a spec .json file`,
      );
    }
    let text: string;
    try {
      text = await fs.readFile(arch, 'utf8');
    } catch {
      throw new UserError(`${arch}: file not found`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new UserError(`${arch}: invalid JSON (${(err as Error).message})`);
    }
    analysis = analyzeSpec(raw, arch);
  }
  checkAgainstData(analysis, ctx, arch);
  return analysis;
}

export function checkAgainstData(analysis: Analysis, ctx: ArchContext, where: string): void {
  if (analysis.spec.input.join() !== ctx.input.join()) {
    throw new UserError(
      `${where}: the architecture's input is [${analysis.spec.input}] but the data's examples have shape [${ctx.input}]`,
    );
  }
  if (analysis.outputShape.length !== 1 || analysis.outputShape[0] !== ctx.outputUnits) {
    throw new UserError(
      `${where}: the output node has shape [${analysis.outputShape}] but ${ctx.outputUnits} output units are needed`,
    );
  }
}
