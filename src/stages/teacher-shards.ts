/**
 * The chain shards of a teacher run (docs/design.md §6.4): each `bdk sample` process writes chains
 * `offset .. offset + chains − 1` into `samples-c<offset>.arrow`, and records the shard in
 * `shard-c<offset>.json` before its first sample: its chain range and samples per chain, and, once the
 * shard is finished, a completion record (samples per chain, bytes and SHA-256 of the samples file)
 * that readers verify (`teacher-check.ts`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { readJsonOrNull } from '../core/json-file.js';
import { fileSha256, scanShard } from '../samples/index.js';
import type { SampleConfig } from './sample-config.js';

export const samplesFile = (runDir: string, offset: number) => path.join(runDir, `samples-c${offset}.arrow`);
export const stateFile = (runDir: string, offset: number) => path.join(runDir, `state-c${offset}.bin`);
export const traceFile = (runDir: string, offset: number) => path.join(runDir, `trace-c${offset}.csv`);
export const lockFile = (runDir: string, offset: number) => path.join(runDir, `.lock-c${offset}`);
export const shardFile = (runDir: string, offset: number) => path.join(runDir, `shard-c${offset}.json`);

/** What a finished shard's samples file held when it was finished. */
export interface ShardCompletion {
  /** Samples in the file. */
  rows: number;
  /** Samples per global chain index. */
  perChain: Record<string, number>;
  /** Size and SHA-256 (hex) of the samples file. */
  bytes: number;
  sha256: string;
}

/** `shard-c<offset>.json`: one chain shard of a teacher run. */
export interface ShardRecord {
  chainOffset: number;
  chains: number;
  /** Samples per chain the shard was asked for. */
  samples: number;
  /** Present once the shard finished; removed when it is resumed. */
  complete?: ShardCompletion;
}

/** The offsets of every file of a run folder named `<prefix><offset><suffix>`, ascending. */
export async function shardOffsets(runDir: string, prefix: string, suffix: string): Promise<number[]> {
  const names = await fs.readdir(runDir).catch(() => [] as string[]);
  const offsets: number[] = [];
  for (const f of names) {
    if (!f.startsWith(prefix) || !f.endsWith(suffix)) continue;
    const mid = f.slice(prefix.length, f.length - suffix.length);
    if (/^\d+$/.test(mid)) offsets.push(Number(mid));
  }
  return offsets.sort((a, b) => a - b);
}

/** Every shard record of a run, by chain offset. */
export async function readShardRecords(runDir: string): Promise<Map<number, ShardRecord>> {
  const out = new Map<number, ShardRecord>();
  for (const offset of await shardOffsets(runDir, 'shard-c', '.json')) {
    const r = await readJsonOrNull<ShardRecord>(shardFile(runDir, offset));
    if (r) out.set(offset, r);
  }
  return out;
}

/** Records a shard as started (or resumed): its range and target, without a completion record. */
export async function writeShardStart(runDir: string, offset: number, chains: number, samples: number) {
  const record: ShardRecord = { chainOffset: offset, chains, samples };
  await writeFileAtomic(shardFile(runDir, offset), JSON.stringify(record, null, 2) + '\n');
}

/** The completion record of a samples file as it is now. */
export async function shardCompletion(file: string): Promise<ShardCompletion> {
  const scan = await scanShard(file);
  const perChain: Record<string, number> = {};
  for (const [c, n] of [...scan.perChain].sort((a, b) => a[0] - b[0])) perChain[String(c)] = n;
  return { rows: scan.records, perChain, bytes: scan.fileBytes, sha256: await fileSha256(file) };
}

/** Records a shard as finished: its samples file's counts, size and SHA-256. */
export async function writeShardComplete(runDir: string, offset: number, chains: number, samples: number) {
  const complete = await shardCompletion(samplesFile(runDir, offset));
  const record: ShardRecord = { chainOffset: offset, chains, samples, complete };
  await writeFileAtomic(shardFile(runDir, offset), JSON.stringify(record, null, 2) + '\n');
}

/** The chain range `[from, to]` each existing shard of a run holds or was started for. */
async function existingRanges(runDir: string): Promise<{ offset: number; from: number; to: number }[]> {
  const records = await readShardRecords(runDir);
  const ranges = [...records.values()].map((r) => ({
    offset: r.chainOffset,
    from: r.chainOffset,
    to: r.chainOffset + r.chains - 1,
  }));
  // Shards sampled before shard records existed: the chains their samples file holds.
  for (const offset of await shardOffsets(runDir, 'samples-c', '.arrow')) {
    if (records.has(offset)) continue;
    const chains = [
      ...((await scanShard(samplesFile(runDir, offset)).catch(() => null))?.perChain.keys() ?? []),
    ];
    if (chains.length) ranges.push({ offset, from: Math.min(...chains), to: Math.max(...chains) });
  }
  return ranges.sort((a, b) => a.offset - b.offset);
}

const chainsText = (from: number, to: number) => (from === to ? `chain ${from}` : `chains ${from}..${to}`);

/** `key` of a config as the user would give it on the command line. */
const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Fields that may differ between shards of one run (or are checked elsewhere). */
const PER_SHARD = new Set(['chains', 'datasetChecksum']);

/**
 * Checks that a new shard's settings (`requested`) equal run `run`'s (`stored`, from `config.json`),
 * the number of chains excepted. Throws a one-line UserError naming the differing setting with both
 * values.
 */
export function checkShardSettings(
  run: string,
  stored: SampleConfig,
  requested: SampleConfig,
  offset: number,
): void {
  const keys = new Set([...Object.keys(stored), ...Object.keys(requested)]);
  for (const key of keys) {
    if (PER_SHARD.has(key)) continue;
    // A setting left out is its default: the identity for the target transform, else unset.
    const absent = key === 'targetTransform' ? 'none' : null;
    const value = (c: SampleConfig) => (c as unknown as Record<string, unknown>)[key] ?? absent;
    const was = JSON.stringify(value(stored));
    const now = JSON.stringify(value(requested));
    if (was !== now)
      throw new UserError(
        `cannot add chains from ${offset} to run '${run}': ${flagOf(key)} ${now} differs from the run's ${was} (every shard of a run needs the same settings); give the run's settings, or --force to replace the run`,
      );
  }
}

/**
 * Checks that chains `offset .. offset + chains − 1` are disjoint from every other shard's of the run
 * in `runDir` (reads only). Throws a one-line UserError naming the overlapping chains and shard.
 */
export async function checkShardRange(run: string, runDir: string, offset: number, chains: number) {
  const from = offset;
  const to = offset + chains - 1;
  const ranges = (await existingRanges(runDir)).filter((r) => r.offset !== offset);
  const next = Math.max(...ranges.map((r) => r.to)) + 1;
  for (const r of ranges) {
    if (from <= r.to && r.from <= to)
      throw new UserError(
        `cannot add ${chainsText(from, to)} to run '${run}': ${from === to ? 'it overlaps' : 'they overlap'} ${chainsText(r.from, r.to)} of its shard samples-c${r.offset}.arrow (chain shards must be disjoint); use --chain-offset ${next}`,
      );
  }
}
