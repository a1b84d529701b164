import { UserError } from './errors.js';

/**
 * The non-finite guard of every stage boundary (docs/cli.md, "Exit codes"): samples, losses, metrics and
 * weights are checked where they cross from one stage to the next, and a NaN or an infinity stops the
 * command with a one-line error instead of travelling on to a report or an exported model.
 */

/** The index of the first value that is NaN or infinite, or -1 when all are finite. */
export function firstNonFinite(xs: ArrayLike<number>): number {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) return i;
  return -1;
}

/**
 * Throws a `UserError` when some value of `xs` is not finite: `where(i, value)` is the message's
 * subject for the first one (which file, stage, row or parameter) and `fix` what the user can do.
 */
export function requireFinite(
  xs: ArrayLike<number>,
  where: (index: number, value: number) => string,
  fix: string,
): void {
  const i = firstNonFinite(xs);
  if (i >= 0) throw new UserError(`${where(i, xs[i])}; ${fix}`);
}

/** Throws a `UserError` naming the first metric of `metrics` that is not finite. */
export function requireFiniteMetrics(
  metrics: Record<string, number | null>,
  what: string,
  fix: string,
): void {
  for (const [name, v] of Object.entries(metrics))
    if (v === null || !Number.isFinite(v))
      throw new UserError(`${what}: ${name} is ${v === null ? 'not a number' : String(v)}; ${fix}`);
}
