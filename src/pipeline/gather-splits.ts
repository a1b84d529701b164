/**
 * `bdk gather --pipeline FILE`: collects the per-split runs that array jobs wrote into their own runs
 * folders (`bdk run FILE --splits k`, one folder per array index, no shared filesystem needed while
 * they run) into this runs folder, so that `bdk run FILE` finds every split's teacher, search and
 * student complete and goes on with evaluate and export (docs/scale.md).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import { UserError } from '../core/errors.js';
import { pathExists } from '../core/json-file.js';
import { openCompleteTeacher } from '../stages/teacher-check.js';
import { runsDir } from '../core/paths.js';
import type { PipelineConfig } from './schema.js';
import { pipelineStudentRun } from './front-splits.js';
import { teacherRun } from './split-run.js';

export interface GatherSplitsOptions {
  /** Runs folders of the array jobs (each `BDK_RUNS_DIR` of one index). */
  shards: string[];
  /** This runs folder (default `BDK_RUNS_DIR` or `./checkpoints`). */
  runsDir?: string;
  /** Replace runs of the same name already here. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface GatheredSplits {
  /** Per split, the shard folder it came from and the run folders copied. */
  splits: { split: number; shard: string; runs: string[] }[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Lock files of a process that wrote the shard: never copied. */
const isLock = (name: string) => name === '.lock' || name.startsWith('.lock-');

/** Copies each split's runs from the shard folders; checks them complete and from one shard each. */
export async function gatherSplits(config: PipelineConfig, o: GatherSplitsOptions): Promise<GatheredSplits> {
  if (o.shards.length === 0) throw new UserError('gather: give at least one shard runs folder');
  const pattern = new RegExp(`^${escape(config.name)}-s(\\d+)-`);
  const found = new Map<number, { shard: string; runs: string[] }>();
  for (const shard of o.shards) {
    const names = await fs.readdir(shard).catch(() => {
      throw new UserError(`${shard}: not a folder`);
    });
    for (const name of names.sort()) {
      const m = pattern.exec(name);
      if (!m || !(await fs.stat(path.join(shard, name))).isDirectory()) continue;
      const k = Number(m[1]);
      const seen = found.get(k);
      if (seen && seen.shard !== shard)
        throw new UserError(
          `split ${k} of pipeline '${config.name}' is in two shards, ${seen.shard} and ${shard} (each array index runs its own splits)`,
        );
      if (seen) seen.runs.push(name);
      else found.set(k, { shard, runs: [name] });
    }
  }
  if (found.size === 0)
    throw new UserError(
      `no runs of pipeline '${config.name}' in ${o.shards.join(', ')} (expected folders named ${config.name}-s<k>-…)`,
    );
  const use = config.dataset.use;
  const splits = [...found.keys()].sort((a, b) => a - b);
  if (use !== 'all') {
    const extra = splits.filter((k) => !use.includes(k));
    if (extra.length)
      throw new UserError(
        `${found.get(extra[0])!.shard}: holds split ${extra[0]}, which pipeline '${config.name}' does not use (${use.join(', ')})`,
      );
  }
  for (const k of splits) await checkSplitComplete(config, k, found.get(k)!.shard);
  const here = path.resolve(o.runsDir ?? runsDir());
  for (const k of splits) {
    for (const name of found.get(k)!.runs) {
      const to = path.join(here, name);
      if ((await pathExists(to)) && !o.force)
        throw new UserError(`run '${name}' already exists at ${to}; pass --force to replace it`);
    }
  }
  await fs.mkdir(here, { recursive: true });
  const out: GatheredSplits = { splits: [] };
  for (const k of splits) {
    const { shard, runs } = found.get(k)!;
    for (const name of runs) {
      const to = path.join(here, name);
      await fs.rm(to, { recursive: true, force: true });
      await fs.cp(path.join(shard, name), to, {
        recursive: true,
        filter: (src) => !isLock(path.basename(src)),
      });
    }
    for (const name of runs) await relocate(path.join(here, name), here, runs);
    o.log?.(`split ${k}: ${runs.length} run${runs.length > 1 ? 's' : ''} from ${shard}`);
    out.splits.push({ split: k, shard, runs });
  }
  return out;
}

/** Split k's teacher complete (sizes, SHA-256) and its student finished, in shard folder `shard`. */
async function checkSplitComplete(config: PipelineConfig, k: number, shard: string): Promise<void> {
  const fail = (why: string) => {
    throw new UserError(`${shard}: split ${k} is not finished: ${why}`);
  };
  if (config.teacher) {
    const teacher = teacherRun(config.name, k);
    if (!(await pathExists(path.join(shard, teacher)))) fail(`no teacher run ${teacher}`);
    await openCompleteTeacher(teacher, { runsDir: shard }).catch((err: unknown) => {
      if (err instanceof UserError) fail(err.message);
      throw err;
    });
  }
  if (config.distillation) {
    const student = await pipelineStudentRun(config, k, shard).catch((err: unknown) => {
      if (err instanceof UserError) fail(err.message);
      throw err;
    });
    if (!(await pathExists(path.join(shard, student!, 'student.json'))))
      fail(`its student ${student} has no student.json (run the array job for it again)`);
  }
}

/**
 * A student run records where its architecture and warm-start weights were (`arch`, `initialWeights`
 * in `distill-config.json`): paths into the shard's runs folder. They are rewritten to the same runs
 * in this folder, so the pipeline finds the student made with the settings it would use here.
 */
async function relocate(runDir: string, here: string, runs: string[]): Promise<void> {
  const file = path.join(runDir, 'distill-config.json');
  if (!(await pathExists(file))) return;
  const config = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  let changed = false;
  for (const key of ['arch', 'initialWeights']) {
    const value = config[key];
    if (typeof value !== 'string') continue;
    const parts = value.split(/[\\/]/);
    const at = parts.findIndex((p) => runs.includes(p));
    if (at <= 0) continue;
    const moved = path.join(here, ...parts.slice(at));
    changed ||= moved !== value;
    config[key] = moved;
  }
  if (changed) await writeFileAtomic(file, JSON.stringify(config, null, 2) + '\n');
}
