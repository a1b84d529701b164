/**
 * The small SVG kit every plot draws with: the shared look (font, text sizes, colours), escaping,
 * number formatting, estimated text widths, element and document builders, "nice" ticks and the
 * linear/log scales of an axis.
 *
 * Everything here is pure and deterministic, so a plot gives the same string for the same input.
 * Attributes are written in the order given and every attribute value is XML-escaped; element content
 * is markup, so text goes through {@link textTag}.
 */

// ---------------------------------------------------------------------------------------------------
// Shared look
// ---------------------------------------------------------------------------------------------------

/** Font stack of every plot (set once on the root element). */
export const FONT = "'DejaVu Sans', Verdana, Helvetica, Arial, sans-serif";
/** Text sizes (px): title (bold), axis label, tick label (the root default), legend, caption, note. */
export const TITLE_PX = 16;
export const LABEL_PX = 13;
export const TICK_PX = 11;
export const LEGEND_PX = 12;
export const CAPTION_PX = 12;
export const NOTE_PX = 14;

/** Tableau/matplotlib "tab10" palette; series past 10 reuse it with a dash pattern. */
export const PALETTE = [
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
/** Dash patterns (`stroke-dasharray`) for the 1st, 2nd, … round through the palette. */
export const DASHES = ['', '7 4', '2 3', '10 3 2 3'];

/** Viridis (matplotlib), sampled at 0, 1/8, …, 1 plus 15/16; linearly interpolated in between. */
const VIRIDIS: [number, number, number, number][] = [
  [0, 68, 1, 84],
  [0.125, 72, 36, 117],
  [0.25, 65, 68, 135],
  [0.375, 53, 95, 141],
  [0.5, 42, 120, 142],
  [0.625, 33, 145, 140],
  [0.75, 34, 168, 132],
  [0.875, 68, 191, 112],
  [0.9375, 160, 218, 57],
  [1, 253, 231, 37],
];

/** Viridis colour for t ∈ [0, 1] as #rrggbb. */
export function viridis(t: number): string {
  const v = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  let i = 1;
  while (i < VIRIDIS.length - 1 && VIRIDIS[i][0] < v) i++;
  const [t0, r0, g0, b0] = VIRIDIS[i - 1];
  const [t1, r1, g1, b1] = VIRIDIS[i];
  const f = (v - t0) / (t1 - t0);
  const hex = (a: number, b: number) =>
    Math.round(a + f * (b - a))
      .toString(16)
      .padStart(2, '0');
  return `#${hex(r0, r1)}${hex(g0, g1)}${hex(b0, b1)}`;
}

/** Values with a larger magnitude are treated as non-finite (keeps every span and padding finite). */
const MAX_ABS = 1e300;

/** Whether v is finite and at most 1e300 in magnitude, i.e. safe to put on an axis. */
export function isGood(v: number): boolean {
  return Number.isFinite(v) && Math.abs(v) <= MAX_ABS;
}

// ---------------------------------------------------------------------------------------------------
// Escaping and elements
// ---------------------------------------------------------------------------------------------------

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

/** Attribute values by name, written in insertion order; `undefined` leaves the attribute out. */
export type Attrs = Record<string, string | number | undefined>;

/** The start tag `<name a="v" …>` (values escaped, numbers as `String(v)`). */
export function openTag(name: string, attrs: Attrs): string {
  let s = `<${name}`;
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) s += ` ${k}="${escapeXml(String(v))}"`;
  return s + '>';
}

/**
 * One element: `<name …/>` without `inner`, else `<name …>inner</name>` (`inner` is markup, already
 * escaped; an empty string still gives a start and an end tag).
 */
export function tag(name: string, attrs: Attrs, inner?: string): string {
  const open = openTag(name, attrs);
  return inner === undefined ? `${open.slice(0, -1)}/>` : `${open}${inner}</${name}>`;
}

/** A `<text>` element with `content` escaped. */
export function textTag(attrs: Attrs, content: string): string {
  return tag('text', attrs, escapeXml(content));
}

/**
 * A standalone SVG document `width` × `height` px: the root element (shared font, tick-sized text),
 * a `<title>` for screen readers and tooltips, a white background, then `body` one item per line.
 */
export function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return (
    [
      openTag('svg', {
        xmlns: 'http://www.w3.org/2000/svg',
        width,
        height,
        viewBox: `0 0 ${width} ${height}`,
        'font-family': FONT,
        'font-size': TICK_PX,
        role: 'img',
      }),
      tag('title', {}, escapeXml(title)),
      tag('rect', { class: 'background', x: 0, y: 0, width, height, fill: '#ffffff' }),
      ...body,
      '</svg>',
    ].join('\n') + '\n'
  );
}

