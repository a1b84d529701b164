import { UserError } from '../core/errors.js';
import { describeBackend, requestedBackend, selectBackend } from '../backend/select.js';
import { runPipeline, type StageName } from '../pipeline/run.js';
import type { PipelineConfig } from '../pipeline/schema.js';
import { checkTeacherShard, sampleTeacherShard, type TeacherShard } from '../pipeline/teacher-shard.js';
import { runStage } from './interrupt.js';
import { formatMetrics, printJson } from './options.js';
import { shows } from './output-level.js';

export interface TeacherShardFlags {
  chainOffset?: number;
  chains?: number;
  stages?: StageName[];
  splits?: number[];
  backend?: string;
  force?: boolean;
  json?: boolean;
}

/** Whether `bdk run` was asked for one teacher shard (`--chain-offset`, `--chains`). */
export const wantsTeacherShard = (o: TeacherShardFlags) =>
  o.chainOffset !== undefined || o.chains !== undefined;

/** The shard `--chain-offset K --chains C` asks for, refused unless it is one split's sample stage. */
export function teacherShardFrom(config: PipelineConfig, o: TeacherShardFlags): TeacherShard {
  if (o.chainOffset === undefined)
    throw new UserError("--chains needs --chain-offset K, the shard's first chain");
  if (o.chains === undefined)
    throw new UserError("--chain-offset needs --chains C, the shard's number of chains");
  const stages = o.stages ?? [];
  if (!stages.includes('sample') || stages.some((s) => s !== 'prepare' && s !== 'sample'))
    throw new UserError(
      `--chain-offset/--chains sample one teacher shard: give --stages sample (or prepare,sample), found ${o.stages ? o.stages.join(',') : 'every stage'}`,
    );
  if (o.splits?.length !== 1)
    throw new UserError(
      `--chain-offset/--chains sample one split's teacher shard: give --splits k with one split, found ${o.splits ? o.splits.join(',') : 'none'}`,
    );
  const shard = { split: o.splits[0], chainOffset: o.chainOffset, chains: o.chains };
  checkTeacherShard(config, shard);
  return shard;
}

/**
 * `bdk run FILE --stages [prepare,]sample --splits k --chain-offset K --chains C`: samples chains
 * K..K+C−1 of split k's teacher as the pipeline configures it (docs/scale.md), for `bdk gather --into`.
 */
export async function runTeacherShard(file: string, config: PipelineConfig, o: TeacherShardFlags) {
  const shard = teacherShardFrom(config, o);
  const log = (line: string, kind?: Parameters<typeof shows>[0]) => {
    if (!o.json && shows(kind)) console.log(line);
  };
  if (o.stages!.includes('prepare'))
    await runPipeline(config, { file, stages: ['prepare'], force: o.force, log });
  const choice = requestedBackend(o.backend ?? config.backend);
  const backend = await selectBackend(choice);
  log(describeBackend(backend, choice));
  const range = `chains ${shard.chainOffset}..${shard.chainOffset + shard.chains - 1}`;
  const result = await runStage(`sample split ${shard.split} ${range}`, o.json, async (hooks) => {
    const r = await sampleTeacherShard(config, shard, { ...hooks, force: o.force });
    return { ...r, completed: r.summary !== null };
  });
  if (!result) return;
  if (o.json) return printJson({ pipeline: config.name, ...shard, ...result });
  const how = result.cached ? 'up to date' : `sampled in ${result.summary!.seconds.toFixed(1)} s`;
  console.log(
    `split ${shard.split}: ${range} of teacher ${result.run} ${how}; the shard's ensemble on the test split: ${formatMetrics(result.summary!.metrics)}`,
  );
}
