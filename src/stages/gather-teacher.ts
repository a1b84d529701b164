/**
 * `bdk gather`: merges teacher shards sampled in separate run folders (separate machines, no shared
 * filesystem) into one run (docs/design.md §6.6). Chains are independent given the data and chain c's
 * seed depends only on c, so shard k's chains are the same numbers as in one process; the merged run
 * interleaves them as one process writes them (per draw, chains in order), and its samples file,
 * shard record, trace, chain state, config and teacher.json equal one process's byte for byte,
 * `teacher.json`'s `seconds` excepted.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import { loadChainState, saveChainState } from '../core/chain-state.js';
import { UserError } from '../core/errors.js';
import { pathExists, readJsonOrNull } from '../core/json-file.js';
import { lockRunFolder } from '../core/run-lock.js';
import { inputShape, partArrays } from '../data/store.js';
import { analyzeSpec } from '../model/spec.js';
import { readSamples, scanSamples, SampleWriter, type SampleRecord } from '../samples/index.js';
import type { SampleConfig, TeacherSummary } from './sample-config.js';
import { loadTeacherDataset, runPath } from './run-folder.js';
import { openCompleteTeacher } from './teacher-check.js';
import { evaluateTeacher } from './teacher-report.js';
import { readShardRecords, samplesFile, stateFile, traceFile, writeShardComplete } from './teacher-shards.js';

export interface GatherOptions {
  /** The merged run's name (in `runsDir`). */
  into: string;
  /** Teacher run folders, each holding one or more complete chain shards. */
  shards: string[];
  runsDir?: string;
  dataDir?: string;
  /** Replace an existing run `into`. */
  force?: boolean;
  log?: (line: string) => void;
}

/** `gather.json`: where a gathered run's chains came from. */
export interface GatherRecord {
  shards: { dir: string; chainOffset: number; chains: number; sha256: string; seconds: number | null }[];
}

interface Shard {
  dir: string;
  config: SampleConfig;
  spec: string;
  offset: number;
  chains: number;
  file: string;
  sha256: string;
  seconds: number | null;
}

/** Merges `opts.shards` into run `opts.into`; returns its folder and teacher summary. */
export async function gatherTeacher(
  opts: GatherOptions,
): Promise<{ runDir: string; summary: TeacherSummary }> {
  const log = opts.log ?? (() => {});
  if (opts.shards.length === 0) throw new UserError('gather: give at least one shard folder');
  const shards = (await Promise.all(opts.shards.map((d) => readShardFolder(d, opts.log)))).flat();
  shards.sort((a, b) => a.offset - b.offset);
  checkSameSettings(shards);
  checkChainRanges(shards);
  const runDir = runPath(opts.into, opts.runsDir);
  if (opts.shards.some((d) => path.resolve(d) === path.resolve(runDir)))
    throw new UserError(`gather: the run '${opts.into}' to write is one of the shards (${runDir})`);
  if ((await pathExists(runDir)) && !opts.force)
    throw new UserError(`run '${opts.into}' already exists at ${runDir}; pass --force to replace it`);
  const lock = await lockRunFolder(runDir, `run '${opts.into}'`);
  try {
    await lock.empty();
    try {
      return await writeGathered(opts, shards, runDir, log);
    } catch (err) {
      await lock.empty(); // no half-gathered run is left behind
      throw err;
    }
  } finally {
    await lock.release();
  }
}

