/**
 * Reading samples files: counting their samples, streaming several shards in chunks, and random access
 * to single samples (`SampleRowReader`). A torn tail (a crash mid-append) is ignored.
 *
 * Reading never loads a whole file: message metadata is read through a small window and the column
 * buffers are read straight from their file positions into the output arrays.
 */
import fsSync from 'node:fs';
import { UserError } from '../core/errors.js';
import { firstNonFinite, requireFinite } from '../core/finite.js';
import { decodeFloat16 } from '../core/float16.js';
import { weightBytes, type SampleBatch, type SampleScan, type WeightDtype } from './format.js';
import { openExisting, WindowReader } from './frames.js';
import {
  allocRows,
  batches,
  bytesOf,
  commonParameterCount,
  readHeader,
  readRows,
  scanFile,
  withReader,
  type FullScan,
} from './parse.js';

/** Default size of the chunks `readSamples` yields. */
const DEFAULT_CHUNK_BYTES = 32 << 20;

/** Counts the complete samples in a file, ignoring a torn tail. Reads only message metadata. */
export async function scanSamples(file: string): Promise<SampleScan> {
  const s = await scanFile(file);
  return {
    meta: s.header.meta,
    parameterCount: s.header.parameterCount,
    weightDtype: s.header.weightDtype,
    records: s.records,
    completeBytes: s.completeBytes,
    fileBytes: s.fileBytes,
  };
}

const NON_FINITE_SAMPLE_FIX = 'the samples file is damaged: sample the teacher again (bdk sample --force)';

/** Fails when rows [first, first + weights.length / p) of `file` hold a weight that is not finite. */
function requireFiniteRows(file: string, first: number, p: number, weights: Float32Array): void {
  requireFinite(
    weights,
    (i, v) => `${file}: sample ${first + Math.floor(i / p)} has weight ${i % p} = ${v}`,
    NON_FINITE_SAMPLE_FIX,
  );
}

/**
 * Streams the samples of several shard files, in file order, as chunks of at most `batchRecords`
 * rows (default: about 32 MiB of weights per chunk). All files must have the same parameter count.
 * Torn tails are ignored. A weight that is not finite is an error naming the file and the sample (the
 * non-finite guard of every consumer), unless `allowNonFinite` (the store itself keeps any bits). Never holds more than one chunk (plus a 64 KiB read window) in memory.
 */
export async function* readSamples(
  files: string[],
  opts: { batchRecords?: number; allowNonFinite?: boolean } = {},
): AsyncGenerator<SampleBatch> {
  if (files.length === 0) return;
  // Validate every header first, so a mismatched shard fails before anything is yielded.
  const counts: number[] = [];
  for (const file of files) counts.push((await withReader(file, readHeader)).parameterCount);
  const p = commonParameterCount(files, counts);
  const chunkRows =
    opts.batchRecords ?? Math.max(1, Math.min(1 << 16, Math.floor(DEFAULT_CHUNK_BYTES / (4 * p))));
  if (!Number.isSafeInteger(chunkRows) || chunkRows <= 0) {
    throw new RangeError(`batchRecords must be a positive integer, got ${chunkRows}`);
  }

  let out = allocRows(chunkRows, p);
  let filled = 0;
  const emit = (rows: number): SampleBatch => ({
    chain: out.chain.subarray(0, rows),
    step: out.step.subarray(0, rows),
    logLikelihood: out.logLikelihood.subarray(0, rows),
    noisePrecision: out.noisePrecision.subarray(0, rows),
    weights: out.weights.subarray(0, rows * p),
    rows,
    parameterCount: p,
  });

  for (const file of files) {
    const fh = await openExisting(file, 'r');
    try {
      const { size } = await fh.stat();
      const r = new WindowReader(fh, file, size);
      const header = await readHeader(r);
      if (header.parameterCount !== p) throw new UserError(`${file}: changed while it was being read`);
      let row = 0;
      for await (const b of batches(r, header)) {
        let done = 0;
        while (done < b.rows) {
          const n = Math.min(b.rows - done, chunkRows - filled);
          await readRows(r, b, p, header.weightDtype, done, n, out, filled);
          if (!opts.allowNonFinite)
            requireFiniteRows(file, row, p, out.weights.subarray(filled * p, (filled + n) * p));
          row += n;
          done += n;
          filled += n;
          if (filled === chunkRows) {
            yield emit(filled);
            out = allocRows(chunkRows, p);
            filled = 0;
          }
        }
      }
    } finally {
      await fh.close();
    }
  }
  if (filled > 0) yield emit(filled);
}

/**
 * Every sample of the given shards in one set of arrays (convenience for small runs and tests); like
 * `readSamples`, a weight that is not finite is an error unless `allowNonFinite`.
 */
