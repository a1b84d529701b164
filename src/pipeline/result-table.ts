import path from 'node:path';
import type { PipelineReport } from './evaluate-splits.js';
import { formatNumber, formatSummary, type MetricSummary } from './summary.js';

/** Columns that are not quality metrics: size and speed get their own columns. */
const COST = ['parameters', 'bytes', 'latencyMs'];

/**
 * The pipeline's result for people, as aligned text: per model (single network, ensemble, student) its
 * test metrics over splits, the 90 % interval's coverage (regression), parameters and latency per
 * example, and where the full report is.
 */
export function resultTable(report: PipelineReport, reportFile?: string | null): string[] {
  const models = Object.entries(report.models) as [string, MetricSummary][];
  if (models.length === 0) return [];
  const metrics = Object.keys(models[0][1]).filter((k) => !COST.includes(k));
  const withCoverage = report.calibration !== undefined;
  const header = [
    'model',
    ...metrics,
    ...(withCoverage ? ['coverage 90 %'] : []),
    'parameters',
    'latency/example',
  ];
  const rows = models.map(([name, m]) => [
    name,
    ...metrics.map((k) => formatSummary(m[k])),
    ...(withCoverage
      ? [
          report.calibration?.[name as keyof typeof report.calibration]
            ? formatSummary(report.calibration[name as keyof typeof report.calibration]!.coverage90)
            : '–',
        ]
      : []),
    formatNumber(m.parameters.mean),
    `${formatNumber(m.latencyMs.mean, 3)} ms`,
  ]);
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) =>
    '  ' +
    cells
      .map((c, j) => c.padEnd(widths[j]))
      .join('  ')
      .trimEnd();
  const n = report.splits.length;
  const over = n > 1 ? `over ${n} splits (mean ± standard error)` : `on split ${report.splits[0]}`;
  const where = reportFile ? `; full report: ${path.join(path.dirname(reportFile), 'report.md')}` : '';
  return [`result of ${report.pipeline}, test rows ${over}${where}`, line(header), ...rows.map(line)];
}
