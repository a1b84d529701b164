/**
 * One chain shard of a pipeline's teacher (`bdk run FILE --stages sample --splits k --chain-offset K
 * --chains C`, docs/scale.md): chains K..K+C−1 of split k's teacher, with every other setting the
 * pipeline's teacher section gives, into run `<pipeline>-s<k>-teacher`. `bdk gather --into` merges the
 * shards into the run the sample stage would have written in one process.
 */
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { readJsonOrNull } from '../core/json-file.js';
import { runPath } from '../stages/run-folder.js';
import { readShardRecords } from '../stages/teacher-shards.js';
import { sampleTeacher } from '../stages/sample.js';
import type { SampleConfig, TeacherSummary } from '../stages/sample-config.js';
import type { PipelineConfig } from './schema.js';
import { teacherRun } from './split-run.js';
import type { SplitStageOptions } from './summary.js';
import { pipelineTeacher, splitTeacherConfig } from './teacher-splits.js';

export interface TeacherShard {
  split: number;
  chainOffset: number;
  chains: number;
}

/** Refuses a shard outside the pipeline's teacher: its chains must lie within the teacher's `chains`. */
export function checkTeacherShard(config: PipelineConfig, shard: TeacherShard): void {
  if (!config.teacher)
    throw new UserError(`--chains: pipeline '${config.name}' has no teacher section to sample a shard of`);
  const total = config.teacher.chains;
  const last = shard.chainOffset + shard.chains - 1;
  if (last >= total)
    throw new UserError(
      `--chain-offset ${shard.chainOffset} --chains ${shard.chains}: chains ${shard.chainOffset}..${last} are not all among the teacher's ${total} chains (0..${total - 1})`,
    );
}

/**
 * Samples the shard (resumed if interrupted, skipped when already complete with the same settings);
 * `completed` is false when interrupted. `teacher.strictDiagnostics` is left to the run that sees the
 * gathered teacher: a shard's few chains say little about convergence.
 */
export async function sampleTeacherShard(
  config: PipelineConfig,
  shard: TeacherShard,
  opts: SplitStageOptions,
): Promise<{ run: string; summary: TeacherSummary | null; cached: boolean }> {
  checkTeacherShard(config, shard);
  const { split: k, chainOffset, chains } = shard;
  const full = await splitTeacherConfig(
    pipelineTeacher(config),
    config.dataset.name,
    k,
    config.seed,
    opts.dataDir,
  );
  const sample: SampleConfig = { ...full, chains };
  const run = teacherRun(config.name, k);
  const dir = runPath(run, opts.runsDir);
  // The stored config also holds the dataset's checksum, which the comparison leaves out.
  const stored = await readJsonOrNull<SampleConfig>(path.join(dir, 'config.json'));
  const comparable = (c: SampleConfig) => JSON.stringify({ ...c, datasetChecksum: undefined });
  const same = stored !== null && comparable(stored) === comparable(sample);
  if (stored && !same && !opts.force)
    throw new UserError(`run '${run}' exists with different teacher settings; pass --force to replace it`);
  const record = same && !opts.force ? (await readShardRecords(dir)).get(chainOffset) : undefined;
  const done = await readJsonOrNull<TeacherSummary>(path.join(dir, 'teacher.json'));
  if (record?.complete && done) return { run, summary: done, cached: true };
  const result = await sampleTeacher(sample, {
    run,
    chainOffset,
    // Same settings: continue this shard, or add it to the run beside the others.
    resume: same && !opts.force,
    force: opts.force,
    dataDir: opts.dataDir,
    runsDir: opts.runsDir,
    signal: opts.signal,
    targetTransformSetting: 'teacher.targetTransform',
    // A shard's convergence warning is detail: the gathered teacher's, with every chain, is the one that counts.
    log: (line, kind) => opts.log?.(line, kind === 'warning' ? 'detail' : kind),
    onProgress: opts.onProgress,
  });
  return { run, summary: result.completed ? result.summary : null, cached: false };
}
