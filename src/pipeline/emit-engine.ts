/**
 * `bdk run PIPELINE --emit kubernetes|slurm --out DIR` (docs/scale.md): what a batch engine needs to run
 * a pipeline's per-split work as an array — index i runs split `splits[i]` (prepare, sample, search,
 * distill, evaluate) into its own data and runs folders — followed by one gather step that collects the
 * splits' runs (`bdk gather --pipeline`) and runs the pipeline to the end (evaluate over all splits,
 * export). Nothing is shared while the array runs but the folder each index writes its own subfolder of.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import { UserError } from '../core/errors.js';
import { kubernetesFiles } from './emit-kubernetes.js';
import { slurmFiles } from './emit-slurm.js';
import type { EmitSettings } from './emit-scripts.js';

/** Checks what an engine cannot carry, and writes the engine's files into `out`; returns their names. */
export async function emitEngine(s: EmitSettings, out: string, force?: boolean): Promise<string[]> {
  if (s.config.dataset.import)
    throw new UserError(
      `--emit: pipeline '${s.config.name}' imports ${s.config.dataset.import.file}; prepare it with \`bdk data import\` into an Arrow file the jobs can read, and name that dataset instead`,
    );
  if (s.parallelism !== undefined && s.parallelism < 1)
    throw new UserError(`--parallelism: expected a positive integer, found ${s.parallelism}`);
  const files = s.engine === 'kubernetes' ? kubernetesFiles(s) : slurmFiles(s);
  const existing = await fs.readdir(out).catch(() => [] as string[]);
  const clash = Object.keys(files).filter((f) => existing.includes(f));
  if (clash.length && !force)
    throw new UserError(
      `${path.join(out, clash[0])} already exists; pass --force to replace the emitted files`,
    );
  await fs.mkdir(out, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(out, name);
    await writeFileAtomic(file, text);
    if (name.endsWith('.sh') || name.endsWith('.sbatch')) await fs.chmod(file, 0o755);
  }
  return Object.keys(files);
}
