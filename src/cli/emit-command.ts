import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { emitEngine } from '../pipeline/emit-engine.js';
import { arraySize, chainShards, ENGINES, type Engine } from '../pipeline/emit-scripts.js';
import { runPipeline } from '../pipeline/run.js';
import type { PipelineConfig } from '../pipeline/schema.js';
import { pipelineSplits } from '../pipeline/split-run.js';
import { printJson } from './options.js';

export interface EmitFlags {
  emit: string;
  out?: string;
  parallelism?: number;
  image?: string;
  cpus: number;
  memory: number;
  force?: boolean;
  json?: boolean;
  chainsPerShard?: number;
  chainOffset?: number;
  chains?: number;
}

/** `bdk run FILE --emit ENGINE --out DIR`: writes the engine's files for the pipeline's split array. */
export async function emitPipeline(file: string, config: PipelineConfig, o: EmitFlags): Promise<void> {
  if (!(ENGINES as readonly string[]).includes(o.emit))
    throw new UserError(`--emit: expected one of ${ENGINES.join(', ')}, found '${o.emit}'`);
  if (!o.out) throw new UserError('--emit needs --out DIR, the folder to write the files into');
  if (o.chainOffset !== undefined || o.chains !== undefined)
    throw new UserError(
      '--chain-offset/--chains sample one teacher shard here; to shard an emitted array use --chains-per-shard',
    );
  const shards = o.chainsPerShard === undefined ? undefined : chainShards(config, o.chainsPerShard);
  const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  // With `use: "all"` the number of splits is the prepared dataset's: prepare it here first.
  if (config.dataset.use === 'all') await runPipeline(config, { file, stages: ['prepare'] });
  const splits = await pipelineSplits(config.dataset.name, config.dataset.use);
  const settings = {
    engine: o.emit as Engine,
    config,
    pipelineText: await fs.readFile(file, 'utf8'),
    pipelineFile: path.basename(file),
    splits,
    ...(shards ? { shards } : {}),
    parallelism: o.parallelism,
    image: o.image ?? `bdk:${version}`,
    cpus: o.cpus,
    memoryGiB: o.memory,
    version,
  };
  const files = await emitEngine(settings, o.out, o.force);
  const n = arraySize(settings);
  if (o.json)
    return printJson({
      pipeline: config.name,
      engine: o.emit,
      out: o.out,
      splits,
      shards,
      indices: n,
      files,
    });
  const plural = (k: number, word: string) => `${k} ${word}${k > 1 ? 's' : ''}`;
  const array = shards
    ? `${plural(n, 'chain shard')} (${plural(splits.length, 'split')} × ${plural(shards.perSplit, 'shard')} of ${plural(shards.chains, 'chain')})`
    : `${plural(n, 'split')} (${splits.join(', ')})`;
  console.log(
    `wrote ${files.join(', ')} to ${o.out}: ${o.emit} array of ${array}, then a gather step; run ${path.join(o.out, 'submit.sh')}`,
  );
}
