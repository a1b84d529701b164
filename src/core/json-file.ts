import { promises as fs } from 'node:fs';

/** Parsed JSON of a file, or null when it is missing or unreadable (for "is this step already done?"). */
export async function readJsonOrNull<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Whether a file or folder exists (and is accessible). */
export async function pathExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
