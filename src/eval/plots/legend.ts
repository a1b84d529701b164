/**
 * The legend box of an x–y chart: swatches (line, filled rectangle, error bar) with their labels, placed
 * in the corner of the plot area that hides the fewest data points, or right of the plot area when there
 * are many series. Rows that do not fit become one "… and N more" row.
 */
import { fitText, LEGEND_PX, n2, tag, textTag, textWidth } from '../svg.js';
import type { Layout } from './axes.js';

/** One legend row: a swatch of how the data is drawn, and its label. */
export type LegendEntry =
  | { kind: 'line'; label: string; color: string; dash?: string; width?: number; marker?: boolean }
  | { kind: 'rect'; label: string; fill: string; stroke: string; opacity?: number }
  | { kind: 'errorbar'; label: string; color: string }
  /** A lone marker (points not joined by a line): a filled square, or a ring around nothing. */
  | { kind: 'marker'; label: string; color: string; shape: 'square' | 'ring' }
  | { kind: 'text'; label: string };

/** Pixel points the data covers, used to put the legend where it hides the least. */
export type Occupancy = number[];

/** Marks the segment (x1, y1)–(x2, y2) as covered, at most 51 points about 4 px apart. */
export function occupySegment(occ: Occupancy, x1: number, y1: number, x2: number, y2: number): void {
  const n = Math.min(50, Math.ceil(Math.hypot(x2 - x1, y2 - y1) / 4));
  for (let i = 0; i <= n; i++) {
    const t = n === 0 ? 0 : i / n;
    occ.push(x1 + t * (x2 - x1), y1 + t * (y2 - y1));
  }
}

/** Marks the rectangle as covered, on a 5 px grid. */
export function occupyRect(occ: Occupancy, x: number, y: number, w: number, h: number): void {
  for (let i = 0; i <= Math.ceil(w / 5); i++) {
    for (let j = 0; j <= Math.ceil(h / 5); j++) occ.push(x + Math.min(w, i * 5), y + Math.min(h, j * 5));
  }
}

/** A corner of the plot area: top/bottom, left/right. */
export type Corner = 'tr' | 'tl' | 'br' | 'bl';

const LEGEND_ROW = 18;
const LEGEND_SWATCH = 24;
const LEGEND_PAD = 8;
const LEGEND_INSET = 8;

/** Width of the widest label (px) that a legend `outerPx` wide can show. */
export function legendLabelRoom(outerPx: number): number {
  return Math.max(40, outerPx - LEGEND_SWATCH - 6 - 2 * LEGEND_PAD);
}

/** Legend rows (capped to what fits in `plotH`, with an "… and N more" row), labels and box size. */
export function legendBox(
  entries: LegendEntry[],
  maxLabel: number,
  plotH: number,
): { shown: LegendEntry[]; labels: string[]; w: number; h: number } {
  const row = LEGEND_ROW;
  const pad = LEGEND_PAD;
  const maxRows = Math.max(1, Math.floor((plotH - 2 * LEGEND_INSET - 2 * pad + 4) / row));
  let shown = entries;
  if (entries.length > maxRows) {
    const rest = entries.length - (maxRows - 1);
    shown = [...entries.slice(0, maxRows - 1), { kind: 'text', label: `… and ${rest} more` }];
  }
  const labels = shown.map((e) =>
    fitText(e.label, LEGEND_PX, maxLabel + (e.kind === 'text' ? LEGEND_SWATCH + 6 : 0)),
  );
  const textW = labels.reduce(
    (m, s, i) => Math.max(m, textWidth(s, LEGEND_PX) + (shown[i].kind === 'text' ? 0 : LEGEND_SWATCH + 6)),
    0,
  );
  return { shown, labels, w: Math.ceil(textW + 2 * pad), h: shown.length * row + 2 * pad - 4 };
}

/**
 * The legend box, in the corner of the plot area (tried in `prefer` order) that hides the fewest
 * occupancy points, or with `outside` to the right of the plot area (the layout reserved room).
 */
