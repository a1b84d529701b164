/**
 * The coverage-vs-nominal plot of regression predictives' central intervals (`coverage.svg` beside an
 * evaluation report), a line chart from `line-chart.ts`.
 */
import type { IntervalCalibration } from '../interval-calibration.js';
import { lineChartSvg } from './line-chart.js';

/**
 * Observed coverage (y) against the nominal level (x) of the central predictive intervals, one line
 * per model in the order given, after the diagonal y = x of perfect calibration (the first series,
 * `nominal`): a line below the diagonal is over-confident, one above under-confident.
 */
export function coveragePlotSvg(models: Record<string, IntervalCalibration>): string {
  const first = Object.values(models)[0];
  const levels = first ? Object.keys(first.coverage) : [];
  const x = levels.map(Number);
  return lineChartSvg(
    [
      { name: 'nominal', x, y: x },
      ...Object.entries(models).map(([name, c]) => ({ name, x, y: levels.map((l) => c.coverage[l]) })),
    ],
    {
      title: 'Coverage of the central predictive intervals',
      xLabel: 'nominal level',
      yLabel: 'observed coverage',
    },
  );
}
