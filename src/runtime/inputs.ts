import { UserError } from '../core/errors.js';
import type { StudentManifest } from './manifest.js';

/**
 * Rows to predict: arrays of `featureCount` numbers in the export's feature order, one flat typed
 * array of rows × featureCount values, or (tabular exports) objects keyed by feature name.
 */
export type Rows = ArrayLike<number>[] | Float32Array | Float64Array | Record<string, number>[];

/** What the model expects, for error messages: the feature names, or the image's shape. */
export function expectedInputs(m: StudentManifest): string {
  if (m.imageShape) return `a ${m.imageShape.join('×')} image`;
  const names = m.features.length > 20 ? [...m.features.slice(0, 18), '…'] : m.features;
  return names.join(', ');
}

/**
 * The raw input values (rows × featureCount, float64, in the manifest's feature order) of rows in
 * any accepted form, each value checked (a number, finite). Any problem is a one-line error naming the
 * row (from 1) and the column.
 */
export function featureValues(rows: Rows, m: StudentManifest): { values: Float64Array; count: number } {
  const d = m.featureCount;
  const expects = `the model expects ${d} (${expectedInputs(m)})`;
  const column = (k: number) => (m.imageShape ? `pixel ${k + 1}` : `column '${m.features[k]}'`);
  const put = (x: Float64Array, i: number, k: number, v: unknown) => {
    if (typeof v !== 'number')
      throw new UserError(`predict: row ${i + 1}, ${column(k)} is ${JSON.stringify(v)}, not a number`);
    if (!Number.isFinite(v)) throw new UserError(`predict: row ${i + 1}, ${column(k)} is ${v}`);
    x[i * d + k] = v;
  };
  if (rows instanceof Float32Array || rows instanceof Float64Array) {
    if (rows.length === 0 || rows.length % d !== 0)
      throw new UserError(`predict: ${rows.length} values are not a whole number of rows; ${expects} a row`);
    const count = rows.length / d;
    const x = new Float64Array(rows.length);
    for (let i = 0; i < count; i++) for (let k = 0; k < d; k++) put(x, i, k, rows[i * d + k]);
    return { values: x, count };
  }
  if (!Array.isArray(rows)) throw new UserError('predict: expected an array of rows or a Float32Array');
  if (rows.length === 0) throw new UserError('predict: no rows to predict');
  const x = new Float64Array(rows.length * d);
  const index = new Map(m.features.map((f, k) => [f, k]));
  rows.forEach((row: unknown, i) => {
    if (Array.isArray(row) || ArrayBuffer.isView(row)) {
      const r = row as ArrayLike<number>;
      if (r.length !== d) throw new UserError(`predict: row ${i + 1} has ${r.length} values, ${expects}`);
      for (let k = 0; k < d; k++) put(x, i, k, r[k]);
    } else if (row && typeof row === 'object') {
      if (m.imageShape)
        throw new UserError(
          `predict: row ${i + 1} is an object; an image model takes rows of ${d} pixel values`,
        );
      const o = row as Record<string, unknown>;
      for (const key of Object.keys(o))
        if (!index.has(key))
          throw new UserError(`predict: row ${i + 1} has an unknown feature '${key}'; ${expects}`);
      m.features.forEach((f, k) => {
        if (!(f in o)) throw new UserError(`predict: row ${i + 1} has no feature '${f}'; ${expects}`);
        put(x, i, k, o[f]);
      });
    } else
      throw new UserError(
        `predict: row ${i + 1} is ${JSON.stringify(row)}; expected an array of ${d} numbers or an object keyed by feature name`,
      );
  });
  return { values: x, count: rows.length };
}

/**
 * The standardized input matrix (rows × featureCount, float32) the student reads: the checked values
 * of {@link featureValues}, then x' = (x − mean)/std per feature or (x − offset)/scale, as `bdk predict`
 * computes it.
 */
export function standardizeRows(rows: Rows, m: StudentManifest): { x: Float32Array; count: number } {
  const { values, count } = featureValues(rows, m);
  const d = m.featureCount;
  const s = m.standardization.features;
  const x = new Float32Array(values.length);
  if (s.kind === 'zscore')
    for (let j = 0; j < values.length; j++) x[j] = (values[j] - s.mean![j % d]) / s.std![j % d];
  else for (let j = 0; j < values.length; j++) x[j] = (values[j] - s.offset!) / s.scale!;
  return { x, count };
}
