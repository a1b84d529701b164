/**
 * The plot beside a shift evaluation (`shift.svg`): two line charts side by side, each metric against
 * the shift value (rotation angle or noise scale), one line per model, drawn by `line-chart.ts`.
 */
import { svgDocument } from '../svg.js';
import { lineChartSvg } from './line-chart.js';

export interface ShiftPlotInput {
  kind: 'rotate' | 'noise';
  values: number[];
  /** Per model, per metric, one value per shift value. */
  models: Record<string, Record<string, number[]>>;
}

const PANEL_W = 560;
const PANEL_H = 400;

/**
 * Rotation: NLL and error against the angle; noise: mean 90 % interval width and log-likelihood
 * against the noise scale. A metric a model lacks is left out of its panel.
 */
export function shiftPlotSvg(r: ShiftPlotInput): string {
  const panels: [string, string][] =
    r.kind === 'rotate'
      ? [
          ['nll', 'NLL'],
          ['error', 'error'],
        ]
      : [
          ['width90', 'mean 90 % interval width'],
          ['ll', 'log-likelihood'],
        ];
  const xLabel = r.kind === 'rotate' ? 'rotation angle (degrees)' : 'noise scale (standard deviations)';
  const body = panels.map(([metric, label], k) => {
    const series = Object.entries(r.models)
      .filter(([, m]) => m[metric])
      .map(([name, m]) => ({ name, x: r.values, y: m[metric] }));
    const chart = lineChartSvg(series, {
      title: `${label} under shift`,
      xLabel,
      yLabel: label,
      width: PANEL_W,
      height: PANEL_H,
    });
    // Each chart is a standalone <svg>: nest it at its place (its own title and background go with it).
    return chart.trimEnd().replace(/^<svg /, `<svg x="${k * PANEL_W}" y="0" `);
  });
  const title = r.kind === 'rotate' ? 'Metrics under rotation' : 'Metrics under input noise';
  return svgDocument(PANEL_W * panels.length, PANEL_H, title, body);
}
