import { UserError } from '../core/errors.js';

/**
 * Where an export lives and how its files are read: over `fetch` for a URL (and for any location in
 * a browser), from the file system in Node for a folder path or a `file:` URL. The Node module is
 * imported at run time only, so a browser bundle of the runtime holds no `node:` code.
 */
export interface ExportLocation {
  /** The file's name as errors show it (URL or path). */
  nameOf(file: string): string;
  read(file: string): Promise<Uint8Array>;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const isNode = () =>
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

export function exportLocation(urlOrDir: string | URL): ExportLocation {
  const text = String(urlOrDir);
  if (text === '')
    throw new UserError('loadStudent: expected the URL or folder of an export, got an empty string');
  const base = text.endsWith('/') ? text : text + '/';
  const isUrl = urlOrDir instanceof URL || (SCHEME.test(text) && !/^[a-z]:[\\/]/i.test(text));
  if (isUrl && !text.startsWith('file:')) return fetched(base);
  if (!isNode()) return fetched(base);
  if (isUrl) {
    const url = (file: string) => new URL(file, base);
    return { nameOf: (file) => url(file).href, read: (file) => readLocal(url(file), url(file).href) };
  }
  const sep = /[\\/]$/.test(text) ? '' : '/';
  const at = (file: string) => text + sep + file;
  return { nameOf: at, read: (file) => readLocal(at(file), at(file)) };
}

function fetched(base: string): ExportLocation {
  const at = (file: string) => base + file;
  return {
    nameOf: at,
    async read(file) {
      let res: Response;
      try {
        res = await fetch(at(file));
      } catch (err) {
        throw new UserError(`${at(file)}: could not be fetched (${(err as Error).message})`);
      }
      if (!res.ok) throw new UserError(`${at(file)}: HTTP ${res.status} ${res.statusText}`.trimEnd());
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

async function readLocal(file: string | URL, name: string): Promise<Uint8Array> {
  const fs = await import('node:fs/promises');
  try {
    const b = await fs.readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new UserError(code === 'ENOENT' ? `${name}: file not found` : `${name}: ${(err as Error).message}`);
  }
}
