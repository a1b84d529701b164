import type { PipelineConfig } from './schema.js';
import { plannedStages, type StageName } from './run.js';

/** What both batch engines' files share (src/pipeline/emit-engine.ts writes them; docs/scale.md). */

export const ENGINES = ['kubernetes', 'slurm'] as const;
export type Engine = (typeof ENGINES)[number];

export interface EmitSettings {
  engine: Engine;
  /** The pipeline as given, and its name in the emitted folder. */
  config: PipelineConfig;
  pipelineText: string;
  pipelineFile: string;
  /** The splits in array order: index i runs splits[i]. */
  splits: number[];
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

/** The stages an array index runs for its split: the pipeline's own, up to evaluate. */
export function arrayStages(config: PipelineConfig): StageName[] {
  return plannedStages(config).filter((s) => s !== 'export');
}

/** Shell lines common to both engines: an array index's work, given `$INDEX`, `$BDK_SHARDS`, `$BDK_PIPELINE`. */
export function indexScript(s: EmitSettings, indexVar: string): string[] {
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
  return [
    `mkdir -p "$BDK_DATA_DIR" "$BDK_RUNS_DIR"`,
    `shards=""`,
    `for i in ${s.splits.map((_, i) => i).join(' ')}; do shards="$shards $BDK_SHARDS/$i/checkpoints"; done`,
    `${'$'}{BDK:-bdk} gather --pipeline "$BDK_PIPELINE" $shards`,
    `exec ${'$'}{BDK:-bdk} run "$BDK_PIPELINE" --jobs 1`,
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
