import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { pathExists } from '../core/json-file.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { requireFiniteMetrics } from '../core/finite.js';
import { checkResumeSettings } from './resume-check.js';
import {
  acquireLock,
  checkNotLocked,
  lockOwner,
  lockRunFolder,
  RUN_LOCK,
  type RunFolderLock,
} from '../core/run-lock.js';
import { inputShape, loadDataset, partArrays, type PartArrays } from '../data/store.js';
import { runPath } from './run-folder.js';
import { withTargetTransform } from '../data/target-view.js';
import { resolveArch } from '../model/builtins.js';
import { loadChainState, saveChainState } from '../core/chain-state.js';
import { chainSeed, runChains, type ChainSnapshot, type TracePoint } from '../teacher/chains.js';
import { noiseModel, teacherOutputUnits, variancePrior, type PosteriorModel } from '../teacher/posterior.js';
import { runMcDropout } from '../teacher/mc-dropout.js';
import { checkAugmentation } from '../data/augment.js';
import type { StageContext } from './context.js';
import { SampleWriter } from '../samples/index.js';
import { evaluateTeacher } from './teacher-report.js';
import { convergenceWarning } from '../eval/convergence-check.js';
import { checkSamplerSettings, type SampleConfig, type TeacherSummary } from './sample-config.js';
import {
  checkShardRange,
  checkShardSettings,
  lockFile,
  readShardRecords,
  samplesFile,
  stateFile,
  traceFile,
  writeShardComplete,
  writeShardStart,
} from './teacher-shards.js';

export interface SampleOptions extends StageContext {
  run: string;
  /** First global chain index of this process's shard. */
  chainOffset?: number;
  resume?: boolean;
  /** A failed convergence check (docs/design.md §4.5) is an error, after the finished run is written. */
  strictDiagnostics?: boolean;
  /** Where the target transform was set, for its errors (default `--target-transform`). */
  targetTransformSetting?: string;
}

export interface SampleResult {
  runDir: string;
  completed: boolean;
  summary: TeacherSummary | null;
}

/** Refuses to replace a run while any of its shards is being written by a live process. */
async function checkNoLiveShard(runDir: string, run: string): Promise<void> {
  for (const f of await fs.readdir(runDir).catch(() => [] as string[])) {
    if (!f.startsWith('.lock-c')) continue;
    const owner = await lockOwner(path.join(runDir, f));
    if (owner)
      throw new UserError(
        `run '${run}' is being written by process ${owner.pid} on ${owner.host}; stop it before replacing the run`,
      );
  }
}

/** Training tensors of a part: x [n, ...example] and y [n] (float32 standardized target, or int32 labels). */
export function partTensors(exampleShape: number[], part: PartArrays): { x: tf.Tensor; y: tf.Tensor } {
  const x = tf.tensor(part.x, [part.rows, ...exampleShape]);
  const y = part.y instanceof Int32Array ? tf.tensor1d(part.y, 'int32') : tf.tensor1d(part.y, 'float32');
  return { x, y };
}

/**
 * Samples a teacher posterior (docs/design.md §1) and writes the run folder: `spec.json`, `config.json`,
 * `samples-c<offset>.arrow` (Arrow IPC stream, one record per sample, appended as drawn),
 * `trace-c<offset>.csv`, `state-c<offset>.bin` (resumable chain state), `shard-c<offset>.json` (the
 * shard's record, with its completion record once done; docs/design.md §6.4) and, when done,
 * `teacher.json` with the ensemble's test metrics and convergence diagnostics.
 */
export async function sampleTeacher(requested: SampleConfig, opts: SampleOptions): Promise<SampleResult> {
  const runDir = runPath(opts.run, opts.runsDir);
  // --force replaces the whole run: it holds the run's lock from before anything is removed to the end.
  let runLock: RunFolderLock | null = null;
  if (opts.force) {
    await checkNoLiveShard(runDir, opts.run);
    runLock = await lockRunFolder(runDir, `run '${opts.run}'`);
  }
  try {
    return await sampleRun(requested, opts, runDir, runLock);
  } finally {
    await runLock?.release();
  }
}

