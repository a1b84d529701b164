import path from 'node:path';
import { UserError } from '../core/errors.js';
import { datasetFile, saveDataset, type SaveResult } from '../data/store.js';
import { BOSTON_SPLITS, bostonContent } from '../data/sources/boston.js';
import { MNIST_FIXED, MNIST_SPLITS, mnistContent } from '../data/sources/mnist.js';
import { cifar10Content, cifar10Partition } from '../data/sources/cifar10.js';
import { userTableContent, type ImportOptions } from '../data/sources/user-table.js';
import { idxTableContent, isIdxFile } from '../data/sources/idx-table.js';
import type { SplitSettings } from '../data/splits.js';
import type { TargetTransform } from '../data/target-transform.js';

export interface SplitOverrides {
  seed?: number;
  count?: number;
  testFraction?: number;
  validationFraction?: number;
  /**
   * Deprecated (the transform is the teacher's, `bdk sample --target-transform`): `log` records log y
   * as the dataset's default for teachers that set none, with the splits' target scalings fitted on
   * log y as before; `none` (the default) records none. Not part of what makes two datasets differ.
   */
  targetTransform?: TargetTransform;
  /** Images: `per-channel` z-scores each channel over the training rows; `none` (the default) divides by 255. */
  standardize?: 'none' | 'per-channel';
}

export const STANDARDIZE_KINDS = ['none', 'per-channel'] as const;

export interface StoreOptions {
  /** Folder for datasets (default `datasets/` or BDK_DATA_DIR). */
  dir?: string;
  /** Replace an existing dataset with different content or splits. */
  force?: boolean;
}

export const BUILTIN_SOURCES = ['boston', 'mnist', 'cifar10'] as const;
export type BuiltinSource = (typeof BUILTIN_SOURCES)[number];

/** Where a built-in dataset's files are, for those that are not shipped in a package. */
export interface SourceOptions {
  /** cifar10: the folder of the official binary batches (`cifar-10-batches-bin`). */
  from?: string;
}

/**
 * Prepares a built-in dataset (`boston` from the stdlib CSV, `mnist` from the IDX files, `cifar10`
 * from the binary batches in `source.from`) into Arrow.
 */
export async function prepareBuiltin(
  source: string,
  overrides: SplitOverrides = {},
  opts: StoreOptions = {},
  files: SourceOptions = {},
): Promise<SaveResult> {
  if (files.from !== undefined && source !== 'cifar10')
    throw new UserError(
      `--from applies to cifar10 only; ${source} is read from its package (leave --from out)`,
    );
  if (source === 'cifar10') {
    if (files.from === undefined)
      throw new UserError(
        'cifar10 cannot be downloaded by bdk: give --from <folder> (a pipeline: dataset.from) with the official binary batches data_batch_1.bin … data_batch_5.bin and test_batch.bin',
      );
    fixedOnly(
      'cifar10 uses the official 50k/10k train/test partition (the last 10% of training rows validate)',
      overrides,
    );
    const { trainRows, ...content } = await cifar10Content(files.from);
    const { fixed, settings } = cifar10Partition(trainRows, content.meta.rows - trainRows);
    return saveDataset(content, splitSettings(settings, overrides), { ...opts, fixed });
  }
  if (source === 'boston') {
    return saveDataset(await bostonContent(), splitSettings(BOSTON_SPLITS, overrides), opts);
  }
  if (source === 'mnist') {
    fixedOnly('mnist uses the fixed 50k/10k/10k train/validation/test split', overrides);
    return saveDataset(await mnistContent(), splitSettings(MNIST_SPLITS, overrides), {
      ...opts,
      fixed: MNIST_FIXED,
    });
  }
  throw new UserError(
    `unknown built-in dataset '${source}': expected one of ${BUILTIN_SOURCES.join(', ')} (use \`bdk data import\` for your own files)`,
  );
}

/** A fixed partition takes no split count or fractions. */
function fixedOnly(what: string, overrides: SplitOverrides): void {
  const extra = defined(overrides);
  if (extra.count !== undefined || extra.testFraction !== undefined || extra.validationFraction !== undefined)
    throw new UserError(`${what}; only --seed and --standardize may be given`);
}

/** Default splits for user data: the UCI protocol for regression, one random 80/10/10-style split for classification. */
export function defaultSplits(task: ImportOptions['task']): SplitSettings {
  return task === 'regression'
    ? { protocol: 'uci', seed: 0, count: 20, testFraction: 0.1, validationFraction: 0.2 }
    : { protocol: 'random', seed: 0, count: 1, testFraction: 0.1, validationFraction: 0.1 };
}

/** Imports a user's CSV, Arrow or IDX file as a dataset with the same layout as the built-in ones. */
export async function importTable(
  options: ImportOptions,
  overrides: SplitOverrides = {},
  opts: StoreOptions = {},
): Promise<SaveResult> {
  const target = datasetFile(options.name, opts.dir);
  if (path.resolve(options.file) === target) {
    throw new UserError(
      `${options.file}: cannot import a file onto itself (dataset '${options.name}' is stored there); choose another --name`,
    );
  }
  if (options.labels !== undefined && !isIdxFile(options.file))
    throw new UserError(
      `${options.file}: --labels is for IDX image files (a .csv or .arrow file holds its target column)`,
    );
  const content = isIdxFile(options.file) ? await idxTableContent(options) : await userTableContent(options);
  return saveDataset(content, splitSettings(defaultSplits(options.task), overrides), opts);
}

/** Resolves an import file named in a pipeline relative to the pipeline file's folder. */
export function resolveRelative(file: string, baseFile: string): string {
  return path.isAbsolute(file) ? file : path.resolve(path.dirname(baseFile), file);
}

/** Split settings from defaults and overrides; `targetTransform: none` is stored as no transform. */
function splitSettings(base: SplitSettings, overrides: SplitOverrides): SplitSettings {
  const { targetTransform, standardize, ...rest } = defined(overrides);
  const settings: SplitSettings = { ...base, ...rest };
  if (targetTransform === 'log') settings.targetTransform = 'log';
  else delete settings.targetTransform;
  if (standardize === 'per-channel') settings.standardize = 'per-channel';
  else delete settings.standardize;
  return settings;
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
