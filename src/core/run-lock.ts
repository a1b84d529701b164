import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';
import { trackCreatedFolder, trackTemporary } from './temp-files.js';

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

const inUse = (what: string, owner: { pid: number; host: string }, file: string) =>
  new UserError(
    `${what} is in use by process ${owner.pid} on ${owner.host} (lock ${file}); wait for it or stop it`,
  );

export async function acquireLock(file: string, what: string): Promise<Lock> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fs.open(file, 'wx');
      await fh.writeFile(`${process.pid} ${os.hostname()}\n`);
      await fh.close();
      const untrack = trackTemporary(file); // removed at exit, whatever the path
      return {
        release: async () => {
          untrack();
          await fs.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await lockOwner(file);
      if (owner) throw inUse(what, owner, file);
      await fs.rm(file, { force: true }); // stale
    }
  }
  throw new UserError(`${what}: could not take the lock ${file}`);
}

/** The lock a stage holds on a whole run folder while it writes there (`sample` shards take `.lock-c<k>`). */
export const RUN_LOCK = '.lock';
const isLock = (name: string) => name === RUN_LOCK || /^\.lock-c\d+$/.test(name);

/** Fails when another live process holds one of the locks `names` in `dir` (its owner in the message). */
export async function checkNotLocked(
  dir: string,
  what: string,
  names: (f: string) => boolean,
): Promise<void> {
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!names(f)) continue;
    const owner = await lockOwner(path.join(dir, f));
    if (owner) throw inUse(what, owner, path.join(dir, f));
  }
}

export interface RunFolderLock extends Lock {
  /** Removes everything in the folder but the lock files (what `--force` does before writing). */
  empty(): Promise<void>;
  /** Whether the folder holds anything besides lock files. */
  hasContent(): Promise<boolean>;
}

/**
 * Takes the writer's lock of run folder `dir` (created when missing) before anything in it is read,
 * removed or written, so that a second writer is refused with the owner in the message instead of
 * mixing its files with the first one's. A teacher run whose chains are being sampled (live
 * `.lock-c<k>`) is refused too. Releasing removes the lock, and the folder when this call created it
 * and nothing was written.
 */
export async function lockRunFolder(dir: string, what: string): Promise<RunFolderLock> {
  const created = (await fs.mkdir(dir, { recursive: true })) !== undefined;
  const untrack = created ? trackCreatedFolder(dir) : () => {};
  const dropFolder = async () => {
    untrack();
    if (created) await fs.rmdir(dir).catch(() => {}); // only when nothing was written
  };
  let lock: Lock;
  try {
    lock = await acquireLock(path.join(dir, RUN_LOCK), what);
    await checkNotLocked(dir, what, (f) => f.startsWith('.lock-c')).catch(async (err: unknown) => {
      await lock.release();
      throw err;
    });
  } catch (err) {
    await dropFolder();
    throw err;
  }
  const entries = async () => (await fs.readdir(dir)).filter((f) => !isLock(f));
  return {
    release: async () => {
      await lock.release();
      await dropFolder();
    },
    empty: async () => {
      for (const f of await entries()) await fs.rm(path.join(dir, f), { recursive: true, force: true });
    },
    hasContent: async () => (await entries()).length > 0,
  };
}