/** The complete shards of one teacher run folder (checked as `openCompleteTeacher` checks any teacher). */
async function readShardFolder(dir: string, log?: (l: string) => void): Promise<Shard[]> {
  const where = path.resolve(dir);
  if (!(await pathExists(path.join(where, 'config.json'))))
    throw new UserError(`${dir}: not a teacher run folder (no config.json)`);
  try {
    await openCompleteTeacher(path.basename(where), { runsDir: path.dirname(where), log });
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${dir}: ${err.message}`);
    throw err;
  }
  const config = JSON.parse(await fs.readFile(path.join(where, 'config.json'), 'utf8')) as SampleConfig;
  const spec = await fs.readFile(path.join(where, 'spec.json'), 'utf8').catch(() => {
    throw new UserError(`${dir}: spec.json is missing`);
  });
  const seconds = (await readJsonOrNull<TeacherSummary>(path.join(where, 'teacher.json')))?.seconds ?? null;
  const records = [...(await readShardRecords(where)).values()];
  if (records.length === 0)
    throw new UserError(`${dir}: no shard record (shard-c*.json); it was sampled before bdk recorded shards`);
  return records.map((r) => ({
    dir,
    config,
    spec,
    offset: r.chainOffset,
    chains: r.chains,
    file: samplesFile(where, r.chainOffset),
    sha256: r.complete!.sha256,
    seconds,
  }));
}

/** Every setting equal across shards (the number of chains excepted), and the same architecture. */
function checkSameSettings(shards: Shard[]): void {
  const first = shards[0];
  const strip = (c: SampleConfig) => ({ ...c, chains: 0 }) as unknown as Record<string, unknown>;
  const a = strip(first.config);
  for (const s of shards.slice(1)) {
    const b = strip(s.config);
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const was = JSON.stringify(a[key] ?? null);
      const now = JSON.stringify(b[key] ?? null);
      if (was !== now)
        throw new UserError(
          `${s.dir}: ${key} ${now} differs from ${first.dir}'s ${was} (the shards of one run need the same settings and data)`,
        );
    }
    if (s.spec !== first.spec)
      throw new UserError(
        `${s.dir}: spec.json differs from ${first.dir}'s (the shards sampled different networks)`,
      );
  }
}

const chainsText = (from: number, n: number) => (n > 1 ? `chains ${from}..${from + n - 1}` : `chain ${from}`);

/** Disjoint, contiguous chain ranges: together one shard of chains [first, last]. */
function checkChainRanges(shards: Shard[]): void {
  for (let i = 1; i < shards.length; i++) {
    const p = shards[i - 1];
    const s = shards[i];
    const end = p.offset + p.chains;
    if (s.offset < end)
      throw new UserError(
        `${s.dir}: its ${chainsText(s.offset, s.chains)} ${s.chains > 1 ? 'overlap' : 'overlaps'} ${chainsText(p.offset, p.chains)} of ${p.dir} (shards must hold disjoint chains)`,
      );
    if (s.offset > end)
      throw new UserError(
        `${chainsText(end, s.offset - end)} missing between ${p.dir} and ${s.dir} (gather needs every chain from ${shards[0].offset}; sample them with --chain-offset ${end})`,
      );
  }
}

async function writeGathered(
  opts: GatherOptions,
  shards: Shard[],
  runDir: string,
  log: (l: string) => void,
): Promise<{ runDir: string; summary: TeacherSummary }> {
  const first = shards[0];
  const offset = first.offset;
  const chains = shards.reduce((n, s) => n + s.chains, 0);
  const config: SampleConfig = { ...first.config, chains };
  await writeFileAtomic(path.join(runDir, 'spec.json'), first.spec);
  await writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await mergeSamples(shards, samplesFile(runDir, offset), opts.into, config.samples);
  await mergeTraces(shards, traceFile(runDir, offset));
  await mergeStates(shards, stateFile(runDir, offset));
  await writeShardComplete(runDir, offset, chains, config.samples);
  const record: GatherRecord = {
    shards: shards.map((s) => ({
      dir: path.resolve(s.dir),
      chainOffset: s.offset,
      chains: s.chains,
      sha256: s.sha256,
      seconds: s.seconds,
    })),
  };
  await writeFileAtomic(path.join(runDir, 'gather.json'), JSON.stringify(record, null, 2) + '\n');
  log(`gathered ${chainsText(offset, chains)} from ${shards.length} shards into run '${opts.into}'`);
  const ds = await loadTeacherDataset(opts.into, config, opts.dataDir);
  const analysis = analyzeSpec(JSON.parse(first.spec), path.join(runDir, 'spec.json'));
  if (analysis.spec.input.join() !== inputShape(ds).join())
    throw new UserError(`${first.dir}: its network's input does not fit dataset '${config.dataset}'`);
  const test = partArrays(ds, config.split, config.evaluateOn ?? 'test');
  // The shards ran side by side: the gathered run took as long as its slowest shard.
  const seconds = Math.max(0, ...shards.map((s) => s.seconds ?? 0));
  const summary = await evaluateTeacher(runDir, opts.into, config, ds, analysis, test, seconds);
  await writeFileAtomic(path.join(runDir, 'teacher.json'), JSON.stringify(summary, null, 2) + '\n');
  return { runDir, summary };
}

