/**
 * Predicted mean against the target with ±2 sd error bars (regression), drawn with the kit in
 * `../svg.ts` on the chart frame of `axes.ts`.
 */
import { isGood, linearDomain, n2, tag } from '../svg.js';
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
import { legend, occupySegment, type Occupancy } from './legend.js';

export interface PredictiveIntervalOptions extends PlotSize {
  title?: string;
  xLabel?: string;
  yLabel?: string;
}

/**
 * Predicted mean (y axis) against the true target (x axis): one point per example with a vertical
 * error bar mean ± 2·sd, and the dashed line y = x. Axis ranges come from the data (targets; means and
 * bar ends) with 5% padding. Examples whose target or mean is not finite are skipped; an example whose
 * sd is not finite or negative gets a point but no bar. Points are `<circle class="point">`, bars
 * `<path class="errorbar">`, the y = x line `<line class="diagonal">`.
 *
 * @throws if `mean` or `sd` is not as long as `y`.
 */
export function predictiveIntervalSvg(
  y: ArrayLike<number>,
  mean: ArrayLike<number>,
  sd: ArrayLike<number>,
  opts: PredictiveIntervalOptions = {},
): string {
  const n = y.length;
  if (mean.length !== n) throw new Error(`predictiveIntervalSvg: ${mean.length} means for ${n} targets`);
  if (sd.length !== n)
    throw new Error(`predictiveIntervalSvg: ${sd.length} standard deviations for ${n} targets`);
  const pts: { t: number; m: number; s: number | undefined }[] = [];
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = y[i];
    const m = mean[i];
    if (!isGood(t) || !isGood(m)) continue;
    const s = isGood(sd[i]) && sd[i] >= 0 ? sd[i] : undefined;
    pts.push({ t, m, s });
    xMin = Math.min(xMin, t);
    xMax = Math.max(xMax, t);
    const lo = s !== undefined ? m - 2 * s : m;
    const hi = s !== undefined ? m + 2 * s : m;
    yMin = Math.min(yMin, lo);
    yMax = Math.max(yMax, hi);
  }
  const title = opts.title ?? 'Predictive mean ± 2 sd vs. target';
  const xLabel = opts.xLabel ?? 'True value';
  const yLabel = opts.yLabel ?? 'Predicted mean';
  const L = makeLayout(
    plotSize(opts),
    linearDomain(xMin, xMax, 0.05),
    linearDomain(yMin, yMax, 0.05),
    xLabel !== '',
    yLabel !== '',
  );
  const out = frame(L, title, xLabel, yLabel);
  const occ: Occupancy = [];
  const color = '#1f77b4';
  // y = x, clipped to the plot area.
  const t0 = Math.max(L.x.lo, L.y.lo);
  const t1 = Math.min(L.x.hi, L.y.hi);
  if (t1 > t0) {
    out.push(diagonalLine(L, t0, t1));
    occupySegment(occ, px(L, t0), py(L, t0), px(L, t1), py(L, t1));
  }
  const caps = pts.length <= 60;
  const alpha = pts.length <= 100 ? 0.9 : pts.length <= 1000 ? 0.6 : 0.35;
  const r = pts.length <= 200 ? 3 : 2;
  const bars: string[] = [];
  const dots: string[] = [];
  for (const p of pts) {
    const x = px(L, p.t);
    const ym = py(L, p.m);
    dots.push(tag('circle', { class: 'point', cx: n2(x), cy: n2(ym), r }));
    occ.push(x, ym);
    if (p.s !== undefined) {
      const y1 = py(L, p.m + 2 * p.s);
      const y2 = py(L, p.m - 2 * p.s);
      const cap = caps ? `M${n2(x - 3)} ${n2(y1)}h6M${n2(x - 3)} ${n2(y2)}h6` : '';
      bars.push(tag('path', { class: 'errorbar', d: `M${n2(x)} ${n2(y1)}V${n2(y2)}${cap}` }));
      occupySegment(occ, x, y1, x, y2);
    }
  }
  out.push(
    tag(
      'g',
      {
        class: 'errorbars',
        stroke: color,
        'stroke-opacity': Math.min(0.6, alpha),
        'stroke-width': 1.2,
        fill: 'none',
      },
      bars.join(''),
    ),
  );
  out.push(tag('g', { class: 'points', fill: color, 'fill-opacity': alpha }, dots.join('')));
  if (pts.length === 0) out.push(noDataNote(L));
  out.push(
    legend(
      L,
      [
        { kind: 'errorbar', label: 'Predicted mean ± 2 sd', color },
        { kind: 'line', label: 'y = x', color: '#444444', dash: '6 4', width: 1.5 },
      ],
      occ,
      ['tl', 'br', 'tr', 'bl'],
    ),
  );
  return chartDocument(L, title, out);
}
