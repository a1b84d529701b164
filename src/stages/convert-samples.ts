import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { pathExists, readJsonOrNull } from '../core/json-file.js';
import { lockRunFolder, type RunFolderLock } from '../core/run-lock.js';
import { trackTemporary } from '../core/temp-files.js';
import { inputShape, partArrays } from '../data/store.js';
import { resolveArch } from '../model/builtins.js';
import { teacherOutputUnits } from '../teacher/posterior.js';
import {
  readSamples,
  SampleWriter,
  scanSamples,
  scanShard,
  weightBytes,
  type WeightDtype,
} from '../samples/index.js';
import type { StageContext } from './context.js';
import { loadTeacherDataset, openTeacherRun, runPath } from './run-folder.js';
import { openCompleteTeacher } from './teacher-check.js';
import { readShardRecords, writeShardComplete, writeShardStart } from './teacher-shards.js';
import { sampleDtypeField, type SampleConfig, type TeacherSummary } from './sample-config.js';
import { evaluateTeacher } from './teacher-report.js';

export interface ConvertSamplesOptions extends Pick<StageContext, 'force' | 'dataDir' | 'runsDir' | 'log'> {
  /** The teacher run to read (left as it is). */
  run: string;
  /** The new teacher run to write. */
  outRun: string;
  sampleDtype: WeightDtype;
  /** Convert an incomplete teacher as it is, with a warning (the new run is marked unfinished too). */
  allowIncomplete?: boolean;
}

/** What `convert.json` in the new run records. */
export interface ConvertSummary {
  from: string;
  to: string;
  sampleDtype: WeightDtype;
  samples: number;
  /** Bytes of the stored weights, before and after. */
  bytes: { before: number; after: number };
  /** The ensemble's test metrics from the original samples and from the converted ones, and after − before. */
  metrics: { before: Record<string, number>; after: Record<string, number>; change: Record<string, number> };
  /** With `--allow-incomplete` on an incomplete teacher: what was wrong with it. */
  teacherWarning?: string;
}

/**
 * Copies teacher run `run` into a new run `outRun` whose samples files store the weights as
 * `sampleDtype` (float16: rounded to nearest even, half the bytes; float32: exact). The spec, trace and
 * chain state are copied, so `bdk sample --resume --run OUT_RUN` continues the chains (appending in
 * the new dtype). The ensemble is evaluated on the run's test rows from both sets of samples, and the
 * metric change is written to `convert.json` beside the new `teacher.json`. The new run is built in a
 * temporary folder (removed on every exit) and moved into its locked run folder at the end, the
 * summaries last, so a run without `teacher.json` was never finished.
 */
export async function convertSamples(opts: ConvertSamplesOptions): Promise<ConvertSummary> {
  if (opts.outRun === opts.run)
    throw new UserError(`--out-run must name a new run, not the run being converted ('${opts.run}')`);
  const { teacherDir, teacherConfig } = await openTeacherRun(opts.run, opts.runsDir);
  if (!(await pathExists(path.join(teacherDir, 'spec.json'))))
    throw new UserError(`run '${opts.run}' at ${teacherDir} is not a teacher run (no spec.json)`);
  const { files, warning } = await openCompleteTeacher(opts.run, opts);
  const records = await readShardRecords(teacherDir);
  const scans = await Promise.all(files.map((f) => scanSamples(f)));
  const samples = scans.reduce((s, sc) => s + sc.records, 0);
  if (samples === 0) throw new UserError(`teacher run '${opts.run}' has no samples yet`);
  const outDir = runPath(opts.outRun, opts.runsDir);
  // The new run's lock is held from before anything is written (or removed, with --force) to the end.
  const lock = await lockRunFolder(outDir, `run '${opts.outRun}'`);
  try {
    if ((await lock.hasContent()) && !opts.force)
      throw new UserError(`run '${opts.outRun}' already exists at ${outDir}; pass --force to replace it`);
    return await convertInto(opts, {
      teacherDir,
      teacherConfig,
      files,
      scans,
      samples,
      outDir,
      lock,
      records,
      warning,
    });
  } finally {
    await lock.release();
  }
}

