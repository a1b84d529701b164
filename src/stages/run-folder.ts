import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { pathExists, readJsonOrNull } from '../core/json-file.js';
import { lockRunFolder, type RunFolderLock } from '../core/run-lock.js';
import { checkName, runsDir } from '../core/paths.js';
import { loadDataset, type LoadedDataset } from '../data/store.js';
import { withTargetTransform } from '../data/target-view.js';
import type { SampleConfig } from './sample-config.js';

/** The folder of run `run` under the runs folder. */
export const runPath = (run: string, dir?: string) => path.join(dir ?? runsDir(), checkName('run', run));

/** All samples files of a run (every shard), in chain-offset order. */
export async function runSampleFiles(runDir: string): Promise<string[]> {
  const names = (await fs.readdir(runDir)).filter((f) => /^samples-c\d+\.arrow$/.test(f));
  return names
    .sort((a, b) => Number(a.slice(9, -6)) - Number(b.slice(9, -6)))
    .map((f) => path.join(runDir, f));
}

/** Run folder `run`, locked and checked for a stage whose settings live in `configName` (see `lockRunForStage`). */
export interface CheckedRunFolder<C> {
  runDir: string;
  configPath: string;
  exists: boolean;
  /** The stored settings when resuming, else null. */
  stored: C | null;
  /** The writer's lock on the folder, held until the stage releases it. */
  lock: RunFolderLock;
}

/**
 * Takes the writer's lock of run folder `run` (a second writer is refused, naming the owner), then
 * checks it for a stage: an existing run needs `resume` or `force`, and `resume` needs an existing run.
 * Nothing is removed here; `prepareRunFolder` empties a replaced run once the caller's own checks have
 * passed, so a refused command leaves the old run as it was. The caller releases `lock` when done; on
 * a refusal here it is released already.
 */
export async function lockRunForStage<C>(
  req: { run: string; resume?: boolean; force?: boolean; runsDir?: string },
  configName: string,
): Promise<CheckedRunFolder<C>> {
  const runDir = runPath(req.run, req.runsDir);
  const configPath = path.join(runDir, configName);
  const lock = await lockRunFolder(runDir, `run '${req.run}'`);
  try {
    const exists = await pathExists(configPath);
    if (exists && !req.resume && !req.force)
      throw new UserError(
        `run '${req.run}' already exists at ${runDir}; pass --resume to continue it or --force to replace it`,
      );
    if (!exists && req.resume) throw new UserError(`cannot resume run '${req.run}': ${configPath} not found`);
    const stored = exists && req.resume ? (JSON.parse(await fs.readFile(configPath, 'utf8')) as C) : null;
    return { runDir, configPath, exists, stored, lock };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** Empties the folder (all but its lock) when an existing run is being replaced (`--force`). */
export async function prepareRunFolder(folder: CheckedRunFolder<unknown>, force: boolean | undefined) {
  if (folder.exists && force) await folder.lock.empty();
}

/** A teacher run's folder and stored settings, or a one-line error saying how to make it. */
export async function openTeacherRun(
  teacher: string,
  dir?: string,
): Promise<{ teacherDir: string; teacherConfig: SampleConfig }> {
  const teacherDir = runPath(teacher, dir);
  const teacherConfig = await readJsonOrNull<SampleConfig>(path.join(teacherDir, 'config.json'));
  if (!teacherConfig)
    throw new UserError(
      `teacher run '${teacher}' not found at ${teacherDir} (run \`bdk sample --run ${teacher}\` first)`,
    );
  return { teacherDir, teacherConfig };
}

/**
 * A teacher run's dataset as the run models it: each split's target scaling for the target transform
 * recorded in the run's config (absent: the identity), applied at load (`withTargetTransform`).
 */
export async function loadTeacherDataset(
  run: string,
  config: SampleConfig,
  dataDir?: string,
): Promise<LoadedDataset> {
  const ds = await loadDataset(config.dataset, dataDir);
  return withTargetTransform(ds, config.targetTransform ?? 'none', `teacher run '${run}' target transform`);
}
