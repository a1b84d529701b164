import type { LineKind } from '../core/log-line.js';

/**
 * How much a command prints (`--quiet`, default, `--verbose`). `quiet`: errors and the final result
 * only (no progress, no stage lines, no warnings); `normal`: stage starts and ends with their headline
 * figures, warnings and progress; `verbose`: also every `detail` line (per epoch, per split).
 */
export type OutputLevel = 'quiet' | 'normal' | 'verbose';

let level: OutputLevel = 'normal';

export function setOutputLevel(l: OutputLevel): void {
  level = l;
}

export function outputLevel(): OutputLevel {
  return level;
}

/** Whether a line of this kind is printed at `at` (the current level by default). */
export function shows(kind: LineKind = 'info', at: OutputLevel = level): boolean {
  if (at === 'quiet') return false;
  return kind !== 'detail' || at === 'verbose';
}
