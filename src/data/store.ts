import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { pathExists } from '../core/json-file.js';
import { checkName, dataDir } from '../core/paths.js';
import { contentChecksum, readDataset, readDatasetMeta, writeDataset } from './arrow-dataset.js';
import type { DatasetContent, DatasetMeta } from './dataset-meta.js';
import { standardizeTarget } from './target-transform.js';
import {
  fromRanges,
  getSplit,
  makeSplits,
  readSplits,
  splitsPath,
  writeSplits,
  type Normalization,
  type Ranges,
  type SplitSettings,
  type SplitsFile,
} from './splits.js';

/** A dataset on disk: `<dir>/<name>.arrow` plus `<dir>/<name>.splits.json`. */
export function datasetFile(name: string, dir = dataDir()): string {
  return path.join(dir, `${checkName('dataset', name)}.arrow`);
}

export interface SaveResult {
  file: string;
  splitsFile: string;
  /** `written`: new or replaced; `unchanged`: identical content and splits were already there. */
  status: 'written' | 'unchanged';
  meta: DatasetMeta;
  splits: SplitsFile;
}

export type UnsavedContent = Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetMeta, 'checksum'> };

/**
 * Saves prepared content and its splits. Re-preparing identical content with identical split
 * settings is a no-op, whatever the target transform (see `sameSplits`; `force` rewrites the splits
 * file when the recorded default transform differs); anything that would replace a different
 * existing dataset needs `force`.
 * Both files are written atomically, the data first, so an interruption never leaves a half file.
 */
export async function saveDataset(
  unsaved: UnsavedContent,
  settings: SplitSettings,
  opts: { dir?: string; force?: boolean; fixed?: { train: Ranges; validation: Ranges; test: Ranges } } = {},
): Promise<SaveResult> {
  const file = datasetFile(unsaved.meta.name, opts.dir);
  const sFile = splitsPath(file);
  const content: DatasetContent = {
    ...unsaved,
    meta: { ...unsaved.meta, checksum: contentChecksum(unsaved) },
  };
  const splits = makeSplits(content, settings, opts.fixed);

  if (await pathExists(file)) {
    const old = await readDatasetMeta(file).catch(() => null);
    const sameData =
      old !== null && old.checksum === content.meta.checksum && old.source === content.meta.source;
    const oldSplits = sameData ? await readSplits(sFile, content.meta).catch(() => null) : null;
    if (oldSplits && sameSplits(oldSplits, splits)) {
      // The recorded default transform changes only with `force`.
      if (!opts.force || oldSplits.targetTransform === splits.targetTransform)
        return { file, splitsFile: sFile, status: 'unchanged', meta: content.meta, splits: oldSplits };
      await writeSplits(sFile, splits);
      return { file, splitsFile: sFile, status: 'written', meta: content.meta, splits };
    }
    if (sameData && !oldSplits) {
      // Intact data without a valid splits file (e.g. an interrupted prepare): add the splits.
      await writeSplits(sFile, splits);
      return { file, splitsFile: sFile, status: 'written', meta: content.meta, splits };
    }
    if (!opts.force) {
      const what = !old
        ? 'is unreadable'
        : !sameData
          ? `holds different content (${old.checksum.slice(0, 19)}…, new ${content.meta.checksum.slice(0, 19)}…)`
          : `has different splits (${describeSettings(oldSplits!)}; new ${describeSettings(splits)})`;
      throw new UserError(`${file} already exists and ${what}; pass --force to replace it`);
    }
  }
  await writeDataset(file, content);
  await writeSplits(sFile, splits);
  return { file, splitsFile: sFile, status: 'written', meta: content.meta, splits };
}

/**
 * Whether two splits files are the same splits of the same data, the target transform aside: it is a
 * teacher's setting (the splits file records only a default for teachers that set none), so a dataset
 * prepared again with another transform is up to date, not a different dataset.
 */
