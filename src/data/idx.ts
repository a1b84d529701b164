/**
 * Parser for the IDX format used by MNIST: magic bytes 0x00 0x00 <type code> <number of dimensions>, then one
 * big-endian uint32 per dimension, then the data in row-major order. Only unsigned-byte data (type 0x08) is
 * supported; every problem with the input is reported as a one-line {@link UserError} naming the file.
 */
import { readFile } from 'node:fs/promises';

import { UserError } from '../core/errors.js';

export interface IdxArray {
  /** Dimension sizes from the header, outermost first. */
  shape: number[];
  /** Row-major data: a view into the parsed buffer, not a copy. */
  data: Uint8Array;
}

const UINT8_TYPE = 0x08;

const TYPE_NAMES: Record<number, string> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** Reads and parses an IDX file; see {@link parseIdx}. */
export async function readIdx(file: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw readError(file, err);
  }
  return parseIdx(bytes, file);
}

/**
 * Parses the bytes of an IDX file holding unsigned-byte data. The returned `data` shares memory with `bytes`.
 * `file` is used only in error messages.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new UserError(`${file}: truncated IDX header: expected at least 4 bytes, found ${bytes.length}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gzip =
      bytes[0] === 0x1f && bytes[1] === 0x8b ? '; the file looks gzip-compressed, decompress it first' : '';
    throw new UserError(
      `${file}: not an IDX file: bad magic bytes ${hex(bytes[0])} ${hex(bytes[1])} (expected 0x00 0x00)${gzip}`,
    );
  }
  const type = bytes[2];
  if (type !== UINT8_TYPE) {
    const name = TYPE_NAMES[type] ?? 'unknown';
    throw new UserError(
      `${file}: unsupported IDX data type code ${hex(type)} (${name}): expected ${hex(UINT8_TYPE)} (uint8)`,
    );
  }
  const ndims = bytes[3];
  if (ndims === 0) throw new UserError(`${file}: IDX header declares 0 dimensions (expected at least 1)`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new UserError(
      `${file}: truncated IDX header: expected at least ${headerBytes} bytes, found ${bytes.length}`,
    );
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let expected = 1n;
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    shape.push(size);
    expected *= BigInt(size);
  }
  const found = bytes.length - headerBytes;
  if (BigInt(found) < expected) {
    throw new UserError(
      `${file}: truncated IDX data: header promises ${expected} bytes of data, found ${found}`,
    );
  }
  if (BigInt(found) > expected) {
    throw new UserError(
      `${file}: trailing bytes after IDX data: header promises ${expected} bytes of data, found ${found}`,
    );
  }
  return { shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, found) };
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/** Turns a file-system error from reading `file` into a one-line UserError. */
function readError(file: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new UserError(`${file}: file not found`);
    case 'EISDIR':
      return new UserError(`${file}: is a directory, expected an IDX file`);
    case 'EACCES':
    case 'EPERM':
      return new UserError(`${file}: permission denied`);
    default:
      return new UserError(
        `${file}: cannot read file (${code ?? (err instanceof Error ? err.message : err)})`,
      );
  }
}
