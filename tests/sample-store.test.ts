import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as A from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UserError } from '../src/core/errors.js';
import { loadChainState, saveChainState } from '../src/core/chain-state.js';
import { decodeFloat16, encodeFloat16 } from '../src/core/float16.js';
import {
  readAllSamples,
  SampleRowReader,
  readSamples,
  SampleWriter,
  scanSamples,
  type SampleBatch,
  type SampleRecord,
} from '../src/samples/index.js';
import { ROOT, tempDir } from './helpers.js';

let dir: string;
let n = 0;
const fresh = (name = 'samples.arrows') => path.join(dir, `${n++}-${name}`);

beforeAll(async () => {
  dir = await tempDir('bdk-samples-');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/**
 * Deterministic sample number `i`. The SIGKILL child below repeats this function verbatim (as
 * JavaScript), so keep the two in sync.
 */
function rec(i: number, p: number): SampleRecord {
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
function oddRec(p: number): SampleRecord {
  const w = new Float32Array(p);
  const bits = new Uint32Array(w.buffer);
  const specials = [0x80000000, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00001, 0x7f7fffff, 0x3f800000];
  for (let j = 0; j < p; j++) bits[j] = specials[j % specials.length] ^ (j >> 3);
  return { chain: -2147483648, step: 2147483647, logLikelihood: -0, noisePrecision: -Infinity, weights: w };
}

const bitsEqual = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Asserts that rows [from, from + expected.length) of `batch` hold exactly `expected`. */
function expectRows(batch: SampleBatch, expected: SampleRecord[], from = 0): void {
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

async function writeSamples(file: string, p: number, groups: number[], first = 0): Promise<number[]> {
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

const range = (from: number, to: number, p: number) =>
  Array.from({ length: to - from }, (_, k) => rec(from + k, p));

describe('sample store: round trip', () => {
  it('reads back what was appended, bit for bit, with the metadata', async () => {
    const file = fresh();
    const p = 37;
    const w = await SampleWriter.create(file, p, { run: 'abc', seed: 7 });
    const odd = oddRec(p);
    await w.append([rec(0, p)]);
    await w.append([rec(1, p), rec(2, p), rec(3, p)]);
    await w.append([odd]);
    await w.append([]);
    expect(w.records).toBe(5);
    await w.close();
    await w.close();

    const scan = await scanSamples(file);
    expect(scan).toMatchObject({ parameterCount: p, records: 5 });
    expect(scan.completeBytes).toBe(scan.fileBytes);
    expect(scan.meta).toEqual({ run: 'abc', seed: 7, format: 'bdk-samples', version: 1, parameterCount: p });

    const all = await readAllSamples([file]);
    expect(all.rows).toBe(5);
    expect(all.weights.length).toBe(5 * p);
    expectRows(all, [...range(0, 4, p), odd]);
  });

  it('writes a standard Arrow IPC stream that apache-arrow itself reads', async () => {
    const file = fresh();
    const p = 5;
    await writeSamples(file, p, [2, 1]);
    const table = A.tableFromIPC(await fs.readFile(file));
    expect(table.numRows).toBe(3);
    expect(table.schema.fields.map((f) => f.name)).toEqual([
      'chain',
      'step',
      'logLikelihood',
      'noisePrecision',
      'weights',
    ]);
    expect(JSON.parse(table.schema.metadata.get('bdk')!)).toMatchObject({ parameterCount: p });
    for (let i = 0; i < 3; i++) {
      const row = table.get(i)!;
      const r = rec(i, p);
      expect(row.chain).toBe(r.chain);
      expect(row.step).toBe(r.step);
      expect(row.logLikelihood).toBe(r.logLikelihood);
      expect(Object.is(row.noisePrecision, r.noisePrecision)).toBe(true);
      expect(Array.from(row.weights.toArray() as Float32Array)).toEqual(Array.from(r.weights));
    }
  });

  it('streams several shards in order, in chunks of batchRecords', async () => {
    const p = 11;
    const files = [fresh(), fresh(), fresh()];
    await writeSamples(files[0], p, [3, 2], 0); // records 0..4
    await writeSamples(files[1], p, [], 5); // empty shard
    await writeSamples(files[2], p, [1, 4, 1], 5); // records 5..10
    const sizes: number[] = [];
    let at = 0;
    for await (const chunk of readSamples(files, { batchRecords: 4 })) {
      sizes.push(chunk.rows);
      expect(chunk.parameterCount).toBe(p);
      expectRows(chunk, range(at, at + chunk.rows, p));
      at += chunk.rows;
    }
    expect(sizes).toEqual([4, 4, 3]);
    const all = await readAllSamples(files);
    expect(all.rows).toBe(11);
    expectRows(all, range(0, 11, p));
    expect((await readAllSamples([files[1]])).rows).toBe(0);
  });

  it('lets callers reuse their arrays as soon as append returns, and serializes unawaited appends', async () => {
    const file = fresh();
    const p = 8;
    const w = await SampleWriter.create(file, p, {});
    const shared = rec(0, p);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      shared.weights.set(rec(i, p).weights);
      pending.push(w.append([{ ...rec(i, p), weights: shared.weights }]));
    }
    await Promise.all(pending);
    await w.close();
    expectRows(await readAllSamples([file]), range(0, 20, p));
  });

  it('rejects records of the wrong shape', async () => {
    const w = await SampleWriter.create(fresh(), 4, {});
    expect(() => w.append([{ ...rec(0, 4), weights: new Float32Array(3) }])).toThrow(/length 4/);
    expect(() => w.append([{ ...rec(0, 4), step: 1.5 }])).toThrow(/32-bit integer/);
    await w.close();
  });
});

describe('sample store: torn tails and resuming', () => {
  it('reads exactly k-1 samples from a file cut anywhere inside sample k, and resumes from it', async () => {
    const p = 10;
    const src = fresh();
    const ends = await writeSamples(src, p, [1, 1, 1, 1]); // ends[k] = end of sample k (1-based)
    const k = 4;
    const whole = await fs.readFile(src);
    const copy = fresh();
    for (let len = ends[k - 1]; len < ends[k]; len++) {
      await fs.writeFile(copy, whole.subarray(0, len));
      const scan = await scanSamples(copy);
      expect(scan, `length ${len}`).toMatchObject({
        records: k - 1,
        completeBytes: ends[k - 1],
        fileBytes: len,
      });
      const all = await readAllSamples([copy]);
      expect(all.rows).toBe(k - 1);
      expectRows(all, range(0, k - 1, p));
    }
    // Resume on a sample of the cut lengths: the torn bytes are dropped and appends read back.
    for (let len = ends[k - 1]; len < ends[k]; len += 13) {
      await fs.writeFile(copy, whole.subarray(0, len));
      const w = await SampleWriter.openForAppend(copy, k - 1);
      expect((await fs.stat(copy)).size).toBe(ends[k - 1]);
      await w.append([rec(k - 1, p), rec(k, p)]);
      await w.close();
      const all = await readAllSamples([copy]);
      expect(all.rows).toBe(k + 1);
      expectRows(all, range(0, k + 1, p));
    }
  });

  it('handles torn tails of large samples (sampled offsets)', async () => {
    const p = 3000;
    const src = fresh();
    const ends = await writeSamples(src, p, [2, 3]);
    const whole = await fs.readFile(src);
    const copy = fresh();
    const lens = new Set<number>();
    for (let len = ends[1]; len < ends[2]; len += 997) lens.add(len);
    for (let d = 0; d < 400; d++) lens.add(ends[1] + d).add(ends[2] - 1 - d);
    for (const len of lens) {
      await fs.writeFile(copy, whole.subarray(0, len));
      expect((await scanSamples(copy)).records, `length ${len}`).toBe(2);
      const chunks: number[] = [];
      for await (const c of readSamples([copy], { batchRecords: 1 })) chunks.push(c.rows);
      expect(chunks).toEqual([1, 1]);
    }
  });

  it('stops at an end-of-stream marker and at a zero-filled tail', async () => {
    const p = 6;
    const file = fresh();
    await writeSamples(file, p, [2]);
    await fs.appendFile(file, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    expect((await scanSamples(file)).records).toBe(2);
    const zeros = fresh();
    await writeSamples(zeros, p, [2]);
    await fs.appendFile(zeros, new Uint8Array(4096));
    expect((await scanSamples(zeros)).records).toBe(2);
    const w = await SampleWriter.openForAppend(zeros, 2);
    await w.append([rec(2, p)]);
    await w.close();
    expectRows(await readAllSamples([zeros]), range(0, 3, p));
  });

  it('openForAppend cuts off samples beyond keepRecords, also inside a record batch', async () => {
    const p = 9;
    const file = fresh();
    const ends = await writeSamples(file, p, [1, 1, 1, 1, 1, 1]);
    let w = await SampleWriter.openForAppend(file, 4);
    expect(w.records).toBe(4);
    expect((await fs.stat(file)).size).toBe(ends[4]);
    await w.append([rec(4, p)]);
    await w.close();
    expect((await scanSamples(file)).records).toBe(5);
    expectRows(await readAllSamples([file]), range(0, 5, p));

    const grouped = fresh();
    await writeSamples(grouped, p, [5, 5]);
    w = await SampleWriter.openForAppend(grouped, 7);
    expect((await scanSamples(grouped)).records).toBe(7);
    await w.append([rec(7, p), rec(8, p)]);
    await w.close();
    const all = await readAllSamples([grouped]);
    expect(all.rows).toBe(9);
    expectRows(all, range(0, 9, p));

    w = await SampleWriter.openForAppend(grouped, 0);
    await w.close();
    expect((await scanSamples(grouped)).records).toBe(0);
  });

  it('openForAppend refuses to keep more samples than the file holds', async () => {
    const file = fresh();
    await writeSamples(file, 4, [3]);
    await expect(SampleWriter.openForAppend(file, 4)).rejects.toThrow(
      new UserError(
        `${file}: holds 3 complete samples, but the chain state accounts for 4; the samples file does not belong to this state`,
      ),
    );
  });
});

describe('sample store: float16 storage', () => {
  /** What a float16 file gives back for a record: its weights rounded to the nearest half. */
  const rounded = (r: SampleRecord): SampleRecord => ({
    ...r,
    weights: decodeFloat16(encodeFloat16(r.weights)) as Float32Array,
  });

  it('stores rounded weights at half the size and reads them back as float32', async () => {
    const p = 1000;
    const f32 = fresh();
    const f16 = fresh();
    const records = range(0, 5, p);
    for (const [file, dtype] of [
      [f32, 'float32'],
      [f16, 'float16'],
    ] as const) {
      const w = await SampleWriter.create(file, p, { run: 'h' }, { weightDtype: dtype });
      expect(w.weightDtype).toBe(dtype);
      await w.append(records.slice(0, 2));
      await w.append(records.slice(2));
      await w.close();
    }
    const scan = await scanSamples(f16);
    expect(scan).toMatchObject({ parameterCount: p, records: 5, weightDtype: 'float16' });
    expect((await scanSamples(f32)).weightDtype).toBe('float32');
    const body32 = (await fs.stat(f32)).size;
    const body16 = (await fs.stat(f16)).size;
    // The halved weight buffers, give or take the few bytes by which the two schemas differ.
    expect(Math.abs(body32 - body16 - 5 * p * 2)).toBeLessThanOrEqual(16);
    const all = await readAllSamples([f16]);
    expectRows(all, records.map(rounded));
    // Rounding error is at most half a unit in the last place of a half: 2^-11 relative (normal range).
    const exact = await readAllSamples([f32]);
    for (let i = 0; i < exact.weights.length; i++) {
      const x = exact.weights[i];
      if (Math.abs(x) >= 2 ** -14)
        expect(Math.abs(all.weights[i] - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
    }
    // Streaming in chunks that cut record batches gives the same rows.
    let at = 0;
    for await (const chunk of readSamples([f16], { batchRecords: 3 })) {
      expectRows(chunk, records.slice(at, at + chunk.rows).map(rounded));
      at += chunk.rows;
    }
    expect(at).toBe(5);
  });

  it('apache-arrow reads a float16 file as a FixedSizeList<Float16>', async () => {
    const file = fresh();
    const p = 6;
    const w = await SampleWriter.create(file, p, {}, { weightDtype: 'float16' });
    await w.append(range(0, 2, p));
    await w.close();
    const table = A.tableFromIPC(await fs.readFile(file));
    const type = table.schema.fields[4].type as A.FixedSizeList;
    expect((type.children[0].type as A.Float).precision).toBe(A.Precision.HALF);
    const row = table.get(1)!;
    const want = rounded(rec(1, p)).weights;
    for (let j = 0; j < p; j++) expect(row.weights.get(j)).toBe(want[j]);
  });

  it('openForAppend keeps the dtype, also when it cuts inside a record batch', async () => {
    const p = 9;
    const file = fresh();
    const w0 = await SampleWriter.create(file, p, {}, { weightDtype: 'float16' });
    await w0.append(range(0, 5, p));
    await w0.close();
    const w = await SampleWriter.openForAppend(file, 3);
    expect(w.weightDtype).toBe('float16');
    await w.append(range(3, 6, p));
    await w.close();
    expect((await scanSamples(file)).weightDtype).toBe('float16');
    expectRows(await readAllSamples([file]), range(0, 6, p).map(rounded));
    // A torn tail of a float16 file: every cut inside the last message reads the complete samples before it.
    const size = (await fs.stat(file)).size;
    const torn = fresh();
    for (const cut of [size - 1, size - 20, size - 2 * p]) {
      await fs.writeFile(torn, (await fs.readFile(file)).subarray(0, cut));
      expect((await scanSamples(torn)).records).toBe(3);
    }
  });

  it('SampleRowReader reads any part of any sample of mixed float16 and float32 shards, torn tails ignored', async () => {
    const p = 7;
    const a = fresh();
    const b = fresh();
    const c = fresh();
    for (const [file, dtype, from, n] of [
      [a, 'float16', 0, 3],
      [b, 'float32', 3, 2],
      [c, 'float16', 5, 3],
    ] as const) {
      const w = await SampleWriter.create(file, p, {}, { weightDtype: dtype });
      await w.append(range(from, from + 2, p)); // a record batch of two, then one per sample
      for (let k = from + 2; k < from + n; k++) await w.append([rec(k, p)]);
      await w.close();
    }
    await fs.truncate(c, (await fs.stat(c)).size - 3); // sample 7 is torn
    const expected = [...range(0, 3, p).map(rounded), ...range(3, 5, p), ...range(5, 7, p).map(rounded)];
    const reader = await SampleRowReader.open([a, b, c]);
    expect(reader.rows).toBe(7);
    expect(reader.parameterCount).toBe(p);
    expect(Array.from(reader.logLikelihood)).toEqual(expected.map((r) => r.logLikelihood));
    expected.forEach((r, i) => expect(Object.is(reader.noisePrecision[i], r.noisePrecision)).toBe(true));
    for (const i of [6, 0, 4, 2, 3, 5, 1]) {
      const whole = new Float32Array(p);
      reader.readWeights(i, 0, whole);
      expect(bitsEqual(whole, expected[i].weights), `sample ${i}`).toBe(true);
      const part = new Float32Array(9).fill(-1);
      reader.readWeights(i, 2, part.subarray(3, 7));
      expect(Array.from(part.subarray(3, 7))).toEqual(Array.from(expected[i].weights.subarray(2, 6)));
      expect([part[2], part[7]]).toEqual([-1, -1]);
    }
    const all = reader.readAllWeights();
    expect(all.length).toBe(7 * p);
    expected.forEach((r, i) =>
      expect(bitsEqual(all.subarray(i * p, (i + 1) * p), r.weights), `sample ${i} of readAllWeights`).toBe(
        true,
      ),
    );
    expect(() => reader.readWeights(7, 0, new Float32Array(1))).toThrow(
      'sample 7, weights 0..1: out of range',
    );
    expect(() => reader.readWeights(0, 5, new Float32Array(3))).toThrow(
      'sample 0, weights 5..8: out of range',
    );
    reader.close();
    expect(() => reader.readWeights(0, 0, new Float32Array(1))).toThrow('SampleRowReader is closed');
    reader.close();
  });
});

describe('sample store: errors', () => {
  it('reports a missing file', async () => {
    const file = path.join(dir, 'nope.arrows');
    await expect(scanSamples(file)).rejects.toThrow(new UserError(`${file}: file not found`));
    await expect(readAllSamples([file])).rejects.toThrow(`${file}: file not found`);
    await expect(SampleWriter.openForAppend(file, 0)).rejects.toThrow(`${file}: file not found`);
  });

  it('refuses to create over an existing file', async () => {
    const file = fresh();
    await writeSamples(file, 3, [1]);
    await expect(SampleWriter.create(file, 3, {})).rejects.toThrow(
      new UserError(`${file}: already exists; refusing to overwrite samples`),
    );
    expect((await scanSamples(file)).records).toBe(1);
  });

  it('rejects files that are not bdk samples', async () => {
    const text = fresh('text.csv');
    await fs.writeFile(text, 'a,b\n1,2\n');
    await expect(scanSamples(text)).rejects.toThrow(
      `${text}: not a bdk samples file (not an Arrow IPC stream)`,
    );
    const plain = fresh('plain.arrows');
    await fs.writeFile(plain, A.tableToIPC(A.tableFromArrays({ a: new Int32Array([1, 2]) }), 'stream'));
    await expect(scanSamples(plain)).rejects.toThrow(
      `${plain}: not a bdk samples file (no 'bdk' schema metadata)`,
    );
    const fileFormat = fresh('file.arrow');
    await fs.writeFile(fileFormat, A.tableToIPC(A.tableFromArrays({ a: new Int32Array([1, 2]) }), 'file'));
    await expect(readAllSamples([fileFormat])).rejects.toThrow(
      /not a bdk samples file \(Arrow IPC file format/,
    );
  });

  it('reports a torn or damaged header as corrupt, at every truncation', async () => {
    const src = fresh();
    const ends = await writeSamples(src, 3, []);
    const whole = await fs.readFile(src);
    const copy = fresh();
    for (let len = 0; len < ends[0]; len++) {
      await fs.writeFile(copy, whole.subarray(0, len));
      const err = await scanSamples(copy).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `length ${len}`).toBeInstanceOf(UserError);
      expect((err as Error).message, `length ${len}`).toMatch(
        new RegExp(`^${copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt samples file header \\(`),
      );
    }
  });

  it('names both files when shards disagree on the parameter count', async () => {
    const a = fresh();
    const b = fresh();
    await writeSamples(a, 4, [1]);
    await writeSamples(b, 5, [1]);
    const err = await readAllSamples([a, b]).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toContain(a);
    expect(err!.message).toContain(b);
    expect(err!.message.split('\n')).toHaveLength(1);
  });
});

describe('sample store: SIGKILL while appending', () => {
  const modulePath = path.join(ROOT, 'dist/teacher/sample-store.js');
  const P = 50_000;
  // The same generator as rec() above, as plain JavaScript for the child process.
  const childScript = (group: number) => `
import { SampleWriter } from ${JSON.stringify(pathToFileURL(modulePath).href)};
const [file, pArg] = process.argv.slice(2);
const p = Number(pArg);
function rec(i, p) {
  const w = new Float32Array(p);
  for (let j = 0; j < p; j++) w[j] = (((i * 2654435761 + j * 40503) >>> 0) / 4294967296 - 0.5) * (i + 1);
  return { chain: i % 3, step: 10 * i + 1, logLikelihood: -1.5 * i - 0.1, noisePrecision: i % 2 === 1 ? NaN : 1 / (i + 1), weights: w };
}
const writer = await SampleWriter.create(file, p, { child: true });
process.stdout.write('created\\n');
for (let i = 0; ; i += ${group}) {
  await writer.append(Array.from({ length: ${group} }, (_, k) => rec(i + k, p)));
  process.stdout.write('done ' + (i + ${group}) + '\\n');
}
`;

  /** Runs the child, kills it `delayMs` after its first durable append (or after spawn). */
  async function killChild(
    group: number,
    delayMs: number,
    from: 'first-append' | 'spawn',
  ): Promise<{ file: string; durable: number }> {
    const script = path.join(dir, `child-${n++}.mjs`);
    await fs.writeFile(script, childScript(group));
    const file = fresh();
    const child = spawn(process.execPath, [script, file, String(P)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
    };
    if (from === 'spawn') kill();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (from === 'first-append' && out.includes('done ')) kill();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_code, sig) => resolve(sig)),
    );
    clearTimeout(timer);
    expect(err).toBe('');
    expect(signal).toBe('SIGKILL');
    const done = [...out.matchAll(/done (\d+)/g)].map((m) => Number(m[1]));
    return { file, durable: done.length ? done[done.length - 1] : 0 };
  }

  async function checkKilledFile(file: string, durable: number, group: number): Promise<number> {
    const scan = await scanSamples(file);
    // Every append that resolved is on disk; at most the group being written is lost (or made it).
    expect(scan.records).toBeGreaterThanOrEqual(durable);
    expect(scan.records).toBeLessThanOrEqual(durable + group);
    expect(scan.records % group).toBe(0);
    const all = await readAllSamples([file]);
    expect(all.rows).toBe(scan.records);
    expectRows(all, range(0, scan.records, P));
    return scan.records;
  }

  for (const [group, delay] of [
    [1, 300],
    [1, 0],
    [1, 45],
    [1, 170],
    [3, 90],
    [1, 650],
  ] as const) {
    it(`keeps every durable sample (group ${group}, killed ${delay} ms after the first append)`, async () => {
      const { file, durable } = await killChild(group, delay, 'first-append');
      const records = await checkKilledFile(file, durable, group);
      expect(records).toBeGreaterThanOrEqual(1);
      // Resume: keep what the (hypothetical) chain state accounts for and carry on.
      const keep = Math.max(1, records - group);
      const w = await SampleWriter.openForAppend(file, keep);
      await w.append([rec(keep, P)]);
      await w.close();
      expectRows(await readAllSamples([file]), range(0, keep + 1, P));
    });
  }

  it('never leaves a samples file without its header, even when killed during create', async () => {
    for (const delay of [80, 160, 240, 320]) {
      const { file, durable } = await killChild(1, delay, 'spawn');
      const exists = await fs.stat(file).then(
        () => true,
        () => false,
      );
      if (exists) await checkKilledFile(file, durable, 1);
      else expect(durable).toBe(0);
    }
  });
});

describe('chain state', () => {
  const meta = { step: 1234, rng: { s: [1, 2, 3, 4], cachedNormal: null }, samples: [10, 10, 9], note: 'ü' };
  const arrays = () => ({
    params: Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 1e3),
    momentum: new Float32Array(new Uint32Array([0x80000000, 0x7fc00001, 0x00000001, 0xff800000]).buffer),
    empty: new Float32Array(0),
    odd: Float32Array.of(1, 2, 3),
  });

  it('round-trips metadata and arrays bit for bit, replacing an older state', async () => {
    const file = path.join(dir, 'state', 'chain.state');
    await fs.mkdir(path.dirname(file), { recursive: true });
    await saveChainState(file, { step: 1 }, { params: Float32Array.of(9) });
    await saveChainState(file, meta, arrays());
    const loaded = await loadChainState(file);
    expect(loaded.meta).toEqual(meta);
    const want = arrays();
    expect(Object.keys(loaded.arrays)).toEqual(Object.keys(want));
    for (const [name, a] of Object.entries(want)) {
      expect(bitsEqual(loaded.arrays[name], a), name).toBe(true);
    }
    expect(await fs.readdir(path.dirname(file))).toEqual(['chain.state']);
  });

  it('rejects any single corrupted byte', async () => {
    const file = fresh('corrupt.state');
    await saveChainState(file, meta, { a: Float32Array.of(1, 2, 3) });
    const whole = await fs.readFile(file);
    for (let at = 0; at < whole.length; at++) {
      const bad = Buffer.from(whole);
      bad[at] ^= 0x10;
      await fs.writeFile(file, bad);
      const err = await loadChainState(file).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `byte ${at}`).toBeInstanceOf(UserError);
      expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
    }
    const bad = Buffer.from(whole);
    bad[whole.length - 2] ^= 1;
    await fs.writeFile(file, bad);
    await expect(loadChainState(file)).rejects.toThrow(
      `${file}: corrupt chain-state file (checksum mismatch)`,
    );
  });

  it('rejects a truncated file at every length', async () => {
    const file = fresh('full.state');
    await saveChainState(file, meta, { a: Float32Array.of(1, 2, 3) });
    const whole = await fs.readFile(file);
    const cut = fresh('cut.state');
    for (let len = 0; len < whole.length; len++) {
      await fs.writeFile(cut, whole.subarray(0, len));
      await expect(loadChainState(cut), `length ${len}`).rejects.toThrow(/chain-state file is truncated/);
    }
  });

  it('reports a missing file and a file of another kind', async () => {
    const missing = path.join(dir, 'missing.state');
    await expect(loadChainState(missing)).rejects.toThrow(new UserError(`${missing}: file not found`));
    const other = fresh('other.state');
    await fs.writeFile(other, 'hello world, this is not a state file at all........................');
    await expect(loadChainState(other)).rejects.toThrow(`${other}: not a bdk chain-state file`);
  });
});
