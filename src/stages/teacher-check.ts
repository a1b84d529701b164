/**
 * A teacher run is consumable only when complete (docs/design.md §6.4): every chain shard has
 * its completion record, its samples file has the recorded size and SHA-256, every chain holds the
 * samples `config.json` asks for, no chain is in two shards, and no shard is being sampled now.
 * `distill`, `search`, `evaluate`, `convert-samples` and `search-front` read teachers through here.
 */
import type { LogLine } from '../core/log-line.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { pathExists } from '../core/json-file.js';
import { lockOwner } from '../core/run-lock.js';
import { fileSha256, scanShard } from '../samples/index.js';
import { openTeacherRun, runSampleFiles } from './run-folder.js';
import type { SampleConfig } from './sample-config.js';
import { lockFile, readShardRecords, samplesFile, shardOffsets, type ShardRecord } from './teacher-shards.js';

export interface CompleteTeacher {
  teacherDir: string;
  teacherConfig: SampleConfig;
  /** Its samples files, in chain-offset order. */
  files: string[];
  /** With `allowIncomplete`: what is wrong with the teacher (also logged as a warning); else absent. */
  warning?: string;
}

export interface TeacherCheckOptions {
  runsDir?: string;
  /** Use an incomplete teacher as it is, with a warning, instead of refusing it. */
  allowIncomplete?: boolean;
  log?: LogLine;
}

/** What is wrong with a teacher: the problem, and the command that fixes it. */
interface Problem {
  what: string;
  fix: string;
}

const range = (from: number, chains: number) => (chains > 1 ? `${from}..${from + chains - 1}` : `${from}`);
const short = (hex: string) => hex.slice(0, 12);

/**
 * Teacher run `teacher`, checked to be complete. An incomplete one is a one-line UserError saying what is
 * wrong and how to continue, unless `allowIncomplete`, when it is returned with a `warning` (logged).
 * Runs sampled before shard records existed (no `shard-c*.json`) are accepted, with a note, when every
 * samples file ends cleanly, every chain holds `config.samples` samples and `teacher.json` exists.
 */
export async function openCompleteTeacher(
  teacher: string,
  opts: TeacherCheckOptions = {},
): Promise<CompleteTeacher> {
  const log = opts.log ?? (() => {});
  const { teacherDir, teacherConfig } = await openTeacherRun(teacher, opts.runsDir);
  const files = await runSampleFiles(teacherDir);
  const ctx = { teacher, teacherDir, config: teacherConfig };
  const problems = [...(await liveShards(ctx))];
  const records = await readShardRecords(teacherDir);
  const perChain: PerChain = new Map();
  if (records.size > 0) {
    for (const offset of await shardOffsets(teacherDir, 'samples-c', '.arrow'))
      if (!records.has(offset))
        problems.push({
          what: `samples-c${offset}.arrow has no shard record (shard-c${offset}.json)`,
          fix: `sample it again with \`bdk sample --run ${teacher} --force\` and its settings`,
        });
    for (const record of records.values()) problems.push(...(await checkShard(ctx, record, perChain)));
    // Every finished shard writes teacher.json once its ensemble is evaluated and finite (a diverged
    // teacher's samples are complete, but its test metrics are not finite, so it has none).
    if (problems.length === 0 && !(await pathExists(path.join(teacherDir, 'teacher.json'))))
      problems.push({
        what: 'it has no teacher.json (its ensemble was never evaluated as finite: it diverged or was stopped)',
        fix: `run \`bdk sample --run ${teacher} --resume\` to evaluate it`,
      });
  } else {
    problems.push(...(await checkUnrecorded(ctx, files, perChain)));
  }
  const target = Math.max(teacherConfig.samples, ...[...records.values()].map((r) => r.samples));
  problems.push(...chainProblems(ctx, perChain, target));
  if (files.length === 0 && problems.length === 0)
    problems.push({ what: 'it has no samples', fix: `run \`bdk sample --run ${teacher}\`` });
  if (problems.length === 0) {
    if (records.size === 0)
      log(
        `note: teacher run '${teacher}' has no shard records (sampled before bdk wrote them); accepted, as its samples files end cleanly and each of its ${perChain.size} chains holds ${teacherConfig.samples} samples (no checksums to verify)`,
      );
    return { teacherDir, teacherConfig, files };
  }
  const p = problems[0];
  const more =
    problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  if (!opts.allowIncomplete)
    throw new UserError(
      `teacher run '${teacher}' is not complete: ${p.what}${more}; ${p.fix}, or pass --allow-incomplete to use what is there`,
    );
  const warning = `teacher run '${teacher}' is not complete, used as it is (--allow-incomplete): ${problems.map((q) => q.what).join('; ')}`;
  log(`warning: ${warning}`, 'warning');
  return { teacherDir, teacherConfig, files, warning };
}

/** Per global chain index: the shards holding it and how many samples each has. */
type PerChain = Map<number, { count: number; file: string; unfinished?: boolean }[]>;

interface Ctx {
  teacher: string;
  teacherDir: string;
  config: SampleConfig;
}

