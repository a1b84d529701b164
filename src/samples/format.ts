/**
 * The teacher-sample file format: posterior samples on disk, as an Arrow IPC *stream* that grows
 * while the sampler runs.
 *
 * File layout (standard Arrow IPC stream framing, readable by any Arrow implementation):
 *
 *   schema message            once; schema metadata key `bdk` holds JSON
 *                             { format: 'bdk-samples', version: 1, parameterCount: P, ...caller meta }
 *   record batch message      one per `append()` call (a group of samples), repeated
 *   (no end-of-stream marker; a reader stops at end of file, at a torn message or at an EOS marker)
 *
 * Each message is: 0xFFFFFFFF continuation marker, int32 LE metadata length L (metadata plus padding,
 * so that 8 + L is a multiple of 8), the flatbuffer `Message`, padding, then `bodyLength` bytes of
 * body. Columns: `chain` Int32, `step` Int32, `logLikelihood` Float64, `noisePrecision` Float64
 * (NaN when the model has no noise precision), `weights` FixedSizeList<Float32>[P], or
 * FixedSizeList<Float16>[P] for a file stored at half precision (`weightDtype: 'float16'`: half the
 * size, weights rounded to nearest even; readers decode to float32); no nulls, no compression.
 *
 * This module holds the format's constants, public types and Arrow schema; `frames.ts` encodes and
 * decodes messages, `parse.ts` validates them, `reader.ts` and `writer.ts` are the public API.
 */
import * as A from 'apache-arrow';

export const SAMPLES_FORMAT = 'bdk-samples';
export const SAMPLES_VERSION = 1;
/** Schema metadata key holding the JSON description of the file. */
export const SAMPLES_META_KEY = 'bdk';

/** How a samples file stores the weights: float32, or float16 (half the size, rounded). */
export type WeightDtype = 'float32' | 'float16';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['float32', 'float16'];

/** Bytes a samples file spends on one weight. */
export const weightBytes = (dtype: WeightDtype): number => (dtype === 'float16' ? 2 : 4);

export interface SampleRecord {
  chain: number;
  step: number;
  logLikelihood: number;
  /** NaN when the likelihood has no noise precision. */
  noisePrecision: number;
  /** The flat parameter vector, length P. */
  weights: Float32Array;
}

/** The `bdk` schema metadata: fixed keys plus whatever the caller passed to `SampleWriter.create`. */
export interface SamplesMeta extends Record<string, unknown> {
  format: typeof SAMPLES_FORMAT;
  version: number;
  parameterCount: number;
}

export interface SampleScan {
  meta: SamplesMeta;
  parameterCount: number;
  /** How the file stores the weights (they are always read back as float32). */
  weightDtype: WeightDtype;
  /** Number of complete samples (rows) in the file. */
  records: number;
  /** Byte length of the readable prefix: schema plus all complete record batches. */
  completeBytes: number;
  /** Size of the file on disk; larger than `completeBytes` when the tail is torn. */
  fileBytes: number;
}

export interface SampleBatch {
  chain: Int32Array;
  step: Int32Array;
  logLikelihood: Float64Array;
  noisePrecision: Float64Array;
  /** rows × parameterCount, row-major. */
  weights: Float32Array;
  rows: number;
  parameterCount: number;
}

export const INT32_MIN = -0x80000000;
export const INT32_MAX = 0x7fffffff;

// Buffer order of a record batch for our schema (depth-first, validity buffer before data buffer):
// chain, step, logLikelihood, noisePrecision, weights (validity only), weights.item.
export const BUF_CHAIN = 1;
export const BUF_STEP = 3;
export const BUF_LOGLIK = 5;
export const BUF_NOISE = 7;
export const BUF_WEIGHTS = 10;
export const BUFFER_COUNT = 11;
export const NODE_COUNT = 6;

/** The Arrow schema of a samples file with `parameterCount` weights per sample, stored as `dtype`. */
export function makeSchema(parameterCount: number, meta: SamplesMeta, dtype: WeightDtype): A.Schema {
  const fields = [
    new A.Field('chain', new A.Int32(), false),
    new A.Field('step', new A.Int32(), false),
    new A.Field('logLikelihood', new A.Float64(), false),
    new A.Field('noisePrecision', new A.Float64(), false),
    new A.Field(
      'weights',
      new A.FixedSizeList(
        parameterCount,
        new A.Field('item', dtype === 'float16' ? new A.Float16() : new A.Float32(), false),
      ),
      false,
    ),
  ];
  return new A.Schema(fields, new Map([[SAMPLES_META_KEY, JSON.stringify(meta)]]));
}