async function sampleRun(
  requested: SampleConfig,
  opts: SampleOptions,
  runDir: string,
  runLock: RunFolderLock | null,
): Promise<SampleResult> {
  const log = opts.log ?? (() => {});
  const offset = opts.chainOffset ?? 0;
  const configPath = path.join(runDir, 'config.json');
  let config = requested;
  const shardExists =
    (await pathExists(samplesFile(runDir, offset))) || (await pathExists(stateFile(runDir, offset)));
  let stored: SampleConfig | null = null;
  // A shard resumed runs the chains it was started with (shards may differ in their number of chains).
  let shardChains = requested.chains;
  if (await pathExists(configPath)) {
    stored = JSON.parse(await fs.readFile(configPath, 'utf8')) as SampleConfig;
    if (runLock) {
      stored = null; // replaced: emptied once every check below has passed
    } else if (opts.resume) {
      checkResumeSettings(opts.run, configPath, stored, requested, opts.explicit, ['samples']);
      config = { ...stored, samples: Math.max(stored.samples, requested.samples) };
      shardChains = (await readShardRecords(runDir)).get(offset)?.chains ?? stored.chains;
      if (!shardExists) {
        await checkShardRange(opts.run, runDir, offset, shardChains);
        log(
          `run '${opts.run}' has no saved chains from ${offset} (killed before its first write): starting them`,
        );
      }
    } else if (!shardExists) {
      // A new chain shard: the run's settings, and chains no other shard holds (docs/design.md §6.4).
      checkShardSettings(opts.run, stored, requested, offset);
      await checkShardRange(opts.run, runDir, offset, requested.chains);
      log(`adding chains ${offset}..${offset + requested.chains - 1} to run '${opts.run}'`);
    } else {
      throw new UserError(
        `run '${opts.run}' already exists at ${runDir}; pass --resume to continue it or --force to replace it`,
      );
    }
  } else if (opts.resume) {
    throw new UserError(`cannot resume run '${opts.run}': ${configPath} not found`);
  }

  checkSamplerSettings(config, opts.explicit);
  // The config's target transform (a resumed run's own) applied to the data as it is loaded.
  const ds = withTargetTransform(
    await loadDataset(config.dataset, opts.dataDir),
    config.targetTransform ?? 'none',
    opts.targetTransformSetting,
  );
  const task = ds.meta.task;
  const train = partArrays(ds, config.split, config.trainOn);
  if (config.evaluateOn === 'validation' && config.trainOn !== 'train') {
    throw new UserError(
      'scoring on the validation rows needs --train-on train (the whole training part includes them)',
    );
  }
  const test = partArrays(ds, config.split, config.evaluateOn ?? 'test');
  if (config.variancePriorPrecision !== undefined && !config.heteroscedastic)
    throw new UserError(
      '--variance-prior-precision needs --heteroscedastic (it is the prior of the log-variance output)',
    );
  if (config.heteroscedastic && task !== 'regression')
    throw new UserError(
      `--heteroscedastic needs a regression dataset; '${config.dataset}' is classification`,
    );
  const outputUnits = teacherOutputUnits(task, ds.meta.classCount, config.heteroscedastic);
  const analysis = await resolveArch(config.arch, { input: inputShape(ds), outputUnits });
  checkAugmentation(config.augment, inputShape(ds), '--augment');
  // Every check has passed: only now is a replaced run (--force) emptied.
  if (runLock) await runLock.empty();
  await fs.mkdir(runDir, { recursive: true });
  const lock = await acquireLock(lockFile(runDir, offset), `run '${opts.run}' chains from ${offset}`);
  try {
    // Another command holding the whole run (a --force replacing it) excludes every shard writer.
    await checkNotLocked(runDir, `run '${opts.run}'`, (f) => f === RUN_LOCK);
    return await sampleLocked();
  } finally {
    await lock.release();
  }

  async function sampleLocked(): Promise<SampleResult> {
    const configChanged = opts.resume && stored !== null && config.samples !== stored.samples; // resumed to a larger count
    if (!(await pathExists(configPath)) || opts.force || configChanged) {
      await writeFileAtomic(path.join(runDir, 'spec.json'), JSON.stringify(analysis.spec, null, 2) + '\n');
      await writeFileAtomic(
        configPath,
        JSON.stringify({ ...config, datasetChecksum: ds.meta.checksum }, null, 2) + '\n',
      );
    }

    const model: PosteriorModel = {
      analysis,
      task,
      dataSize: train.rows,
      priorPrecision: config.priorPrecision,
      noise: noiseModel(task, config.noisePrecision, config.noisePrior, config.heteroscedastic),
      ...variancePrior(config),
    };
    const C = shardChains;
    // The shard's record loses any completion record before the first sample is written or cut.
    await writeShardStart(runDir, offset, C, config.samples);
    const seeds = Array.from({ length: C }, (_, c) => chainSeed(config.seed, offset + c));
    const sFile = samplesFile(runDir, offset);

    const createWriter = () =>
      SampleWriter.create(
        sFile,
        analysis.parameterCount,
        { run: opts.run, chainOffset: offset, arch: analysis.spec.name, task },
        { weightDtype: config.sampleDtype ?? 'float32' },
      );
    // Resume: the state says how many samples it accounts for; samples drawn after it are cut and redrawn.
    let resume: ChainSnapshot | undefined;
    let writer: SampleWriter;
    if (config.sampler === 'dropout') {
      // MC-dropout training keeps no resumable state: an interrupted shard starts over.
      if (opts.resume) await fs.rm(sFile, { force: true });
      writer = await createWriter();
    } else if (opts.resume && (await pathExists(stateFile(runDir, offset)))) {
      const st = await loadChainState<
        Omit<ChainSnapshot, 'weights' | 'logNoisePrecision' | 'auxWeights' | 'auxLogNoisePrecision'>
      >(stateFile(runDir, offset));
      const arr = st.arrays;
      resume = {
        ...st.meta,
        weights: arr.weights,
        logNoisePrecision: arr.logNoisePrecision ?? null,
        auxWeights: arr.auxWeights ?? null,
        auxLogNoisePrecision: arr.auxLogNoisePrecision ?? null,
      };
      writer = await SampleWriter.openForAppend(sFile, resume.samplesDrawn * C);
      await truncateTrace(traceFile(runDir, offset), resume.step);
      log(
        `resuming run '${opts.run}' chains ${offset}..${offset + C - 1} at step ${resume.step} with ${resume.samplesDrawn} samples per chain`,
      );
    } else if (opts.resume && (await pathExists(sFile))) {
      writer = await SampleWriter.openForAppend(sFile, 0); // killed before the first state save: start over
      await fs.rm(traceFile(runDir, offset), { force: true });
    } else {
      writer = await createWriter();
    }

    const trace: string[] = [];
    if (!(await pathExists(traceFile(runDir, offset))))
      await fs.writeFile(traceFile(runDir, offset), 'step,chain,logLikelihood,stepSize\n');
    const flushTrace = async () => {
      if (trace.length) await fs.appendFile(traceFile(runDir, offset), trace.splice(0).join(''));
    };
    const onTrace = (points: TracePoint[]) => {
      for (const p of points) trace.push(`${p.step},${offset + p.chain},${p.logLikelihood},${p.stepSize}\n`);
    };
    const saveState = async (snap: ChainSnapshot) => {
      const { weights, logNoisePrecision, auxWeights, auxLogNoisePrecision, ...meta } = snap;
      const arrays: Record<string, Float32Array> = { weights };
      if (logNoisePrecision) arrays.logNoisePrecision = logNoisePrecision;
      if (auxWeights) arrays.auxWeights = auxWeights;
      if (auxLogNoisePrecision) arrays.auxLogNoisePrecision = auxLogNoisePrecision;
      await saveChainState(stateFile(runDir, offset), meta, arrays);
    };

    const started = Date.now();
    const { x, y } = partTensors(inputShape(ds), train);
    let result: { completed: boolean; snapshot: ChainSnapshot | null };
    try {
      log(
        `sampling ${config.sampler} on ${config.dataset} split ${config.split} (${train.rows} rows), ${analysis.spec.name} (${analysis.parameterCount} parameters), ` +
          `${C} chain${C > 1 ? 's' : ''} from ${offset}: ` +
          (config.sampler === 'dropout'
            ? `${config.burnIn} Adam steps with dropout ${config.dropoutRate}, then ${config.samples} masks`
            : `${config.burnIn} burn-in + ${config.samples}×${config.thin} steps`),
      );
      let lastLl = NaN;
      if (config.sampler === 'dropout') {
        const completed = await runMcDropout({
          model,
          settings: {
            rate: config.dropoutRate,
            steps: config.burnIn,
            learningRate: config.stepSize,
            batchSize: config.batchSize,
            samples: config.samples,
            ...(config.augment ? { augment: config.augment } : {}),
          },
          x,
          y,
          seeds,
          signal: opts.signal,
          onProgress: opts.onProgress,
          onSamples: async (samples) =>
            writer.append(samples.map((s) => ({ ...s, chain: offset + s.chain }))),
        });
        result = { completed, snapshot: null };
      } else
        result = await runChains({
          model,
          settings: config,
          x,
          y,
          seeds,
          resume,
          onTrace: (pts) => {
            lastLl = pts.reduce((s, p) => s + p.logLikelihood, 0) / pts.length;
            onTrace(pts);
          },
          onSamples: async (samples, snapshot) => {
            await writer.append(samples.map((s) => ({ ...s, chain: offset + s.chain })));
            await flushTrace();
            await saveState(snapshot());
          },
          onCheckpoint: async (snapshot) => {
            await flushTrace();
            await saveState(snapshot);
          },
          onProgress: (step, total) => opts.onProgress?.(step, total, `ll ${lastLl.toFixed(3)}`),
          signal: opts.signal,
        });
      await flushTrace();
      if (result.snapshot) await saveState(result.snapshot);
    } finally {
      await writer.close();
      tf.dispose([x, y]);
    }
    if (!result.completed) {
      log(
        `interrupted at step ${result.snapshot?.step ?? '(dropout training)'}; continue with: bdk sample --resume --run ${opts.run}${offset ? ` --chain-offset ${offset}` : ''}`,
      );
      return { runDir, completed: false, summary: null };
    }
    await writeShardComplete(runDir, offset, C, config.samples);
    const summary = await evaluateTeacher(
      runDir,
      opts.run,
      config,
      ds,
      analysis,
      test,
      (Date.now() - started) / 1000,
    );
    // A teacher whose ensemble predicts NaN or infinity is not written as finished (no teacher.json).
    const rhat = summary.diagnostics.logLikelihood.rhat;
    requireFiniteMetrics(
      summary.metrics,
      `sample: the ensemble's test metrics of run '${opts.run}' are not finite (log-likelihood split R-hat ${Number.isFinite(rhat) ? rhat.toFixed(2) : String(rhat)})`,
      config.sampler === 'dropout'
        ? `the network diverged: use a smaller --step-size (the learning rate, now ${config.stepSize}) and --force`
        : `the chains diverged: use a smaller --step-size (now ${config.stepSize}) and --force`,
    );
    await writeFileAtomic(path.join(runDir, 'teacher.json'), JSON.stringify(summary, null, 2) + '\n');
    const issues = summary.diagnostics.warnings ?? [];
    if (issues.length && opts.strictDiagnostics)
      throw new UserError(
        `sample: ${convergenceWarning(opts.run, issues)}; --strict-diagnostics makes this an error (the run is kept)`,
      );
    if (issues.length) log(`warning: ${convergenceWarning(opts.run, issues)}`, 'warning');
    return { runDir, completed: true, summary };
  }
}

async function truncateTrace(file: string, step: number): Promise<void> {
  const text = await fs.readFile(file, 'utf8').catch(() => null);
  if (text === null) return;
  const lines = text.split('\n').filter(Boolean);
  const kept = [lines[0], ...lines.slice(1).filter((l) => Number(l.split(',')[0]) <= step)];
  await writeFileAtomic(file, kept.join('\n') + '\n');
}
