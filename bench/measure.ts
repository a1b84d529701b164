import { performance } from 'node:perf_hooks';

/** One reported figure. Every figure with a meaningful relation to the yardstick carries a ratio. */
export interface Figure {
  /** Machine-readable id, e.g. `sgld.mlp-400-400.gflops`. */
  key: string;
  section: string;
  label: string;
  value: number;
  unit: string;
  /** The figure relative to the yardstick measured in the same run, and what that ratio means. */
  ratio?: { value: number; meaning: string };
  /** A target from the issue; `on` says whether it applies to the value or to the ratio. */
  target?: { op: '>=' | '<' | '<='; value: number; on: 'value' | 'ratio'; text: string };
  pass?: boolean;
  note?: string;
}

export function withTarget(f: Figure, target: NonNullable<Figure['target']>): Figure {
  const x = target.on === 'value' ? f.value : f.ratio?.value;
  const pass =
    x === undefined || !Number.isFinite(x)
      ? false
      : target.op === '>='
        ? x >= target.value
        : target.op === '<'
          ? x < target.value
          : x <= target.value;
  return { ...f, target, pass };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface RepeatOptions {
  /** Untimed calls first (kernel compilation, allocation of the wasm heap). */
  warmup: number;
  /** At least this many timed calls … */
  minRepeats: number;
  /** … and then more until the timed calls have taken this long (or `maxRepeats`). */
  budgetMs: number;
  maxRepeats: number;
}

/**
 * Times `fn` (which must leave its results synchronised, e.g. by `dataSync`) after a warm-up: returns
 * the wall time of every timed call in ms.
 */
export async function timeRepeats(fn: () => void | Promise<void>, o: RepeatOptions): Promise<number[]> {
  for (let i = 0; i < o.warmup; i++) await fn();
  const times: number[] = [];
  const started = performance.now();
  while (
    times.length < o.minRepeats ||
    (times.length < o.maxRepeats && performance.now() - started < o.budgetMs)
  ) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

export const now = (): number => performance.now();

export const round = (x: number, digits = 3): number => {
  if (!Number.isFinite(x) || x === 0) return x;
  const scale = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * scale) / scale;
};
