/**
 * Message framing of a samples file (see `format.ts`): encoding the schema and record-batch messages,
 * reading a message's framing back, and the low-level file I/O both directions share (whole reads and
 * writes, directory sync, a windowed positional reader).
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as A from 'apache-arrow';
import { BufferRegion, FieldNode, RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';
import { UserError } from '../core/errors.js';
import { encodeFloat16 } from '../core/float16.js';
import {
  BUF_CHAIN,
  BUF_LOGLIK,
  BUF_NOISE,
  BUF_STEP,
  BUF_WEIGHTS,
  INT32_MAX,
  INT32_MIN,
  weightBytes,
  type SampleRecord,
  type WeightDtype,
} from './format.js';

const CONTINUATION = 0xffffffff;
/** Upper bound on a message's flatbuffer metadata; ours are a few hundred bytes. */
const MAX_METADATA_BYTES = 64 << 20;
/** Read window for message metadata and small buffers. */
const WINDOW_BYTES = 1 << 16;

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

// ---------------------------------------------------------------------------------------------
// Encoding

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

/** The schema message, framed: the first bytes of every samples file. */
export function encodeSchemaMessage(schema: A.Schema): Uint8Array {
  return frameMetadata(A.Message.encode(A.Message.from(schema)));
}

/** One record batch message, framed: `header` (metadata) and `body`, written back to back. */
export interface EncodedBatch {
  header: Uint8Array;
  body: Uint8Array;
  rows: number;
}

/** Encodes records as one record batch message; copies everything, so callers may reuse their arrays. */
export function encodeBatch(
  records: SampleRecord[],
  parameterCount: number,
  dtype: WeightDtype,
): EncodedBatch {
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

/** Checks records before encoding (weights length P, 32-bit chain and step); throws naming the sample. */
export function checkRecords(records: SampleRecord[], parameterCount: number): void {
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

/** The errno code of a file-system error, if it has one. */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Opens an existing file; a missing file, a directory or no permission becomes a one-line UserError. */
export async function openExisting(file: string, flags: 'r' | 'r+'): Promise<FileHandle> {
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

/** Fills `dest` from file position `pos`, looping over short reads; fails if the file ends first. */
async function readFully(fh: FileHandle, file: string, dest: Uint8Array, pos: number): Promise<void> {
  let done = 0;
  while (done < dest.length) {
    const { bytesRead } = await fh.read(dest, done, dest.length - done, pos + done);
    if (bytesRead === 0) throw new UserError(`${file}: file shrank while it was being read`);
    done += bytesRead;
  }
}

/** Writes all buffers at `pos`, looping over short writes. */
export async function writeFully(fh: FileHandle, buffers: Uint8Array[], pos: number): Promise<void> {
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
export async function syncDir(dir: string): Promise<void> {
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
export class WindowReader {
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
// Reading frames

/** What `readFrame` finds at a position: the end of the readable stream, or one complete message. */
export type Frame =
  | { kind: 'end' } // end of file, end-of-stream marker, or a torn message
  | { kind: 'message'; start: number; bodyStart: number; end: number; message: A.Message };

/**
 * Reads the message framing at `pos`. A message that does not fit in the file is torn: `end`.
 * Returns 'corrupt' (with a reason) when complete bytes do not form a message.
 */
export async function readFrame(
  r: WindowReader,
  pos: number,
): Promise<Frame | { kind: 'corrupt'; why: string }> {
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
