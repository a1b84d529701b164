/** Shared fixtures of the sample-store tests: deterministic records, row checks, a temporary directory. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, expect } from 'vitest';

import { SampleWriter, type SampleBatch, type SampleRecord } from '../../src/samples/index.js';
import { tempDir } from '../helpers.js';

/**
 * A temporary directory for the calling test file, created before its tests and removed after them.
 * `dir()` is its path; `fresh(name)` a new file path in it on every call.
 */
export function useTempDir(): { dir: () => string; fresh: (name?: string) => string } {
  let dir = '';
  let n = 0;
  beforeAll(async () => {
    dir = await tempDir('bdk-samples-');
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { dir: () => dir, fresh: (name = 'samples.arrows') => path.join(dir, `${n++}-${name}`) };
}

/**
 * Deterministic sample number `i`. The SIGKILL child in sigkill.test.ts repeats this function
 * verbatim (as JavaScript), so keep the two in sync.
 */
export function rec(i: number, p: number): SampleRecord {
  const w = new Float32Array(p);
  for (let j = 0; j < p; j++) w[j] = (((i * 2654435761 + j * 40503) >>> 0) / 4294967296 - 0.5) * (i + 1);
  return {
    chain: i % 3,
    step: 10 * i + 1,
    logLikelihood: -1.5 * i - 0.1,
    noisePrecision: i % 2 === 1 ? NaN : 1 / (i + 1),
    weights: w,
  };
}

/** A record with awkward values that must survive bit for bit. */
export function oddRec(p: number): SampleRecord {
  const w = new Float32Array(p);
  const bits = new Uint32Array(w.buffer);
  const specials = [0x80000000, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00001, 0x7f7fffff, 0x3f800000];
  for (let j = 0; j < p; j++) bits[j] = specials[j % specials.length] ^ (j >> 3);
  return { chain: -2147483648, step: 2147483647, logLikelihood: -0, noisePrecision: -Infinity, weights: w };
}

/** Whether two views hold the same bytes. */
export const bitsEqual = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Asserts that rows [from, from + expected.length) of `batch` hold exactly `expected`. */
export function expectRows(batch: SampleBatch, expected: SampleRecord[], from = 0): void {
  const p = batch.parameterCount;
  expected.forEach((r, k) => {
    const i = from + k;
    const where = `row ${i}`;
    expect(batch.chain[i], where).toBe(r.chain);
    expect(batch.step[i], where).toBe(r.step);
    expect(Object.is(batch.logLikelihood[i], r.logLikelihood), where).toBe(true);
    expect(Object.is(batch.noisePrecision[i], r.noisePrecision), where).toBe(true);
    expect(bitsEqual(batch.weights.subarray(i * p, (i + 1) * p), r.weights), where).toBe(true);
  });
}

/**
 * Writes samples `first`, `first` + 1, … to a new file in appends of `groups[k]` records; returns the
 * file size after the header and after each append.
 */
export async function writeSamples(file: string, p: number, groups: number[], first = 0): Promise<number[]> {
  const w = await SampleWriter.create(file, p, { run: 'test', chains: 3 });
  const ends: number[] = [(await fs.stat(file)).size];
  let i = first;
  for (const g of groups) {
    await w.append(Array.from({ length: g }, (_, k) => rec(i + k, p)));
    i += g;
    ends.push((await fs.stat(file)).size);
  }
  await w.close();
  return ends;
}

/** Records `from` … `to` − 1 of `rec`. */
export const range = (from: number, to: number, p: number) =>
  Array.from({ length: to - from }, (_, k) => rec(from + k, p));
