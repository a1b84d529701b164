import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as A from 'apache-arrow';
import { Rng } from '../../src/core/rng.js';
import { fromRanges, rangeSize } from '../../src/data/splits.js';
import { loadDataset, partArrays } from '../../src/data/store.js';
import {
  CIFAR10_CLASSES,
  CIFAR10_RECORD_BYTES,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
  recordToHwc,
} from '../../src/data/sources/cifar10.js';
import { importTable, prepareBuiltin } from '../../src/stages/prepare.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const PER_FILE = 20;

/** Seeded records in the official format: each a label byte, then the R, G and B planes. */
function records(n: number, rng: Rng): Uint8Array {
  const bytes = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  for (let i = 0; i < n; i++) bytes[i * CIFAR10_RECORD_BYTES] = rng.int(10);
  return bytes;
}

/** A folder of the six batch files with `PER_FILE` records each (and an optional meta file). */
async function batchFolder(name: string, meta?: string): Promise<{ folder: string; files: Uint8Array[] }> {
  const folder = path.join(dir, name);
  await fs.mkdir(folder, { recursive: true });
  const rng = new Rng(7);
  const files: Uint8Array[] = [];
  for (const f of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) {
    const bytes = records(PER_FILE, rng);
    files.push(bytes);
    await fs.writeFile(path.join(folder, f), bytes);
  }
  if (meta !== undefined) await fs.writeFile(path.join(folder, 'batches.meta.txt'), meta);
  return { folder, files };
}

