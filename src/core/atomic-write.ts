import { promises as fs } from 'node:fs';
import path from 'node:path';
import { trackTemporary } from './temp-files.js';

/**
 * Writes a file so that readers see either the old content or the whole new content, never a
 * half-written file: write to a temporary sibling, fsync, then rename over the target.
 * On failure (or when the process exits meanwhile) the temporary file is removed and the old file is
 * untouched.
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  const untrack = trackTemporary(tmp);
  try {
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  } finally {
    untrack();
  }
}
