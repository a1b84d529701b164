import path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { requireFiniteMetrics } from '../core/finite.js';
import { pathExists } from '../core/json-file.js';
import { checkFolderTarget } from '../core/user-paths.js';
import { getSplit } from '../data/splits.js';
import { inputShape, partArrays } from '../data/store.js';
import { fileDigests, type FileDigest } from '../export/checksums.js';
import { loadLayersModelFromDir, MODEL_FILE, saveLayersModel, WEIGHTS_FILE } from '../export/model-files.js';
import type { Quantization } from '../export/quantize.js';
import { buildLayersModel } from '../model/layers-model.js';
import type { StageContext } from './context.js';
import { metricsFromOutputs } from './distill.js';
import { studentHeadOf, type StudentHead } from '../distill/heads.js';
import { predictiveOutputs } from '../eval/student-heads.js';
import { openStudentRun } from './student-run.js';
import { loadTeacherDataset } from './run-folder.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export const MANIFEST_FILE = 'bdk.json';

/** What a deployed model needs besides its weights: how to prepare inputs and read outputs. */
export interface ExportManifest {
  format: 'bdk-export';
  version: 1;
  task: 'regression' | 'classification';
  /** Input columns in order (tabular), or the image shape. */
  features: string[];
  featureCount: number;
  imageShape: [number, number, number] | null;
  target: string;
  classNames: string[] | null;
  /** Inputs are standardized before the model: x' = (x − mean)/std per feature, or (x − offset)/scale. */
  standardization: ReturnType<typeof getSplit>['normalization'];
  /**
   * Outputs: classification logits (softmax at `temperature`); regression standardized mean and
   * log-variance; a `dirichlet` student's log-concentrations log α (its mean α/α₀ = softmax); a
   * `two-variance` student's standardized mean, log aleatoric and log epistemic variance.
   */
  outputs: 'logits' | 'mean-logvar' | 'log-concentrations' | 'mean-logvar-aleatoric-logvar-epistemic';
  /** The student's head (docs/design.md §2); absent in exports made before it existed (the task's default). */
  head?: StudentHead;
  /** 1 for a `dirichlet` student (its temperature was annealed to 1). */
  temperature: number;
  quantization: Quantization;
  bytes: number;
  metrics: {
    float32: Record<string, number>;
    exported: Record<string, number>;
    change: Record<string, number>;
  };
  student: { run: string; arch: string; parameterCount: number; teacher: string };
  dataset: { name: string; checksum: string; split: number };
  /**
   * Size and SHA-256 of every other file of the export (`model.json`, the weight shard), which
   * `bdk predict` verifies before loading; absent in exports made before it existed.
   */
  files?: Record<string, FileDigest>;
}

const OUTPUTS: Record<StudentHead, ExportManifest['outputs']> = {
  softmax: 'logits',
  gaussian: 'mean-logvar',
  dirichlet: 'log-concentrations',
  'two-variance': 'mean-logvar-aleatoric-logvar-epistemic',
};

export interface ExportOptions extends StageContext {
  run: string;
  out: string;
  quantize: Quantization;
}

/**
 * Exports a distilled student as a standard TensorFlow.js LayersModel (`model.json` + weight shard)
 * plus `bdk.json`, measuring the test metrics of the exported (possibly quantized) model as loaded
 * back from disk against the float32 student.
 */
export async function exportStudent(opts: ExportOptions): Promise<{ dir: string; manifest: ExportManifest }> {
  const {
    config: dc,
    teacherConfig: tc,
    analysis: a,
    weights,
  } = await openStudentRun(opts.run, opts.runsDir);
  const out = path.resolve(opts.out);
  await checkFolderTarget(out, '--out');
  if (!opts.force && (await pathExists(path.join(out, MODEL_FILE)))) {
    throw new UserError(`${path.join(out, MODEL_FILE)} already exists; pass --force to replace it`);
  }
  const ds = await loadTeacherDataset(dc.teacher, tc, opts.dataDir);
  const test = partArrays(ds, tc.split, 'test');
  const task = ds.meta.task;
  const units = task === 'classification' ? a.outputShape[0] : 2; // after predictiveOutputs
  const x = tf.tensor(test.x, [test.rows, ...inputShape(ds)]);
  const outputsOf = async (m: tf.LayersModel) => {
    const y = m.predict(x) as tf.Tensor;
    const v = predictiveOutputs((await y.data()) as Float32Array, task, a.outputShape[0]);
    y.dispose();
    return v.values;
  };
  const head = studentHeadOf(task, dc.studentHead);
  try {
    const model = buildLayersModel(a, weights);
    const float32 = metricsFromOutputs(await outputsOf(model), test, task, units);
    const bytes = await saveLayersModel(model, out, opts.quantize, `bdk ${version}`);
    model.dispose();
    const loaded = await loadLayersModelFromDir(out);
    const exported = metricsFromOutputs(await outputsOf(loaded), test, task, units);
    loaded.dispose();
    requireFiniteMetrics(
      exported,
      `export: the exported model of run '${opts.run}' (${opts.quantize}) has non-finite test metrics`,
      'export it with another --quantize',
    );
    const change = Object.fromEntries(Object.keys(float32).map((k) => [k, exported[k] - float32[k]]));
    const manifest: ExportManifest = {
      format: 'bdk-export',
      version: 1,
      task,
      features: ds.meta.features,
      featureCount: ds.meta.featureCount,
      imageShape: ds.meta.imageShape,
      target: ds.meta.target,
      // The dataset's class names where its source has them (CIFAR-10), else the labels 0..K-1.
      classNames:
        ds.meta.classNames ??
        (ds.meta.classCount ? Array.from({ length: ds.meta.classCount }, (_, k) => String(k)) : null),
      standardization: getSplit(ds.splits, tc.split).normalization,
      outputs: OUTPUTS[head],
      head,
      temperature: head === 'dirichlet' ? 1 : dc.temperature,
      quantization: opts.quantize,
      bytes,
      metrics: { float32, exported, change },
      student: { run: opts.run, arch: a.spec.name, parameterCount: a.parameterCount, teacher: dc.teacher },
      dataset: { name: ds.meta.name, checksum: ds.meta.checksum, split: tc.split },
      files: await fileDigests(out, [MODEL_FILE, WEIGHTS_FILE]),
    };
    await writeFileAtomic(path.join(out, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    return { dir: out, manifest };
  } finally {
    x.dispose();
  }
}
