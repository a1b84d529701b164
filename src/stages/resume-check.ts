import { UserError } from '../core/errors.js';

/**
 * `--resume` continues a run with its own stored settings. A setting given again on the command line
 * with another value would be silently ignored, so it is an error naming both values; the settings in
 * `extend` (a run's length: `samples`, `epochs`) are the documented exception that lengthens the run.
 */

/** `stepSize` → `--step-size`. */
export const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const show = (v: unknown) => (v === undefined ? '(not set)' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Throws when a setting in `explicit` (the flags given on the command line, by config key) has another
 * value in `requested` than in `stored`, the run's config file `configFile` (a key that one of them
 * lacks counts as a difference; one that both lack, such as a flag that is not a setting, does not).
 * The keys in `extend` are not compared.
 */
export function checkResumeSettings(
  run: string,
  configFile: string,
  stored: object,
  requested: object,
  explicit: readonly string[] | undefined,
  extend: readonly string[] = [],
): void {
  const s = stored as Record<string, unknown>;
  const r = requested as Record<string, unknown>;
  for (const key of explicit ?? []) {
    if (extend.includes(key)) continue;
    if (JSON.stringify(r[key]) !== JSON.stringify(s[key]))
      throw new UserError(
        `${flagOf(key)} ${show(r[key])} differs from run '${run}'s ${show(s[key])} (${configFile}); --resume continues a run with its own settings: leave ${flagOf(key)} out, or start a new run`,
      );
  }
}

/**
 * The settings a run of `bdk distill` or `bdk search` goes on with: `requested` for a new run; on
 * `--resume` the stored ones (checked against the explicit flags), run to the larger of the two
 * `epochs`.
 */
export function resumedConfig<C extends { epochs: number }>(
  run: string,
  folder: { configPath: string; stored: C | null },
  requested: C,
  explicit: readonly string[] | undefined,
): C {
  if (!folder.stored) return requested;
  checkResumeSettings(run, folder.configPath, folder.stored, requested, explicit, ['epochs']);
  return { ...folder.stored, epochs: Math.max(folder.stored.epochs, requested.epochs) };
}
