import { UserError } from '../core/errors.js';

/**
 * SHA-256 of a file's bytes as lowercase hex, by the Web Crypto API (`crypto.subtle`, in browsers on
 * secure origins and in Node ≥ 20), so the runtime needs no hashing code of its own.
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle)
    throw new UserError('loadStudent: crypto.subtle is not available (a browser needs https or localhost)');
  // The readers' bytes lie in an ordinary ArrayBuffer (never shared memory), as the DOM's typing asks.
  const digest = new Uint8Array(await subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
