import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { fileDigests } from '../../src/export/checksums.js';
import { MODEL_FILE, saveLayersModel, WEIGHTS_FILE } from '../../src/export/model-files.js';
import type { Quantization } from '../../src/export/quantize.js';
import { buildLayersModel } from '../../src/model/layers-model.js';
import { analyzeSpec, type ArchSpec } from '../../src/model/spec.js';
import { MANIFEST_FILE, type ExportManifest } from '../../src/stages/export.js';

/**
 * Small exports written the way `bdk export` writes them (the LayersModel files of
 * src/export/model-files.ts plus a `bdk.json` with digests), from a spec with seeded random weights:
 * no teacher or distillation needed to test the runtime against `bdk predict`.
 */
export const BOSTON_FEATURES = [
  'CRIM',
  'ZN',
  'INDUS',
  'CHAS',
  'NOX',
  'RM',
  'AGE',
  'DIS',
  'RAD',
  'TAX',
  'PTRATIO',
  'B',
  'LSTAT',
];

/** A dense DAG over Boston's 13 features with every dense activation, a sum and a concat node. */
export const TABULAR_SPEC: ArchSpec = {
  format: 'bdk-arch',
  version: 1,
  name: 'runtime-tabular',
  input: [13],
  nodes: [{ id: 'h1' }, { id: 'h2', aggregate: 'sum' }, { id: 'h3', aggregate: 'concat' }, { id: 'out' }],
  edges: [
    { from: 'input', to: 'h1', op: { type: 'dense', units: 8, activation: 'relu' } },
    { from: 'h1', to: 'h2', op: { type: 'dense', units: 6, activation: 'tanh' } },
    { from: 'input', to: 'h2', op: { type: 'dense', units: 6, activation: 'elu' } },
    { from: 'h2', to: 'h3', op: { type: 'dense', units: 4, activation: 'softplus' } },
    { from: 'h1', to: 'h3', op: { type: 'dense', units: 3, activation: 'sigmoid' } },
    { from: 'h2', to: 'h3', op: { type: 'dropout', rate: 0.2 } },
    { from: 'h3', to: 'out', op: { type: 'dense', units: 2 } },
  ],
  output: 'out',
};

/** A small convolutional classifier over 8×8×1 images: conv, pooling, a concat and a residual sum. */
export const IMAGE_SPEC: ArchSpec = {
  format: 'bdk-arch',
  version: 1,
  name: 'runtime-image',
  input: [8, 8, 1],
  nodes: [
    { id: 'c1' },
    { id: 'p1' },
    { id: 'c2', aggregate: 'concat' },
    { id: 'p2' },
    { id: 'f' },
    { id: 'd1' },
    { id: 'd2', aggregate: 'sum' },
    { id: 'out' },
  ],
  edges: [
    { from: 'input', to: 'c1', op: { type: 'conv2d', filters: 3, kernelSize: 3, activation: 'relu' } },
    { from: 'c1', to: 'p1', op: { type: 'maxPool', poolSize: 2 } },
    {
      from: 'p1',
      to: 'c2',
      op: { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'valid', activation: 'elu' },
    },
    { from: 'p1', to: 'c2', op: { type: 'conv2d', filters: 2, kernelSize: 3, strides: 1, padding: 'valid' } },
    { from: 'c2', to: 'p2', op: { type: 'maxPool', poolSize: 2, padding: 'same' } },
    { from: 'p2', to: 'f', op: { type: 'flatten' } },
    { from: 'f', to: 'd1', op: { type: 'dense', units: 6, activation: 'tanh' } },
    { from: 'd1', to: 'd2', op: { type: 'dense', units: 6, activation: 'relu' } },
    { from: 'd1', to: 'd2', op: { type: 'identity' } },
    { from: 'd2', to: 'out', op: { type: 'dense', units: 3 } },
  ],
  output: 'out',
};

