/**
 * Parsing a samples file (see `format.ts`): header and record-batch validation, the list of complete
 * record batches (a torn tail ends it), and copying rows of a batch straight from the file into arrays.
 */
import * as A from 'apache-arrow';
import type { RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';
import { UserError } from '../core/errors.js';
import { decodeFloat16 } from '../core/float16.js';
import {
  BUF_CHAIN,
  BUF_LOGLIK,
  BUF_NOISE,
  BUF_STEP,
  BUF_WEIGHTS,
  BUFFER_COUNT,
  NODE_COUNT,
  SAMPLES_FORMAT,
  SAMPLES_META_KEY,
  SAMPLES_VERSION,
  weightBytes,
  type SamplesMeta,
  type WeightDtype,
} from './format.js';
import { openExisting, readFrame, WindowReader, type Frame } from './frames.js';

/** What the schema message says about a file. */
export interface FileHeader {
  meta: SamplesMeta;
  parameterCount: number;
  weightDtype: WeightDtype;
  /** Offset of the first byte after the schema message. */
  schemaEnd: number;
}

/** One complete record batch: absolute file offsets of its data buffers. */
export interface BatchInfo {
  start: number;
  end: number;
  rows: number;
  chain: number;
  step: number;
  logLikelihood: number;
  noisePrecision: number;
  weights: number;
}

function isInt32(t: A.DataType): boolean {
  return A.DataType.isInt(t) && t.bitWidth === 32 && t.isSigned;
}

function isFloat(t: A.DataType, precision: A.Precision): boolean {
  return A.DataType.isFloat(t) && t.precision === precision;
}

/** Reads and validates the schema message; a file that is not ours, or a damaged header, is a UserError. */
export async function readHeader(r: WindowReader): Promise<FileHeader> {
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

/** Validates one record batch message against the header and locates its buffers in the file. */
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
export async function* batches(r: WindowReader, header: FileHeader): AsyncGenerator<BatchInfo> {
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

/** Runs `fn` on a window reader over `file`, closing the file afterwards. */
export async function withReader<T>(file: string, fn: (r: WindowReader) => Promise<T>): Promise<T> {
  const fh = await openExisting(file, 'r');
  try {
    const { size } = await fh.stat();
    return await fn(new WindowReader(fh, file, size));
  } finally {
    await fh.close();
  }
}

/** A file's header and the list of its complete record batches. */
export interface FullScan {
  header: FileHeader;
  batches: BatchInfo[];
  records: number;
  completeBytes: number;
  fileBytes: number;
}

/** Reads a file's header and lists its complete record batches (a torn tail is ignored). */
export async function scanFile(file: string): Promise<FullScan> {
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

/** Per-sample column arrays that rows are copied into. */
export interface RowTarget {
  chain: Int32Array;
  step: Int32Array;
  logLikelihood: Float64Array;
  noisePrecision: Float64Array;
  weights: Float32Array;
}

/** The bytes of elements [from, from + count) of `a`, for reading straight into it. */
export const bytesOf = (
  a: Int32Array | Float64Array | Float32Array,
  from: number,
  count: number,
): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset + from * a.BYTES_PER_ELEMENT, count * a.BYTES_PER_ELEMENT);

/** Copies rows [first, first + count) of batch `b` into `out` starting at row `at`, as float32. */
export async function readRows(
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

/** Zeroed column arrays for `rows` samples of `p` weights. */
export function allocRows(rows: number, p: number): RowTarget {
  return {
    chain: new Int32Array(rows),
    step: new Int32Array(rows),
    logLikelihood: new Float64Array(rows),
    noisePrecision: new Float64Array(rows),
    weights: new Float32Array(rows * p),
  };
}

/** The shards' common parameter count; a one-line error naming both files when one differs. */
export function commonParameterCount(files: string[], counts: number[]): number {
  const p = counts[0] ?? 0;
  counts.forEach((c, i) => {
    if (c !== p)
      throw new UserError(
        `${files[i]}: has ${c} parameters per sample but ${files[0]} has ${p}; shards of one run must match`,
      );
  });
  return p;
}
