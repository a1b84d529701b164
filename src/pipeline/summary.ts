import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import type { StageContext } from '../stages/context.js';
import { runPath } from '../stages/run-folder.js';
import type { UnitEvent } from './split-scope.js';

/**
 * What the per-split runners take: the stage context; `summaries: false` in a child process of
 * `bdk run --jobs`, which runs only some of the splits and leaves the pipeline's summaries to its
 * parent; and `onUnit`, told when each split's run starts and ends (the progress line across splits).
 */
export type SplitStageOptions = StageContext & { summaries?: boolean; onUnit?: (e: UnitEvent) => void };

/** mean ± standard error over splits for each metric. */
export type MetricSummary = Record<string, { mean: number; se: number; values: number[] }>;

/**
 * Each metric of the per-split rows (all with the keys of the first) as its mean, standard error
 * (sample sd / √n; NaN for one split) and the values themselves: the UCI protocol's summary.
 */
export function summarizeOverSplits(rows: Record<string, number>[]): MetricSummary {
  const out: MetricSummary = {};
  for (const key of Object.keys(rows[0] ?? {})) {
    const values = rows.map((r) => r[key]);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const sd =
      values.length > 1
        ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1))
        : NaN;
    out[key] = { mean, se: sd / Math.sqrt(values.length), values };
  }
  return out;
}

/**
 * Writes a stage's summary over splits as `<runs>/<pipeline>/<name>` (indented JSON), creating the
 * pipeline's folder, and returns the file's path; null, writing nothing, for a child process of
 * `bdk run --jobs` (`summaries: false`), whose splits are only part of the pipeline's.
 */
export async function writeStageSummary(
  pipeline: string,
  name: string,
  summary: unknown,
  opts: { runsDir?: string; summaries?: boolean },
): Promise<string | null> {
  if (opts.summaries === false) return null;
  const file = path.join(runPath(pipeline, opts.runsDir), name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(summary, null, 2) + '\n');
  return file;
}

/** A number for people: integers as integers, else `digits` significant digits (no exponent for 1e-4…1e6). */
export function formatNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e-4 && a < 1e6) {
    const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
    return v.toFixed(decimals);
  }
  return v.toPrecision(digits);
}

/**
 * One summarized metric for people: the mean, and ± its standard error (2 significant digits, the mean
 * to the same decimal place) only when there is a spread; integers stay integers when every split's is.
 */
export function formatSummary(s: { mean: number; se: number; values: number[] }): string {
  const integral = s.values.every(Number.isInteger);
  const spread = s.values.length > 1 && Number.isFinite(s.se) && s.se > 0;
  if (!spread) return integral ? String(s.values[0] ?? s.mean) : formatNumber(s.mean);
  const place = Math.floor(Math.log10(s.se)) - 1; // 2 significant digits of the se
  const decimals = Math.max(0, -place);
  const mean = integral && decimals === 0 ? String(Math.round(s.mean)) : s.mean.toFixed(decimals);
  return `${mean} ± ${s.se.toFixed(decimals)}`;
}
