import type { LogLine } from '../core/log-line.js';
import type { StageContext } from '../stages/context.js';

/** The stages a pipeline runs once per split. */
export type SplitStage = 'sample' | 'search' | 'distill' | 'evaluate';

/** One split's run of a per-split stage starts, or ends (`cached`: it was already complete). */
export interface UnitEvent {
  stage: SplitStage;
  split: number;
  phase: 'start' | 'end';
  cached?: boolean;
}

/**
 * The context of one split's run inside a pipeline. Its lines become `detail` (shown with `--verbose`):
 * a pipeline over 20 splits would print every line 20 times, and the stage's end gives the headline
 * over splits. Warnings stay warnings, unless the stage gathers them into one line. The run's start and end reach `onUnit`, which drives the
 * progress line across splits and processes.
 */
export function splitScope<O extends StageContext & { onUnit?: (e: UnitEvent) => void }>(
  opts: O,
  stage: SplitStage,
  split: number,
  /** The stage gathers its splits' warnings into one line of its own: theirs are detail too. */
  warningsGathered = false,
): { opts: O; log: LogLine; end: (cached: boolean) => void } {
  opts.onUnit?.({ stage, split, phase: 'start' });
  const log: LogLine = (line, kind) =>
    opts.log?.(line, kind === 'warning' && !warningsGathered ? 'warning' : 'detail');
  return {
    opts: { ...opts, log },
    log,
    end: (cached) => opts.onUnit?.({ stage, split, phase: 'end', cached }),
  };
}
