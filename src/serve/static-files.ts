import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Content types of the files a static site (the page of `bdk demo`, an export) is made of. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

export interface StaticFile {
  file: string;
  size: number;
  type: string;
}

/**
 * The file under `root` that a request path names (a folder's `index.html`), or null when there is
 * none: a path that leaves the folder (`..`, encoded or not, or a symbolic link pointing out of it),
 * one that cannot be decoded or holds a NUL byte, and a missing file are all "not found".
 * `root` must be an absolute, real path (no symbolic links in it).
 */
export async function staticFile(root: string, urlPath: string): Promise<StaticFile | null> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (rel.includes('\0')) return null;
  let file = path.join(root, rel);
  if (!inside(root, file)) return null;
  try {
    file = await fs.realpath(file);
    if (!inside(root, file)) return null;
    let stat = await fs.stat(file);
    if (stat.isDirectory()) {
      file = await fs.realpath(path.join(file, 'index.html'));
      if (!inside(root, file)) return null;
      stat = await fs.stat(file);
    }
    if (!stat.isFile()) return null;
    return {
      file,
      size: stat.size,
      type: TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    };
  } catch {
    return null;
  }
}

function inside(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}
