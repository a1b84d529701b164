import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { loadDataset, type LoadedDataset, type PartArrays } from '../data/store.js';
import { resolveTargetTransform, withTargetTransform } from '../data/target-view.js';
import { ensemblePredictive } from '../teacher/predictive.js';
import { readSamples } from '../samples/index.js';
import { analyzeSpec } from '../model/spec.js';
import { UserError } from '../core/errors.js';
import { loadTeacherDataset, runSampleFiles } from './run-folder.js';
import { openCompleteTeacher, type CompleteTeacher, type TeacherCheckOptions } from './teacher-check.js';

/** The rows a structure search trains on and its targets (labels or the teacher's predictive). */

export type Targets = { y: Float32Array | Int32Array; yVar?: Float32Array };

/**
 * The likelihood's targets of the training and validation rows: their labels, or (distill) the
 * teacher's ensemble predictive, computed for both parts in one pass over the stored samples.
 */
export async function targets(
  config: { objective: 'distill' | 'labels' },
  parts: [PartArrays, PartArrays],
  shape: number[],
  task: 'regression' | 'classification',
  teacherDir: string | null,
): Promise<[Targets, Targets]> {
  if (config.objective === 'labels' || !teacherDir) return [{ y: parts[0].y }, { y: parts[1].y }];
  const spec = analyzeSpec(JSON.parse(await fs.readFile(path.join(teacherDir, 'spec.json'), 'utf8')));
  const rows = parts[0].rows + parts[1].rows;
  const xs = new Float32Array(parts[0].x.length + parts[1].x.length);
  xs.set(parts[0].x);
  xs.set(parts[1].x, parts[0].x.length);
  const x = tf.tensor(xs, [rows, ...shape]);
  try {
    const pred = await ensemblePredictive(
      { analysis: spec, task, x, y: new Float32Array(rows), target: null },
      readSamples(await runSampleFiles(teacherDir)),
    );
    const n0 = parts[0].rows;
    if (pred.task === 'classification') {
      const k = pred.classes;
      return [
        { y: Float32Array.from(pred.probs.subarray(0, n0 * k)) },
        { y: Float32Array.from(pred.probs.subarray(n0 * k)) },
      ];
    }
    return [
      {
        y: Float32Array.from(pred.mean.subarray(0, n0)),
        yVar: Float32Array.from(pred.variance.subarray(0, n0)),
      },
      { y: Float32Array.from(pred.mean.subarray(n0)), yVar: Float32Array.from(pred.variance.subarray(n0)) },
    ];
  } finally {
    x.dispose();
  }
}

/**
 * The teacher of a search with the distill objective, checked complete (docs/design.md §6.4), and the
 * config with the teacher's dataset and split; no teacher for the labels objective.
 */
export async function searchTeacher<
  C extends { objective: 'distill' | 'labels'; teacher: string | null; dataset: string; split: number },
>(config: C, opts: TeacherCheckOptions): Promise<{ config: C; teacher: CompleteTeacher | null }> {
  if (config.objective !== 'distill') return { config, teacher: null };
  if (!config.teacher)
    throw new UserError('--objective distill needs --teacher RUN (or use --objective labels)');
  const teacher = await openCompleteTeacher(config.teacher, opts);
  const { dataset, split } = teacher.teacherConfig;
  return { config: { ...config, dataset, split }, teacher };
}

/**
 * The dataset a search learns from: with a teacher as its teacher run models it (the run's target
 * transform); with labels only, with the dataset's recorded default transform, if any.
 */
export async function searchDataset(
  config: { dataset: string; teacher: string | null },
  teacher: CompleteTeacher | null,
  dataDir?: string,
): Promise<LoadedDataset> {
  if (teacher) return loadTeacherDataset(config.teacher!, teacher.teacherConfig, dataDir);
  const ds = await loadDataset(config.dataset, dataDir);
  return withTargetTransform(ds, resolveTargetTransform(undefined, ds.splits));
}

/** At most `rows` rows of a part, chosen by a seeded permutation (kept in their original order). */
export function subsample(part: PartArrays, rows: number | null, seed: number, shape: number[]): PartArrays {
  if (!rows || rows >= part.rows) return part;
  const pick = Array.from(new Rng(seed + 0x5eed).permutation(part.rows).subarray(0, rows)).sort(
    (a, b) => a - b,
  );
  const d = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(rows * d);
  pick.forEach((r, i) => x.set(part.x.subarray(r * d, (r + 1) * d), i * d));
  const y =
    part.y instanceof Int32Array
      ? Int32Array.from(pick, (r) => part.y[r])
      : Float32Array.from(pick, (r) => part.y[r]);
  return {
    ...part,
    rows,
    x,
    y,
    yRaw: part.yRaw ? Float64Array.from(pick, (r) => part.yRaw![r]) : null,
    indices: Int32Array.from(pick, (r) => part.indices[r]),
  };
}
