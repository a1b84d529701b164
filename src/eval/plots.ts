/**
 * Dependency-free SVG plots for evaluation reports: a reliability diagram, predicted mean vs. target with
 * ±2 sd error bars, and line charts for training curves.
 *
 * Every function is pure and deterministic: the same input gives the same string (no random ids, no
 * dates, no `<clipPath>`/`id` attributes, so several plots can be inlined in one HTML page). The output is
 * a standalone `<svg xmlns="http://www.w3.org/2000/svg">` document (640×420 by default); all text is
 * XML-escaped, and non-finite input values are skipped rather than written, so the output never contains
 * "NaN" or "Infinity". Degenerate input (no data, a single point, constant values) still gives a valid
 * plot; an empty one carries a "No data" note.
 *
 * Tick values are "nice" (multiples of 1, 2 or 5 × 10^k; decades, or 1-2-5 within a decade, on a log
 * axis). Text widths are estimated (0.6 em per character) to size the margins, thin out crowded x ticks
 * and place the legend in the corner of the plot area that covers the least data.
 */

/** Output size in pixels (defaults 640 × 420). */
export interface PlotSize {
  width?: number;
  height?: number;
}

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

export interface PredictiveIntervalOptions extends PlotSize {
  title?: string;
  xLabel?: string;
  yLabel?: string;
}

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

// ---------------------------------------------------------------------------------------------------
// Text and number formatting
// ---------------------------------------------------------------------------------------------------

const FONT = "'DejaVu Sans', Verdana, Helvetica, Arial, sans-serif";
const TITLE_PX = 16;
const LABEL_PX = 13;
const TICK_PX = 11;
const LEGEND_PX = 12;
const NOTE_PX = 14;

/** Tableau/matplotlib "tab10" palette; series past 10 reuse it with a dash pattern. */
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
const DASHES = ['', '7 4', '2 3', '10 3 2 3'];

/** Values with a larger magnitude are treated as non-finite (keeps every span and padding finite). */
const MAX_ABS = 1e300;

/**
 * XML-escapes text for element content or attribute values, and drops characters that XML 1.0 does not
 * allow at all (C0 controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF).
 */
export function escapeXml(s: string): string {
  let out = '';
  for (const ch of String(s)) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 0x26) out += '&amp;';
    else if (c === 0x3c) out += '&lt;';
    else if (c === 0x3e) out += '&gt;';
    else if (c === 0x22) out += '&quot;';
    else if (c === 0x27) out += '&apos;';
    else if (
      (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) ||
      (c >= 0xd800 && c <= 0xdfff) ||
      c === 0xfffe ||
      c === 0xffff
    )
      continue;
    else out += ch;
  }
  return out;
}

/** Pixel coordinate: two decimals, never "NaN"/"Infinity"/"-0". */
function n2(v: number): string {
  if (!Number.isFinite(v)) return '0';
  const r = Math.round(v * 100) / 100;
  return r === 0 ? '0' : String(r);
}

function isGood(v: number): boolean {
  return Number.isFinite(v) && Math.abs(v) <= MAX_ABS;
}