export function legend(
  L: Layout,
  entries: LegendEntry[],
  occ: Occupancy,
  prefer: Corner[],
  outside = false,
): string {
  if (entries.length === 0) return '';
  const row = LEGEND_ROW;
  const swatch = LEGEND_SWATCH;
  const pad = LEGEND_PAD;
  const inset = LEGEND_INSET;
  const plotH = L.bottom - L.top;
  const maxLabel = outside
    ? legendLabelRoom(L.width - L.right - 20)
    : legendLabelRoom(Math.min(280, (L.right - L.left) * 0.5));
  const { shown, labels, w, h } = legendBox(entries, maxLabel, plotH);
  const pos: Record<Corner, [number, number]> = {
    tl: [L.left + inset, L.top + inset],
    tr: [L.right - inset - w, L.top + inset],
    bl: [L.left + inset, L.bottom - inset - h],
    br: [L.right - inset - w, L.bottom - inset - h],
  };
  let best = prefer[0];
  let bestScore = Infinity;
  for (const c of outside ? [] : prefer) {
    const [bx, by] = pos[c];
    let score = 0;
    for (let i = 0; i < occ.length; i += 2) {
      if (occ[i] >= bx - 4 && occ[i] <= bx + w + 4 && occ[i + 1] >= by - 4 && occ[i + 1] <= by + h + 4)
        score++;
    }
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  const [bx, by] = outside ? [L.right + 12, L.top] : pos[best];
  const parts: string[] = [
    tag('rect', {
      x: n2(bx),
      y: n2(by),
      width: w,
      height: h,
      rx: 4,
      fill: '#ffffff',
      'fill-opacity': 0.9,
      stroke: '#bbbbbb',
      'stroke-width': 1,
    }),
  ];
  shown.forEach((e, i) => {
    const cy = by + pad + i * row + 6;
    const sx = bx + pad;
    let tx = sx + swatch + 6;
    if (e.kind === 'line') {
      parts.push(
        tag('line', {
          x1: n2(sx),
          y1: n2(cy),
          x2: n2(sx + swatch),
          y2: n2(cy),
          stroke: e.color,
          'stroke-width': e.width ?? 2,
          'stroke-dasharray': e.dash || undefined,
        }),
      );
      if (e.marker) parts.push(tag('circle', { cx: n2(sx + swatch / 2), cy: n2(cy), r: 3, fill: e.color }));
    } else if (e.kind === 'rect') {
      parts.push(
        tag('rect', {
          x: n2(sx + 2),
          y: n2(cy - 6),
          width: swatch - 4,
          height: 12,
          fill: e.fill,
          'fill-opacity': e.opacity,
          stroke: e.stroke,
          'stroke-width': 1,
        }),
      );
    } else if (e.kind === 'errorbar') {
      const mx = sx + swatch / 2;
      parts.push(
        tag('path', {
          d:
            `M${n2(mx)} ${n2(cy - 7)}V${n2(cy + 7)}` +
            `M${n2(mx - 3)} ${n2(cy - 7)}h6M${n2(mx - 3)} ${n2(cy + 7)}h6`,
          stroke: e.color,
          'stroke-opacity': 0.6,
          'stroke-width': 1.2,
          fill: 'none',
        }) + tag('circle', { cx: n2(mx), cy: n2(cy), r: 3, fill: e.color }),
      );
    } else if (e.kind === 'marker') {
      const mx = sx + swatch / 2;
      parts.push(markerShape(e.shape, mx, cy, e.color));
    } else {
      tx = sx;
    }
    parts.push(textTag({ x: n2(tx), y: n2(cy + 4), 'font-size': LEGEND_PX, fill: '#222222' }, labels[i]));
  });
  return tag('g', { class: 'legend' }, parts.join(''));
}

/** A point marker centred at (x, y): a filled 8 px square, or a 6 px-radius ring. */
export function markerShape(shape: 'square' | 'ring', x: number, y: number, color: string): string {
  return shape === 'square'
    ? tag('rect', { x: n2(x - 4), y: n2(y - 4), width: 8, height: 8, fill: color })
    : tag('circle', { cx: n2(x), cy: n2(y), r: 6, fill: 'none', stroke: color, 'stroke-width': 2 });
}
