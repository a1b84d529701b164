import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readNumericCsv, type NumericTable } from './csv.js';
import { readNumericArrow } from './sources/user-table.js';
import type { FeatureScaling } from './splits.js';

/** A CSV or Arrow file of inputs, as numeric columns; other extensions are a one-line error. */
export async function readInputTable(file: string): Promise<NumericTable> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return readNumericCsv(file);
  if (['.arrow', '.feather', '.arrows', '.ipc'].includes(ext)) return readNumericArrow(file);
  throw new UserError(`${file}: unsupported file type '${ext || '(none)'}': expected .csv or .arrow`);
}

/** What a model's inputs are: tabular features by name, or image pixels by position. */
export interface InputLayout {
  features: string[];
  featureCount: number;
  imageShape: number[] | null;
  /** The target column, ignored when present among image pixel columns. */
  target?: string;
}

/**
 * The table's column index of each model input, in the model's order: tabular features matched by
 * name (exactly, else one case-insensitive match), image pixels by position (the target column, if
 * present, left out); a missing column or a wrong pixel count is a one-line error naming the file.
 */
export function inputColumns(table: NumericTable, layout: InputLayout, file: string): number[] {
  const d = layout.featureCount;
  if (layout.imageShape) {
    const cols = table.columns.map((_, j) => j).filter((j) => table.columns[j] !== layout.target);
    if (cols.length !== d)
      throw new UserError(
        `${file}: expected ${d} pixel columns (${layout.imageShape.join('×')} image), found ${cols.length}`,
      );
    return cols;
  }
  return layout.features.map((name) => {
    let j = table.columns.indexOf(name);
    if (j < 0) {
      const ci = table.columns.flatMap((c, k) => (c.toLowerCase() === name.toLowerCase() ? [k] : []));
      if (ci.length === 1) j = ci[0];
    }
    if (j < 0)
      throw new UserError(
        `${file}: missing feature column '${name}' (the model needs: ${layout.features.join(', ')})`,
      );
    return j;
  });
}

/** The standardized input matrix [rows, featureCount] from a table, its columns found by {@link inputColumns}. */
export function standardizedInputs(
  table: NumericTable,
  layout: InputLayout,
  scaling: FeatureScaling,
  file: string,
): Float32Array {
  const d = layout.featureCount;
  const cols = inputColumns(table, layout, file);
  const x = new Float32Array(table.rows * d);
  for (let i = 0; i < table.rows; i++) {
    for (let k = 0; k < d; k++) {
      const v = table.data[cols[k]][i];
      x[i * d + k] =
        scaling.kind === 'zscore'
          ? (v - scaling.mean![k]) / scaling.std![k]
          : (v - scaling.offset!) / scaling.scale!;
    }
  }
  return x;
}
