import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import { treeHashes } from './tree-hash.js';

/** A small Boston teacher: a second to sample, enough samples to distill from. */
export const TINY_TEACHER = [
  '--dataset',
  'boston',
  '--burn-in',
  '200',
  '--thin',
  '10',
  '--samples',
  '10',
  '--chains',
  '2',
];

/**
 * A fresh temporary folder with Boston prepared in `datasets/` and the runs folder `checkpoints/` (the
 * environment `env` points bdk at both), after running each of `commands` there successfully.
 */
export async function bostonFolder(prefix: string, commands: string[][] = []) {
  const dir = await tempDir(prefix);
  const runs = path.join(dir, 'checkpoints');
  const env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: runs };
  for (const args of [['data', 'prepare', 'boston'], ...commands]) {
    const r = bdk(args, env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  return { dir, runs, env, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Runs `args`, expects a one-line exit-1 error, and that no file under `root` changed; returns the line. */
export async function expectRefused(
  args: string[],
  env: Record<string, string>,
  root: string,
): Promise<string> {
  const before = await treeHashes(root);
  const r = bdk(args, env);
  expect(r.code, r.stderr).toBe(1);
  const line = expectOneLineError(r);
  expect(await treeHashes(root)).toEqual(before);
  return line;
}
