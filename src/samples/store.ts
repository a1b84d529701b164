/**
 * Posterior samples on disk, as an Arrow IPC *stream* that grows while the sampler runs.
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
 * Crash safety: the schema is written to a temporary file and hard-linked into place, so a samples
 * file never exists without a complete header. Each append is one `writev` followed by `fdatasync`,
 * so a SIGKILL at any moment leaves at most one torn message at the end of the file. Readers parse the
 * framing themselves and ignore a torn tail; `SampleWriter.openForAppend` cuts the file back to the
 * number of samples the resumed chain state accounts for.
 *
 * Reading never loads a whole file: message metadata is read through a small window and the column
 * buffers are read straight from their file positions into the output arrays.
 */
import fsSync, { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import { BufferRegion, FieldNode, RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';
import { UserError } from '../core/errors.js';
import { decodeFloat16, encodeFloat16 } from '../core/float16.js';

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

const CONTINUATION = 0xffffffff;
/** Upper bound on a message's flatbuffer metadata; ours are a few hundred bytes. */
const MAX_METADATA_BYTES = 64 << 20;
/** Read window for message metadata and small buffers. */
const WINDOW_BYTES = 1 << 16;
/** Default size of the chunks `readSamples` yields. */
const DEFAULT_CHUNK_BYTES = 32 << 20;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

// Buffer order of a record batch for our schema (depth-first, validity buffer before data buffer):
// chain, step, logLikelihood, noisePrecision, weights (validity only), weights.item.
const BUF_CHAIN = 1;
const BUF_STEP = 3;
const BUF_LOGLIK = 5;
const BUF_NOISE = 7;
const BUF_WEIGHTS = 10;
const BUFFER_COUNT = 11;
const NODE_COUNT = 6;

// ---------------------------------------------------------------------------------------------
// Encoding

function makeSchema(parameterCount: number, meta: SamplesMeta, dtype: WeightDtype): A.Schema {
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

/** Prefix (continuation marker + length) and padding around encoded flatbuffer metadata. */
function frameMetadata(metadata: Uint8Array): Uint8Array {
  const total = align8(8 + metadata.length);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, CONTINUATION, true);
  dv.setInt32(4, total - 8, true);
  out.set(metadata, 8);
  return out;
}

function encodeSchemaMessage(schema: A.Schema): Uint8Array {
  return frameMetadata(A.Message.encode(A.Message.from(schema)));
}

interface EncodedBatch {
  header: Uint8Array;
  body: Uint8Array;
  rows: number;
}

/** Encodes records as one record batch message; copies everything, so callers may reuse their arrays. */
function encodeBatch(records: SampleRecord[], parameterCount: number, dtype: WeightDtype): EncodedBatch {
  const n = records.length;
  const sizes = [0, n * 4, 0, n * 4, 0, n * 8, 0, n * 8, 0, 0, n * parameterCount * weightBytes(dtype)];
  let offset = 0;
  const regions = sizes.map((size) => {
    const region = new BufferRegion(offset, size);
    offset += align8(size);
    return region;
  });
  const bodyLength = offset;
  const body = new Uint8Array(bodyLength);
  const chain = new Int32Array(body.buffer, regions[BUF_CHAIN].offset, n);
  const step = new Int32Array(body.buffer, regions[BUF_STEP].offset, n);
  const logLik = new Float64Array(body.buffer, regions[BUF_LOGLIK].offset, n);
  const noise = new Float64Array(body.buffer, regions[BUF_NOISE].offset, n);
  const weights =
    dtype === 'float16'
      ? new Uint16Array(body.buffer, regions[BUF_WEIGHTS].offset, n * parameterCount)
      : new Float32Array(body.buffer, regions[BUF_WEIGHTS].offset, n * parameterCount);
  for (let i = 0; i < n; i++) {
    const r = records[i];
    chain[i] = r.chain;
    step[i] = r.step;
    logLik[i] = r.logLikelihood;
    noise[i] = r.noisePrecision;
    if (weights instanceof Uint16Array) weights.set(encodeFloat16(r.weights), i * parameterCount);
    else weights.set(r.weights, i * parameterCount);
  }
  const nodes = [
    new FieldNode(n, 0),
    new FieldNode(n, 0),
    new FieldNode(n, 0),
    new FieldNode(n, 0),
    new FieldNode(n, 0),
    new FieldNode(n * parameterCount, 0),
  ];
  const message = A.Message.from(new RecordBatchHeader(n, nodes, regions, null), bodyLength);
  return { header: frameMetadata(A.Message.encode(message)), body, rows: n };
}

function checkRecords(records: SampleRecord[], parameterCount: number): void {
  records.forEach((r, i) => {
    if (!(r.weights instanceof Float32Array) || r.weights.length !== parameterCount) {
      throw new RangeError(
        `sample ${i}: weights must be a Float32Array of length ${parameterCount}, got ${
          r.weights instanceof Float32Array ? `length ${r.weights.length}` : typeof r.weights
        }`,
      );
    }
    for (const key of ['chain', 'step'] as const) {
      const v = r[key];
      if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
        throw new RangeError(`sample ${i}: ${key} must be a 32-bit integer, got ${v}`);
      }
    }
    for (const key of ['logLikelihood', 'noisePrecision'] as const) {
      if (typeof r[key] !== 'number') {
        throw new TypeError(`sample ${i}: ${key} must be a number, got ${typeof r[key]}`);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Low-level file I/O

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

async function openExisting(file: string, flags: 'r' | 'r+'): Promise<FileHandle> {
  try {
    return await fs.open(file, flags);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') throw new UserError(`${file}: file not found`);
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, not a samples file`);
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${file}: permission denied`);
    throw err;
  }
}

async function readFully(fh: FileHandle, file: string, dest: Uint8Array, pos: number): Promise<void> {
  let done = 0;
  while (done < dest.length) {
    const { bytesRead } = await fh.read(dest, done, dest.length - done, pos + done);
    if (bytesRead === 0) throw new UserError(`${file}: file shrank while it was being read`);
    done += bytesRead;
  }
}

/** Writes all buffers at `pos`, looping over short writes. */
async function writeFully(fh: FileHandle, buffers: Uint8Array[], pos: number): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest, pos);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    pos += bytesWritten;
    while (rest.length > 0 && bytesWritten >= rest[0].length) {
      bytesWritten -= rest[0].length;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [rest[0].subarray(bytesWritten), ...rest.slice(1)];
  }
}

/** Makes a new or renamed directory entry durable (best effort: not every file system allows it). */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // ignore: directory fsync is unsupported on some platforms
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Positional reads through a small window, so scanning many small messages costs few syscalls. */
class WindowReader {
  private win = new Uint8Array(0);
  private winPos = 0;

  constructor(
    readonly fh: FileHandle,
    readonly file: string,
    readonly size: number,
  ) {}

  /** `len` bytes at `pos`, or null when the file ends first. Never mutated after being returned. */
  async bytes(pos: number, len: number): Promise<Uint8Array | null> {
    if (pos + len > this.size) return null;
    if (pos >= this.winPos && pos + len <= this.winPos + this.win.length) {
      return this.win.subarray(pos - this.winPos, pos - this.winPos + len);
    }
    const want = Math.min(Math.max(len, WINDOW_BYTES), this.size - pos);
    const win = new Uint8Array(want);
    await readFully(this.fh, this.file, win, pos);
    this.win = win;
    this.winPos = pos;
    return win.subarray(0, len);
  }

  /** Fills `dest` from `pos`: large ranges go straight from the file into `dest`. */
  async readInto(dest: Uint8Array, pos: number): Promise<void> {
    if (dest.length === 0) return;
    if (dest.length <= WINDOW_BYTES) {
      const src = await this.bytes(pos, dest.length);
      if (!src) throw new UserError(`${this.file}: file shrank while it was being read`);
      dest.set(src);
    } else {
      await readFully(this.fh, this.file, dest, pos);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

interface FileHeader {
  meta: SamplesMeta;
  parameterCount: number;
  weightDtype: WeightDtype;
  /** Offset of the first byte after the schema message. */
  schemaEnd: number;
}

/** One complete record batch: absolute file offsets of its data buffers. */
interface BatchInfo {
  start: number;
  end: number;
  rows: number;
  chain: number;
  step: number;
  logLikelihood: number;
  noisePrecision: number;
  weights: number;
}

type Frame =
  | { kind: 'end' } // end of file, end-of-stream marker, or a torn message
  | { kind: 'message'; start: number; bodyStart: number; end: number; message: A.Message };

/**
 * Reads the message framing at `pos`. A message that does not fit in the file is torn: `end`.
 * Returns 'corrupt' (with a reason) when complete bytes do not form a message.
 */
async function readFrame(r: WindowReader, pos: number): Promise<Frame | { kind: 'corrupt'; why: string }> {
  const remaining = r.size - pos;
  if (remaining <= 0) return { kind: 'end' };
  const first = await r.bytes(pos, Math.min(remaining, 8));
  if (!first) return { kind: 'end' };
  const dv = new DataView(first.buffer, first.byteOffset, first.byteLength);
  if (first.length < 4) return { kind: 'end' };
  let metaLen: number;
  let metaStart: number;
  if (dv.getUint32(0, true) === CONTINUATION) {
    if (first.length < 8) return { kind: 'end' };
    metaLen = dv.getInt32(4, true);
    metaStart = pos + 8;
  } else {
    // Pre-1.0 framing without the continuation marker.
    metaLen = dv.getInt32(0, true);
    metaStart = pos + 4;
  }
  if (metaLen === 0) return { kind: 'end' }; // end-of-stream marker (or zero-filled tail)
  if (metaLen < 0 || metaLen > MAX_METADATA_BYTES) {
    return { kind: 'corrupt', why: `invalid message length ${metaLen}` };
  }
  const metadata = await r.bytes(metaStart, metaLen);
  if (!metadata) return { kind: 'end' };
  let message: A.Message;
  try {
    message = A.Message.decode(metadata);
  } catch {
    return { kind: 'corrupt', why: 'undecodable message metadata' };
  }
  const bodyLength = message.bodyLength;
  if (!Number.isSafeInteger(bodyLength) || bodyLength < 0) {
    return { kind: 'corrupt', why: `invalid body length ${bodyLength}` };
  }
  const bodyStart = metaStart + metaLen;
  const end = bodyStart + bodyLength;
  if (end > r.size) return { kind: 'end' };
  return { kind: 'message', start: pos, bodyStart, end, message };
}

function isInt32(t: A.DataType): boolean {
  return A.DataType.isInt(t) && t.bitWidth === 32 && t.isSigned;
}

function isFloat(t: A.DataType, precision: A.Precision): boolean {
  return A.DataType.isFloat(t) && t.precision === precision;
}

async function readHeader(r: WindowReader): Promise<FileHeader> {
  const file = r.file;
  const notSamples = (why: string) => new UserError(`${file}: not a bdk samples file (${why})`);
  const corrupt = (why: string) => new UserError(`${file}: corrupt samples file header (${why})`);

  if (r.size === 0) throw corrupt('file is empty');
  const head = (await r.bytes(0, Math.min(r.size, 8)))!;
  const marker = [0xff, 0xff, 0xff, 0xff];
  const markerPrefix = head.subarray(0, 4).every((b, i) => b === marker[i]);
  if (!markerPrefix) {
    const text = new TextDecoder().decode(head.subarray(0, 6));
    throw notSamples(
      text === 'ARROW1' ? 'Arrow IPC file format, expected the stream format' : 'not an Arrow IPC stream',
    );
  }
  const frame = await readFrame(r, 0);
  if (frame.kind === 'end') throw corrupt('schema message is truncated');
  if (frame.kind === 'corrupt') throw corrupt(frame.why);
  const msg = frame.message;
  if (!msg.isSchema()) throw notSamples('first message is not a schema');
  let schema: A.Schema;
  try {
    schema = msg.header();
  } catch {
    throw corrupt('undecodable schema');
  }
  const raw = schema.metadata.get(SAMPLES_META_KEY);
  if (raw === undefined) throw notSamples(`no '${SAMPLES_META_KEY}' schema metadata`);
  let meta: SamplesMeta;
  try {
    meta = JSON.parse(raw) as SamplesMeta;
  } catch {
    throw corrupt(`'${SAMPLES_META_KEY}' metadata is not valid JSON`);
  }
  if (meta === null || typeof meta !== 'object' || meta.format !== SAMPLES_FORMAT) {
    throw notSamples(`format is not '${SAMPLES_FORMAT}'`);
  }
  if (meta.version !== SAMPLES_VERSION) {
    throw new UserError(
      `${file}: unsupported samples file version ${String(meta.version)} (this bdk reads version ${SAMPLES_VERSION})`,
    );
  }
  const p = meta.parameterCount;
  if (!Number.isSafeInteger(p) || p <= 0) throw corrupt(`invalid parameterCount ${String(p)}`);

  const types = new Map(schema.fields.map((f) => [f.name, f.type as A.DataType]));
  const weightsType = types.get('weights');
  const weightDtype: WeightDtype =
    weightsType &&
    A.DataType.isFixedSizeList(weightsType) &&
    isFloat(weightsType.children[0].type as A.DataType, A.Precision.HALF)
      ? 'float16'
      : 'float32';
  const weightPrecision = weightDtype === 'float16' ? A.Precision.HALF : A.Precision.SINGLE;
  const expect: [string, (t: A.DataType) => boolean, string][] = [
    ['chain', isInt32, 'Int32'],
    ['step', isInt32, 'Int32'],
    ['logLikelihood', (t) => isFloat(t, A.Precision.DOUBLE), 'Float64'],
    ['noisePrecision', (t) => isFloat(t, A.Precision.DOUBLE), 'Float64'],
    [
      'weights',
      (t) =>
        A.DataType.isFixedSizeList(t) &&
        t.listSize === p &&
        isFloat(t.children[0].type as A.DataType, weightPrecision),
      `FixedSizeList<Float32 or Float16>[${p}]`,
    ],
  ];
  const names = schema.fields.map((f) => f.name).join(',');
  if (names !== expect.map((e) => e[0]).join(',')) {
    throw corrupt(`unexpected columns [${names}]`);
  }
  for (const [name, ok, label] of expect) {
    if (!ok(types.get(name)!)) throw corrupt(`column '${name}' is not ${label}`);
  }
  return { meta, parameterCount: p, weightDtype, schemaEnd: frame.end };
}

function batchInfo(
  file: string,
  frame: Extract<Frame, { kind: 'message' }>,
  p: number,
  dtype: WeightDtype,
): BatchInfo {
  const at = `at byte ${frame.start}`;
  const corrupt = (why: string) => new UserError(`${file}: corrupt samples file (${why} ${at})`);
  const msg = frame.message;
  if (msg.isSchema()) throw corrupt('unexpected second schema message (concatenated files?)');
  if (!msg.isRecordBatch()) throw corrupt(`unexpected message type ${msg.headerType}`);
  let header: RecordBatchHeader;
  try {
    header = msg.header();
  } catch {
    throw corrupt('undecodable record batch');
  }
  if (header.compression) throw corrupt('compressed record batches are not supported');
  const rows = header.length;
  const { nodes, buffers } = header;
  if (nodes.length !== NODE_COUNT || buffers.length !== BUFFER_COUNT) {
    throw corrupt(`record batch has ${nodes.length} field nodes and ${buffers.length} buffers`);
  }
  nodes.forEach((node, i) => {
    const want = i === NODE_COUNT - 1 ? rows * p : rows;
    if (node.length !== want) throw corrupt(`field node ${i} has length ${node.length}, expected ${want}`);
    if (node.nullCount !== 0) throw corrupt('null values');
  });
  const bodyLength = frame.end - frame.bodyStart;
  for (const b of buffers) {
    if (b.offset < 0 || b.length < 0 || b.offset + b.length > bodyLength) {
      throw corrupt('buffer outside the message body');
    }
  }
  const need: [number, number][] = [
    [BUF_CHAIN, rows * 4],
    [BUF_STEP, rows * 4],
    [BUF_LOGLIK, rows * 8],
    [BUF_NOISE, rows * 8],
    [BUF_WEIGHTS, rows * p * weightBytes(dtype)],
  ];
  for (const [i, bytes] of need) {
    if (buffers[i].length < bytes) throw corrupt(`buffer ${i} is too short`);
  }
  const abs = (i: number) => frame.bodyStart + buffers[i].offset;
  return {
    start: frame.start,
    end: frame.end,
    rows,
    chain: abs(BUF_CHAIN),
    step: abs(BUF_STEP),
    logLikelihood: abs(BUF_LOGLIK),
    noisePrecision: abs(BUF_NOISE),
    weights: abs(BUF_WEIGHTS),
  };
}

/** Complete record batches of a file, in order; stops at a torn tail or end-of-stream marker. */
async function* batches(r: WindowReader, header: FileHeader): AsyncGenerator<BatchInfo> {
  let pos = header.schemaEnd;
  for (;;) {
    const frame = await readFrame(r, pos);
    if (frame.kind === 'end') return;
    if (frame.kind === 'corrupt') {
      throw new UserError(`${r.file}: corrupt samples file (${frame.why} at byte ${pos})`);
    }
    yield batchInfo(r.file, frame, header.parameterCount, header.weightDtype);
    pos = frame.end;
  }
}

async function withReader<T>(file: string, fn: (r: WindowReader) => Promise<T>): Promise<T> {
  const fh = await openExisting(file, 'r');
  try {
    const { size } = await fh.stat();
    return await fn(new WindowReader(fh, file, size));
  } finally {
    await fh.close();
  }
}

interface FullScan {
  header: FileHeader;
  batches: BatchInfo[];
  records: number;
  completeBytes: number;
  fileBytes: number;
}

async function scanFile(file: string): Promise<FullScan> {
  return withReader(file, async (r) => {
    const header = await readHeader(r);
    const list: BatchInfo[] = [];
    let records = 0;
    let completeBytes = header.schemaEnd;
    for await (const b of batches(r, header)) {
      list.push(b);
      records += b.rows;
      completeBytes = b.end;
    }
    return { header, batches: list, records, completeBytes, fileBytes: r.size };
  });
}

interface RowTarget {
  chain: Int32Array;
  step: Int32Array;
  logLikelihood: Float64Array;
  noisePrecision: Float64Array;
  weights: Float32Array;
}

const bytesOf = (a: Int32Array | Float64Array | Float32Array, from: number, count: number): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset + from * a.BYTES_PER_ELEMENT, count * a.BYTES_PER_ELEMENT);

/** Copies rows [first, first + count) of batch `b` into `out` starting at row `at`, as float32. */
async function readRows(
  r: WindowReader,
  b: BatchInfo,
  p: number,
  dtype: WeightDtype,
  first: number,
  count: number,
  out: RowTarget,
  at: number,
): Promise<void> {
  await r.readInto(bytesOf(out.chain, at, count), b.chain + first * 4);
  await r.readInto(bytesOf(out.step, at, count), b.step + first * 4);
  await r.readInto(bytesOf(out.logLikelihood, at, count), b.logLikelihood + first * 8);
  await r.readInto(bytesOf(out.noisePrecision, at, count), b.noisePrecision + first * 8);
  if (dtype === 'float16') {
    const half = new Uint16Array(count * p);
    await r.readInto(new Uint8Array(half.buffer), b.weights + first * p * 2);
    decodeFloat16(half, out.weights.subarray(at * p, (at + count) * p));
  } else {
    await r.readInto(bytesOf(out.weights, at * p, count * p), b.weights + first * p * 4);
  }
}

function allocRows(rows: number, p: number): RowTarget {
  return {
    chain: new Int32Array(rows),
    step: new Int32Array(rows),
    logLikelihood: new Float64Array(rows),
    noisePrecision: new Float64Array(rows),
    weights: new Float32Array(rows * p),
  };
}

/** The shards' common parameter count; a one-line error naming both files when one differs. */
function commonParameterCount(files: string[], counts: number[]): number {
  const p = counts[0] ?? 0;
  counts.forEach((c, i) => {
    if (c !== p)
      throw new UserError(
        `${files[i]}: has ${c} parameters per sample but ${files[0]} has ${p}; shards of one run must match`,
      );
  });
  return p;
}

// ---------------------------------------------------------------------------------------------
// Public API

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

/**
 * Streams the samples of several shard files, in file order, as chunks of at most `batchRecords`
 * rows (default: about 32 MiB of weights per chunk). All files must have the same parameter count.
 * Torn tails are ignored. Never holds more than one chunk (plus a 64 KiB read window) in memory.
 */
export async function* readSamples(
  files: string[],
  opts: { batchRecords?: number } = {},
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
      for await (const b of batches(r, header)) {
        let done = 0;
        while (done < b.rows) {
          const n = Math.min(b.rows - done, chunkRows - filled);
          await readRows(r, b, p, header.weightDtype, done, n, out, filled);
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

/** Every sample of the given shards in one set of arrays (convenience for small runs and tests). */
export async function readAllSamples(files: string[]): Promise<SampleBatch> {
  let total = 0;
  let p = 0;
  for (const file of files) {
    const s = await scanSamples(file);
    total += s.records;
    p ||= s.parameterCount;
  }
  const chunks: SampleBatch[] = [];
  for await (const chunk of readSamples(files, { batchRecords: Math.max(1, total) })) chunks.push(chunk);
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

/**
 * Appends groups of samples to a samples file; each `append` is durable (fdatasync) when it resolves.
 * Appends are serialized, so callers may fire several without awaiting each.
 */
export class SampleWriter {
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown = undefined;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    readonly parameterCount: number,
    readonly weightDtype: WeightDtype,
    readonly meta: SamplesMeta,
    private offset: number,
    private count: number,
  ) {}

  /** Number of samples in the file, counting appends that have resolved. */
  get records(): number {
    return this.count;
  }

  /**
   * Creates a new samples file holding only the schema. Fails with a UserError if `file` exists.
   * `weightDtype: 'float16'` stores the weights at half precision (rounded to nearest even).
   */
  static async create(
    file: string,
    parameterCount: number,
    meta: Record<string, unknown> = {},
    opts: { weightDtype?: WeightDtype } = {},
  ): Promise<SampleWriter> {
    const weightDtype = opts.weightDtype ?? 'float32';
    if (!WEIGHT_DTYPES.includes(weightDtype)) {
      throw new RangeError(`weightDtype must be float32 or float16, got ${String(weightDtype)}`);
    }
    if (!Number.isSafeInteger(parameterCount) || parameterCount <= 0 || parameterCount > INT32_MAX) {
      throw new RangeError(`parameterCount must be a positive 32-bit integer, got ${parameterCount}`);
    }
    const fullMeta: SamplesMeta = {
      ...meta,
      format: SAMPLES_FORMAT,
      version: SAMPLES_VERSION,
      parameterCount,
    };
    const schemaBytes = encodeSchemaMessage(makeSchema(parameterCount, fullMeta, weightDtype));
    const exists = () => new UserError(`${file}: already exists; refusing to overwrite samples`);
    if (
      await fs.lstat(file).then(
        () => true,
        () => false,
      )
    ) {
      throw exists();
    }
    const dir = path.dirname(file);
    await fs.mkdir(dir, { recursive: true });

    // Write the header to a temporary file and hard-link it into place: the samples file never
    // exists without its complete schema, and linking fails atomically if the file appeared meanwhile.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      const t = await fs.open(tmp, 'wx');
      try {
        await writeFully(t, [schemaBytes], 0);
        await t.datasync();
      } finally {
        await t.close();
      }
      try {
        await fs.link(tmp, file);
      } catch (err) {
        const code = errCode(err);
        if (code === 'EEXIST') throw exists();
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
        // File systems without hard links: exclusive create, then write in place.
        const f = await fs.open(file, 'wx').catch((e: unknown) => {
          throw errCode(e) === 'EEXIST' ? exists() : e;
        });
        try {
          await writeFully(f, [schemaBytes], 0);
          await f.datasync();
        } finally {
          await f.close();
        }
      }
    } finally {
      await fs.rm(tmp, { force: true });
    }
    await syncDir(dir);
    const fh = await openExisting(file, 'r+');
    return new SampleWriter(file, fh, parameterCount, weightDtype, fullMeta, schemaBytes.length, 0);
  }

  /**
   * Opens an existing samples file to continue a run: validates it, cuts it back to exactly its first
   * `keepRecords` complete samples (dropping samples drawn after the last saved chain state, and any
   * torn tail), and positions the writer after them. Fails with a UserError if fewer exist.
   */
  static async openForAppend(file: string, keepRecords: number): Promise<SampleWriter> {
    if (!Number.isSafeInteger(keepRecords) || keepRecords < 0) {
      throw new RangeError(`keepRecords must be a non-negative integer, got ${keepRecords}`);
    }
    const scan = await scanFile(file);
    const { header } = scan;
    const p = header.parameterCount;
    if (scan.records < keepRecords) {
      throw new UserError(
        `${file}: holds ${scan.records} complete samples, but the chain state accounts for ${keepRecords}; the samples file does not belong to this state`,
      );
    }
    // Find where the first keepRecords samples end.
    let cut = header.schemaEnd;
    let counted = 0;
    let split: { batch: BatchInfo; rows: number } | undefined;
    for (const b of scan.batches) {
      if (counted === keepRecords) break;
      if (counted + b.rows <= keepRecords) {
        counted += b.rows;
        cut = b.end;
      } else {
        split = { batch: b, rows: keepRecords - counted };
        break;
      }
    }

    if (split) {
      // The cut falls inside a record batch: rebuild the file as a copy holding the kept prefix plus
      // the kept rows of that batch, then rename it over the original, so a crash here loses nothing.
      const { batch, rows } = split;
      const kept = allocRows(rows, p);
      await withReader(file, (r) => readRows(r, batch, p, header.weightDtype, 0, rows, kept, 0));
      const records: SampleRecord[] = [];
      for (let i = 0; i < rows; i++) {
        records.push({
          chain: kept.chain[i],
          step: kept.step[i],
          logLikelihood: kept.logLikelihood[i],
          noisePrecision: kept.noisePrecision[i],
          weights: kept.weights.subarray(i * p, (i + 1) * p),
        });
      }
      const enc = encodeBatch(records, p, header.weightDtype); // half → float32 → half is exact
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      try {
        await fs.copyFile(file, tmp);
        const t = await fs.open(tmp, 'r+');
        try {
          await t.truncate(batch.start);
          await writeFully(t, [enc.header, enc.body], batch.start);
          await t.sync();
        } finally {
          await t.close();
        }
        await fs.rename(tmp, file);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      }
      await syncDir(path.dirname(file));
      cut = batch.start + enc.header.length + enc.body.length;
    }

    const fh = await openExisting(file, 'r+');
    try {
      const { size } = await fh.stat();
      if (size !== cut) {
        await fh.truncate(cut);
        await fh.sync();
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new SampleWriter(file, fh, p, header.weightDtype, header.meta, cut, keepRecords);
  }

  /**
   * Appends the records as one record batch, durable (written and fdatasync'ed) when the promise
   * resolves. The records are copied synchronously, so their arrays may be reused right away.
   */
  append(records: SampleRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file}: sample writer is closed`));
    if (records.length === 0) return this.queue;
    checkRecords(records, this.parameterCount);
    const enc = encodeBatch(records, this.parameterCount, this.weightDtype);
    const run = this.queue.then(() => this.write(enc));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(enc: EncodedBatch): Promise<void> {
    if (this.failure !== undefined) {
      throw new Error(`${this.file}: an earlier append failed, refusing to append more`, {
        cause: this.failure,
      });
    }
    const start = this.offset;
    try {
      await writeFully(this.fh, [enc.header, enc.body], start);
      await this.fh.datasync();
    } catch (err) {
      this.failure = err;
      // Drop the partial message so the file stays clean; readers would ignore it anyway.
      await this.fh.truncate(start).catch(() => undefined);
      throw err;
    }
    this.offset = start + enc.header.length + enc.body.length;
    this.count += enc.rows;
  }

  /** Waits for pending appends, then closes the file. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.queue;
    } finally {
      await this.fh.close();
    }
  }
}
