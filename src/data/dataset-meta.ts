/** What a prepared dataset is; stored as JSON under the schema metadata key `bdk` of its Arrow file. */
export type Task = 'regression' | 'classification';

export const DATASET_FORMAT = 'bdk-dataset';
export const DATASET_VERSION = 1;
/** Schema metadata key holding the JSON-encoded DatasetMeta. */
export const META_KEY = 'bdk';

export interface DatasetMeta {
  format: typeof DATASET_FORMAT;
  version: typeof DATASET_VERSION;
  name: string;
  task: Task;
  /** Feature column names in order; an image dataset has the single column `pixels`. */
  features: string[];
  /** Number of input values per row (784 for MNIST). */
  featureCount: number;
  /** Name of the target column. */
  target: string;
  /** Classification only: number of classes K (labels are 0..K-1). */
  classCount: number | null;
  /** Classification, when the source names them (CIFAR-10): the name of each label 0..K-1; absent otherwise. */
  classNames?: string[];
  /** Image datasets only: [height, width, channels]; pixels are stored row-major HWC as uint8. */
  imageShape: [number, number, number] | null;
  rows: number;
  /** Where the data came from (package and file, or the imported file's path). */
  source: string;
  /** `sha256:<hex>` of the content, see `checksum.ts`; verified on every load. */
  checksum: string;
}

/** In-memory content of a dataset: row-major features and the target, one copy each. */
export interface DatasetContent {
  meta: DatasetMeta;
  /** rows × featureCount, row-major. Float64 for tabular data, uint8 pixels for images. */
  features: Float64Array | Uint8Array;
  /** Regression targets (Float64) or class labels 0..K-1 (Int32). */
  targets: Float64Array | Int32Array;
}
