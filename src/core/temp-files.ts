import { rmdirSync, rmSync } from 'node:fs';

/**
 * Temporary files and folders that are written and then renamed into place. Each is registered while
 * it exists so that an exit on any path (an error, Ctrl-C, a second Ctrl-C's immediate exit) removes
 * it: the CLI calls `removeTemporaryFiles` when the process exits. Lock files are registered too: a
 * process that exits holds nothing.
 */
const pending = new Set<string>();
/** Folders this process created, removed at exit when they are empty (a lock was all they held). */
const folders = new Set<string>();

/** Registers `file` (a file or folder) for removal at exit; the returned function unregisters it. */
export function trackTemporary(file: string): () => void {
  pending.add(file);
  return () => void pending.delete(file);
}

/** Registers a folder to remove at exit if it is empty then; the returned function unregisters it. */
export function trackCreatedFolder(dir: string): () => void {
  folders.add(dir);
  return () => void folders.delete(dir);
}

/** Removes every registered temporary file or folder now (synchronously: it runs in an exit hook). */
export function removeTemporaryFiles(): void {
  for (const file of pending) {
    try {
      rmSync(file, { recursive: true, force: true });
    } catch {
      // best effort: the process is exiting
    }
  }
  for (const dir of folders) {
    try {
      rmdirSync(dir); // fails, as it should, when anything is in it
    } catch {
      // not empty, or gone
    }
  }
  pending.clear();
  folders.clear();
}
