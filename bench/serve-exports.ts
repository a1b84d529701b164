/**
 * What the `serve` section loads: the Boston and MNIST students as exports (a real one when given,
 * else the real architectures with seeded random weights) and request bodies made of real data rows.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Rng } from '../src/core/rng.js';
import { bostonContent } from '../src/data/sources/boston.js';
import { defaultMnistFiles } from '../src/data/sources/mnist.js';
import { readIdx } from '../src/data/idx.js';
import { fileDigests } from '../src/export/checksums.js';
import { MODEL_FILE, WEIGHTS_FILE, saveLayersModel } from '../src/export/model-files.js';
import { BUILTIN_ARCHS } from '../src/model/builtins.js';
import { buildLayersModel } from '../src/model/layers-model.js';
import { analyzeSpec } from '../src/model/spec.js';
import { MANIFEST_FILE } from '../src/runtime/index.js';
import type { ExportManifest } from '../src/stages/export.js';

export interface ServeModel {
  name: 'boston' | 'mnist';
  dir: string;
  /** What the export is: the path given, or the architecture with random weights. */
  what: string;
  featureCount: number;
  features: string[];
  /** Real input rows in the data's units: Boston's 506 rows, or 1 000 MNIST test images. */
  rows: number[][];
}

/**
 * An export written the way `bdk export` writes it, of a built-in architecture with seeded random
 * weights (scaled by 1/√fan-in so the outputs stay moderate) and the data's real standardization.
 */
async function randomExport(
  dir: string,
  arch: 'mlp-50' | 'lenet5',
  input: number[],
  m: Pick<ExportManifest, 'task' | 'features' | 'target' | 'classNames' | 'standardization' | 'outputs'>,
  outputUnits: number,
): Promise<void> {
  const a = analyzeSpec(BUILTIN_ARCHS[arch].build({ input, outputUnits }));
  const rng = new Rng(25);
  const w = Float32Array.from({ length: a.parameterCount }, () => 0.1 * rng.normal());
  const model = buildLayersModel(a, w);
  await fs.mkdir(dir, { recursive: true });
  const bytes = await saveLayersModel(model, dir, 'none', 'bdk bench');
  model.dispose();
  const manifest: ExportManifest = {
    format: 'bdk-export',
    version: 1,
    ...m,
    featureCount: input.reduce((p, v) => p * v, 1),
    imageShape: input.length === 3 ? (input as [number, number, number]) : null,
    temperature: 1,
    quantization: 'none',
    bytes,
    metrics: { float32: {}, exported: {}, change: {} },
    student: { run: 'bench', arch, parameterCount: a.parameterCount, teacher: 'none (random weights)' },
    dataset: { name: m.task === 'regression' ? 'boston' : 'mnist', checksum: 'none', split: 0 },
    files: await fileDigests(dir, [MODEL_FILE, WEIGHTS_FILE]),
  };
  await fs.writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}

async function manifestOf(dir: string): Promise<ExportManifest> {
  return JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as ExportManifest;
}

/** The Boston student: `given` (an export folder), else `mlp-50` with random weights in `tmp`. */
export async function bostonModel(tmp: string, given?: string): Promise<ServeModel> {
  const data = await bostonContent();
  const d = data.meta.featureCount;
  const rows = Array.from({ length: data.meta.rows }, (_, i) =>
    Array.from(data.features.subarray(i * d, (i + 1) * d)),
  );
  let dir = given;
  if (!dir) {
    dir = path.join(tmp, 'boston');
    const mean = Array.from({ length: d }, (_, k) => rows.reduce((s, r) => s + r[k], 0) / rows.length);
    const std = mean.map((mu, k) => Math.sqrt(rows.reduce((s, r) => s + (r[k] - mu) ** 2, 0) / rows.length));
    const t = Array.from(data.targets);
    const tm = t.reduce((s, v) => s + v, 0) / t.length;
    const ts = Math.sqrt(t.reduce((s, v) => s + (v - tm) ** 2, 0) / t.length);
    await randomExport(
      dir,
      'mlp-50',
      [d],
      {
        task: 'regression',
        features: data.meta.features,
        target: 'MEDV',
        classNames: null,
        standardization: { features: { kind: 'zscore', mean, std }, target: { mean: tm, std: ts } },
        outputs: 'mean-logvar',
      },
      2,
    );
  }
  const m = await manifestOf(dir);
  return {
    name: 'boston',
    dir,
    what: given ?? 'mlp-50, random weights',
    featureCount: d,
    features: m.features,
    rows,
  };
}

/** The MNIST student: `given`, else `lenet5` with random weights; rows are the first 1 000 test images. */
export async function mnistModel(tmp: string, given?: string): Promise<ServeModel> {
  const images = await readIdx(defaultMnistFiles().testImages);
  const d = 28 * 28;
  const rows = Array.from({ length: 1000 }, (_, i) => Array.from(images.data.subarray(i * d, (i + 1) * d)));
  let dir = given;
  if (!dir) {
    dir = path.join(tmp, 'mnist');
    await randomExport(
      dir,
      'lenet5',
      [28, 28, 1],
      {
        task: 'classification',
        features: ['pixels'],
        target: 'label',
        classNames: Array.from({ length: 10 }, (_, k) => String(k)),
        standardization: { features: { kind: 'scale', offset: 0, scale: 255 }, target: null },
        outputs: 'logits',
      },
      10,
    );
  }
  const m = await manifestOf(dir);
  return {
    name: 'mnist',
    dir,
    what: given ?? 'lenet5, random weights',
    featureCount: d,
    features: m.features,
    rows,
  };
}

/** `count` JSON bodies of `perRequest` consecutive rows each, the model's rows taken in turn. */
export function jsonBodies(model: ServeModel, perRequest: number, count: number): string[] {
  return Array.from({ length: count }, (_, b) => {
    const rows = Array.from(
      { length: perRequest },
      (_, i) => model.rows[(b * perRequest + i) % model.rows.length],
    );
    return JSON.stringify({ rows });
  });
}

/** Malformed bodies: each makes a 400, 413 or 415, never a prediction. */
export function malformedBodies(model: ServeModel): { body: string; type: string; status: number }[] {
  const row = model.rows[0];
  const json = 'application/json';
  return [
    { body: '{"rows": [[1, 2,', type: json, status: 400 },
    { body: JSON.stringify({ rows: [row.slice(1)] }), type: json, status: 400 },
    { body: `{"rows": [[${row.slice(1).join(',')}, 1e999]]}`, type: json, status: 400 },
    { body: JSON.stringify({ data: [row] }), type: json, status: 400 },
    { body: JSON.stringify({ rows: [row] }), type: 'text/plain', status: 415 },
  ];
}