async function convertInto(
  opts: ConvertSamplesOptions,
  from: {
    teacherDir: string;
    teacherConfig: SampleConfig;
    files: string[];
    scans: Awaited<ReturnType<typeof scanSamples>>[];
    samples: number;
    outDir: string;
    lock: RunFolderLock;
    records: Awaited<ReturnType<typeof readShardRecords>>;
    warning: string | undefined;
  },
): Promise<ConvertSummary> {
  const log = opts.log ?? (() => {});
  const { teacherDir, teacherConfig, files, scans, samples, outDir, lock, records, warning } = from;
  const tmpDir = `${outDir}.tmp-${process.pid}`;
  const untrack = trackTemporary(tmpDir);
  await fs.rm(tmpDir, { recursive: true, force: true });
  await fs.mkdir(tmpDir, { recursive: true });
  try {
    for (const name of await fs.readdir(teacherDir)) {
      if (name === 'spec.json' || /^(trace|state)-c\d+\.(csv|bin)$/.test(name))
        await fs.copyFile(path.join(teacherDir, name), path.join(tmpDir, name));
    }
    const { sampleDtype: _old, ...rest } = teacherConfig as SampleConfig & { datasetChecksum?: string };
    const config: SampleConfig = { ...rest, ...sampleDtypeField(opts.sampleDtype) };
    await writeFileAtomic(path.join(tmpDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    for (const [i, file] of files.entries()) {
      const { format: _f, version: _v, parameterCount, ...meta } = scans[i].meta;
      const writer = await SampleWriter.create(
        path.join(tmpDir, path.basename(file)),
        parameterCount,
        { ...meta, run: opts.outRun },
        { weightDtype: opts.sampleDtype },
      );
      try {
        for await (const b of readSamples([file])) {
          const p = b.parameterCount;
          await writer.append(
            Array.from({ length: b.rows }, (_, r) => ({
              chain: b.chain[r],
              step: b.step[r],
              logLikelihood: b.logLikelihood[r],
              noisePrecision: b.noisePrecision[r],
              weights: b.weights.subarray(r * p, (r + 1) * p),
            })),
          );
        }
      } finally {
        await writer.close();
      }
      // The new shard's record: complete (with the new file's checksum) when the teacher was.
      const offset = Number(path.basename(file).slice(9, -6));
      const shardChains = records.get(offset)?.chains ?? (await scanShard(file)).perChain.size;
      const samplesPerChain = records.get(offset)?.samples ?? teacherConfig.samples;
      if (warning) await writeShardStart(tmpDir, offset, shardChains, samplesPerChain);
      else await writeShardComplete(tmpDir, offset, shardChains, samplesPerChain);
    }
    log(`converted ${samples} samples of '${opts.run}' to ${opts.sampleDtype}; evaluating both ensembles`);

    const ds = await loadTeacherDataset(opts.run, teacherConfig, opts.dataDir);
    const task = ds.meta.task;
    const analysis = await resolveArch(path.join(teacherDir, 'spec.json'), {
      input: inputShape(ds),
      outputUnits: teacherOutputUnits(task, ds.meta.classCount, teacherConfig.heteroscedastic),
    });
    const test = partArrays(ds, teacherConfig.split, teacherConfig.evaluateOn ?? 'test');
    const old = await readJsonOrNull<TeacherSummary>(path.join(teacherDir, 'teacher.json'));
    const seconds = old?.seconds ?? 0;
    const before = await evaluateTeacher(teacherDir, opts.run, teacherConfig, ds, analysis, test, seconds);
    const after = await evaluateTeacher(tmpDir, opts.outRun, config, ds, analysis, test, seconds);
    await writeFileAtomic(path.join(tmpDir, 'teacher.json'), JSON.stringify(after, null, 2) + '\n');
    const weights = scans.reduce((s, sc) => s + sc.records * sc.parameterCount, 0);
    const summary: ConvertSummary = {
      from: opts.run,
      to: opts.outRun,
      sampleDtype: opts.sampleDtype,
      samples,
      bytes: {
        before: scans.reduce((s, sc) => s + sc.records * sc.parameterCount * weightBytes(sc.weightDtype), 0),
        after: weights * weightBytes(opts.sampleDtype),
      },
      metrics: {
        before: before.metrics,
        after: after.metrics,
        change: Object.fromEntries(
          Object.keys(before.metrics).map((k) => [k, after.metrics[k] - before.metrics[k]]),
        ),
      },
    };
    if (warning) summary.teacherWarning = warning;
    await writeFileAtomic(path.join(tmpDir, 'convert.json'), JSON.stringify(summary, null, 2) + '\n');
    // Into the locked folder (emptied with --force); the summaries last, so a run cut short here has none.
    await lock.empty();
    const last = ['teacher.json', 'convert.json'];
    const names = (await fs.readdir(tmpDir)).sort((a, b) => +last.includes(a) - +last.includes(b));
    for (const name of names) await fs.rename(path.join(tmpDir, name), path.join(outDir, name));
    return summary;
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true });
    untrack();
  }
}
