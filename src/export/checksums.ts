import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';

/** The size and SHA-256 (hex) of one file of an export, as its manifest records them. */
export interface FileDigest {
  bytes: number;
  sha256: string;
}

export const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** The digests of the files `names` in `dir` (every file of an export but its manifest). */
export async function fileDigests(dir: string, names: string[]): Promise<Record<string, FileDigest>> {
  const out: Record<string, FileDigest> = {};
  for (const name of names) {
    const data = await fs.readFile(path.join(dir, name));
    out[name] = { bytes: data.byteLength, sha256: sha256Hex(data) };
  }
  return out;
}

/**
 * Checks the files of an export against the digests its manifest records: a missing file, another
 * size (a truncated copy) or another SHA-256 (a damaged or edited one) is a one-line `UserError`
 * naming the file.
 */
export async function verifyFiles(dir: string, files: Record<string, FileDigest>): Promise<void> {
  for (const [name, want] of Object.entries(files)) {
    const file = path.join(dir, name);
    let data: Buffer;
    try {
      data = await fs.readFile(file);
    } catch {
      throw new UserError(`${file}: not found, but the export's manifest lists it; export the model again`);
    }
    if (data.byteLength !== want.bytes)
      throw new UserError(
        `${file}: ${data.byteLength} bytes, the export's manifest records ${want.bytes} (truncated or damaged); export the model again`,
      );
    const got = sha256Hex(data);
    if (got !== want.sha256)
      throw new UserError(
        `${file}: SHA-256 ${got.slice(0, 12)}… differs from the manifest's ${want.sha256.slice(0, 12)}… (the file was changed after export); export the model again`,
      );
  }
}
