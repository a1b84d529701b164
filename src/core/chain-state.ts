/**
 * Resumable sampler state (step counter, RNG states, sample counts, parameters, momenta, …) as one
 * binary file, replaced atomically (temporary file + fsync + rename) on every save.
 *
 * Layout (all integers little-endian):
 *
 *   0   8 bytes   magic 'BDKSTATE'
 *   8   uint32    format version (1)
 *   12  uint32    JSON length J in bytes
 *   16  uint64    total file length in bytes
 *   24  32 bytes  SHA-256 of bytes [0, 24) followed by bytes [56, end)
 *   56  J bytes   UTF-8 JSON { meta: <caller object>, arrays: [{ name, offset, length }] }
 *       padding   zeros up to the next multiple of 8: the start of the blob area
 *       blobs     Float32 data, little-endian; each array starts `offset` bytes into the blob area
 *                 (a multiple of 8) and holds `length` elements
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { UserError } from './errors.js';

const MAGIC = 'BDKSTATE';
export const CHAIN_STATE_VERSION = 1;
const FIXED_HEADER = 56;
const HASH_AT = 24;

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

interface ArrayEntry {
  name: string;
  /** Byte offset of the first element, from the start of the blob area. */
  offset: number;
  /** Number of float32 elements. */
  length: number;
}

export interface ChainState<M = Record<string, unknown>> {
  meta: M;
  arrays: Record<string, Float32Array>;
}

function checksum(buf: Uint8Array): Buffer {
  return createHash('sha256').update(buf.subarray(0, HASH_AT)).update(buf.subarray(FIXED_HEADER)).digest();
}

/** Serializes a chain state; `meta` must be JSON-serializable (no BigInt, no functions). */
export function encodeChainState(meta: object, arrays: Record<string, Float32Array>): Uint8Array {
  const entries: ArrayEntry[] = [];
  let blobBytes = 0;
  for (const [name, a] of Object.entries(arrays)) {
    if (!(a instanceof Float32Array))
      throw new TypeError(`chain state array '${name}' is not a Float32Array`);
    entries.push({ name, offset: blobBytes, length: a.length });
    blobBytes += align8(a.byteLength);
  }
  const json = new TextEncoder().encode(JSON.stringify({ meta, arrays: entries }));
  const blobStart = align8(FIXED_HEADER + json.length);
  const total = blobStart + blobBytes;
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, CHAIN_STATE_VERSION, true);
  dv.setUint32(12, json.length, true);
  dv.setBigUint64(16, BigInt(total), true);
  buf.set(json, FIXED_HEADER);
  for (const e of entries) {
    const a = arrays[e.name];
    buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), blobStart + e.offset);
  }
  buf.set(checksum(buf), HASH_AT);
  return buf;
}

/** Parses a chain state; `file` only names the source in error messages. */
export function decodeChainState<M = Record<string, unknown>>(buf: Uint8Array, file: string): ChainState<M> {
  const corrupt = (why: string) => new UserError(`${file}: corrupt chain-state file (${why})`);
  const magic = new TextDecoder().decode(buf.subarray(0, Math.min(buf.length, MAGIC.length)));
  if (magic !== MAGIC.slice(0, magic.length)) throw new UserError(`${file}: not a bdk chain-state file`);
  if (buf.length < FIXED_HEADER) {
    throw new UserError(
      `${file}: chain-state file is truncated (${buf.length} bytes, header alone is ${FIXED_HEADER})`,
    );
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== CHAIN_STATE_VERSION) {
    throw new UserError(
      `${file}: unsupported chain-state version ${version} (this bdk reads version ${CHAIN_STATE_VERSION})`,
    );
  }
  const total = dv.getBigUint64(16, true);
  if (total > BigInt(buf.length)) {
    throw new UserError(`${file}: chain-state file is truncated (${buf.length} of ${total} bytes)`);
  }
  if (total < BigInt(buf.length)) throw corrupt(`${BigInt(buf.length) - total} unexpected trailing bytes`);
  if (!checksum(buf).equals(buf.subarray(HASH_AT, FIXED_HEADER))) throw corrupt('checksum mismatch');

  // The checksum matched, so what follows can only fail for files written by a buggy writer.
  const jsonLength = dv.getUint32(12, true);
  const blobStart = align8(FIXED_HEADER + jsonLength);
  if (blobStart > buf.length) throw corrupt('JSON length past end of file');
  let parsed: { meta: M; arrays: ArrayEntry[] };
  try {
    parsed = JSON.parse(new TextDecoder().decode(buf.subarray(FIXED_HEADER, FIXED_HEADER + jsonLength)));
  } catch {
    throw corrupt('invalid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || !Array.isArray(parsed.arrays)) {
    throw corrupt('missing array table');
  }
  const arrays: Record<string, Float32Array> = {};
  for (const e of parsed.arrays) {
    const ok =
      e !== null &&
      typeof e === 'object' &&
      typeof e.name === 'string' &&
      Number.isSafeInteger(e.offset) &&
      Number.isSafeInteger(e.length) &&
      e.offset >= 0 &&
      e.offset % 8 === 0 &&
      e.length >= 0 &&
      blobStart + e.offset + e.length * 4 <= buf.length &&
      !Object.hasOwn(arrays, e.name);
    if (!ok) throw corrupt(`bad array entry ${JSON.stringify(e)}`);
    const start = buf.byteOffset + blobStart + e.offset;
    arrays[e.name] = new Float32Array(buf.buffer.slice(start, start + e.length * 4));
  }
  return { meta: parsed.meta, arrays };
}

/** Saves the state atomically: readers (and a crash) see either the previous file or this one. */
export async function saveChainState(
  file: string,
  meta: object,
  arrays: Record<string, Float32Array>,
): Promise<void> {
  await writeFileAtomic(file, encodeChainState(meta, arrays));
  // Make the rename itself durable (best effort: some platforms cannot fsync a directory).
  try {
    const dir = await fs.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // ignore
  }
}

/**
 * Loads a state saved by `saveChainState`, verifying its checksum. `meta` is returned as parsed
 * JSON: validate it before trusting its shape.
 */
export async function loadChainState<M = Record<string, unknown>>(file: string): Promise<ChainState<M>> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${file}: file not found`);
    if (code === 'EISDIR') throw new UserError(`${file}: is a directory, not a chain-state file`);
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(`${file}: permission denied`);
    throw err;
  }
  return decodeChainState<M>(buf, file);
}
