import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as A from 'apache-arrow';
import { UserError, messageOf } from '../../core/errors.js';
import { readNumericCsv, type NumericTable } from '../csv.js';
import type { DatasetContent, DatasetMeta, Task } from '../dataset-meta.js';

export interface ImportOptions {
  file: string;
  name: string;
  target: string;
  task: Task;
  /** Feature columns to keep, in order; default: every column but the target. */
  features?: string[];
  /** Classification: declare K when some classes may be absent; default: max label + 1, all present. */
  classes?: number;
  /**
   * Image data: [height, width, channels] of the feature columns, read row-major HWC (their product
   * must equal the number of feature columns, and every value must be an integer pixel 0..255).
   */
  imageShape?: [number, number, number];
  /** IDX image data only: the IDX file of the labels [n] (the target column `target`). */
  labels?: string;
}

const NUMERIC_TYPES = new Set([A.Type.Int, A.Type.Float, A.Type.Bool]);

/** Reads a user's Arrow IPC file (file or stream format) as numeric columns, rejecting nulls and non-numeric types. */
export async function readNumericArrow(file: string): Promise<NumericTable> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${file}: file not found`);
    throw new UserError(`${file}: cannot read (${messageOf(err)})`);
  }
  if (bytes.length === 0) throw new UserError(`${file}: file is empty`);
  let table: A.Table;
  try {
    table = A.tableFromIPC(bytes);
  } catch (err) {
    throw new UserError(`${file}: corrupt or unreadable Arrow IPC file (${messageOf(err).split('\n')[0]})`);
  }
  if (table.numCols === 0) throw new UserError(`${file}: the Arrow table has no columns`);
  if (table.numRows === 0) throw new UserError(`${file}: the Arrow table has no rows`);
  const columns = table.schema.fields.map((f) => f.name);
  const data = table.schema.fields.map((field, j) => {
    if (!NUMERIC_TYPES.has(field.typeId)) {
      throw new UserError(
        `${file}: column '${field.name}' has type ${field.type}; only numeric columns can be imported`,
      );
    }
    const vec = table.getChildAt(j)!;
    const out = new Float64Array(table.numRows);
    for (let i = 0; i < table.numRows; i++) {
      const v = vec.get(i);
      if (v === null || v === undefined)
        throw new UserError(`${file}: row ${i}: column '${field.name}' has a missing value`);
      const x = Number(v);
      if (!Number.isFinite(x))
        throw new UserError(`${file}: row ${i}: column '${field.name}' has non-finite value '${v}'`);
      out[i] = x;
    }
    return out;
  });
  return { columns, rows: table.numRows, data };
}

/**
 * Turns a user's CSV or Arrow file into dataset content: picks the target and feature columns and
 * checks classification labels are integers 0..K-1. Errors name the file, row and column.
 */
export async function userTableContent(
  opts: ImportOptions,
): Promise<Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetContent['meta'], 'checksum'> }> {
  const ext = path.extname(opts.file).toLowerCase();
  let table: NumericTable;
  let rowName: (i: number) => string;
  if (ext === '.csv') {
    table = await readNumericCsv(opts.file);
    rowName = (i) => `${opts.file}:${i + 2}`; // file line: header is line 1
  } else if (ext === '.arrow' || ext === '.feather' || ext === '.arrows' || ext === '.ipc') {
    table = await readNumericArrow(opts.file);
    rowName = (i) => `${opts.file}: row ${i}`;
  } else {
    throw new UserError(
      `${opts.file}: unsupported file type '${ext || '(none)'}': expected .csv, .arrow, or an IDX image file (.idx, …-idx3-ubyte)`,
    );
  }
  const targetIndex = table.columns.indexOf(opts.target);
  if (targetIndex < 0) {
    throw new UserError(
      `${opts.file}: unknown target column '${opts.target}' (columns: ${table.columns.join(', ')})`,
    );
  }
  const featureNames = opts.features ?? table.columns.filter((c) => c !== opts.target);
  const featureIdx = featureNames.map((name) => {
    const j = table.columns.indexOf(name);
    if (j < 0)
      throw new UserError(
        `${opts.file}: unknown feature column '${name}' (columns: ${table.columns.join(', ')})`,
      );
    if (j === targetIndex)
      throw new UserError(`${opts.file}: column '${name}' is the target and cannot also be a feature`);
    return j;
  });
  if (featureIdx.length === 0)
    throw new UserError(`${opts.file}: no feature columns besides the target '${opts.target}'`);
  const d = featureIdx.length;
  const n = table.rows;
  const shape = opts.imageShape;
  if (shape && shape[0] * shape[1] * shape[2] !== d)
    throw new UserError(
      `--image-shape ${shape.join(',')} has ${shape[0] * shape[1] * shape[2]} values per example, but ${opts.file} has ${d} feature columns`,
    );
  const features = shape ? new Uint8Array(n * d) : new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < d; k++) {
      const v = table.data[featureIdx[k]][i];
      if (shape && !(Number.isInteger(v) && v >= 0 && v <= 255))
        throw new UserError(
          `${rowName(i)}: column '${featureNames[k]}' has value ${v}; image pixels (--image-shape) must be integers 0..255`,
        );
      features[i * d + k] = v;
    }
  const { targets, classCount } = tableTargets(table.data[targetIndex], opts, rowName);
  return {
    meta: importedMeta(opts, {
      features: shape ? ['pixels'] : featureNames,
      featureCount: d,
      classCount,
      imageShape: shape ?? null,
      rows: n,
      source: path.resolve(opts.file),
    }),
    features,
    targets,
  };
}

/** The metadata of an imported dataset: the import's name, task and target, and what the reader found. */
export function importedMeta(
  opts: ImportOptions,
  found: Pick<DatasetMeta, 'features' | 'featureCount' | 'classCount' | 'imageShape' | 'rows' | 'source'>,
): Omit<DatasetMeta, 'checksum'> {
  const { features, featureCount, classCount, imageShape, rows, source } = found;
  return {
    format: 'bdk-dataset',
    version: 1,
    name: opts.name,
    task: opts.task,
    features,
    featureCount,
    target: opts.target,
    classCount,
    imageShape,
    rows,
    source,
  };
}

/**
 * The target column as dataset targets: regression values as they are; classification labels checked
 * to be integers 0..K-1 (K = `classes`, else max + 1 with every class present). `rowName` names a row.
 */
export function tableTargets(
  y: ArrayLike<number>,
  opts: Pick<ImportOptions, 'file' | 'target' | 'task' | 'classes'>,
  rowName: (i: number) => string,
): { targets: Float64Array | Int32Array; classCount: number | null } {
  const n = y.length;
  let targets: Float64Array | Int32Array;
  let classCount: number | null = null;
  if (opts.task === 'classification') {
    targets = new Int32Array(n);
    let max = -1;
    for (let i = 0; i < n; i++) {
      const v = y[i];
      if (!Number.isInteger(v) || v < 0) {
        throw new UserError(
          `${rowName(i)}: column '${opts.target}' has label ${v}; classification labels must be integers 0..K-1`,
        );
      }
      if (opts.classes !== undefined && v >= opts.classes) {
        throw new UserError(
          `${rowName(i)}: column '${opts.target}' has label ${v}, outside 0..${opts.classes - 1} for ${opts.classes} classes`,
        );
      }
      targets[i] = v;
      max = Math.max(max, v);
    }
    classCount = opts.classes ?? max + 1;
    if (classCount < 2)
      throw new UserError(
        `${opts.file}: column '${opts.target}' has a single class; classification needs at least 2`,
      );
    if (opts.classes === undefined) {
      const seen = new Uint8Array(classCount);
      for (let i = 0; i < n; i++) seen[targets[i]] = 1;
      const missing = seen.indexOf(0);
      if (missing >= 0) {
        throw new UserError(
          `${opts.file}: column '${opts.target}' labels must be integers 0..K-1 with every class present; label ${missing} never occurs (max label ${max}; pass --classes ${classCount} if that is intended)`,
        );
      }
    }
  } else {
    targets = Float64Array.from(y);
  }
  return { targets, classCount };
}
