import { arraySize, arrayUnit, gatherScript, indexScript, type EmitSettings } from './emit-scripts.js';

/**
 * A Slurm job array (`#SBATCH --array=0-(N-1)`): task i reads `SLURM_ARRAY_TASK_ID` and runs split
 * `splits[i]` (or, with chain shards, one teacher shard) into `$BDK_SHARDS/<i>`; a second job, submitted with `--dependency=afterok` on the
 * array, gathers the shards and runs the pipeline to the end. `submit.sh` submits both from the folder
 * the files are in (a filesystem the compute nodes share, as Slurm clusters have).
 */
export function slurmFiles(s: EmitSettings): Record<string, string> {
  const name = s.config.name;
  const n = arraySize(s);
  const what = s.shards
    ? `${n} chain shard${n > 1 ? 's' : ''} (${s.shards.chains} chain${s.shards.chains > 1 ? 's' : ''} each)`
    : `${n} split${n > 1 ? 's' : ''}`;
  const throttle = s.parallelism !== undefined && s.parallelism < n ? `%${s.parallelism}` : '';
  const header = (job: string, extra: string[] = []) => [
    '#!/bin/bash',
    `#SBATCH --job-name=${job}`,
    `#SBATCH --cpus-per-task=${s.cpus}`,
    `#SBATCH --mem=${s.memoryGiB}G`,
    ...extra,
    `#SBATCH --output=logs/%x-%A_%a.out`,
    '# Submitted by submit.sh, which sets BDK_EMIT_DIR (this folder); BDK may name the command (default bdk).',
    'set -euo pipefail',
    ': "${BDK_EMIT_DIR:?run submit.sh, or set BDK_EMIT_DIR to the folder of this script}"',
    `export BDK_PIPELINE="\${BDK_PIPELINE:-$BDK_EMIT_DIR/${s.pipelineFile}}"`,
    'export BDK_SHARDS="${BDK_SHARDS:-$BDK_EMIT_DIR/shards}"',
    'export CI=true',
  ];
  return {
    'array.sbatch': [
      ...header(`${name}-${arrayUnit(s)}`, [`#SBATCH --array=0-${n - 1}${throttle}`]),
      ': "${SLURM_ARRAY_TASK_ID:?not an array task}"',
      ...indexScript(s, 'SLURM_ARRAY_TASK_ID'),
      '',
    ].join('\n'),
    'gather.sbatch': [
      ...header(`${name}-gather`),
      'export BDK_DATA_DIR="${BDK_DATA_DIR:-$BDK_EMIT_DIR/datasets}"',
      'export BDK_RUNS_DIR="${BDK_RUNS_DIR:-$BDK_EMIT_DIR/checkpoints}"',
      ...gatherScript(s),
      '',
    ].join('\n'),
    'submit.sh': [
      '#!/usr/bin/env bash',
      `# Submits pipeline '${name}': the array of ${what}, then the gather step once every task succeeded.`,
      'set -euo pipefail',
      'cd "$(dirname "$0")"',
      'export BDK_EMIT_DIR="$PWD"',
      'mkdir -p logs',
      'array=$(sbatch --parsable array.sbatch)',
      'gather=$(sbatch --parsable --dependency=afterok:"${array%%;*}" gather.sbatch)',
      'echo "submitted array job $array and gather job $gather; results in ${BDK_RUNS_DIR:-$BDK_EMIT_DIR/checkpoints}"',
      '',
    ].join('\n'),
    [s.pipelineFile]: s.pipelineText,
  };
}
