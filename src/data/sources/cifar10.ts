import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError, messageOf } from '../../core/errors.js';
import type { DatasetContent } from '../dataset-meta.js';
import type { Ranges, SplitSettings } from '../splits.js';

/** The official binary batches (https://www.cs.toronto.edu/~kriz/cifar.html), training files first. */
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_META_FILE = 'batches.meta.txt';
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

const SIDE = 32;
const PLANE = SIDE * SIDE;
/** Bytes of one record: the label, then the red, green and blue planes (1 024 bytes each, row-major). */
export const CIFAR10_RECORD_BYTES = 1 + 3 * PLANE;
/** Share of the training rows carved out (the last ones) for validation: 5 000 of the official 50 000. */
const VALIDATION_SHARE = 0.1;

/**
 * Converts one record's channel planes (R, G, B; each 32×32 row-major) to bdk's HWC layout: pixel
 * (y, x) channel c goes from byte 1 + c·1024 + 32y + x of the record to index (32y + x)·3 + c.
 */
export function recordToHwc(record: Uint8Array, out: Uint8Array, outOffset = 0): void {
  for (let p = 0; p < PLANE; p++) {
    out[outOffset + 3 * p] = record[1 + p];
    out[outOffset + 3 * p + 1] = record[1 + PLANE + p];
    out[outOffset + 3 * p + 2] = record[1 + 2 * PLANE + p];
  }
}

async function readBatch(file: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new UserError(
        `${file}: file not found (the CIFAR-10 binary version has data_batch_1.bin … data_batch_5.bin and test_batch.bin)`,
      );
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, expected a CIFAR-10 batch file`);
    throw new UserError(`${file}: cannot read (${messageOf(err)})`);
  }
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0)
    throw new UserError(
      `${file}: ${bytes.length} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 records (the official files hold 10 000 records, 30 730 000 bytes)`,
    );
  return bytes;
}

/** Class names from `batches.meta.txt` (one per line, blank lines ignored) when the folder has it. */
async function classNames(dir: string): Promise<string[]> {
  const file = path.join(dir, CIFAR10_META_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [...CIFAR10_CLASSES];
    throw new UserError(`${file}: cannot read (${messageOf(err)})`);
  }
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (names.length !== 10)
    throw new UserError(`${file}: expected 10 class names, one per line, found ${names.length}`);
  return names;
}

/** The official partition on `trainRows` training then `testRows` test rows: the last 10% of training rows validate. */
export function cifar10Partition(
  trainRows: number,
  testRows: number,
): { fixed: { train: Ranges; validation: Ranges; test: Ranges }; settings: SplitSettings } {
  const validation = Math.max(1, Math.round(trainRows * VALIDATION_SHARE));
  if (trainRows - validation < 1)
    throw new UserError(
      `cifar10: ${trainRows} training records are too few to carve out a validation part (need at least 2)`,
    );
  const n = trainRows + testRows;
  return {
    fixed: {
      train: [[0, trainRows - validation]],
      validation: [[trainRows - validation, trainRows]],
      test: [[trainRows, n]],
    },
    settings: {
      protocol: 'fixed',
      seed: 0,
      count: 1,
      testFraction: testRows / n,
      validationFraction: validation / trainRows,
    },
  };
}

/**
 * CIFAR-10 (Krizhevsky 2009) from the official binary batches in `dir`: the five training files then
 * the test file, in one table (50 000 + 10 000 rows for the official files), 32×32×3 uint8 pixels
 * stored HWC, labels 0–9. Any whole number of records per file is accepted.
 */
export async function cifar10Content(
  dir: string,
): Promise<
  Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetContent['meta'], 'checksum'>; trainRows: number }
> {
  let stat;
  try {
    stat = await fs.stat(dir);
  } catch {
    throw new UserError(
      `${dir}: folder not found (--from, in a pipeline dataset.from, names the folder of the CIFAR-10 binary batches, cifar-10-batches-bin)`,
    );
  }
  if (!stat.isDirectory())
    throw new UserError(`${dir}: not a folder (--from names the folder of the batches)`);
  const files = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].map((f) => path.join(dir, f));
  const batches: Uint8Array[] = [];
  for (const f of files) batches.push(await readBatch(f));
  const names = await classNames(dir);
  const counts = batches.map((b) => b.length / CIFAR10_RECORD_BYTES);
  const rows = counts.reduce((a, b) => a + b, 0);
  const d = 3 * PLANE;
  const features = new Uint8Array(rows * d);
  const targets = new Int32Array(rows);
  let row = 0;
  batches.forEach((bytes, b) => {
    for (let i = 0; i < counts[b]; i++, row++) {
      const record = bytes.subarray(i * CIFAR10_RECORD_BYTES, (i + 1) * CIFAR10_RECORD_BYTES);
      if (record[0] > 9) throw new UserError(`${files[b]}: record ${i} has label ${record[0]}, outside 0..9`);
      targets[row] = record[0];
      recordToHwc(record, features, row * d);
    }
  });
  return {
    meta: {
      format: 'bdk-dataset',
      version: 1,
      name: 'cifar10',
      task: 'classification',
      features: ['pixels'],
      featureCount: d,
      target: 'label',
      classCount: 10,
      classNames: names,
      imageShape: [SIDE, SIDE, 3],
      rows,
      source: `${path.resolve(dir)} (data_batch_1..5.bin, test_batch.bin)`,
    },
    features,
    targets,
    trainRows: rows - counts[counts.length - 1],
  };
}
