import { promises as fs } from 'node:fs';
import os from 'node:os';
import { UserError } from './errors.js';

/**
 * An exclusive lock file (`O_EXCL` create) holding the owner's pid and host, so two processes never
 * write the same run shard. A lock left by a process that no longer exists on this host (killed with
 * SIGKILL, say) is stale and taken over.
 */
export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live owner of a lock file, or null when there is none or it is stale. */
export async function lockOwner(file: string): Promise<{ pid: number; host: string } | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
  const [pidText, host] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid)) return null;
  if (host !== os.hostname()) return { pid, host }; // cannot check another machine: assume live
  return pid !== process.pid && alive(pid) ? { pid, host } : null;
}

export async function acquireLock(file: string, what: string): Promise<Lock> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fs.open(file, 'wx');
      await fh.writeFile(`${process.pid} ${os.hostname()}\n`);
      await fh.close();
      return { release: () => fs.rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await lockOwner(file);
      if (owner) {
        throw new UserError(
          `${what} is in use by process ${owner.pid} on ${owner.host} (lock ${file}); wait for it or stop it`,
        );
      }
      await fs.rm(file, { force: true }); // stale
    }
  }
  throw new UserError(`${what}: could not take the lock ${file}`);
}