/** One samples file: per draw, every shard's chains in order, as one record batch (as one process appends). */
async function mergeSamples(shards: Shard[], out: string, run: string, perChain: number): Promise<void> {
  const head = await scanSamples(shards[0].file);
  const meta = head.meta as Record<string, unknown>;
  const writer = await SampleWriter.create(
    out,
    head.parameterCount,
    { run, chainOffset: shards[0].offset, arch: meta.arch, task: meta.task },
    { weightDtype: head.weightDtype },
  );
  const readers = shards.map((s) =>
    readSamples([s.file], { batchRecords: s.chains })[Symbol.asyncIterator](),
  );
  try {
    const p = head.parameterCount;
    for (let draw = 0; draw < perChain; draw++) {
      const records: SampleRecord[] = [];
      let step: number | null = null;
      for (let k = 0; k < shards.length; k++) {
        const s = shards[k];
        const next = await readers[k].next();
        if (next.done || next.value.rows !== s.chains)
          throw new UserError(`${s.file}: ends before draw ${draw + 1} of its ${s.chains} chain(s)`);
        const b = next.value;
        for (let r = 0; r < b.rows; r++) {
          if (b.chain[r] !== s.offset + r || (step !== null && b.step[r] !== step))
            throw new UserError(
              `${s.file}: record ${draw * s.chains + r} is chain ${b.chain[r]} at step ${b.step[r]}, not chain ${s.offset + r} at step ${step ?? b.step[r]} (not in the order bdk sample writes)`,
            );
          step = b.step[r];
          records.push({
            chain: b.chain[r],
            step: b.step[r],
            logLikelihood: b.logLikelihood[r],
            noisePrecision: b.noisePrecision[r],
            weights: b.weights.slice(r * p, (r + 1) * p),
          });
        }
      }
      await writer.append(records);
    }
  } finally {
    for (const r of readers) await r.return?.(undefined);
    await writer.close();
  }
}

/** The trace as one process writes it: by step, chains in order (header once). */
async function mergeTraces(shards: Shard[], out: string): Promise<void> {
  const rows: { step: number; chain: number; line: string }[] = [];
  let header = '';
  for (const s of shards) {
    const file = traceFile(path.dirname(s.file), s.offset);
    const lines = (await fs.readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    if (!lines.length) continue;
    header = lines[0];
    for (const line of lines.slice(1)) {
      const [step, chain] = line.split(',', 2).map(Number);
      rows.push({ step, chain, line });
    }
  }
  if (!header) return;
  rows.sort((a, b) => a.step - b.step || a.chain - b.chain);
  await writeFileAtomic(out, [header, ...rows.map((r) => r.line)].join('\n') + '\n');
}

/**
 * The chain state of all chains, so the gathered run can be resumed to more samples: per-chain arrays
 * and lists concatenated in chain order, the rest (step, samples drawn) equal in every shard. Left out
 * when a shard has none (MC dropout keeps no state).
 */
async function mergeStates(shards: Shard[], out: string): Promise<void> {
  const files = shards.map((s) => stateFile(path.dirname(s.file), s.offset));
  for (const f of files) if (!(await pathExists(f))) return;
  const states = await Promise.all(files.map((f) => loadChainState(f)));
  const meta: Record<string, unknown> = {};
  for (const key of Object.keys(states[0].meta)) {
    const values = states.map((st) => (st.meta as Record<string, unknown>)[key]);
    if (values.every((v, k) => Array.isArray(v) && v.length === shards[k].chains)) {
      meta[key] = (values as unknown[][]).flat();
      continue;
    }
    const texts = values.map((v) => JSON.stringify(v));
    const other = texts.findIndex((t) => t !== texts[0]);
    if (other >= 0)
      throw new UserError(`${files[other]}: ${key} ${texts[other]} differs from ${files[0]}'s ${texts[0]}`);
    meta[key] = values[0];
  }
  const arrays: Record<string, Float32Array> = {};
  for (const name of Object.keys(states[0].arrays)) {
    const parts = states.map((st) => st.arrays[name]);
    const out = new Float32Array(parts.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of parts) {
      out.set(a, at);
      at += a.length;
    }
    arrays[name] = out;
  }
  await saveChainState(out, meta, arrays);
}
