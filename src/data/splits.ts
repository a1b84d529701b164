import { promises as fs } from 'node:fs';
import { Rng } from '../core/rng.js';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import type { DatasetContent, DatasetMeta } from './dataset-meta.js';
import { checkTargetTransform, transformTarget, type TargetScaling } from './target-transform.js';

/**
 * Train/validation/test splits of a prepared dataset, stored beside it as `<name>.splits.json`.
 * Index sets are sorted and stored as half-open ranges [start, end) so fixed splits stay tiny.
 */
export type Ranges = [number, number][];

export interface FeatureScaling {
  /** `zscore`: x' = (x − mean_j)/std_j per feature; `scale`: x' = (x − offset)/scale for all features. */
  kind: 'zscore' | 'scale';
  mean?: number[];
  std?: number[];
  offset?: number;
  scale?: number;
}

/** Standardization fitted on the split's `train` part only. */
export interface Normalization {
  features: FeatureScaling;
  /** Regression only: y' = (T(y) − mean)/std, T the identity or log (`transform`). */
  target: TargetScaling | null;
}

export interface Split {
  index: number;
  train: Ranges;
  validation: Ranges;
  test: Ranges;
  normalization: Normalization;
}

export type SplitProtocol = 'uci' | 'fixed' | 'random';

export interface SplitSettings {
  /**
   * `uci`: `count` random (testFraction) train/test splits, each training part with its own random
   * validation carve-out (Hernández-Lobato & Adams 2015). `random`: the same for classification data.
   * `fixed`: one split given by explicit ranges (MNIST's 50k/10k/10k).
   */
  protocol: SplitProtocol;
  seed: number;
  count: number;
  testFraction: number;
  /** Fraction of each training part carved out for validation. */
  validationFraction: number;
  /**
   * Regression: the target transform for teachers that set none of their own (`log`: they model log
   * y, a log-normal likelihood for positive targets), recorded by the deprecated `--target-transform`
   * of `bdk data prepare`; the splits' target scalings are then fitted on log y, as bdk always wrote
   * them. Absent for the identity, so older splits files read the same. A teacher's own transform is
   * applied when it loads the data (`data/target-view.ts`).
   */
  targetTransform?: 'log';
  /**
   * Images: `per-channel` standardizes each channel with its mean and standard deviation over the
   * training rows' pixels (stored as a z-score whose per-feature entries repeat the channel's);
   * absent: pixels are divided by 255.
   */
  standardize?: 'per-channel';
}

export interface SplitsFile extends SplitSettings {
  format: 'bdk-splits';
  version: 1;
  dataset: string;
  /** Checksum of the dataset content these splits index. */
  checksum: string;
  rows: number;
  splits: Split[];
}

/** Sorted indices → half-open ranges. */
export function toRanges(indices: ArrayLike<number>): Ranges {
  const sorted = Int32Array.from(indices).sort();
  const out: Ranges = [];
  for (let i = 0; i < sorted.length; i++) {
    const last = out[out.length - 1];
    if (last && last[1] === sorted[i]) last[1]++;
    else out.push([sorted[i], sorted[i] + 1]);
  }
  return out;
}

/** Half-open ranges → ascending indices. */
export function fromRanges(ranges: Ranges): Int32Array {
  const n = ranges.reduce((s, [a, b]) => s + (b - a), 0);
  const out = new Int32Array(n);
  let k = 0;
  for (const [a, b] of ranges) for (let i = a; i < b; i++) out[k++] = i;
  return out;
}

export function rangeSize(ranges: Ranges): number {
  return ranges.reduce((s, [a, b]) => s + (b - a), 0);
}

/**
 * Fits the normalization on the given training rows: per-feature mean and (population) standard
 * deviation for tabular data, a constant division by 255 for uint8 images; the regression target
 * (or its log, for `transform` log) is standardized too. A constant feature gets std 1 so it maps to
 * 0 instead of dividing by zero.
 */
