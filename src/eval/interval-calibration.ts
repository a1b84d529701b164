import { meanCrps } from './crps.js';
import {
  fromTransformed,
  mixtureQuantile,
  toTransformed,
  type GaussianMixtures,
} from './gaussian-mixture.js';

/**
 * Calibration of a regression predictive on the test rows (docs/design.md §4.6): for each level p the
 * fraction of targets inside the central p interval [q_(1−p)/2, q_(1+p)/2] and the interval's mean
 * width, and the mean CRPS, all in the target's original units. For a log target the interval's ends
 * are the log-scale quantiles' exponentials, so the coverage is that of the log-scale interval and the
 * width is in original units.
 */

/** The nominal levels of the central predictive intervals reported. */
export const INTERVAL_LEVELS = [0.5, 0.8, 0.9, 0.95] as const;

export interface IntervalCalibration {
  /** Per level (its decimal string: "0.5", "0.8", …), the fraction of rows whose target is in the interval. */
  coverage: Record<string, number>;
  /** Per level, the mean width of the interval in original units. */
  width: Record<string, number>;
  /** Mean CRPS in original units. */
  crps: number;
}

/** The central interval of level p of row i's predictive over u = T(y): [q_(1−p)/2, q_(1+p)/2]. */
function transformedInterval(m: GaussianMixtures, i: number, level: number): [number, number] {
  if (!(level > 0 && level < 1)) throw new Error(`centralInterval: level must be in (0, 1), got ${level}`);
  return [mixtureQuantile(m, i, (1 - level) / 2), mixtureQuantile(m, i, (1 + level) / 2)];
}

/** The central interval of level p of row i's predictive, in original units: [lower, upper]. */
export function centralInterval(m: GaussianMixtures, i: number, level: number): [number, number] {
  const [lo, hi] = transformedInterval(m, i, level);
  return [fromTransformed(m.transform, lo), fromTransformed(m.transform, hi)];
}

/**
 * Coverage and mean width of the central intervals at `levels`, and the mean CRPS, of the predictives
 * `m` at the targets `y` (original units).
 */
export function intervalCalibration(
  m: GaussianMixtures,
  y: ArrayLike<number>,
  levels: readonly number[] = INTERVAL_LEVELS,
): IntervalCalibration {
  const n = m.rows;
  if (y.length !== n) throw new Error(`intervalCalibration: ${y.length} targets for ${n} rows`);
  const coverage: Record<string, number> = {};
  const width: Record<string, number> = {};
  for (const level of levels) {
    let inside = 0;
    let w = 0;
    for (let i = 0; i < n; i++) {
      // Compared on the transformed scale, where the quantiles are found (T is increasing: the same rows).
      const [lo, hi] = transformedInterval(m, i, level);
      const u = toTransformed(m.transform, y[i]);
      if (u >= lo && u <= hi) inside++;
      w += fromTransformed(m.transform, hi) - fromTransformed(m.transform, lo);
    }
    coverage[String(level)] = inside / n;
    width[String(level)] = w / n;
  }
  return { coverage, width, crps: meanCrps(m, y) };
}
