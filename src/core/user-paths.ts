import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * Fails with a one-line error when folder `dir`, given with `flag`, cannot be made because it, or a
 * folder above it, is an existing file (mkdir would fail with EEXIST or ENOTDIR).
 */
export async function checkFolderTarget(dir: string, flag: string): Promise<void> {
  for (let p = dir; ; p = path.dirname(p)) {
    const stat = await fs.stat(p).catch(() => null);
    if (stat) {
      if (stat.isDirectory()) return;
      const what = p === dir ? `${dir} is a file, not a folder` : `${dir}: ${p} is a file, not a folder`;
      throw new UserError(`${what}; choose another ${flag}`);
    }
    if (path.dirname(p) === p) return;
  }
}

/** Fails with a one-line error when output file `file`, given with `flag`, is an existing folder. */
export async function checkFileTarget(file: string, flag: string): Promise<void> {
  const stat = await fs.stat(file).catch(() => null);
  if (stat?.isDirectory()) throw new UserError(`${file} is a folder, not a file; choose another ${flag}`);
  await checkFolderTarget(path.dirname(file), flag);
}
