import { promises as fs } from 'node:fs';
import path from 'node:path';
import { checkName, runsDir } from '../core/paths.js';

/** The folder of run `run` under the runs folder. */
export const runPath = (run: string, dir?: string) => path.join(dir ?? runsDir(), checkName('run', run));

/** All samples files of a run (every shard), in chain-offset order. */
export async function runSampleFiles(runDir: string): Promise<string[]> {
  const names = (await fs.readdir(runDir)).filter((f) => /^samples-c\d+\.arrow$/.test(f));
  return names
    .sort((a, b) => Number(a.slice(9, -6)) - Number(b.slice(9, -6)))
    .map((f) => path.join(runDir, f));
}
