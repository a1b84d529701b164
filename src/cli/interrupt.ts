import type { LogLine } from '../core/log-line.js';
import { progressReporter } from './options.js';

/**
 * Runs a long job with Ctrl-C wired to an AbortSignal: the first SIGINT asks the job to stop after
 * its current step and save its state; a second one exits at once.
 */
export async function withInterrupt<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nbdk: interrupted; saving state (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    return await job(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** What a resumable stage command hands to its stage function. */
export interface StageHooks {
  signal: AbortSignal;
  log?: LogLine;
  onProgress: (step: number, total: number, info: string) => void;
}

/**
 * Runs a resumable stage from a command: a progress bar labelled `label` (log lines only without
 * `--json`), Ctrl-C wired to its AbortSignal, and exit code 130 when it stopped early. Returns the
 * result when it completed, else null.
 */
export async function runStage<T extends { completed: boolean }>(
  label: string,
  json: boolean | undefined,
  stage: (hooks: StageHooks) => Promise<T>,
): Promise<T | null> {
  const progress = progressReporter(label, json);
  const result = await withInterrupt((signal) =>
    stage({ signal, log: progress.log, onProgress: progress.onProgress }),
  );
  progress.done();
  if (result.completed) return result;
  process.exitCode = 130;
  return null;
}
