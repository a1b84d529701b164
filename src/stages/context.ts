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
  log?: (line: string) => void;
  onProgress?: (step: number, total: number, info: string) => void;
}
