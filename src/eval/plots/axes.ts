/**
 * The frame of an x–y chart: its layout (plot area inside margins sized to the tick labels), the
 * data-to-pixel mapping, and the title, grid, axes, ticks, tick labels and axis labels, drawn with the
 * kit in `../svg.ts`. Shared by the reliability diagram, the predictive-interval plot and line charts.
 *
 * Conventions of these charts: every function is pure and deterministic (no random ids, no dates, no
 * `<clipPath>`/`id` attributes, so several plots can be inlined in one HTML page); the output is a
 * standalone `<svg xmlns="http://www.w3.org/2000/svg">` document (640×420 by default); all text is
 * XML-escaped, and non-finite input values are skipped rather than written, so the output never
 * contains "NaN" or "Infinity". Degenerate input (no data, a single point, constant values) still gives
 * a valid plot; an empty one carries a "No data" note. Tick values are "nice" (multiples of 1, 2 or
 * 5 × 10^k; decades, or 1-2-5 within a decade, on a log axis). Text widths are estimated (about 0.6 em
 * per character) to size the margins, thin out crowded x ticks and place the legend in the corner of
 * the plot area that covers the least data.
 */
import {
  axisTicks,
  fitText,
  LABEL_PX,
  n2,
  NOTE_PX,
  svgDocument,
  tag,
  textTag,
  textWidth,
  TICK_PX,
  TITLE_PX,
  unit,
  type Scale,
  type Ticks,
} from '../svg.js';

/** Output size in pixels (defaults 640 × 420). */
export interface PlotSize {
  width?: number;
  height?: number;
}

/** Image size, plot area (pixels), scales and ticks of one chart. */
export interface Layout {
  width: number;
  height: number;
  /** Plot area in pixels. */
  left: number;
  right: number;
  top: number;
  bottom: number;
  x: Scale;
  y: Scale;
  xTicks: Ticks;
  yTicks: Ticks;
}

/** Pixel x of the data value v. */
export function px(L: Layout, v: number): number {
  return L.left + unit(L.x, v) * (L.right - L.left);
}

/** Pixel y of the data value v (the y axis points up). */
export function py(L: Layout, v: number): number {
  return L.bottom - unit(L.y, v) * (L.bottom - L.top);
}

/** The requested size, rounded and clamped to [240, 10 000] × [180, 10 000]; 640 × 420 by default. */
export function plotSize(o: PlotSize | undefined): { width: number; height: number } {
  const dim = (v: number | undefined, def: number, min: number): number =>
    v !== undefined && Number.isFinite(v) ? Math.round(Math.min(10_000, Math.max(min, v))) : def;
  return { width: dim(o?.width, 640, 240), height: dim(o?.height, 420, 180) };
}

function maxWidth(labels: string[], px: number): number {
  return labels.reduce((m, s) => Math.max(m, textWidth(s, px)), 0);
}

/** Top of the plot area (room for the title). */
export const PLOT_TOP = 46;

/** Bottom of the plot area: room for the tick labels, and the x-axis label when there is one. */
export function plotBottom(height: number, hasXLabel: boolean): number {
  return height - (hasXLabel ? 54 : 34);
}

/**
 * Lays out a chart: the left margin fits the y tick labels (and the y-axis label), x ticks are thinned
 * until their estimated labels no longer touch, and the plot area shrinks so the last x tick label stays
 * inside the image. `reserveRight` keeps room right of the plot area (for a legend there).
 */
export function makeLayout(
  size: { width: number; height: number },
  x: Scale,
  y: Scale,
  hasXLabel: boolean,
  hasYLabel: boolean,
  reserveRight = 0,
): Layout {
  const { width, height } = size;
  const top = PLOT_TOP;
  const bottom = plotBottom(height, hasXLabel);
  const yTicks = axisTicks(y, Math.max(2, Math.round((bottom - top) / 60)));
  const left = Math.max(44, Math.ceil(maxWidth(yTicks.labels, TICK_PX)) + 12 + (hasYLabel ? 26 : 6));
  let right = width - (reserveRight > 0 ? reserveRight + 20 : 20);
  let xTicks: Ticks = { values: [], labels: [] };
  for (let pass = 0; pass < 2; pass++) {
    // Thin the x ticks until the estimated labels no longer touch.
    for (let target = Math.max(2, Math.round((right - left) / 90)); target >= 2; target--) {
      xTicks = axisTicks(x, target);
      const L = { width, height, left, right, top, bottom, x, y, xTicks, yTicks };
      const xs = xTicks.values.map((v) => px(L, v));
      let ok = true;
      for (let i = 1; i < xs.length; i++) {
        const gap = xs[i] - xs[i - 1];
        const need =
          (textWidth(xTicks.labels[i], TICK_PX) + textWidth(xTicks.labels[i - 1], TICK_PX)) / 2 + 8;
        if (gap < need) ok = false;
      }
      if (ok) break;
    }
    // Keep the last x tick label inside the image.
    const n = xTicks.values.length;
    if (n === 0) break;
    const L = { width, height, left, right, top, bottom, x, y, xTicks, yTicks };
    const overflow = px(L, xTicks.values[n - 1]) + textWidth(xTicks.labels[n - 1], TICK_PX) / 2 + 4 - width;
    if (overflow <= 0) break;
    right -= Math.ceil(overflow);
  }
  return { width, height, left, right, top, bottom, x, y, xTicks, yTicks };
}

