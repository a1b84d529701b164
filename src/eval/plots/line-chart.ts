/**
 * Line charts (training curves, traces), drawn with the kit in `../svg.ts` on the chart frame of
 * `axes.ts`.
 */
import { DASHES, isGood, linearDomain, logDomain, n2, PALETTE, snapDomain, tag } from '../svg.js';
import {
  chartDocument,
  frame,
  makeLayout,
  noDataNote,
  plotBottom,
  plotSize,
  PLOT_TOP,
  px,
  py,
  type PlotSize,
} from './axes.js';
import {
  legend,
  legendBox,
  legendLabelRoom,
  occupySegment,
  type LegendEntry,
  type Occupancy,
} from './legend.js';

/** One curve: y against x, point by point. */
export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface LineChartOptions extends PlotSize {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic y axis; non-positive values are then skipped (they break the line). */
  logY?: boolean;
}

/**
 * Line chart of one or more series (e.g. training curves), each `<path class="series">` in its own
 * color (a dash pattern is added after the 10th), with a legend when there are several series. A point
 * with a non-finite coordinate (or y ≤ 0 with `logY`) is skipped and breaks the line; isolated points
 * and series of ≤ 30 points get markers. The x range is the data range, the y range the data range
 * padded by 5% (in log space with `logY`). An empty series list, or no plottable point, gives a plot
 * with a "No data" note. A single series with no `yLabel` lends its name to the y axis.
 *
 * @throws if a series' x and y differ in length.
 */
export function lineChartSvg(series: LineSeries[], opts: LineChartOptions = {}): string {
  const logY = opts.logY === true;
  const segs: [number, number][][][] = [];
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  let total = 0;
  for (const s of series) {
    if (s.x.length !== s.y.length) {
      throw new Error(
        `lineChartSvg: series "${s.name}" has ${s.x.length} x values but ${s.y.length} y values`,
      );
    }
    const parts: [number, number][][] = [];
    let cur: [number, number][] = [];
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i];
      const v = s.y[i];
      if (!isGood(x) || !isGood(v) || (logY && !(v > 0))) {
        if (cur.length > 0) parts.push(cur);
        cur = [];
        continue;
      }
      cur.push([x, v]);
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, v);
      yMax = Math.max(yMax, v);
      total++;
    }
    if (cur.length > 0) parts.push(cur);
    segs.push(parts);
  }
  const title = opts.title ?? '';
  const xLabel = opts.xLabel ?? '';
  const yLabel = opts.yLabel ?? (series.length === 1 ? series[0].name : '');
  const size = plotSize(opts);
  const styles = segs.map((parts, si) => {
    const count = parts.reduce((a, p) => a + p.length, 0);
    return {
      color: PALETTE[si % PALETTE.length],
      dash: DASHES[Math.floor(si / PALETTE.length) % DASHES.length],
      count,
      markers: count <= 30,
    };
  });
  const entries: LegendEntry[] = styles.map(({ color, dash, count, markers }, si) => ({
    kind: 'line',
    label: s2(series[si].name, si),
    color,
    dash,
    marker: markers && count > 0,
  }));
  // More than 6 series: the legend goes to the right of the plot area instead of over the curves.
  const outside = series.length > 6;
  const reserve = outside
    ? Math.min(
        size.width * 0.4,
        legendBox(
          entries,
          legendLabelRoom(size.width * 0.3),
          plotBottom(size.height, xLabel !== '') - PLOT_TOP,
        ).w,
      )
    : 0;
  const L = makeLayout(
    size,
    snapDomain(linearDomain(xMin, xMax, 0)),
    logY ? logDomain(yMin, yMax, 0.05) : linearDomain(yMin, yMax, 0.05),
    xLabel !== '',
    yLabel !== '',
    reserve,
  );
  const out = frame(L, title, xLabel, yLabel);
  const occ: Occupancy = [];
  const lines: string[] = [];
  segs.forEach((parts, si) => {
    const { color, dash, markers } = styles[si];
    let d = '';
    const dots: string[] = [];
    for (const part of parts) {
      let prev = '';
      let prevXY: [number, number] | undefined;
      part.forEach(([x, v], i) => {
        const X = px(L, x);
        const Y = py(L, v);
        const key = `${n2(X)} ${n2(Y)}`;
        if (key !== prev) d += `${i === 0 ? 'M' : 'L'}${key}`;
        prev = key;
        if (prevXY) occupySegment(occ, prevXY[0], prevXY[1], X, Y);
        else occ.push(X, Y);
        prevXY = [X, Y];
        if (markers || part.length === 1) dots.push(tag('circle', { cx: n2(X), cy: n2(Y), r: 3 }));
      });
    }
    lines.push(
      tag(
        'g',
        { class: 'series-group', 'data-series': si },
        (d
          ? tag('path', {
              class: 'series',
              d,
              fill: 'none',
              stroke: color,
              'stroke-width': 2,
              'stroke-linejoin': 'round',
              'stroke-linecap': 'round',
              'stroke-dasharray': dash || undefined,
            })
          : '') + (dots.length ? tag('g', { class: 'markers', fill: color }, dots.join('')) : ''),
      ),
    );
  });
  out.push(tag('g', { class: 'series-list' }, lines.join('')));
  if (total === 0)
    out.push(noDataNote(L, logY && series.length > 0 ? 'No positive data for a log axis' : 'No data'));
  if (series.length >= 2) out.push(legend(L, entries, occ, ['tr', 'br', 'tl', 'bl'], outside));
  return chartDocument(L, title || yLabel || 'Line chart', out);
}

/** A series' legend label: its name, or "series i" (1-based) when the name is blank. */
function s2(name: string, i: number): string {
  const t = String(name ?? '').trim();
  return t === '' ? `series ${i + 1}` : t;
}
