import { UserError } from '../core/errors.js';
import type { PipelineConfig } from './schema.js';
import { plannedStages, type StageName } from './run.js';
import { teacherRun } from './split-run.js';

/** What both batch engines' files share (src/pipeline/emit-engine.ts writes them; docs/scale.md). */

export const ENGINES = ['kubernetes', 'slurm'] as const;
export type Engine = (typeof ENGINES)[number];

export interface EmitSettings {
  engine: Engine;
  /** The pipeline as given, and its name in the emitted folder. */
  config: PipelineConfig;
  pipelineText: string;
  pipelineFile: string;
  /** The splits in array order: index i runs splits[i] (per split), or a chain shard of split splits[⌊i / perSplit⌋]. */
  splits: number[];
  /** `--chains-per-shard`: the array runs teacher chain shards, then the gather step the rest. */
  shards?: ChainShards;
  /** At most this many indices at once (default: all). */
  parallelism?: number;
  /** Container image (Kubernetes). */
  image: string;
  /** CPU cores per index. */
  cpus: number;
  /** Memory per index, GiB. */
  memoryGiB: number;
  /** bdk's version (the image tag in the Dockerfile's comment). */
  version: string;
}

/** Chain shards of each split's teacher (`--chains-per-shard c`): `perSplit` shards of `chains` chains. */
export interface ChainShards {
  chains: number;
  perSplit: number;
}

/** The shards `--chains-per-shard c` makes of the pipeline's teacher: c must divide its chains. */
export function chainShards(config: PipelineConfig, c: number): ChainShards {
  if (!config.teacher)
    throw new UserError(`--chains-per-shard: pipeline '${config.name}' has no teacher section to shard`);
  const total = config.teacher.chains;
  if (total % c !== 0)
    throw new UserError(
      `--chains-per-shard ${c} does not divide the teacher's ${total} chains (pipeline '${config.name}')`,
    );
  return { chains: c, perSplit: total / c };
}

/** The number of array indices: one per split, or one per chain shard of each split. */
export const arraySize = (s: EmitSettings) => s.splits.length * (s.shards?.perSplit ?? 1);

/** What one array index runs, in words: `split` or `chain shard`. */
export const arrayUnit = (s: EmitSettings) => (s.shards ? 'shards' : 'splits');

/** The stages an array index runs for its split: the pipeline's own, up to evaluate. */
export function arrayStages(config: PipelineConfig): StageName[] {
  return plannedStages(config).filter((s) => s !== 'export');
}

/** Shell lines common to both engines: an array index's work, given `$INDEX`, `$BDK_SHARDS`, `$BDK_PIPELINE`. */
export function indexScript(s: EmitSettings, indexVar: string): string[] {
  if (s.shards) return shardIndexScript(s, s.shards, indexVar);
  return [
    `splits="${s.splits.join(' ')}"`,
    `set -- $splits`,
    `if [ "${'$'}{${indexVar}}" -ge $# ]; then echo "index ${'$'}{${indexVar}} is past the ${s.splits.length} splits" >&2; exit 1; fi`,
    `shift "${'$'}{${indexVar}}"`,
    `split=$1`,
    `export BDK_DATA_DIR="$BDK_SHARDS/${'$'}{${indexVar}}/datasets"`,
    `export BDK_RUNS_DIR="$BDK_SHARDS/${'$'}{${indexVar}}/checkpoints"`,
    `mkdir -p "$BDK_DATA_DIR" "$BDK_RUNS_DIR"`,
    `exec ${'$'}{BDK:-bdk} run "$BDK_PIPELINE" --splits "$split" --stages ${arrayStages(s.config).join(',')} --jobs 1`,
  ];
}

/** Shell lines of the gather step: collect every index's runs, then run the pipeline to the end. */
export function gatherScript(s: EmitSettings): string[] {
  if (s.shards) return shardGatherScript(s, s.shards);
  return [
    `mkdir -p "$BDK_DATA_DIR" "$BDK_RUNS_DIR"`,
    `shards=""`,
    `for i in ${s.splits.map((_, i) => i).join(' ')}; do shards="$shards $BDK_SHARDS/$i/checkpoints"; done`,
    `${'$'}{BDK:-bdk} gather --pipeline "$BDK_PIPELINE" $shards`,
    `exec ${'$'}{BDK:-bdk} run "$BDK_PIPELINE" --jobs 1`,
  ];
}