/** Estimated advance width of one character in em, on the generous side of DejaVu Sans / Verdana. */
function charEm(ch: string): number {
  if (/[0-9]/.test(ch)) return 0.64;
  if (ch === ' ') return 0.33;
  if (/[.,:;|!'ijl]/.test(ch)) return 0.3;
  if (/[frt()[\]{}-]/.test(ch)) return 0.42;
  if (/[mw]/.test(ch)) return 0.92;
  if (/[MW@%]/.test(ch)) return 0.98;
  if (/[a-z]/.test(ch)) return 0.62;
  if (/[A-Z]/.test(ch)) return 0.72;
  return (ch.codePointAt(0) ?? 0) > 0x2e80 ? 1 : 0.7;
}

function textWidth(s: string, px: number): number {
  let em = 0;
  for (const ch of s) em += charEm(ch);
  return em * px;
}

/** Shortens `s` with an ellipsis so its estimated width stays within `maxPx`. */
function fitText(s: string, px: number, maxPx: number): string {
  const chars = [...s.replace(/\s+/g, ' ').trim()];
  if (textWidth(chars.join(''), px) <= maxPx) return chars.join('');
  let w = charEm('…') * px;
  let k = 0;
  while (k < chars.length && w + charEm(chars[k]) * px <= maxPx) w += charEm(chars[k++]) * px;
  return chars.slice(0, k).join('').trimEnd() + '…';
}

// ---------------------------------------------------------------------------------------------------
// Ticks
// ---------------------------------------------------------------------------------------------------

const NICE_MANTISSAS = [1, 2, 5];

/** The 1-2-5 × 10^k step nearest to raw (raw > 0) by ratio. */
function niceStepNear(raw: number): number {
  const e = Math.floor(Math.log10(raw));
  let best = 10 ** e;
  for (const m of [2, 5, 10]) {
    const s = m * 10 ** e;
    if (Math.abs(Math.log(s / raw)) < Math.abs(Math.log(best / raw))) best = s;
  }
  return best;
}

/** The next smaller 1-2-5 step below `step` (itself a 1-2-5 step). */
function niceStepBelow(step: number): number {
  const e = Math.floor(Math.log10(step) + 1e-9);
  const m = Math.round(step / 10 ** e);
  if (m >= 5) return 2 * 10 ** e;
  if (m >= 2) return 10 ** e;
  return 5 * 10 ** (e - 1);
}

function stepDecimals(step: number): number {
  return Math.min(100, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

function ticksWithStep(lo: number, hi: number, step: number): number[] {
  const k0 = Math.ceil(lo / step - 1e-9);
  const k1 = Math.floor(hi / step + 1e-9);
  const dec = stepDecimals(step);
  const out: number[] = [];
  for (let k = k0; k <= k1 && out.length <= 1000; k++) {
    const v = Number((k * step).toFixed(dec));
    out.push(v === 0 ? 0 : v);
  }
  return out;
}

/**
 * "Nice" linear ticks inside [lo, hi]: multiples of a step 1, 2 or 5 × 10^k chosen for about `target`
 * intervals, and at least two ticks whenever lo < hi.
 */
export function niceTicks(lo: number, hi: number, target = 5): { values: number[]; step: number } {
  if (!(isGood(lo) && isGood(hi)) || !(hi > lo)) return { values: [], step: 0 };
  let step = niceStepNear((hi - lo) / Math.max(1, Math.round(target)));
  let values = ticksWithStep(lo, hi, step);
  for (let i = 0; i < 4 && values.length < 2; i++) {
    step = niceStepBelow(step);
    values = ticksWithStep(lo, hi, step);
  }
  return { values, step };
}

function formatLinear(v: number, step: number, mag: number): string {
  if (v === 0) return '0';
  if (mag >= 1e6 || mag < 1e-3) {
    const e = Math.floor(Math.log10(Math.abs(v)) + 1e-9);
    const se = Math.floor(Math.log10(step) + 1e-9);
    return expString(v, Math.min(20, Math.max(0, e - se)));
  }
  return v.toFixed(Math.min(20, stepDecimals(step)));
}

/** toExponential without the "+" and without trailing mantissa zeros: 1.5e6, 2e-7. */
function expString(v: number, digits: number): string {
  const [m, e] = v.toExponential(digits).split('e');
  const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  return `${mant}e${Number(e)}`;
}

function formatLog(v: number): string {
  const k = Math.floor(Math.log10(v) + 1e-9);
  if (k >= -4 && k <= 5) return v.toFixed(Math.max(0, -k));
  return `${Math.round(v / 10 ** k)}e${k}`;
}

interface Scale {
  /** Domain, in data units (positive when log). */
  lo: number;
  hi: number;
  log: boolean;
}

interface Ticks {
  values: number[];
  labels: string[];
}

function linearAxisTicks(lo: number, hi: number, target: number): Ticks {
  const { values, step } = niceTicks(lo, hi, target);
  const mag = Math.max(Math.abs(lo), Math.abs(hi));
  return { values, labels: values.map((v) => formatLinear(v, step, mag)) };
}

/** Log-axis ticks: decades (every s-th one), else 1-2-5 within decades, else linear nice ticks. */
function logAxisTicks(lo: number, hi: number, target: number): Ticks {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  const k0 = Math.ceil(a - 1e-9);
  const k1 = Math.floor(b + 1e-9);
  if (k1 - k0 + 1 >= 3) {
    const stride = Math.max(1, Math.ceil((k1 - k0) / Math.max(1, target)));
    const values: number[] = [];
    for (let k = Math.ceil(k0 / stride) * stride; k <= k1; k += stride) values.push(Number(`1e${k}`));
    if (values.length >= 2) return { values, labels: values.map(formatLog) };
  }
  const values: number[] = [];
  for (let k = Math.floor(a) - 1; k <= Math.ceil(b); k++) {
    for (const m of NICE_MANTISSAS) {
      const v = Number(`${m}e${k}`);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) values.push(v);
    }
  }
  if (values.length >= 2 && values.length <= 2 * target + 1) return { values, labels: values.map(formatLog) };
  return linearAxisTicks(lo, hi, Math.min(target, 4));
}

function axisTicks(s: Scale, target: number): Ticks {
  return s.log ? logAxisTicks(s.lo, s.hi, target) : linearAxisTicks(s.lo, s.hi, target);
}

/**
 * A linear domain covering [min, max] with `pad` × span added on both sides; a zero-width range is
 * widened around its value, and no data gives [0, 1].
 */
function linearDomain(min: number, max: number, pad: number): Scale {
  if (!(isGood(min) && isGood(max)) || max < min) return { lo: 0, hi: 1, log: false };
  const span = max - min;
  if (span <= 1e-9 * Math.max(Math.abs(min), Math.abs(max))) {
    const c = (min + max) / 2;
    const d = c === 0 ? 1 : Math.abs(c) * 0.1;
    return { lo: c - d, hi: c + d, log: false };
  }
  return { lo: min - pad * span, hi: max + pad * span, log: false };
}

/** Moves a domain end out to the next nice tick when that is within 2% of the span (1..200 → 0..200). */
function snapDomain(s: Scale): Scale {
  const { step } = niceTicks(s.lo, s.hi, 6);
  if (!(step > 0)) return s;
  const span = s.hi - s.lo;
  const lo = Math.floor(s.lo / step + 1e-9) * step;
  const hi = Math.ceil(s.hi / step - 1e-9) * step;
  return { lo: s.lo - lo <= 0.02 * span ? lo : s.lo, hi: hi - s.hi <= 0.02 * span ? hi : s.hi, log: false };
}

/** Like {@link linearDomain} in log10 space, for positive data. */
function logDomain(min: number, max: number, pad: number): Scale {
  if (!(isGood(min) && isGood(max) && min > 0) || max < min) return { lo: 1, hi: 10, log: true };
  let a = Math.log10(min);
  let b = Math.log10(max);
  if (b - a < 1e-9) {
    a -= 0.3;
    b += 0.3;
  } else {
    const span = b - a;
    a -= pad * span;
    b += pad * span;
  }
  return { lo: 10 ** a, hi: 10 ** b, log: true };
}

// ---------------------------------------------------------------------------------------------------
// Layout and frame
// ---------------------------------------------------------------------------------------------------

interface Layout {
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

function unit(s: Scale, v: number): number {
  if (s.log) {
    const a = Math.log10(s.lo);
    return (Math.log10(v) - a) / (Math.log10(s.hi) - a);
  }
  return (v - s.lo) / (s.hi - s.lo);
}

function px(L: Layout, v: number): number {
  return L.left + unit(L.x, v) * (L.right - L.left);
}

function py(L: Layout, v: number): number {
  return L.bottom - unit(L.y, v) * (L.bottom - L.top);
}

function plotSize(o: PlotSize | undefined): { width: number; height: number } {
  const dim = (v: number | undefined, def: number, min: number): number =>
    v !== undefined && Number.isFinite(v) ? Math.round(Math.min(10_000, Math.max(min, v))) : def;
  return { width: dim(o?.width, 640, 240), height: dim(o?.height, 420, 180) };
}

function maxWidth(labels: string[], px: number): number {
  return labels.reduce((m, s) => Math.max(m, textWidth(s, px)), 0);
}

const PLOT_TOP = 46;

function plotBottom(height: number, hasXLabel: boolean): number {
  return height - (hasXLabel ? 54 : 34);
}

function makeLayout(
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

function svgOpen(L: Layout, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" ` +
      `viewBox="0 0 ${L.width} ${L.height}" font-family="${escapeXml(FONT)}" font-size="${TICK_PX}" ` +
      `role="img">`,
    `<title>${escapeXml(title || 'Plot')}</title>`,
    `<rect class="background" x="0" y="0" width="${L.width}" height="${L.height}" fill="#ffffff"/>`,
  ];
}

/** Title, grid, axes, ticks, tick labels and axis labels. */
function frame(L: Layout, title: string, xLabel: string, yLabel: string): string[] {
  const out: string[] = [];
  if (title) {
    const t = fitText(title, TITLE_PX * 1.15, L.width - 24); // bold
    out.push(
      `<text class="title" x="${n2(L.width / 2)}" y="28" text-anchor="middle" font-size="${TITLE_PX}" ` +
        `font-weight="bold" fill="#222222">${escapeXml(t)}</text>`,
    );
  }
  const grid: string[] = [];
  const marks: string[] = [];
  const labels: string[] = [];
  L.xTicks.values.forEach((v, i) => {
    const x = n2(px(L, v));
    grid.push(`<line x1="${x}" y1="${n2(L.top)}" x2="${x}" y2="${n2(L.bottom)}"/>`);
    marks.push(`<line x1="${x}" y1="${n2(L.bottom)}" x2="${x}" y2="${n2(L.bottom + 5)}"/>`);
    labels.push(
      `<text class="tick-label x" x="${x}" y="${n2(L.bottom + 18)}" text-anchor="middle">` +
        `${escapeXml(L.xTicks.labels[i])}</text>`,
    );
  });
  L.yTicks.values.forEach((v, i) => {
    const y = n2(py(L, v));
    grid.push(`<line x1="${n2(L.left)}" y1="${y}" x2="${n2(L.right)}" y2="${y}"/>`);
    marks.push(`<line x1="${n2(L.left - 5)}" y1="${y}" x2="${n2(L.left)}" y2="${y}"/>`);
    labels.push(
      `<text class="tick-label y" x="${n2(L.left - 8)}" y="${n2(py(L, v) + 4)}" text-anchor="end">` +
        `${escapeXml(L.yTicks.labels[i])}</text>`,
    );
  });
  out.push(`<g class="grid" stroke="#e6e6e6" stroke-width="1">${grid.join('')}</g>`);
  out.push(
    `<rect class="plot-area" x="${n2(L.left)}" y="${n2(L.top)}" width="${n2(L.right - L.left)}" ` +
      `height="${n2(L.bottom - L.top)}" fill="none" stroke="#bbbbbb" stroke-width="1"/>`,
  );
  out.push(
    `<g class="axes" stroke="#333333" stroke-width="1">` +
      `<line x1="${n2(L.left)}" y1="${n2(L.bottom)}" x2="${n2(L.right)}" y2="${n2(L.bottom)}"/>` +
      `<line x1="${n2(L.left)}" y1="${n2(L.top)}" x2="${n2(L.left)}" y2="${n2(L.bottom)}"/>` +
      `${marks.join('')}</g>`,
  );
  out.push(`<g class="tick-labels" fill="#333333" font-size="${TICK_PX}">${labels.join('')}</g>`);
  if (xLabel) {
    const t = fitText(xLabel, LABEL_PX, L.right - L.left);
    out.push(
      `<text class="axis-label x" x="${n2((L.left + L.right) / 2)}" y="${n2(L.height - 14)}" ` +
        `text-anchor="middle" font-size="${LABEL_PX}" fill="#222222">${escapeXml(t)}</text>`,
    );
  }
  if (yLabel) {
    const t = fitText(yLabel, LABEL_PX, L.bottom - L.top);
    const cy = n2((L.top + L.bottom) / 2);
    out.push(
      `<text class="axis-label y" x="18" y="${cy}" transform="rotate(-90 18 ${cy})" ` +
        `text-anchor="middle" font-size="${LABEL_PX}" fill="#222222">${escapeXml(t)}</text>`,
    );
  }
  return out;
}

function noDataNote(L: Layout, text = 'No data'): string {
  const cx = (L.left + L.right) / 2;
  const cy = (L.top + L.bottom) / 2;
  const w = textWidth(text, NOTE_PX) + 16;
  return (
    `<rect class="no-data-box" x="${n2(cx - w / 2)}" y="${n2(cy - 16)}" width="${n2(w)}" height="24" rx="3" ` +
    `fill="#ffffff"/>` +
    `<text class="no-data" x="${n2(cx)}" y="${n2(cy + 1)}" text-anchor="middle" font-size="${NOTE_PX}" ` +
    `fill="#777777">${escapeXml(text)}</text>`
  );
}

// ---------------------------------------------------------------------------------------------------
// Legend
// ---------------------------------------------------------------------------------------------------

type LegendEntry =
  | { kind: 'line'; label: string; color: string; dash?: string; width?: number; marker?: boolean }
  | { kind: 'rect'; label: string; fill: string; stroke: string; opacity?: number }
  | { kind: 'errorbar'; label: string; color: string }
  | { kind: 'text'; label: string };

/** Pixel points the data covers, used to put the legend where it hides the least. */
type Occupancy = number[];

function occupySegment(occ: Occupancy, x1: number, y1: number, x2: number, y2: number): void {
  const n = Math.min(50, Math.ceil(Math.hypot(x2 - x1, y2 - y1) / 4));
  for (let i = 0; i <= n; i++) {
    const t = n === 0 ? 0 : i / n;
    occ.push(x1 + t * (x2 - x1), y1 + t * (y2 - y1));
  }
}

function occupyRect(occ: Occupancy, x: number, y: number, w: number, h: number): void {
  for (let i = 0; i <= Math.ceil(w / 5); i++) {
    for (let j = 0; j <= Math.ceil(h / 5); j++) occ.push(x + Math.min(w, i * 5), y + Math.min(h, j * 5));
  }
}

type Corner = 'tr' | 'tl' | 'br' | 'bl';

const LEGEND_ROW = 18;
const LEGEND_SWATCH = 24;
const LEGEND_PAD = 8;
const LEGEND_INSET = 8;

/** Width of the widest label (px) that a legend `outerPx` wide can show. */
function legendLabelRoom(outerPx: number): number {
  return Math.max(40, outerPx - LEGEND_SWATCH - 6 - 2 * LEGEND_PAD);
}

/** Legend rows (capped to what fits in `plotH`, with an "… and N more" row), labels and box size. */
function legendBox(
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
function legend(
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
    `<rect x="${n2(bx)}" y="${n2(by)}" width="${w}" height="${h}" rx="4" fill="#ffffff" ` +
      `fill-opacity="0.9" stroke="#bbbbbb" stroke-width="1"/>`,
  ];
  shown.forEach((e, i) => {
    const cy = by + pad + i * row + 6;
    const sx = bx + pad;
    let tx = sx + swatch + 6;
    if (e.kind === 'line') {
      const dash = e.dash ? ` stroke-dasharray="${e.dash}"` : '';
      parts.push(
        `<line x1="${n2(sx)}" y1="${n2(cy)}" x2="${n2(sx + swatch)}" y2="${n2(cy)}" stroke="${e.color}" ` +
          `stroke-width="${e.width ?? 2}"${dash}/>`,
      );
      if (e.marker)
        parts.push(`<circle cx="${n2(sx + swatch / 2)}" cy="${n2(cy)}" r="3" fill="${e.color}"/>`);
    } else if (e.kind === 'rect') {
      const op = e.opacity !== undefined ? ` fill-opacity="${e.opacity}"` : '';
      parts.push(
        `<rect x="${n2(sx + 2)}" y="${n2(cy - 6)}" width="${swatch - 4}" height="12" fill="${e.fill}"${op} ` +
          `stroke="${e.stroke}" stroke-width="1"/>`,
      );
    } else if (e.kind === 'errorbar') {
      const mx = sx + swatch / 2;
      parts.push(
        `<path d="M${n2(mx)} ${n2(cy - 7)}V${n2(cy + 7)}M${n2(mx - 3)} ${n2(cy - 7)}h6M${n2(mx - 3)} ` +
          `${n2(cy + 7)}h6" stroke="${e.color}" stroke-opacity="0.6" stroke-width="1.2" fill="none"/>` +
          `<circle cx="${n2(mx)}" cy="${n2(cy)}" r="3" fill="${e.color}"/>`,
      );
    } else {
      tx = sx;
    }
    parts.push(
      `<text x="${n2(tx)}" y="${n2(cy + 4)}" font-size="${LEGEND_PX}" fill="#222222">${escapeXml(labels[i])}</text>`,
    );
  });
  return `<g class="legend">${parts.join('')}</g>`;
}

// ---------------------------------------------------------------------------------------------------
// Reliability diagram
// ---------------------------------------------------------------------------------------------------

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
  const out = [...svgOpen(L, title), ...frame(L, title, 'Confidence', 'Accuracy')];
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
      `<rect class="bar" x="${n2(x)}" y="${n2(yAcc)}" width="${n2(w)}" height="${n2(L.bottom - yAcc)}">` +
        `<title>${escapeXml(tip)}</title></rect>`,
    );
    occupyRect(occ, x, yAcc, w, L.bottom - yAcc);
    if (conf !== undefined && Math.abs(conf - acc) > 0) {
      const yConf = py(L, conf);
      const y0 = Math.min(yConf, yAcc);
      gaps.push(
        `<rect class="gap" x="${n2(x)}" y="${n2(y0)}" width="${n2(w)}" height="${n2(Math.abs(yConf - yAcc))}"/>`,
      );
      occupyRect(occ, x, y0, w, Math.abs(yConf - yAcc));
    }
  }
  out.push(`<g class="bars" fill="#4c72b0" stroke="#2a4d80" stroke-width="1">${bars.join('')}</g>`);
  out.push(
    `<g class="gaps" fill="#d62728" fill-opacity="0.25" stroke="#d62728" stroke-width="1">${gaps.join('')}</g>`,
  );
  out.push(
    `<line class="diagonal" x1="${n2(px(L, 0))}" y1="${n2(py(L, 0))}" x2="${n2(px(L, 1))}" y2="${n2(py(L, 1))}" ` +
      `stroke="#444444" stroke-width="1.5" stroke-dasharray="6 4"/>`,
  );
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
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Compact number for tooltips: up to 4 significant digits. */
function formatNum(v: number): string {
  if (!Number.isFinite(v)) return '?';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return String(Number(v.toPrecision(4)));
}

// ---------------------------------------------------------------------------------------------------
// Predicted mean vs. target with ±2 sd error bars
// ---------------------------------------------------------------------------------------------------

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
  const out = [...svgOpen(L, title), ...frame(L, title, xLabel, yLabel)];
  const occ: Occupancy = [];
  const color = '#1f77b4';
  // y = x, clipped to the plot area.
  const t0 = Math.max(L.x.lo, L.y.lo);
  const t1 = Math.min(L.x.hi, L.y.hi);
  if (t1 > t0) {
    out.push(
      `<line class="diagonal" x1="${n2(px(L, t0))}" y1="${n2(py(L, t0))}" x2="${n2(px(L, t1))}" ` +
        `y2="${n2(py(L, t1))}" stroke="#444444" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
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
    dots.push(`<circle class="point" cx="${n2(x)}" cy="${n2(ym)}" r="${r}"/>`);
    occ.push(x, ym);
    if (p.s !== undefined) {
      const y1 = py(L, p.m + 2 * p.s);
      const y2 = py(L, p.m - 2 * p.s);
      const cap = caps ? `M${n2(x - 3)} ${n2(y1)}h6M${n2(x - 3)} ${n2(y2)}h6` : '';
      bars.push(`<path class="errorbar" d="M${n2(x)} ${n2(y1)}V${n2(y2)}${cap}"/>`);
      occupySegment(occ, x, y1, x, y2);
    }
  }
  out.push(
    `<g class="errorbars" stroke="${color}" stroke-opacity="${Math.min(0.6, alpha)}" stroke-width="1.2" ` +
      `fill="none">${bars.join('')}</g>`,
  );
  out.push(`<g class="points" fill="${color}" fill-opacity="${alpha}">${dots.join('')}</g>`);
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
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------
// Line chart
// ---------------------------------------------------------------------------------------------------

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
  const out = [...svgOpen(L, title || yLabel || 'Line chart'), ...frame(L, title, xLabel, yLabel)];
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
        if (markers || part.length === 1) dots.push(`<circle cx="${n2(X)}" cy="${n2(Y)}" r="3"/>`);
      });
    }
    const dashAttr = dash ? ` stroke-dasharray="${dash}"` : '';
    lines.push(
      `<g class="series-group" data-series="${si}">` +
        (d
          ? `<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2" ` +
            `stroke-linejoin="round" stroke-linecap="round"${dashAttr}/>`
          : '') +
        (dots.length ? `<g class="markers" fill="${color}">${dots.join('')}</g>` : '') +
        `</g>`,
    );
  });
  out.push(`<g class="series-list">${lines.join('')}</g>`);
  if (total === 0)
    out.push(noDataNote(L, logY && series.length > 0 ? 'No positive data for a log axis' : 'No data'));
  if (series.length >= 2) out.push(legend(L, entries, occ, ['tr', 'br', 'tl', 'bl'], outside));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function s2(name: string, i: number): string {
  const t = String(name ?? '').trim();
  return t === '' ? `series ${i + 1}` : t;
}