export async function readAllSamples(
  files: string[],
  opts: { allowNonFinite?: boolean } = {},
): Promise<SampleBatch> {
  let total = 0;
  let p = 0;
  for (const file of files) {
    const s = await scanSamples(file);
    total += s.records;
    p ||= s.parameterCount;
  }
  const chunks: SampleBatch[] = [];
  for await (const chunk of readSamples(files, { ...opts, batchRecords: Math.max(1, total) }))
    chunks.push(chunk);
  if (chunks.length === 1) return chunks[0];
  // Zero rows, or files grew between the scan and the read.
  const rows = chunks.reduce((s, c) => s + c.rows, 0);
  const all = allocRows(rows, p);
  let at = 0;
  for (const c of chunks) {
    all.chain.set(c.chain, at);
    all.step.set(c.step, at);
    all.logLikelihood.set(c.logLikelihood, at);
    all.noisePrecision.set(c.noisePrecision, at);
    all.weights.set(c.weights, at * p);
    at += c.rows;
  }
  return { ...all, rows, parameterCount: p };
}

/**
 * Random access to the samples of several shards without holding their weights in memory: the small
 * per-sample columns are loaded, and `readWeights` copies part of one sample's weight vector
 * straight from its file (a synchronous positional read, decoded from float16 where stored so), so
 * distillation needs memory for the samples it uses, not for the ensemble. Close it when done.
 */
export class SampleRowReader {
  private closed = false;
  private scratch = new Uint16Array(0);

  private constructor(
    private readonly fds: number[],
    private readonly dtypes: WeightDtype[],
    /** Per sample: index of its file, and the file offset of its weights. */
    private readonly fileOf: Uint32Array,
    private readonly weightsAt: Float64Array,
    readonly parameterCount: number,
    readonly noisePrecision: Float64Array,
    readonly logLikelihood: Float64Array,
  ) {}

  /** Number of complete samples over all shards (a torn tail is ignored). */
  get rows(): number {
    return this.fileOf.length;
  }

  static async open(files: string[]): Promise<SampleRowReader> {
    const scans: FullScan[] = [];
    for (const file of files) scans.push(await scanFile(file));
    const p = commonParameterCount(
      files,
      scans.map((sc) => sc.header.parameterCount),
    );
    const total = scans.reduce((sum, sc) => sum + sc.records, 0);
    const fileOf = new Uint32Array(total);
    const weightsAt = new Float64Array(total);
    const small = allocRows(total, 0);
    let at = 0;
    const fds: number[] = [];
    try {
      for (const [i, file] of files.entries()) {
        const sc = scans[i];
        const rowBytes = p * weightBytes(sc.header.weightDtype);
        await withReader(file, async (r) => {
          for (const b of sc.batches) {
            await r.readInto(bytesOf(small.logLikelihood, at, b.rows), b.logLikelihood);
            await r.readInto(bytesOf(small.noisePrecision, at, b.rows), b.noisePrecision);
            for (let k = 0; k < b.rows; k++) {
              fileOf[at + k] = i;
              weightsAt[at + k] = b.weights + k * rowBytes;
            }
            at += b.rows;
          }
        });
        fds.push(fsSync.openSync(file, 'r'));
      }
    } catch (err) {
      for (const fd of fds) fsSync.closeSync(fd);
      throw err;
    }
    return new SampleRowReader(
      fds,
      scans.map((sc) => sc.header.weightDtype),
      fileOf,
      weightsAt,
      p,
      small.noisePrecision,
      small.logLikelihood,
    );
  }

  /** Copies weights [offset, offset + dest.length) of sample `row` into `dest`, as float32. */
  readWeights(row: number, offset: number, dest: Float32Array): void {
    if (this.closed) throw new Error('SampleRowReader is closed');
    if (!(row >= 0 && row < this.rows) || offset < 0 || offset + dest.length > this.parameterCount)
      throw new RangeError(`sample ${row}, weights ${offset}..${offset + dest.length}: out of range`);
    const f = this.fileOf[row];
    const half = this.dtypes[f] === 'float16';
    const n = dest.length;
    const pos = this.weightsAt[row] + offset * (half ? 2 : 4);
    let target: Uint8Array;
    if (half) {
      if (this.scratch.length < n) this.scratch = new Uint16Array(n);
      target = new Uint8Array(this.scratch.buffer, 0, n * 2);
    } else {
      target = new Uint8Array(dest.buffer, dest.byteOffset, n * 4);
    }
    let done = 0;
    while (done < target.length) {
      const got = fsSync.readSync(this.fds[f], target, done, target.length - done, pos + done);
      if (got === 0) throw new UserError(`samples file shrank while it was being read (sample ${row})`);
      done += got;
    }
    if (half) decodeFloat16(this.scratch.subarray(0, n), dest);
    const bad = firstNonFinite(dest);
    if (bad >= 0)
      throw new UserError(
        `sample ${row} of the teacher has weight ${offset + bad} = ${dest[bad]}; ${NON_FINITE_SAMPLE_FIX}`,
      );
  }

  /** Every sample's weights as one float32 matrix [rows, parameterCount], in row order. */
  readAllWeights(): Float32Array {
    const p = this.parameterCount;
    const out = new Float32Array(this.rows * p);
    for (let row = 0; row < this.rows; row++) this.readWeights(row, 0, out.subarray(row * p, (row + 1) * p));
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds) fsSync.closeSync(fd);
  }
}