/**
 * Index i of a chain-shard array: split `splits[⌊i / perSplit⌋]`, chains from `(i mod perSplit)·chains`,
 * sampled by `bdk run --chain-offset` into the index's own folders.
 */
function shardIndexScript(s: EmitSettings, shards: ChainShards, indexVar: string): string[] {
  const i = `${'$'}{${indexVar}}`;
  const n = arraySize(s);
  return [
    `splits="${s.splits.join(' ')}"`,
    `if [ "${i}" -ge ${n} ]; then echo "index ${i} is past the ${n} chain shards (${s.splits.length} split${s.splits.length > 1 ? 's' : ''} × ${shards.perSplit})" >&2; exit 1; fi`,
    `set -- $splits`,
    `shift $((${i} / ${shards.perSplit}))`,
    `split=$1`,
    `offset=$((${i} % ${shards.perSplit} * ${shards.chains}))`,
    `export BDK_DATA_DIR="$BDK_SHARDS/${i}/datasets"`,
    `export BDK_RUNS_DIR="$BDK_SHARDS/${i}/checkpoints"`,
    `mkdir -p "$BDK_DATA_DIR" "$BDK_RUNS_DIR"`,
    `exec ${'$'}{BDK:-bdk} run "$BDK_PIPELINE" --splits "$split" --stages prepare,sample --chain-offset "$offset" --chains ${shards.chains}`,
  ];
}

/**
 * The gather step of a chain-shard array: per split, merge its shards' teacher runs into the shared runs
 * folder (`bdk gather --into`; a split already gathered, as on a retry, is kept), then run the pipeline,
 * whose sample stage finds every teacher up to date.
 */
function shardGatherScript(s: EmitSettings, shards: ChainShards): string[] {
  const bdk = `${'$'}{BDK:-bdk}`;
  return [
    `mkdir -p "$BDK_DATA_DIR" "$BDK_RUNS_DIR"`,
    `${bdk} run "$BDK_PIPELINE" --stages prepare`,
    `j=0`,
    `for split in ${s.splits.join(' ')}; do`,
    `  run="${teacherRun(s.config.name, '$split')}"`,
    `  if [ ! -f "$BDK_RUNS_DIR/$run/teacher.json" ]; then`,
    `    set --`,
    `    i=$((j * ${shards.perSplit}))`,
    `    while [ "$i" -lt $(((j + 1) * ${shards.perSplit})) ]; do set -- "$@" "$BDK_SHARDS/$i/checkpoints/$run"; i=$((i + 1)); done`,
    `    ${bdk} gather --force --into "$run" "$@"`,
    `  fi`,
    `  j=$((j + 1))`,
    `done`,
    `exec ${bdk} run "$BDK_PIPELINE" --jobs 1`,
  ];
}

/** The image's Dockerfile, built from the root of a bdk checkout. */
export function dockerfile(version: string): string {
  return [
    '# The image bdk array jobs run. Build it from the root of a bdk checkout:',
    `#   docker build -f <this folder>/Dockerfile -t bdk:${version} .`,
    '# For a GPU image start from an NVIDIA CUDA base with Node 20 and install @tensorflow/tfjs-node-gpu',
    '# (docs/scale.md); this one runs the embedded wasm backend on the CPU.',
    'FROM node:20-bookworm-slim',
    'WORKDIR /opt/bdk',
    'COPY package.json package-lock.json ./',
    '# No install scripts: tfjs-node would download libtensorflow; without it `auto` selects wasm.',
    'RUN npm ci --ignore-scripts --no-audit --no-fund',
    'COPY . .',
    'RUN npm run build && npm link',
    'ENV CI=true',
    'USER node',
    'ENTRYPOINT []',
    '',
  ].join('\n');
}

/** What the image build leaves out (BuildKit reads `Dockerfile.dockerignore` beside the Dockerfile). */
export const DOCKERIGNORE = [
  'node_modules',
  'dist',
  'datasets/*.arrow',
  'datasets/*.json',
  'checkpoints/*',
  '.git',
  '',
].join('\n');
