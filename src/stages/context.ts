import type { LogLine } from '../core/log-line.js';

/** What every long-running stage accepts from its caller (the CLI or the pipeline runner). */
export interface StageContext {
  /** Replace existing outputs whose settings or content differ. */
  force?: boolean;
  /** Folders for datasets and runs (default `datasets/`, `checkpoints/` or their environment variables). */
  dataDir?: string;
  runsDir?: string;
  /** Stop cleanly (saving state) when aborted. */
  signal?: AbortSignal;
  /** Settings (config keys) the user gave explicitly, e.g. as flags: `--resume` checks them against the run's. */
  explicit?: readonly string[];
  /** Lines for people; `detail` lines (per epoch, per split) show only with `--verbose`. */
  log?: LogLine;
  onProgress?: (step: number, total: number, info: string) => void;
}
