import type { ClassificationPrediction, RegressionPrediction } from '../runtime/outputs.js';

/** One row's prediction: the runtime's fields (`mean`, `sd`, … or `probs`, `label`, …) for that row. */
export type RowOutput = Record<string, number | string | number[]>;

/**
 * The runtime's prediction for `count` rows (one array per field) as one object per row, with the
 * same field names; `interval(p)`, a function, is left out.
 */
export function rowOutputs(p: RegressionPrediction | ClassificationPrediction, count: number): RowOutput[] {
  const fields = Object.entries(p).filter(([, v]) => Array.isArray(v)) as [string, unknown[]][];
  return Array.from({ length: count }, (_, i) => {
    const row: RowOutput = {};
    for (const [name, v] of fields) row[name] = v[i] as RowOutput[string];
    return row;
  });
}
