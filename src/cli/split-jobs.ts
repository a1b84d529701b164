import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { UserError } from '../core/errors.js';
import type { LogLine } from '../core/log-line.js';
import type { StageName } from '../pipeline/run.js';
import type { UnitEvent } from '../pipeline/split-scope.js';
import { parseChildLine } from './child-events.js';

/** Set in the environment of a child process of `bdk run --jobs` (internal). */
export const PIPELINE_CHILD_ENV = 'BDK_PIPELINE_CHILD';

/** The stages whose work is one independent run per split, so separate processes can share them out. */
export const PER_SPLIT_STAGES: readonly StageName[] = ['sample', 'search', 'distill', 'evaluate'];

/** Splits dealt round-robin to at most `jobs` groups (split i to group i mod jobs). */
export function dealSplits(splits: readonly number[], jobs: number): number[][] {
  const n = Math.max(1, Math.min(jobs, splits.length));
  const groups: number[][] = Array.from({ length: n }, () => []);
  splits.forEach((k, i) => groups[i % n].push(k));
  return groups;
}

export interface SplitJobsOptions {
  /** The pipeline file, as the user gave it. */
  file: string;
  groups: number[][];
  stages: StageName[];
  force?: boolean;
  backend?: string;
  signal: AbortSignal;
  /** A child's line, prefixed with its split, and of the kind the child gave it. */
  log: LogLine;
  /** A child's stderr line (its error), prefixed. */
  error: (line: string) => void;
  /** A child's split run starts or ends; its loop advances (`group`: the child's index in `groups`). */
  onUnit: (e: UnitEvent, group: number) => void;
  onStep: (step: number, total: number, info: string, group: number) => void;
}

/**
 * Runs `bdk run FILE --stages STAGES --splits GROUP` in one child process per group, all at once. Each
 * child reports events (child-events.ts); its lines are relayed under the prefix of the split it is
 * running (`[s7]`; its splits, `[s0,2]`, before it starts one). Every split's run is seeded on
 * its own, so the runs are the same as one process would write. Returns false when interrupted (Ctrl-C
 * reaches the children too, which save their state); a child that fails stops the others and is
 * reported with its last error line.
 */
export async function runSplitJobs(o: SplitJobsOptions): Promise<boolean> {
  const entry = process.argv[1];
  const children: ChildProcess[] = [];
  const stopAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGINT'));
  o.signal.addEventListener('abort', stopAll, { once: true });
  try {
    const results = await Promise.all(
      o.groups.map(
        (group, index) =>
          new Promise<{ group: number[]; code: number; lastError: string }>((resolve) => {
            const args = [
              entry,
              'run',
              o.file,
              '--stages',
              o.stages.join(','),
              '--splits',
              group.join(','),
              '--jobs',
              '1',
              ...(o.force ? ['--force'] : []),
              ...(o.backend ? ['--backend', o.backend] : []),
            ];
            // Own process group: a terminal's Ctrl-C reaches only this process, which passes on exactly one
            // SIGINT (a second would make a child quit without saving).
            const child = spawn(process.execPath, args, {
              stdio: ['ignore', 'pipe', 'pipe'],
              detached: true,
              // The child leaves the pipeline's summaries and the backend line to this process.
              env: { ...process.env, [PIPELINE_CHILD_ENV]: '1' },
            });
            children.push(child);
            let tag = `[s${group.join(',')}]`;
            let lastError = '';
            createInterface({ input: child.stdout! }).on('line', (line) => {
              const e = parseChildLine(line);
              if (!e) o.log(`${tag} ${line}`);
              else if (e.t === 'log') o.log(`${tag} ${e.text}`, e.kind);
              else if (e.t === 'step') o.onStep(e.step, e.total, e.info, index);
              else {
                if (e.phase === 'start') tag = `[s${e.split}]`;
                o.onUnit({ stage: e.stage, split: e.split, phase: e.phase, cached: e.cached }, index);
              }
            });
            createInterface({ input: child.stderr! }).on('line', (line) => {
              if (line.trim()) lastError = line.trim();
              o.error(`${tag} ${line}`);
            });
            child.on('error', (e) => {
              lastError = e.message;
            });
            child.on('close', (code, signal) => {
              const c = code ?? (signal ? 130 : 1);
              if (c !== 0 && c !== 130) stopAll();
              resolve({ group, code: c, lastError });
            });
          }),
      ),
    );
    const failed = results.find((r) => r.code !== 0 && r.code !== 130);
    if (failed)
      throw new UserError(
        `the job for split${failed.group.length > 1 ? 's' : ''} ${failed.group.join(',')} failed (exit ${failed.code}): ${failed.lastError.replace(/^bdk: /, '')}`,
      );
    return results.every((r) => r.code === 0) && !o.signal.aborted;
  } finally {
    o.signal.removeEventListener('abort', stopAll);
  }
}
