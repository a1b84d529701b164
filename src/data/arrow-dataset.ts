import { promises as fs } from 'node:fs';
import * as A from 'apache-arrow';
import { UserError, messageOf } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { ColumnChecksum } from './checksum.js';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  META_KEY,
  type DatasetContent,
  type DatasetMeta,
} from './dataset-meta.js';

/**
 * Arrow IPC file layout of a prepared dataset:
 * - tabular: one non-null Float64 column per feature, then the target column
 *   (Float64 for regression, Int32 labels for classification);
 * - images: `pixels` as FixedSizeList<Uint8>[h·w·c] (row-major HWC), then the Int32 label column.
 * The DatasetMeta is JSON under the schema metadata key `bdk`. Rows are written in record batches
 * so readers can stream them.
 */
const DEFAULT_BATCH_ROWS = 10_000;

/** Computes the content checksum of in-memory dataset content (same value `readDataset` verifies). */
export function contentChecksum(
  content: Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetMeta, 'checksum'> },
): string {
  const { meta, features, targets } = content;
  const d = meta.featureCount;
  if (meta.imageShape) {
    const sum = new ColumnChecksum(2);
    sum.update(0, features);
    sum.update(1, targets);
    return sum.digest();
  }
  const sum = new ColumnChecksum(d + 1);
  const col = new Float64Array(meta.rows);
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < meta.rows; i++) col[i] = features[i * d + j];
    sum.update(j, col);
  }
  sum.update(d, targets);
  return sum.digest();
}

function schemaFor(meta: DatasetMeta): A.Schema {
  const targetType = meta.task === 'classification' ? new A.Int32() : new A.Float64();
  const fields: A.Field[] = meta.imageShape
    ? [
        new A.Field(
          'pixels',
          new A.FixedSizeList(meta.featureCount, new A.Field('pixel', new A.Uint8(), false)),
          false,
        ),
      ]
    : meta.features.map((name) => new A.Field(name, new A.Float64(), false));
  fields.push(new A.Field(meta.target, targetType, false));
  return new A.Schema(fields, new Map([[META_KEY, JSON.stringify(meta)]]));
}

function* recordBatches(content: DatasetContent, batchRows: number): Generator<A.RecordBatch> {
  const { meta, features, targets } = content;
  const schema = schemaFor(meta);
  const d = meta.featureCount;
  for (let start = 0; start < meta.rows; start += batchRows) {
    const n = Math.min(batchRows, meta.rows - start);
    const children: A.Data[] = [];
    if (meta.imageShape) {
      const type = schema.fields[0].type as A.FixedSizeList;
      const child = A.makeData({
        type: new A.Uint8(),
        length: n * d,
        data: features.subarray(start * d, (start + n) * d) as Uint8Array,
      });
      children.push(A.makeData({ type, length: n, nullCount: 0, child }));
    } else {
      for (let j = 0; j < d; j++) {
        const col = new Float64Array(n);
        for (let i = 0; i < n; i++) col[i] = features[(start + i) * d + j];
        children.push(A.makeData({ type: new A.Float64(), length: n, data: col }));
      }
    }
    const t = targets.subarray(start, start + n);
    children.push(
      t instanceof Int32Array
        ? A.makeData({ type: new A.Int32(), length: n, data: t })
        : A.makeData({ type: new A.Float64(), length: n, data: t }),
    );
    yield new A.RecordBatch(
      schema,
      A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children }),
    );
  }
}

/** Serializes dataset content to Arrow IPC file bytes. */
export function encodeDataset(content: DatasetContent, batchRows = DEFAULT_BATCH_ROWS): Uint8Array {
  return A.RecordBatchFileWriter.writeAll(recordBatches(content, batchRows)).toUint8Array(true);
}

/** Writes a dataset atomically (temporary file, then rename): readers never see a half-written file. */
export async function writeDataset(file: string, content: DatasetContent, batchRows?: number): Promise<void> {
  await writeFileAtomic(file, encodeDataset(content, batchRows));
}