/** An MNIST-shaped convolutional classifier: 28×28×1 images, 10 classes (the demo page's digit pad). */
export const MNIST_SPEC: ArchSpec = {
  format: 'bdk-arch',
  version: 1,
  name: 'runtime-mnist',
  input: [28, 28, 1],
  nodes: [{ id: 'c1' }, { id: 'p1' }, { id: 'c2' }, { id: 'p2' }, { id: 'f' }, { id: 'd1' }, { id: 'out' }],
  edges: [
    { from: 'input', to: 'c1', op: { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' } },
    { from: 'c1', to: 'p1', op: { type: 'maxPool', poolSize: 2 } },
    {
      from: 'p1',
      to: 'c2',
      op: { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'valid', activation: 'elu' },
    },
    { from: 'c2', to: 'p2', op: { type: 'maxPool', poolSize: 2 } },
    { from: 'p2', to: 'f', op: { type: 'flatten' } },
    { from: 'f', to: 'd1', op: { type: 'dense', units: 16, activation: 'tanh' } },
    { from: 'd1', to: 'out', op: { type: 'dense', units: 10 } },
  ],
  output: 'out',
};

/** MNIST's class names, the digits. */
export const DIGITS = Array.from({ length: 10 }, (_, k) => String(k));

export interface ExportSetup {
  spec: ArchSpec;
  task: 'regression' | 'classification';
  targetTransform?: 'log';
  quantization?: Quantization;
  temperature?: number;
  seed?: number;
  /** An uncertainty-keeping head (the spec must then have its outputs: K, or 3 for two-variance). */
  head?: 'dirichlet' | 'two-variance';
  /** Class names of a classifier (default cat, dog, eel); as many as the spec's outputs. */
  classNames?: string[];
}

/** TABULAR_SPEC with the three outputs of a two-variance student. */
export const TABULAR_SPEC_3: ArchSpec = {
  ...TABULAR_SPEC,
  edges: TABULAR_SPEC.edges.map((e) =>
    e.to === 'out' && e.op.type === 'dense' ? { ...e, op: { ...e.op, units: 3 } } : e,
  ),
};

const HEAD_OUTPUTS = {
  dirichlet: 'log-concentrations',
  'two-variance': 'mean-logvar-aleatoric-logvar-epistemic',
} as const;

export async function writeExport(dir: string, s: ExportSetup): Promise<ExportManifest> {
  const a = analyzeSpec(s.spec);
  const rng = new Rng(s.seed ?? 1);
  const w = Float32Array.from({ length: a.parameterCount }, () => 0.4 * rng.normal());
  const model = buildLayersModel(a, w);
  const quantization = s.quantization ?? 'none';
  const bytes = await saveLayersModel(model, dir, quantization, 'bdk test');
  model.dispose();
  const image = s.spec.input.length === 3;
  const featureCount = s.spec.input.reduce((p, v) => p * v, 1);
  const manifest: ExportManifest = {
    format: 'bdk-export',
    version: 1,
    task: s.task,
    features: image ? ['pixels'] : BOSTON_FEATURES,
    featureCount,
    imageShape: image ? (s.spec.input as [number, number, number]) : null,
    target: image ? 'label' : 'MEDV',
    classNames: s.task === 'classification' ? (s.classNames ?? ['cat', 'dog', 'eel']) : null,
    standardization: {
      features: image
        ? { kind: 'scale', offset: 0, scale: 255 }
        : {
            kind: 'zscore',
            mean: BOSTON_FEATURES.map((_, k) => 10 * k + 1),
            std: BOSTON_FEATURES.map((_, k) => 2 + k),
          },
      target:
        s.task === 'regression'
          ? s.targetTransform === 'log'
            ? { mean: 3.03, std: 0.41, transform: 'log' }
            : { mean: 22.5, std: 9.2 }
          : null,
    },
    outputs: s.head ? HEAD_OUTPUTS[s.head] : s.task === 'classification' ? 'logits' : 'mean-logvar',
    ...(s.head ? { head: s.head } : {}),
    temperature: s.temperature ?? 1,
    quantization,
    bytes,
    metrics: { float32: {}, exported: {}, change: {} },
    student: { run: 'test', arch: s.spec.name, parameterCount: a.parameterCount, teacher: 'test' },
    dataset: { name: 'test', checksum: 'none', split: 0 },
    files: await fileDigests(dir, [MODEL_FILE, WEIGHTS_FILE]),
  };
  await fs.writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** Seeded input rows in a model's units: Boston-like features, or pixel values in [0, 255]. */
export function inputRows(m: ExportManifest, count: number, seed = 7): number[][] {
  const rng = new Rng(seed);
  const s = m.standardization.features;
  return Array.from({ length: count }, () =>
    Array.from({ length: m.featureCount }, (_, k) =>
      s.kind === 'zscore' ? s.mean![k] + s.std![k] * rng.normal() : Math.round(255 * rng.uniform()),
    ),
  );
}

export async function writeCsv(file: string, columns: string[], rows: number[][]): Promise<void> {
  await fs.writeFile(file, [columns.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n');
}