function sameSplits(a: SplitsFile, b: SplitsFile): boolean {
  const strip = ({ targetTransform: _t, splits, ...rest }: SplitsFile) => ({
    ...rest,
    splits: splits.map((s) => ({ ...s, normalization: { ...s.normalization, target: null } })),
  });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

function describeSettings(s: SplitSettings): string {
  const base =
    s.protocol === 'fixed'
      ? 'fixed'
      : `${s.protocol} ×${s.count}, seed ${s.seed}, test ${s.testFraction}, validation ${s.validationFraction}`;
  const target = s.targetTransform ? `${base}, ${s.targetTransform} target` : base;
  return s.standardize ? `${target}, ${s.standardize} standardization` : target;
}

export interface LoadedDataset extends DatasetContent {
  file: string;
  splits: SplitsFile;
}

/** Loads a prepared dataset (streamed, checksum-verified) and its splits. */
export async function loadDataset(name: string, dir?: string): Promise<LoadedDataset> {
  const file = datasetFile(name, dir);
  if (!(await pathExists(file))) {
    throw new UserError(
      `dataset '${name}' not found at ${file}; run \`bdk data prepare ${name}\` or \`bdk data import\``,
    );
  }
  const content = await readDataset(file);
  const splits = await readSplits(splitsPath(file), content.meta);
  return { ...content, file, splits };
}

/** Metadata and splits only, without reading the rows. */
export async function describeDataset(
  name: string,
  dir?: string,
): Promise<{ file: string; bytes: number; meta: DatasetMeta; splits: SplitsFile }> {
  const file = datasetFile(name, dir);
  if (!(await pathExists(file))) {
    throw new UserError(
      `dataset '${name}' not found at ${file}; run \`bdk data prepare ${name}\` or \`bdk data import\``,
    );
  }
  const meta = await readDatasetMeta(file);
  const splits = await readSplits(splitsPath(file), meta);
  return { file, bytes: (await fs.stat(file)).size, meta, splits };
}

export type Part = 'train' | 'validation' | 'test' | 'trainval';

export interface PartArrays {
  rows: number;
  /** rows × featureCount, normalized with the split's training statistics, float32. */
  x: Float32Array;
  /** Regression: standardized target; classification: labels. */
  y: Float32Array | Int32Array;
  /** Regression targets in original units (for metrics), else null. */
  yRaw: Float64Array | null;
  indices: Int32Array;
  normalization: Normalization;
}

/** Rows of one part of split k, normalized for training (one float32 copy of just those rows). */
export function partArrays(ds: LoadedDataset, k: number, part: Part): PartArrays {
  const split = getSplit(ds.splits, k);
  const indices =
    part === 'trainval'
      ? Int32Array.from([...fromRanges(split.train), ...fromRanges(split.validation)]).sort()
      : fromRanges(split[part]);
  const d = ds.meta.featureCount;
  const x = new Float32Array(indices.length * d);
  const f = split.normalization.features;
  for (let r = 0; r < indices.length; r++) {
    const base = indices[r] * d;
    if (f.kind === 'zscore') {
      for (let j = 0; j < d; j++) x[r * d + j] = (ds.features[base + j] - f.mean![j]) / f.std![j];
    } else {
      for (let j = 0; j < d; j++) x[r * d + j] = (ds.features[base + j] - f.offset!) / f.scale!;
    }
  }
  const t = split.normalization.target;
  let y: Float32Array | Int32Array;
  let yRaw: Float64Array | null = null;
  if (t) {
    yRaw = Float64Array.from(indices, (i) => ds.targets[i]);
    y = Float32Array.from(yRaw, (v) => standardizeTarget(t, v));
  } else {
    y = Int32Array.from(indices, (i) => ds.targets[i]);
  }
  return { rows: indices.length, x, y, yRaw, indices, normalization: split.normalization };
}

/** Shape of one example: [h, w, c] for images, [features] otherwise. */
export function inputShape(ds: LoadedDataset): number[] {
  return ds.meta.imageShape ?? [ds.meta.featureCount];
}