function parseMeta(file: string, schema: A.Schema): DatasetMeta {
  const raw = schema.metadata.get(META_KEY);
  if (raw === undefined) {
    throw new UserError(
      `${file}: not a bdk dataset (schema metadata has no '${META_KEY}' key); import it with \`bdk data import\``,
    );
  }
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(raw) as DatasetMeta;
  } catch {
    throw new UserError(`${file}: dataset metadata is not valid JSON`);
  }
  if (meta.format !== DATASET_FORMAT || meta.version !== DATASET_VERSION) {
    throw new UserError(
      `${file}: unsupported dataset format '${meta.format}' version ${meta.version} (expected ${DATASET_FORMAT} version ${DATASET_VERSION})`,
    );
  }
  return meta;
}

async function openReader(
  file: string,
): Promise<{ fh: fs.FileHandle; reader: A.AsyncRecordBatchFileReader }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${file}: file not found`);
    throw new UserError(`${file}: cannot open (${messageOf(err)})`);
  }
  try {
    const size = (await fh.stat()).size;
    if (size === 0) throw new UserError(`${file}: file is empty`);
    const reader = (await A.RecordBatchReader.from(fh)) as unknown as A.AsyncRecordBatchFileReader;
    await reader.open();
    if (!reader.isFile()) throw new UserError(`${file}: not an Arrow IPC file`);
    return { fh, reader };
  } catch (err) {
    await fh.close();
    if (err instanceof UserError) throw err;
    throw corrupt(file, err);
  }
}

function corrupt(file: string, err: unknown): UserError {
  return new UserError(`${file}: corrupt or unreadable Arrow IPC file (${messageOf(err).split('\n')[0]})`);
}

/** Reads only the metadata of a prepared dataset (schema footer; no record batches). */
export async function readDatasetMeta(file: string): Promise<DatasetMeta> {
  const { fh, reader } = await openReader(file);
  try {
    return parseMeta(file, reader.schema);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a prepared dataset by streaming its record batches from disk into preallocated row-major
 * arrays (each value is copied once), verifying the layout and the content checksum.
 */
export async function readDataset(file: string): Promise<DatasetContent> {
  const { fh, reader } = await openReader(file);
  try {
    const meta = parseMeta(file, reader.schema);
    const d = meta.featureCount;
    const expectedColumns = meta.imageShape ? 2 : d + 1;
    if (reader.schema.fields.length !== expectedColumns) {
      throw new UserError(
        `${file}: expected ${expectedColumns} columns from its metadata, found ${reader.schema.fields.length}`,
      );
    }
    const features = meta.imageShape ? new Uint8Array(meta.rows * d) : new Float64Array(meta.rows * d);
    const targets = meta.task === 'classification' ? new Int32Array(meta.rows) : new Float64Array(meta.rows);
    const sum = new ColumnChecksum(expectedColumns);
    let row = 0;
    try {
      for await (const batch of reader) {
        const n = batch.numRows;
        if (row + n > meta.rows)
          throw new UserError(`${file}: more rows than the ${meta.rows} its metadata declares`);
        if (meta.imageShape) {
          const data = batch.getChildAt(0)!.data[0];
          const child = data.children[0];
          const start = (child.offset + data.offset * d) as number;
          const px = (child.values as Uint8Array).subarray(start, start + n * d);
          (features as Uint8Array).set(px, row * d);
          sum.update(0, px);
        } else {
          for (let j = 0; j < d; j++) {
            const data = batch.getChildAt(j)!.data[0];
            const col = (data.values as Float64Array).subarray(data.offset, data.offset + n);
            for (let i = 0; i < n; i++) features[(row + i) * d + j] = col[i];
            sum.update(j, col);
          }
        }
        const tdata = batch.getChildAt(expectedColumns - 1)!.data[0];
        const t = (tdata.values as Float64Array | Int32Array).subarray(tdata.offset, tdata.offset + n);
        targets.set(t, row);
        sum.update(expectedColumns - 1, t);
        row += n;
      }
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw corrupt(file, err);
    }
    if (row !== meta.rows)
      throw new UserError(`${file}: truncated: metadata declares ${meta.rows} rows, found ${row}`);
    const checksum = sum.digest();
    if (checksum !== meta.checksum) {
      throw new UserError(
        `${file}: content checksum mismatch (stored ${meta.checksum}, computed ${checksum}); re-prepare the dataset`,
      );
    }
    return { meta, features, targets };
  } finally {
    await fh.close();
  }
}
