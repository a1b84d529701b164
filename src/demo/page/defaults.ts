/**
 * The regression form's starting values and interval choices: pure (no DOM), shared by the page and
 * the tests.
 */
import type { StudentManifest } from '../../runtime/index.js';

export const INTERVAL_CHOICES = [0.5, 0.8, 0.9, 0.95, 0.99];
export const DEFAULT_INTERVAL = 0.9;

/** Each feature's starting value: its training mean (from the export's standardization) to 4 significant digits, else 0. */
export function defaultInputs(m: StudentManifest): number[] {
  const s = m.standardization.features;
  return m.features.map((_, k) => (s.kind === 'zscore' && s.mean ? Number(s.mean[k].toPrecision(4)) : 0));
}