export function fitNormalization(
  content: DatasetContent,
  trainRows: Int32Array,
  transform?: 'log',
  standardize?: 'per-channel',
): Normalization {
  const { meta, features, targets } = content;
  const d = meta.featureCount;
  let featuresScaling: FeatureScaling;
  if (meta.imageShape && standardize === 'per-channel') {
    featuresScaling = perChannelScaling(features, trainRows, d, meta.imageShape[2]);
  } else if (meta.imageShape) {
    featuresScaling = { kind: 'scale', offset: 0, scale: 255 };
  } else {
    const mean = new Float64Array(d);
    const m2 = new Float64Array(d);
    for (const i of trainRows) for (let j = 0; j < d; j++) mean[j] += features[i * d + j];
    for (let j = 0; j < d; j++) mean[j] /= trainRows.length;
    for (const i of trainRows) {
      for (let j = 0; j < d; j++) {
        const c = features[i * d + j] - mean[j];
        m2[j] += c * c;
      }
    }
    const std = Array.from(m2, (v) => Math.sqrt(v / trainRows.length) || 1);
    featuresScaling = { kind: 'zscore', mean: Array.from(mean), std };
  }
  const target = meta.task === 'regression' ? fitTargetScaling(targets, trainRows, transform) : null;
  return { features: featuresScaling, target };
}

/**
 * A regression target's standardization over the training rows: mean and population standard
 * deviation of T(y) (std 1 for a constant target). The one place this is computed, for preparing a
 * dataset and for a teacher's target transform applied at load (`data/target-view.ts`), so both give
 * the same numbers bit for bit.
 */
export function fitTargetScaling(
  targets: ArrayLike<number>,
  trainRows: Int32Array,
  transform?: 'log',
): TargetScaling {
  const u = Float64Array.from(trainRows, (i) => transformTarget(transform, targets[i]));
  let mean = 0;
  for (const v of u) mean += v;
  mean /= u.length;
  let m2 = 0;
  for (const v of u) m2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(m2 / u.length) || 1, ...(transform ? { transform } : {}) };
}

/**
 * Per-channel z-score of HWC pixels: μ_c and the population σ_c over every training row's pixels of
 * channel c (σ_c = 1 for a constant channel), written out per feature (feature j has channel j mod C).
 */
export function perChannelScaling(
  features: ArrayLike<number>,
  trainRows: ArrayLike<number>,
  d: number,
  channels: number,
): FeatureScaling {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (let r = 0; r < trainRows.length; r++) {
    const base = trainRows[r] * d;
    for (let j = 0; j < d; j++) sum[j % channels] += features[base + j];
  }
  const count = (trainRows.length * d) / channels;
  const mu = Array.from(sum, (v) => v / count);
  for (let r = 0; r < trainRows.length; r++) {
    const base = trainRows[r] * d;
    for (let j = 0; j < d; j++) sq[j % channels] += (features[base + j] - mu[j % channels]) ** 2;
  }
  const sigma = Array.from(sq, (v) => Math.sqrt(v / count) || 1);
  return {
    kind: 'zscore',
    mean: Array.from({ length: d }, (_, j) => mu[j % channels]),
    std: Array.from({ length: d }, (_, j) => sigma[j % channels]),
  };
}

function checkFraction(name: string, v: number): void {
  if (!(v > 0 && v < 1)) throw new UserError(`${name} must be between 0 and 1 (exclusive), got ${v}`);
}

/**
 * Makes the splits of a dataset deterministically from `settings.seed`. For `uci`/`random`, split k
 * draws a permutation from one seeded stream: the first round(n·testFraction) rows are test, and of
 * the training part the first round(n_train·validationFraction) rows of a second permutation are
 * validation. `fixed` takes `fixed` ranges as given.
 */