// ---------------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------------

/** Pixel coordinate: two decimals, never "NaN"/"Infinity"/"-0". */
export function n2(v: number): string {
  if (!Number.isFinite(v)) return '0';
  const r = Math.round(v * 100) / 100;
  return r === 0 ? '0' : String(r);
}

/** Pixel coordinate with one decimal, for the many corners of a heat map. */
export function n1(v: number): string {
  if (!Number.isFinite(v)) return '0';
  const r = Math.round(v * 10) / 10;
  return r === 0 ? '0' : String(r);
}

/** At most 4 significant digits in the shortest form (0.1235, 12350, 1.5e-7), for labels. */
export function sig4(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** Compact number for tooltips: "?" when not finite, integers (below 1e15) in full, else {@link sig4}. */
export function formatNum(v: number): string {
  if (!Number.isFinite(v)) return '?';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return sig4(v);
}

/** toExponential without the "+" and without trailing mantissa zeros: 1.5e6, 2e-7. */
export function expString(v: number, digits: number): string {
  const [m, e] = v.toExponential(digits).split('e');
  const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  return `${mant}e${Number(e)}`;
}

// ---------------------------------------------------------------------------------------------------
// Text widths (no font metrics at hand: estimates, on the generous side)
// ---------------------------------------------------------------------------------------------------

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

/** Estimated width in px of `s` at font size `px`, per character (to size margins and legends). */
export function textWidth(s: string, px: number): number {
  let em = 0;
  for (const ch of s) em += charEm(ch);
  return em * px;
}

/** Rough width in px (0.62 em per character), enough to size a figure around its captions. */
export function roughTextWidth(s: string, px: number): number {
  return [...s].length * 0.62 * px;
}

/** Shortens `s` with an ellipsis so its estimated width stays within `maxPx`. */
export function fitText(s: string, px: number, maxPx: number): string {
  const chars = [...s.replace(/\s+/g, ' ').trim()];
  if (textWidth(chars.join(''), px) <= maxPx) return chars.join('');
  let w = charEm('…') * px;
  let k = 0;
  while (k < chars.length && w + charEm(chars[k]) * px <= maxPx) w += charEm(chars[k++]) * px;
  return chars.slice(0, k).join('').trimEnd() + '…';
}

// ---------------------------------------------------------------------------------------------------
// Ticks and scales
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

/** Decimals that show every multiple of the 1-2-5 step `step` exactly (0 for steps ≥ 1). */
export function stepDecimals(step: number): number {
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

function formatLog(v: number): string {
  const k = Math.floor(Math.log10(v) + 1e-9);
  if (k >= -4 && k <= 5) return v.toFixed(Math.max(0, -k));
  return `${Math.round(v / 10 ** k)}e${k}`;
}

/** An axis domain; a log scale maps log10 of the value linearly. */
export interface Scale {
  /** Domain, in data units (positive when log). */
  lo: number;
  hi: number;
  log: boolean;
}

/** Tick positions (data units) and their labels. */
export interface Ticks {
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

/** About `target` nice ticks of a scale, labelled (decades or 1-2-5 on a log scale). */
export function axisTicks(s: Scale, target: number): Ticks {
  return s.log ? logAxisTicks(s.lo, s.hi, target) : linearAxisTicks(s.lo, s.hi, target);
}

/**
 * A linear domain covering [min, max] with `pad` × span added on both sides; a zero-width range is
 * widened around its value, and no data gives [0, 1].
 */
export function linearDomain(min: number, max: number, pad: number): Scale {
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
export function snapDomain(s: Scale): Scale {
  const { step } = niceTicks(s.lo, s.hi, 6);
  if (!(step > 0)) return s;
  const span = s.hi - s.lo;
  const lo = Math.floor(s.lo / step + 1e-9) * step;
  const hi = Math.ceil(s.hi / step - 1e-9) * step;
  return { lo: s.lo - lo <= 0.02 * span ? lo : s.lo, hi: hi - s.hi <= 0.02 * span ? hi : s.hi, log: false };
}

/** Like {@link linearDomain} in log10 space, for positive data. */
export function logDomain(min: number, max: number, pad: number): Scale {
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

/** Position of v in the scale's domain, 0 at `lo` and 1 at `hi` (in log10 space on a log scale). */
export function unit(s: Scale, v: number): number {
  if (s.log) {
    const a = Math.log10(s.lo);
    return (Math.log10(v) - a) / (Math.log10(s.hi) - a);
  }
  return (v - s.lo) / (s.hi - s.lo);
}
