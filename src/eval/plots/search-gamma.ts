/**
 * The plot of a structure search (`gamma.svg`): the probabilities γ = softmax(s) of every searchable
 * edge's candidates over the epochs, as a line chart.
 */
import { lineChartSvg } from './line-chart.js';

/** The part of a search trace point that the plot reads (a `SearchTracePoint` of `train-search.ts`). */
export interface GammaTracePoint {
  epoch: number;
  /** softmax(s) per searchable edge, keyed `from->to#index`. */
  probabilities: Record<string, number[]>;
}

/**
 * γ = softmax(s) of every searchable edge's candidates over the epochs, one line per candidate, named
 * "from->to label" (`labels` maps an edge key to its candidates' labels; the index when missing).
 */
export function gammaPlot(trace: GammaTracePoint[], labels: Record<string, string[]>): string {
  const series = Object.keys(trace[0]?.probabilities ?? {}).flatMap((edge) =>
    trace[0].probabilities[edge].map((_, k) => ({
      name: `${edge.split('#')[0]} ${labels[edge]?.[k] ?? k}`,
      x: trace.map((p) => p.epoch),
      y: trace.map((p) => p.probabilities[edge][k]),
    })),
  );
  return lineChartSvg(series, {
    title: 'Structure probabilities γ = softmax(s) over the search',
    xLabel: 'epoch',
    yLabel: 'γ',
  });
}