export function makeSplits(
  content: DatasetContent,
  settings: SplitSettings,
  fixed?: { train: Ranges; validation: Ranges; test: Ranges },
): SplitsFile {
  const { meta } = content;
  const n = meta.rows;
  const splits: Split[] = [];
  const transform = settings.targetTransform;
  checkTargetTransform(meta, content.targets, transform);
  const standardize = settings.standardize;
  if (standardize && !meta.imageShape)
    throw new UserError(
      `${meta.name}: --standardize ${standardize} applies to image data; tabular features are always standardized per feature`,
    );
  if (settings.protocol === 'fixed') {
    if (!fixed) throw new Error('makeSplits: the fixed protocol needs explicit ranges');
    splits.push({
      index: 0,
      ...fixed,
      normalization: fitNormalization(content, fromRanges(fixed.train), transform, standardize),
    });
  } else {
    checkFraction('test fraction', settings.testFraction);
    checkFraction('validation fraction', settings.validationFraction);
    if (!(Number.isInteger(settings.count) && settings.count >= 1)) {
      throw new UserError(`split count must be a positive integer, got ${settings.count}`);
    }
    const nTest = Math.round(n * settings.testFraction);
    const nTrainPart = n - nTest;
    const nValidation = Math.round(nTrainPart * settings.validationFraction);
    if (nTest < 1 || nValidation < 1 || nTrainPart - nValidation < 1) {
      throw new UserError(
        `${meta.name}: ${n} rows are too few for test fraction ${settings.testFraction} and validation fraction ${settings.validationFraction}`,
      );
    }
    const rng = new Rng(settings.seed);
    for (let k = 0; k < settings.count; k++) {
      const perm = rng.permutation(n);
      const test = perm.subarray(0, nTest);
      const trainPart = perm.subarray(nTest);
      const inner = rng.permutation(nTrainPart);
      const validation = Int32Array.from(inner.subarray(0, nValidation), (i) => trainPart[i]);
      const train = Int32Array.from(inner.subarray(nValidation), (i) => trainPart[i]);
      splits.push({
        index: k,
        train: toRanges(train),
        validation: toRanges(validation),
        test: toRanges(test),
        normalization: fitNormalization(content, train.sort(), transform, standardize),
      });
    }
  }
  return {
    format: 'bdk-splits',
    version: 1,
    dataset: meta.name,
    checksum: meta.checksum,
    rows: n,
    ...settings,
    count: splits.length,
    splits,
  };
}

export function splitsPath(datasetFile: string): string {
  return datasetFile.replace(/\.arrow$/, '') + '.splits.json';
}

export async function writeSplits(file: string, splits: SplitsFile): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(splits) + '\n');
}

/** Reads a splits file and checks that it belongs to the dataset with `meta`. */
export async function readSplits(file: string, meta: DatasetMeta): Promise<SplitsFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`${file}: splits file not found; prepare the dataset '${meta.name}' again`);
    }
    throw err;
  }
  let splits: SplitsFile;
  try {
    splits = JSON.parse(text) as SplitsFile;
  } catch {
    throw new UserError(`${file}: not valid JSON`);
  }
  if (splits.format !== 'bdk-splits' || splits.version !== 1) {
    throw new UserError(
      `${file}: not a bdk splits file (format '${splits.format}', version ${splits.version})`,
    );
  }
  if (splits.checksum !== meta.checksum) {
    throw new UserError(
      `${file}: made for other content (checksum ${splits.checksum}, dataset has ${meta.checksum}); prepare the dataset again`,
    );
  }
  return splits;
}

/** Returns split k, with a clear error when it does not exist. */
export function getSplit(splits: SplitsFile, k: number): Split {
  if (!(Number.isInteger(k) && k >= 0 && k < splits.splits.length)) {
    throw new UserError(
      `dataset '${splits.dataset}' has splits 0..${splits.splits.length - 1}, got split ${k}`,
    );
  }
  return splits.splits[k];
}
