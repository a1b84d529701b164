import type { LineKind } from '../core/log-line.js';
import type { UnitEvent } from '../pipeline/split-scope.js';

/**
 * How a child process of `bdk run --jobs` reports to its parent: one JSON event per stdout line after
 * this prefix. The parent chooses what to print (its `--quiet`/`--verbose`), prefixes lines with the
 * child's split and keeps the one progress line across children.
 */
export const EVENT_PREFIX = 'bdk-event ';

export type ChildEvent =
  | { t: 'log'; kind: LineKind; text: string }
  | ({ t: 'unit' } & UnitEvent)
  | { t: 'step'; step: number; total: number; info: string };

/** The child's reporter: every line (of every kind), split start and end, and progress at most every 200 ms. */
export function childReporter(write: (line: string) => void = (l) => process.stdout.write(l + '\n')) {
  const send = (e: ChildEvent) => write(EVENT_PREFIX + JSON.stringify(e));
  let last = -Infinity;
  return {
    log: (text: string, kind: LineKind = 'info') => send({ t: 'log', kind, text }),
    onUnit: (e: UnitEvent) => send({ t: 'unit', ...e }),
    onProgress: (step: number, total: number, info: string) => {
      const now = Date.now();
      if (step < total && now - last < 200) return;
      last = now;
      send({ t: 'step', step, total, info });
    },
  };
}

/** The event on a child's stdout line, or null for a plain line. */
export function parseChildLine(line: string): ChildEvent | null {
  if (!line.startsWith(EVENT_PREFIX)) return null;
  try {
    return JSON.parse(line.slice(EVENT_PREFIX.length)) as ChildEvent;
  } catch {
    return null;
  }
}