describe('cifar10 binary batches', () => {
  it('de-interleaves a hand-made record into HWC pixels', () => {
    const record = new Uint8Array(CIFAR10_RECORD_BYTES);
    record[0] = 3;
    // Pixel (y=1, x=2): R 10, G 20, B 30; pixel (31, 31): R 1, G 2, B 3.
    const at = (c: number, y: number, x: number) => 1 + c * 1024 + y * 32 + x;
    record[at(0, 1, 2)] = 10;
    record[at(1, 1, 2)] = 20;
    record[at(2, 1, 2)] = 30;
    record[at(0, 31, 31)] = 1;
    record[at(1, 31, 31)] = 2;
    record[at(2, 31, 31)] = 3;
    const out = new Uint8Array(3072);
    recordToHwc(record, out);
    const hwc = (y: number, x: number, c: number) => out[(y * 32 + x) * 3 + c];
    expect([hwc(1, 2, 0), hwc(1, 2, 1), hwc(1, 2, 2)]).toEqual([10, 20, 30]);
    expect([hwc(31, 31, 0), hwc(31, 31, 1), hwc(31, 31, 2)]).toEqual([1, 2, 3]);
    expect(out.reduce((s, v) => s + v, 0)).toBe(66);
  });

  it('round-trips pixels and labels through prepare → load, with the official partition and class names', async () => {
    const { folder, files } = await batchFolder(
      'official',
      'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n',
    );
    const saved = await prepareBuiltin('cifar10', {}, { dir }, { from: folder });
    expect(saved.status).toBe('written');
    const ds = await loadDataset('cifar10', dir);
    expect(ds.meta.rows).toBe(6 * PER_FILE);
    expect(ds.meta.imageShape).toEqual([32, 32, 3]);
    expect(ds.meta.classCount).toBe(10);
    expect(ds.meta.classNames).toEqual(CIFAR10_CLASSES);
    const pixels = new Uint8Array(6 * PER_FILE * 3072);
    const labels = new Int32Array(6 * PER_FILE);
    files.forEach((bytes, b) => {
      for (let i = 0; i < PER_FILE; i++) {
        const row = b * PER_FILE + i;
        const record = bytes.subarray(i * CIFAR10_RECORD_BYTES, (i + 1) * CIFAR10_RECORD_BYTES);
        labels[row] = record[0];
        recordToHwc(record, pixels, row * 3072);
      }
    });
    expect(Buffer.from(ds.features as Uint8Array).equals(Buffer.from(pixels))).toBe(true);
    expect(Array.from(ds.targets)).toEqual(Array.from(labels));
    // Training files first, then the test file; the last 10% of the training rows validate.
    const s = ds.splits.splits[0];
    expect(ds.splits.protocol).toBe('fixed');
    expect(s.train).toEqual([[0, 90]]);
    expect(s.validation).toEqual([[90, 100]]);
    expect(s.test).toEqual([[100, 120]]);
    expect(s.normalization.features).toEqual({ kind: 'scale', offset: 0, scale: 255 });
    // The same files again: nothing to do.
    expect((await prepareBuiltin('cifar10', {}, { dir }, { from: folder })).status).toBe('unchanged');
  });

  it('standardizes per channel with the training rows statistics', async () => {
    const folder = path.join(dir, 'official');
    const saved = await prepareBuiltin(
      'cifar10',
      { standardize: 'per-channel' },
      { dir, force: true },
      { from: folder },
    );
    expect(saved.splits.standardize).toBe('per-channel');
    const ds = await loadDataset('cifar10', dir);
    const train = partArrays(ds, 0, 'train');
    expect(train.rows).toBe(90);
    // After standardization each channel has mean 0 and variance 1 over the training rows.
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let sq = 0;
      let n = 0;
      for (let i = c; i < train.x.length; i += 3) {
        sum += train.x[i];
        sq += train.x[i] ** 2;
        n++;
      }
      expect(sum / n).toBeCloseTo(0, 4);
      expect(sq / n).toBeCloseTo(1, 4);
    }
    // The z-score repeats each channel's statistics for every pixel.
    const f = ds.splits.splits[0].normalization.features;
    expect(f.mean!.length).toBe(3072);
    expect(f.mean![3]).toBe(f.mean![0]);
    expect(f.std![5]).toBe(f.std![2]);
    expect(f.mean![0]).not.toBe(f.mean![1]);
  });

  it('refuses a missing folder, a missing file, a size that is not whole records and a label above 9', async () => {
    const none = path.join(dir, 'none');
    await expect(prepareBuiltin('cifar10', {}, { dir }, { from: none })).rejects.toThrow(
      `${none}: folder not found (--from, in a pipeline dataset.from, names the folder of the CIFAR-10 binary batches, cifar-10-batches-bin)`,
    );
    await expect(prepareBuiltin('cifar10', {}, { dir })).rejects.toThrow(
      'cifar10 cannot be downloaded by bdk: give --from <folder>',
    );
    const { folder } = await batchFolder('broken');
    await fs.rm(path.join(folder, 'data_batch_3.bin'));
    await expect(prepareBuiltin('cifar10', {}, { dir }, { from: folder })).rejects.toThrow(
      `${path.join(folder, 'data_batch_3.bin')}: file not found`,
    );
    await fs.writeFile(path.join(folder, 'data_batch_3.bin'), new Uint8Array(3073 * 2 + 5));
    await expect(prepareBuiltin('cifar10', {}, { dir }, { from: folder })).rejects.toThrow(
      `${path.join(folder, 'data_batch_3.bin')}: 6151 bytes is not a whole number of 3073-byte CIFAR-10 records`,
    );
    const bad = new Uint8Array(3073 * 2);
    bad[3073] = 10;
    await fs.writeFile(path.join(folder, 'data_batch_3.bin'), bad);
    await expect(prepareBuiltin('cifar10', {}, { dir }, { from: folder })).rejects.toThrow(
      `${path.join(folder, 'data_batch_3.bin')}: record 1 has label 10, outside 0..9`,
    );
    await fs.writeFile(path.join(folder, 'data_batch_3.bin'), new Uint8Array(3073));
    await fs.writeFile(path.join(folder, 'batches.meta.txt'), 'cat\ndog\n');
    await expect(prepareBuiltin('cifar10', {}, { dir }, { from: folder })).rejects.toThrow(
      'batches.meta.txt: expected 10 class names, one per line, found 2',
    );
    await expect(prepareBuiltin('mnist', {}, { dir }, { from: folder })).rejects.toThrow(
      '--from applies to cifar10 only',
    );
    await expect(prepareBuiltin('cifar10', { testFraction: 0.2 }, { dir }, { from: folder })).rejects.toThrow(
      'cifar10 uses the official 50k/10k train/test partition',
    );
    await expect(prepareBuiltin('boston', { standardize: 'per-channel' }, { dir })).rejects.toThrow(
      'boston: --standardize per-channel applies to image data',
    );
  });
});

describe('the command line', () => {
  it('prepares cifar10 --from a folder, and says why without one', async () => {
    const env = { BDK_DATA_DIR: path.join(dir, 'cli-data') };
    const ok = bdk(['data', 'prepare', 'cifar10', '--from', path.join(dir, 'official'), '--json'], env);
    expect(ok.code).toBe(0);
    const out = JSON.parse(ok.stdout);
    expect(out.meta.imageShape).toEqual([32, 32, 3]);
    expect(out.splits.sizes).toEqual({ train: 90, validation: 10, test: 20 });
    const missing = bdk(['data', 'prepare', 'cifar10'], env);
    expect(missing.code).toBe(1);
    expect(expectOneLineError(missing)).toMatch(
      /^bdk: cifar10 cannot be downloaded by bdk: give --from <folder>/,
    );
    const shape = bdk(
      [
        'data',
        'import',
        'x.csv',
        '--name',
        'x',
        '--target',
        'y',
        '--task',
        'classification',
        '--image-shape',
        '28,28',
      ],
      env,
    );
    expect(shape.code).toBe(1);
    expect(shape.stderr).toContain(
      "expected height,width,channels (three positive integers, e.g. 32,32,3), got '28,28'",
    );
  });
});

