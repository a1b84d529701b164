import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';

/** SHA-256 of every file under `dir`, by path relative to it (a folder's content, to compare before/after). */
export async function treeHashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else
        out[path.relative(dir, p)] = createHash('sha256')
          .update(await fs.readFile(p))
          .digest('hex');
    }
  };
  await walk(dir);
  return out;
}

export const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

/** Waits (polling) until `ready()` holds; fails after about 60 s. */
export async function waitFor(ready: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts the built `bdk` with `args` as a separate process (stdout and stderr collected). */
export function startBdk(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bdk.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exit, output: () => output };
}

/** Stops a child and waits for it (SIGKILL: no state saved, as after a crash). */
export async function stop(child: ChildProcess, exit: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exit;
}