const resumeCommand = (teacher: string, offset: number) =>
  `continue it with \`bdk sample --run ${teacher} --resume${offset ? ` --chain-offset ${offset}` : ''}\``;

/** Shards whose lock is held by a live process: still being sampled. */
async function liveShards(ctx: Ctx): Promise<Problem[]> {
  const out: Problem[] = [];
  for (const offset of await shardOffsets(ctx.teacherDir, '.lock-c', '')) {
    const owner = await lockOwner(lockFile(ctx.teacherDir, offset));
    if (owner)
      out.push({
        what: `chains from ${offset} are being sampled by process ${owner.pid} on ${owner.host} (lock ${lockFile(ctx.teacherDir, offset)})`,
        fix: 'wait for it to finish',
      });
  }
  return out;
}

/** A recorded shard: finished, its samples file as recorded. Adds its chains' counts to `perChain`. */
async function checkShard(ctx: Ctx, record: ShardRecord, perChain: PerChain): Promise<Problem[]> {
  const offset = record.chainOffset;
  const name = `samples-c${offset}.arrow`;
  const file = samplesFile(ctx.teacherDir, offset);
  const damaged = (what: string): Problem => ({
    what: `${name} is damaged: ${what}`,
    fix: `sample it again with \`bdk sample --run ${ctx.teacher} --force\` and its settings`,
  });
  const c = record.complete;
  if (!c) {
    const scan = (await pathExists(file)) ? await scanShard(file).catch(() => null) : null;
    const want = record.chains * record.samples;
    for (const [chain, count] of scan?.perChain ?? []) add(perChain, chain, count, name, true);
    return [
      {
        what: `chains ${range(offset, record.chains)} are unfinished: ${name} holds ${scan?.records ?? 0} of ${want} samples and shard-c${offset}.json has no completion record`,
        fix: resumeCommand(ctx.teacher, offset),
      },
    ];
  }
  for (const [chain, count] of Object.entries(c.perChain)) add(perChain, Number(chain), count, name);
  if (!(await pathExists(file))) return [damaged(`missing, its completion record says ${c.bytes} bytes`)];
  const scan = await scanShard(file).catch(() => null);
  const bytes = scan?.fileBytes ?? (await fs.stat(file)).size;
  if (bytes !== c.bytes)
    return [
      damaged(
        `${bytes} bytes (${scan?.records ?? 0} complete samples), its completion record says ${c.bytes} bytes (${c.rows} samples)`,
      ),
    ];
  const sha = await fileSha256(file);
  if (sha !== c.sha256)
    return [damaged(`SHA-256 ${short(sha)}… differs from its completion record's ${short(c.sha256)}…`)];
  return [];
}

/**
 * A run with no shard records (sampled before they existed): accepted when every samples file ends
 * with a complete record batch and `teacher.json` exists (the per-chain counts are checked after).
 */
async function checkUnrecorded(ctx: Ctx, files: string[], perChain: PerChain): Promise<Problem[]> {
  const out: Problem[] = [];
  for (const file of files) {
    const name = path.basename(file);
    const scan = await scanShard(file);
    for (const [chain, count] of scan.perChain) add(perChain, chain, count, name);
    if (scan.completeBytes !== scan.fileBytes)
      out.push({
        what: `${name} ends in a torn sample (${scan.fileBytes} bytes, complete samples end at ${scan.completeBytes})`,
        fix: `${resumeCommand(ctx.teacher, Number(name.slice(9, -6)))} (or, if it finished before, sample it again with --force)`,
      });
  }
  if (files.length && !(await pathExists(path.join(ctx.teacherDir, 'teacher.json'))))
    out.push({
      what: 'it has no teacher.json (its sampling did not finish) and no shard records',
      fix: resumeCommand(ctx.teacher, 0),
    });
  return out;
}

function add(m: PerChain, chain: number, count: number, file: string, unfinished = false) {
  m.set(chain, [...(m.get(chain) ?? []), { count, file, unfinished }]);
}

/**
 * Every chain in one shard only, with the run's samples per chain: `target`, the most that
 * `config.json` or any shard record asks for (a shard resumed to more samples raises it).
 */
function chainProblems(ctx: Ctx, perChain: PerChain, target: number): Problem[] {
  const out: Problem[] = [];
  for (const [chain, where] of [...perChain].sort((a, b) => a[0] - b[0])) {
    if (where.length > 1) {
      out.push({
        what: `chain ${chain} is in ${where.map((w) => w.file).join(' and ')} (overlapping shards)`,
        fix: `sample it again with \`bdk sample --run ${ctx.teacher} --force\` and disjoint --chain-offset ranges`,
      });
      continue;
    }
    const { count, file, unfinished } = where[0];
    const offset = Number(file.slice(9, -6));
    if (!unfinished && count !== target)
      out.push({
        what: `chain ${chain} in ${file} has ${count} samples, the run asks for ${target}`,
        fix:
          count < target
            ? `${resumeCommand(ctx.teacher, offset).slice(0, -1)} --samples ${target}\``
            : `sample it again with \`bdk sample --run ${ctx.teacher} --force\` and its settings`,
      });
  }
  return out;
}