describe('bdk data import --image-shape', () => {
  /** A flat Arrow table of 2·2·3 pixel columns and a label column. */
  async function flatTable(name: string, pixels: number[][], labels: number[]): Promise<string> {
    const cols: Record<string, A.Vector> = {};
    for (let j = 0; j < pixels[0].length; j++)
      cols[`p${j}`] = A.vectorFromArray(Float64Array.from(pixels, (r) => r[j]));
    cols.label = A.vectorFromArray(Int32Array.from(labels));
    const file = path.join(dir, name);
    await fs.writeFile(file, A.tableToIPC(new A.Table(cols), 'file'));
    return file;
  }

  it('stores the feature columns as uint8 HWC images of the declared shape', async () => {
    const rng = new Rng(3);
    const pixels = Array.from({ length: 30 }, () => Array.from({ length: 12 }, () => rng.int(256)));
    const labels = Array.from({ length: 30 }, (_, i) => i % 3);
    const file = await flatTable('images.arrow', pixels, labels);
    await importTable(
      { file, name: 'tiny-images', target: 'label', task: 'classification', imageShape: [2, 2, 3] },
      {},
      { dir },
    );
    const ds = await loadDataset('tiny-images', dir);
    expect(ds.meta.imageShape).toEqual([2, 2, 3]);
    expect(ds.meta.features).toEqual(['pixels']);
    expect(ds.features).toBeInstanceOf(Uint8Array);
    expect(Array.from(ds.features)).toEqual(pixels.flat());
    const s = ds.splits.splits[0];
    expect(rangeSize(s.train) + rangeSize(s.validation) + rangeSize(s.test)).toBe(30);
    expect(fromRanges(s.test).length).toBe(3);
  });

  it('refuses a shape whose product is not the feature count, and values that are not pixels', async () => {
    const file = await flatTable('bad-images.arrow', [Array(12).fill(1), Array(12).fill(300)], [0, 1]);
    await expect(
      importTable(
        { file, name: 'x', target: 'label', task: 'classification', imageShape: [32, 32, 3] },
        {},
        { dir },
      ),
    ).rejects.toThrow(
      `--image-shape 32,32,3 has 3072 values per example, but ${file} has 12 feature columns`,
    );
    await expect(
      importTable(
        { file, name: 'x', target: 'label', task: 'classification', imageShape: [2, 2, 3] },
        {},
        { dir },
      ),
    ).rejects.toThrow(
      `${file}: row 1: column 'p0' has value 300; image pixels (--image-shape) must be integers 0..255`,
    );
  });

  /** IDX bytes: magic 0 0 8 ndims, big-endian sizes, then the data. */
  function idx(shape: number[], data: Uint8Array): Uint8Array {
    const head = new Uint8Array(4 + 4 * shape.length);
    head.set([0, 0, 8, shape.length]);
    const view = new DataView(head.buffer);
    shape.forEach((v, i) => view.setUint32(4 + 4 * i, v, false));
    const out = new Uint8Array(head.length + data.length);
    out.set(head);
    out.set(data, head.length);
    return out;
  }

  it('imports IDX images with their labels file, the shape from the header or --image-shape', async () => {
    const rng = new Rng(8);
    const pixels = Uint8Array.from({ length: 12 * 4 * 4 }, () => rng.int(256));
    const labels = Uint8Array.from({ length: 12 }, (_, i) => i % 2);
    const images = path.join(dir, 'images-idx3-ubyte');
    const labelsFile = path.join(dir, 'labels-idx1-ubyte');
    await fs.writeFile(images, idx([12, 4, 4], pixels));
    await fs.writeFile(labelsFile, idx([12], labels));
    const base = { file: images, target: 'label', task: 'classification' as const, labels: labelsFile };
    await importTable({ ...base, name: 'idx-header' }, {}, { dir });
    const ds = await loadDataset('idx-header', dir);
    expect(ds.meta.imageShape).toEqual([4, 4, 1]);
    expect(Buffer.from(ds.features as Uint8Array).equals(Buffer.from(pixels))).toBe(true);
    expect(Array.from(ds.targets)).toEqual(Array.from(labels));
    await importTable({ ...base, name: 'idx-declared', imageShape: [2, 4, 2] }, {}, { dir });
    expect((await loadDataset('idx-declared', dir)).meta.imageShape).toEqual([2, 4, 2]);
    await expect(importTable({ ...base, name: 'x', imageShape: [28, 28, 1] }, {}, { dir })).rejects.toThrow(
      `--image-shape 28,28,1 has 784 values per example, but the examples of ${images} have shape [4, 4] (16 values)`,
    );
    await expect(importTable({ ...base, labels: undefined, name: 'x' }, {}, { dir })).rejects.toThrow(
      `${images}: an IDX image file needs its labels: give --labels <IDX file of [n] labels>`,
    );
  });
});