/** The chart's SVG document around `body` (the frame and the data), titled `title` or "Plot". */
export function chartDocument(L: Layout, title: string, body: string[]): string {
  return svgDocument(L.width, L.height, title || 'Plot', body);
}

/** Title, grid, axes, ticks, tick labels and axis labels, one document line each. */
export function frame(L: Layout, title: string, xLabel: string, yLabel: string): string[] {
  const out: string[] = [];
  if (title) {
    const t = fitText(title, TITLE_PX * 1.15, L.width - 24); // bold
    out.push(
      textTag(
        {
          class: 'title',
          x: n2(L.width / 2),
          y: 28,
          'text-anchor': 'middle',
          'font-size': TITLE_PX,
          'font-weight': 'bold',
          fill: '#222222',
        },
        t,
      ),
    );
  }
  const grid: string[] = [];
  const marks: string[] = [];
  const labels: string[] = [];
  L.xTicks.values.forEach((v, i) => {
    const x = n2(px(L, v));
    grid.push(tag('line', { x1: x, y1: n2(L.top), x2: x, y2: n2(L.bottom) }));
    marks.push(tag('line', { x1: x, y1: n2(L.bottom), x2: x, y2: n2(L.bottom + 5) }));
    labels.push(
      textTag(
        { class: 'tick-label x', x, y: n2(L.bottom + 18), 'text-anchor': 'middle' },
        L.xTicks.labels[i],
      ),
    );
  });
  L.yTicks.values.forEach((v, i) => {
    const y = n2(py(L, v));
    grid.push(tag('line', { x1: n2(L.left), y1: y, x2: n2(L.right), y2: y }));
    marks.push(tag('line', { x1: n2(L.left - 5), y1: y, x2: n2(L.left), y2: y }));
    labels.push(
      textTag(
        { class: 'tick-label y', x: n2(L.left - 8), y: n2(py(L, v) + 4), 'text-anchor': 'end' },
        L.yTicks.labels[i],
      ),
    );
  });
  out.push(tag('g', { class: 'grid', stroke: '#e6e6e6', 'stroke-width': 1 }, grid.join('')));
  out.push(
    tag('rect', {
      class: 'plot-area',
      x: n2(L.left),
      y: n2(L.top),
      width: n2(L.right - L.left),
      height: n2(L.bottom - L.top),
      fill: 'none',
      stroke: '#bbbbbb',
      'stroke-width': 1,
    }),
  );
  out.push(
    tag(
      'g',
      { class: 'axes', stroke: '#333333', 'stroke-width': 1 },
      tag('line', { x1: n2(L.left), y1: n2(L.bottom), x2: n2(L.right), y2: n2(L.bottom) }) +
        tag('line', { x1: n2(L.left), y1: n2(L.top), x2: n2(L.left), y2: n2(L.bottom) }) +
        marks.join(''),
    ),
  );
  out.push(tag('g', { class: 'tick-labels', fill: '#333333', 'font-size': TICK_PX }, labels.join('')));
  if (xLabel) {
    const t = fitText(xLabel, LABEL_PX, L.right - L.left);
    out.push(
      textTag(
        {
          class: 'axis-label x',
          x: n2((L.left + L.right) / 2),
          y: n2(L.height - 14),
          'text-anchor': 'middle',
          'font-size': LABEL_PX,
          fill: '#222222',
        },
        t,
      ),
    );
  }
  if (yLabel) {
    const t = fitText(yLabel, LABEL_PX, L.bottom - L.top);
    const cy = n2((L.top + L.bottom) / 2);
    out.push(
      textTag(
        {
          class: 'axis-label y',
          x: 18,
          y: cy,
          transform: `rotate(-90 18 ${cy})`,
          'text-anchor': 'middle',
          'font-size': LABEL_PX,
          fill: '#222222',
        },
        t,
      ),
    );
  }
  return out;
}

/** A boxed note in the middle of the plot area ("No data" by default). */
export function noDataNote(L: Layout, text = 'No data'): string {
  const cx = (L.left + L.right) / 2;
  const cy = (L.top + L.bottom) / 2;
  const w = textWidth(text, NOTE_PX) + 16;
  return (
    tag('rect', {
      class: 'no-data-box',
      x: n2(cx - w / 2),
      y: n2(cy - 16),
      width: n2(w),
      height: 24,
      rx: 3,
      fill: '#ffffff',
    }) +
    textTag(
      {
        class: 'no-data',
        x: n2(cx),
        y: n2(cy + 1),
        'text-anchor': 'middle',
        'font-size': NOTE_PX,
        fill: '#777777',
      },
      text,
    )
  );
}

/** The dashed line y = x from (t0, t0) to (t1, t1), as `<line class="diagonal">`. */
export function diagonalLine(L: Layout, t0: number, t1: number): string {
  return tag('line', {
    class: 'diagonal',
    x1: n2(px(L, t0)),
    y1: n2(py(L, t0)),
    x2: n2(px(L, t1)),
    y2: n2(py(L, t1)),
    stroke: '#444444',
    'stroke-width': 1.5,
    'stroke-dasharray': '6 4',
  });
}
