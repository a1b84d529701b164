/**
 * Reliability diagram of a classifier's confidence (Guo et al. 2017), drawn with the kit in `../svg.ts`
 * on the chart frame of `axes.ts`.
 */
import { escapeXml, expString, formatNum, isGood, n2, tag } from '../svg.js';
import {
  chartDocument,
  diagonalLine,
  frame,
  makeLayout,
  noDataNote,
  plotSize,
  px,
  py,
  type PlotSize,
} from './axes.js';
import { legend, occupyRect, occupySegment, type LegendEntry, type Occupancy } from './legend.js';

/** One confidence bin, as produced by `reliabilityBins` in `metrics.ts`. */
export interface ReliabilityPlotBin {
  lower: number;
  upper: number;
  count: number;
  /** Fraction correct in the bin; NaN for an empty bin (skipped). */
  accuracy: number;
  /** Mean confidence in the bin; NaN for an empty bin. */
  confidence: number;
}

export interface ReliabilityDiagramOptions extends PlotSize {
  title?: string;
  /** Expected calibration error, shown in the legend box when finite. */
  ece?: number;
}

function formatEce(e: number): string {
  return e > 0 && e < 1e-3 ? expString(e, 1) : e.toFixed(4);
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/**
 * Reliability diagram (Guo et al. 2017): one bar of height accuracy per non-empty confidence bin, a
 * translucent red "gap" bar from the accuracy to the bin's mean confidence, and the dashed diagonal
 * y = x of perfect calibration, on [0, 1] × [0, 1]. Bins with count 0 or a non-finite accuracy are
 * skipped. Bars are `<rect class="bar">`, gaps `<rect class="gap">`, the diagonal `<line class="diagonal">`.
 */
export function reliabilityDiagramSvg(
  bins: ReliabilityPlotBin[],
  opts: ReliabilityDiagramOptions = {},
): string {
  const title = opts.title ?? 'Reliability diagram';
  const L = makeLayout(
    plotSize(opts),
    { lo: 0, hi: 1, log: false },
    { lo: 0, hi: 1, log: false },
    true,
    true,
  );
  const out = frame(L, title, 'Confidence', 'Accuracy');
  const occ: Occupancy = [];
  const bars: string[] = [];
  const gaps: string[] = [];
  for (const b of bins) {
    if (!(b.count > 0) || !Number.isFinite(b.accuracy) || !isGood(b.lower) || !isGood(b.upper)) continue;
    const lo = clamp01(b.lower);
    const hi = clamp01(b.upper);
    if (!(hi > lo)) continue;
    const acc = clamp01(b.accuracy);
    const x = px(L, lo);
    const w = px(L, hi) - x;
    const yAcc = py(L, acc);
    const conf = Number.isFinite(b.confidence) ? clamp01(b.confidence) : undefined;
    const tip =
      `(${formatNum(b.lower)}, ${formatNum(b.upper)}]: n = ${formatNum(b.count)}, accuracy = ${formatNum(acc)}` +
      (conf !== undefined ? `, confidence = ${formatNum(conf)}` : '');
    bars.push(
      tag(
        'rect',
        { class: 'bar', x: n2(x), y: n2(yAcc), width: n2(w), height: n2(L.bottom - yAcc) },
        tag('title', {}, escapeXml(tip)),
      ),
    );
    occupyRect(occ, x, yAcc, w, L.bottom - yAcc);
    if (conf !== undefined && Math.abs(conf - acc) > 0) {
      const yConf = py(L, conf);
      const y0 = Math.min(yConf, yAcc);
      gaps.push(
        tag('rect', { class: 'gap', x: n2(x), y: n2(y0), width: n2(w), height: n2(Math.abs(yConf - yAcc)) }),
      );
      occupyRect(occ, x, y0, w, Math.abs(yConf - yAcc));
    }
  }
  out.push(tag('g', { class: 'bars', fill: '#4c72b0', stroke: '#2a4d80', 'stroke-width': 1 }, bars.join('')));
  out.push(
    tag(
      'g',
      { class: 'gaps', fill: '#d62728', 'fill-opacity': 0.25, stroke: '#d62728', 'stroke-width': 1 },
      gaps.join(''),
    ),
  );
  out.push(diagonalLine(L, 0, 1));
  occupySegment(occ, px(L, 0), py(L, 0), px(L, 1), py(L, 1));
  if (bars.length === 0) out.push(noDataNote(L));
  const entries: LegendEntry[] = [
    { kind: 'rect', label: 'Accuracy', fill: '#4c72b0', stroke: '#2a4d80' },
    { kind: 'rect', label: 'Gap to mean confidence', fill: '#d62728', stroke: '#d62728', opacity: 0.25 },
    { kind: 'line', label: 'Perfect calibration', color: '#444444', dash: '6 4', width: 1.5 },
  ];
  if (opts.ece !== undefined && Number.isFinite(opts.ece)) {
    entries.push({ kind: 'text', label: `ECE = ${formatEce(opts.ece)}` });
  }
  out.push(legend(L, entries, occ, ['tl', 'br', 'tr', 'bl']));
  return chartDocument(L, title, out);
}
