import { describe, expect, it } from 'vitest';
import {
  escapeXml,
  lineChartSvg,
  niceTicks,
  predictiveIntervalSvg,
  reliabilityDiagramSvg,
  type ReliabilityPlotBin,
} from '../src/eval/plots.js';

// ---------------------------------------------------------------------------------------------------
// A tiny XML well-formedness checker (no dependency): one root element, balanced and properly nested
// tags, quoted and unique attributes, no raw '<' in text or attribute values, and '&' only as the start
// of a predefined or numeric entity.
// ---------------------------------------------------------------------------------------------------

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)/;

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Throws on malformed XML; returns every element (document order) with its own direct text. */
function parseXml(xml: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let roots = 0;
  let i = 0;
  const text = (s: string): void => {
    if (ENTITY.test(s)) throw new Error(`bare '&' in text ${JSON.stringify(s.slice(0, 40))}`);
    if (stack.length === 0) {
      if (s.trim() !== '') throw new Error(`text outside the root: ${JSON.stringify(s.slice(0, 40))}`);
      return;
    }
    stack[stack.length - 1].text += unescape(s);
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      text(xml.slice(i));
      break;
    }
    text(xml.slice(i, lt));
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt + 2);
      if (end < 0 || lt !== 0) throw new Error('bad processing instruction');
      i = end + 2;
      continue;
    }
    if (xml[lt + 1] === '/') {
      const m = /^<\/([A-Za-z_:][-A-Za-z0-9_:.]*)\s*>/.exec(xml.slice(lt));
      if (!m) throw new Error(`bad end tag at ${lt}`);
      const open = stack.pop();
      if (!open || open.name !== m[1]) throw new Error(`</${m[1]}> does not close <${open?.name}>`);
      i = lt + m[0].length;
      continue;
    }
    let j = lt + 1;
    const nm = NAME.exec(xml.slice(j));
    if (!nm) throw new Error(`bad tag name at ${lt}`);
    const el: XmlElement = { name: nm[0], attrs: {}, text: '' };
    j += nm[0].length;
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(j))![0];
      j += ws.length;
      if (xml.startsWith('/>', j) || xml[j] === '>') break;
      if (ws === '') throw new Error(`missing space before attribute in <${el.name}> at ${j}`);
      const am = /^([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(xml.slice(j));
      if (!am) throw new Error(`bad attribute in <${el.name}> at ${j}: ${xml.slice(j, j + 30)}`);
      const value = am[3] ?? am[4];
      if (value.includes('<') || ENTITY.test(value)) throw new Error(`bad attribute value ${value}`);
      if (am[1] in el.attrs) throw new Error(`duplicate attribute ${am[1]}`);
      el.attrs[am[1]] = unescape(value);
      j += am[0].length;
    }
    if (stack.length === 0 && roots++ > 0) throw new Error('more than one root element');
    elements.push(el);
    if (xml.startsWith('/>', j)) {
      i = j + 2;
    } else {
      stack.push(el);
      i = j + 1;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (roots !== 1) throw new Error('no root element');
  return elements;
}

function checkSvg(svg: string): XmlElement[] {
  const els = parseXml(svg);
  expect(els[0].name).toBe('svg');
  expect(els[0].attrs.xmlns).toBe('http://www.w3.org/2000/svg');
  expect(svg).not.toMatch(/NaN|Infinity|undefined|null/);
  expect(svg).not.toMatch(/\bid=/);
  return els;
}

const withClass = (els: XmlElement[], name: string, cls: string): XmlElement[] =>
  els.filter((e) => e.name === name && (e.attrs.class ?? '').split(/\s+/).includes(cls));

/** Tick labels of one axis ('x' or 'y'), as numbers. */
function tickValues(els: XmlElement[], axis: 'x' | 'y'): number[] {
  return els
    .filter((e) => e.name === 'text' && e.attrs.class === `tick-label ${axis}`)
    .map((e) => {
      expect(e.text).toMatch(/^-?\d+(\.\d+)?(e-?\d+)?$/);
      return Number(e.text);
    });
}

function isNiceStep(step: number): boolean {
  const e = Math.floor(Math.log10(step) + 1e-9);
  const m = step / 10 ** e;
  return [1, 2, 5, 10].some((n) => Math.abs(m - n) < 1e-6);
}

/** Linear axis: ≥ 2 ticks in an arithmetic progression whose step is 1, 2 or 5 × 10^k, on multiples of it. */
function expectNiceLinear(values: number[]): void {
  expect(values.length).toBeGreaterThanOrEqual(2);
  const step = values[1] - values[0];
  expect(step).toBeGreaterThan(0);
  expect(isNiceStep(step)).toBe(true);
  const s = 10 ** Math.round(Math.log10(step));
  values.forEach((v, i) => {
    expect(Math.abs(v - (values[0] + i * step))).toBeLessThan(1e-6 * step);
    expect(Math.abs(v / step - Math.round(v / step))).toBeLessThan(1e-6 * Math.max(1, Math.abs(v / step)));
    // The label itself is short (no float noise such as 0.30000000000000004).
    expect(String(v).replace(/^-/, '').length).toBeLessThanOrEqual(String(Math.round(v / s) * s).length + 2);
  });
}

/** Log axis: every tick is 1, 2 or 5 × 10^k. */
function expectNiceLog(values: number[]): void {
  expect(values.length).toBeGreaterThanOrEqual(2);
  for (const v of values) expect(isNiceStep(v)).toBe(true);
}

const attr = (e: XmlElement, k: string): number => Number(e.attrs[k]);

// ---------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------

/** Deterministic pseudo-random numbers (LCG) for fixtures. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function makeBins(): ReliabilityPlotBin[] {
  const bins: ReliabilityPlotBin[] = [];
  for (let b = 0; b < 10; b++) {
    const empty = b < 3 || b === 6;
    const conf = (b + 0.5) / 10;
    bins.push({
      lower: b / 10,
      upper: (b + 1) / 10,
      count: empty ? 0 : 10 * b,
      accuracy: empty ? NaN : Math.max(0, conf - 0.08),
      confidence: empty ? NaN : conf,
    });
  }
  return bins;
}

function regression(n: number): { y: number[]; mean: number[]; sd: number[] } {
  const r = lcg(7);
  const y: number[] = [];
  const mean: number[] = [];
  const sd: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = 20 * r() - 5;
    y.push(t);
    sd.push(0.2 + r());
    mean.push(t + 2 * (r() - 0.5));
  }
  return { y, mean, sd };
}

const epochs = Array.from({ length: 50 }, (_, i) => i + 1);
const curves = [
  { name: 'train', x: epochs, y: epochs.map((e) => 2 * Math.exp(-e / 10) + 0.05) },
  { name: 'validation', x: epochs, y: epochs.map((e) => 2.2 * Math.exp(-e / 12) + 0.1) },
  { name: 'student', x: epochs, y: epochs.map((e) => 1.5 * Math.exp(-e / 8) + 0.08) },
];

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

describe('well-formedness checker', () => {
  it('accepts good XML and rejects broken XML', () => {
    expect(parseXml('<a x="1"><b/>t &amp; &#60;<c>y</c></a>').map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(() => parseXml('<a><b></a></b>')).toThrow();
    expect(() => parseXml('<a><b></a>')).toThrow();
    expect(() => parseXml('<a>x & y</a>')).toThrow();
    expect(() => parseXml('<a x="<">y</a>')).toThrow();
    expect(() => parseXml('<a x=1/>')).toThrow();
    expect(() => parseXml('<a/><b/>')).toThrow();
    expect(() => parseXml('<a>1 < 2</a>')).toThrow();
  });
});

describe('escapeXml', () => {
  it('escapes markup characters and drops characters XML forbids', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(escapeXml('x\u0000y\u0007z\tw')).toBe('xyz\tw');
    expect(escapeXml('μ ± σ')).toBe('μ ± σ');
  });
});

describe('niceTicks', () => {
  it('gives 1-2-5 steps on multiples of the step', () => {
    expect(niceTicks(0, 1, 5)).toEqual({ values: [0, 0.2, 0.4, 0.6, 0.8, 1], step: 0.2 });
    expect(niceTicks(-0.03, 1.04, 5).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.1, 0.7, 6).values).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    expect(niceTicks(1, 200, 4).values).toEqual([50, 100, 150, 200]);
    const r = lcg(3);
    for (let k = 0; k < 300; k++) {
      const lo = (r() - 0.5) * 10 ** Math.floor(12 * r() - 6);
      const hi = lo + r() * 10 ** Math.floor(12 * r() - 6) + 1e-9;
      // Spans below ~1e-6 of the magnitude are float noise (the plots treat them as constant).
      if (hi - lo < 1e-6 * Math.max(Math.abs(lo), Math.abs(hi))) continue;
      const target = 2 + Math.floor(8 * r());
      const { values, step } = niceTicks(lo, hi, target);
      expect(isNiceStep(step)).toBe(true);
      expect(values.length).toBeGreaterThanOrEqual(2);
      expect(values.length).toBeLessThanOrEqual(3 * target + 1);
      for (const v of values) {
        expect(v).toBeGreaterThanOrEqual(lo - 1e-9 * step);
        expect(v).toBeLessThanOrEqual(hi + 1e-9 * step);
      }
      expectNiceLinear(values);
    }
  });

  it('returns no ticks for an empty or non-finite range', () => {
    expect(niceTicks(1, 1).values).toEqual([]);
    expect(niceTicks(NaN, 1).values).toEqual([]);
    expect(niceTicks(0, Infinity).values).toEqual([]);
  });
});

describe('reliabilityDiagramSvg', () => {
  const bins = makeBins();
  const svg = reliabilityDiagramSvg(bins, { ece: 0.0412 });
  const els = checkSvg(svg);

  it('draws one bar per non-empty bin, with height = accuracy', () => {
    const bars = withClass(els, 'rect', 'bar');
    const nonEmpty = bins.filter((b) => b.count > 0);
    expect(bars).toHaveLength(nonEmpty.length);
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(6);
    // Heights are proportional to the accuracy; widths to the bin width.
    const unitH = attr(bars[0], 'height') / nonEmpty[0].accuracy;
    bars.forEach((bar, i) => {
      expect(attr(bar, 'height') / unitH).toBeCloseTo(nonEmpty[i].accuracy, 2);
      expect(attr(bar, 'width')).toBeCloseTo(attr(bars[0], 'width'), 1);
    });
    expect(withClass(els, 'rect', 'gap')).toHaveLength(6);
  });

  it('draws the y = x diagonal corner to corner of the [0,1]² plot area', () => {
    const diag = withClass(els, 'line', 'diagonal');
    expect(diag).toHaveLength(1);
    const area = withClass(els, 'rect', 'plot-area')[0];
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((k) => attr(area, k));
    expect(attr(diag[0], 'x1')).toBeCloseTo(x, 1);
    expect(attr(diag[0], 'y1')).toBeCloseTo(y + h, 1);
    expect(attr(diag[0], 'x2')).toBeCloseTo(x + w, 1);
    expect(attr(diag[0], 'y2')).toBeCloseTo(y, 1);
  });

  it('labels both axes 0..1 with nice ticks, shows the ECE and a legend', () => {
    expect(tickValues(els, 'x')).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(tickValues(els, 'y')).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(els.some((e) => e.name === 'text' && e.text === 'ECE = 0.0412')).toBe(true);
    expect(withClass(els, 'g', 'legend')).toHaveLength(1);
    expect(reliabilityDiagramSvg(bins)).not.toContain('ECE');
    expect(reliabilityDiagramSvg(bins, { ece: NaN })).not.toContain('ECE');
  });

  it('escapes the title', () => {
    const s = reliabilityDiagramSvg(bins, { title: 'Teacher <ensemble> & "student"' });
    const e = checkSvg(s);
    expect(s).toContain('Teacher &lt;ensemble&gt; &amp; &quot;student&quot;');
    expect(withClass(e, 'text', 'title')[0].text).toBe('Teacher <ensemble> & "student"');
  });

  it('is deterministic', () => {
    expect(reliabilityDiagramSvg(makeBins(), { ece: 0.0412 })).toBe(svg);
  });

  it('handles no bins, all-empty bins and junk values', () => {
    for (const b of [
      [],
      bins.map((x) => ({ ...x, count: 0, accuracy: NaN, confidence: NaN })),
      [{ lower: NaN, upper: Infinity, count: 3, accuracy: 0.5, confidence: 0.5 }],
    ]) {
      const s = reliabilityDiagramSvg(b, { ece: Infinity });
      const e = checkSvg(s);
      expect(withClass(e, 'rect', 'bar')).toHaveLength(0);
      expect(withClass(e, 'text', 'no-data')).toHaveLength(1);
      expect(withClass(e, 'line', 'diagonal')).toHaveLength(1);
    }
    // Confidence missing but accuracy present: a bar without a gap. Out-of-range values are clamped.
    const e = checkSvg(
      reliabilityDiagramSvg([
        { lower: 0.5, upper: 1, count: 4, accuracy: 0.75, confidence: NaN },
        { lower: -1, upper: 0.5, count: 4, accuracy: 1.5, confidence: 0.25 },
      ]),
    );
    expect(withClass(e, 'rect', 'bar')).toHaveLength(2);
    expect(withClass(e, 'rect', 'gap')).toHaveLength(1);
  });
});

describe('predictiveIntervalSvg', () => {
  const { y, mean, sd } = regression(40);
  const svg = predictiveIntervalSvg(y, mean, sd, { title: 'Boston <test> & co', xLabel: 'y', yLabel: 'ŷ' });
  const els = checkSvg(svg);

  it('draws one point and one ±2 sd error bar per example', () => {
    const points = withClass(els, 'circle', 'point');
    const bars = withClass(els, 'path', 'errorbar');
    expect(points).toHaveLength(40);
    expect(bars).toHaveLength(40);
    // Each bar is vertical through its point, and its length is proportional to 4·sd.
    const lengths = bars.map((b, i) => {
      const m = /^M([-\d.]+) ([-\d.]+)V([-\d.]+)/.exec(b.attrs.d)!;
      expect(Number(m[1])).toBeCloseTo(attr(points[i], 'cx'), 1);
      const [top, bottom] = [Number(m[2]), Number(m[3])];
      expect(attr(points[i], 'cy')).toBeCloseTo((top + bottom) / 2, 0);
      return bottom - top;
    });
    lengths.forEach((l, i) => expect(l / (4 * sd[i])).toBeCloseTo(lengths[0] / (4 * sd[0]), 1));
  });

  it('draws the y = x line and nice ticks on data-driven axes', () => {
    const diag = withClass(els, 'line', 'diagonal');
    expect(diag).toHaveLength(1);
    // Slope in pixels matches the ratio of the axis scales (both axes map data linearly).
    const xs = tickValues(els, 'x');
    const ys = tickValues(els, 'y');
    expectNiceLinear(xs);
    expectNiceLinear(ys);
    const lo = Math.min(...y);
    const hi = Math.max(...y);
    expect(xs[0]).toBeGreaterThanOrEqual(lo - 0.05 * (hi - lo) - 1e-9);
    expect(xs[xs.length - 1]).toBeLessThanOrEqual(hi + 0.05 * (hi - lo) + 1e-9);
    expect(els.find((e) => e.attrs.class === 'axis-label y')?.text).toBe('ŷ');
  });

  it('escapes the title and is deterministic', () => {
    expect(svg).toContain('Boston &lt;test&gt; &amp; co');
    expect(svg).not.toContain('<test>');
    expect(
      predictiveIntervalSvg(y, mean, sd, { title: 'Boston <test> & co', xLabel: 'y', yLabel: 'ŷ' }),
    ).toBe(svg);
    expect(predictiveIntervalSvg(Float64Array.from(y), Float32Array.from(mean), sd).length).toBeGreaterThan(
      0,
    );
  });

  it('handles degenerate input', () => {
    const cases: [number[], number[], number[]][] = [
      [[], [], []],
      [[3], [3], [0]],
      [[3], [2.5], [0.4]],
      [
        [1, 1, 1],
        [1, 1, 1],
        [0, 0, 0],
      ],
      [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      [
        [1, NaN, 3, Infinity],
        [1, 2, NaN, 4],
        [NaN, 1, 1, -1],
      ],
      [
        [1e308, -1e308],
        [1e308, -1e308],
        [1e308, 1e308],
      ],
    ];
    for (const [yy, mm, ss] of cases) {
      const e = checkSvg(predictiveIntervalSvg(yy, mm, ss));
      const valid = yy.filter((t, i) => Number.isFinite(t) && Number.isFinite(mm[i]) && Math.abs(t) < 1e300);
      expect(withClass(e, 'circle', 'point')).toHaveLength(valid.length);
      expect(withClass(e, 'text', 'no-data')).toHaveLength(valid.length === 0 ? 1 : 0);
      expect(tickValues(e, 'x').length).toBeGreaterThanOrEqual(2);
      expect(tickValues(e, 'y').length).toBeGreaterThanOrEqual(2);
    }
    // A point whose sd is unusable gets no bar.
    const e = checkSvg(predictiveIntervalSvg([1, 2, 3], [1, 2, 3], [0.1, NaN, -1]));
    expect(withClass(e, 'circle', 'point')).toHaveLength(3);
    expect(withClass(e, 'path', 'errorbar')).toHaveLength(1);
  });

  it('rejects mismatched lengths', () => {
    expect(() => predictiveIntervalSvg([1, 2], [1], [1, 1])).toThrow(/1 means for 2 targets/);
    expect(() => predictiveIntervalSvg([1, 2], [1, 2], [1])).toThrow(/standard deviations/);
  });
});

describe('lineChartSvg', () => {
  const svg = lineChartSvg(curves, { title: 'Loss <nats> & more', xLabel: 'Epoch', yLabel: 'Loss' });
  const els = checkSvg(svg);

  it('draws one path per series in distinct colors, with a legend naming each', () => {
    const paths = withClass(els, 'path', 'series');
    expect(paths).toHaveLength(3);
    expect(new Set(paths.map((p) => p.attrs.stroke)).size).toBe(3);
    const legendTexts = els.filter((e) => e.name === 'text' && curves.some((c) => c.name === e.text));
    expect(legendTexts.map((e) => e.text).sort()).toEqual(['student', 'train', 'validation']);
    expect(withClass(els, 'g', 'legend')).toHaveLength(1);
  });

  it('has nice ticks and escapes the title', () => {
    expectNiceLinear(tickValues(els, 'x'));
    expectNiceLinear(tickValues(els, 'y'));
    expect(svg).toContain('Loss &lt;nats&gt; &amp; more');
  });

  it('is deterministic', () => {
    expect(lineChartSvg(curves, { title: 'Loss <nats> & more', xLabel: 'Epoch', yLabel: 'Loss' })).toBe(svg);
  });

  it('uses decade or 1-2-5 ticks on a log axis and skips non-positive values', () => {
    const wide = lineChartSvg([{ name: 'lr', x: [0, 1, 2, 3], y: [1e-5, 1e-3, 0, 0.1] }], { logY: true });
    const e = checkSvg(wide);
    const ys = tickValues(e, 'y');
    expectNiceLog(ys);
    expect(ys).toContain(0.001);
    // The zero splits the line into two pieces.
    expect(withClass(e, 'path', 'series')[0].attrs.d.match(/M/g)).toHaveLength(2);
    const narrow = checkSvg(lineChartSvg(curves, { logY: true }));
    expectNiceLog(tickValues(narrow, 'y'));
    const veryNarrow = checkSvg(lineChartSvg([{ name: 'a', x: [0, 1], y: [3.1, 3.3] }], { logY: true }));
    expect(tickValues(veryNarrow, 'y').length).toBeGreaterThanOrEqual(2);
    const none = checkSvg(lineChartSvg([{ name: 'a', x: [0, 1], y: [0, -1] }], { logY: true }));
    expect(withClass(none, 'text', 'no-data')).toHaveLength(1);
  });

  it('handles degenerate input', () => {
    const cases: Parameters<typeof lineChartSvg>[0][] = [
      [],
      [{ name: '', x: [], y: [] }],
      [{ name: 'one', x: [5], y: [0.3] }],
      [{ name: 'flat', x: [1, 2, 3], y: [2, 2, 2] }],
      [{ name: 'zero', x: [0, 0], y: [0, 0] }],
      [
        { name: 'nan', x: [1, 2, 3, 4], y: [NaN, 1, Infinity, -Infinity] },
        { name: 'huge', x: [1, 2], y: [1e308, -1e308] },
      ],
      [
        { name: 'tiny', x: [0, 1e-12], y: [1e-300, 2e-300] },
        { name: 'big', x: [1e9, 2e9], y: [1e12, 3e12] },
      ],
    ];
    for (const series of cases) {
      for (const logY of [false, true]) {
        const e = checkSvg(lineChartSvg(series, { logY, title: 't' }));
        expect(
          e.filter((x) => x.name === 'text' && x.attrs.class?.startsWith('tick-label')).length,
        ).toBeGreaterThan(2);
      }
    }
    const empty = checkSvg(lineChartSvg([]));
    expect(withClass(empty, 'text', 'no-data')).toHaveLength(1);
    const one = checkSvg(lineChartSvg([{ name: 'one', x: [5], y: [0.3] }]));
    expect(withClass(one, 'text', 'no-data')).toHaveLength(0);
    expect(one.filter((x) => x.name === 'circle')).toHaveLength(1);
  });

  it('gives many series distinct styles and caps the legend', () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ name: `run ${i}`, x: [0, 1], y: [i, i + 1] }));
    const e = checkSvg(lineChartSvg(many, { height: 300 }));
    const styles = withClass(e, 'path', 'series').map(
      (p) => `${p.attrs.stroke}|${p.attrs['stroke-dasharray'] ?? ''}`,
    );
    expect(new Set(styles).size).toBe(30);
    expect(e.some((x) => x.name === 'text' && /^… and \d+ more$/.test(x.text))).toBe(true);
  });

  it('rejects series whose x and y differ in length', () => {
    expect(() => lineChartSvg([{ name: 'bad', x: [1, 2], y: [1] }])).toThrow(/2 x values but 1 y values/);
  });
});

describe('size options', () => {
  it('defaults to 640×420 and honours (clamped) width/height', () => {
    const def = parseXml(lineChartSvg(curves))[0];
    expect([def.attrs.width, def.attrs.height, def.attrs.viewBox]).toEqual(['640', '420', '0 0 640 420']);
    const big = parseXml(reliabilityDiagramSvg(makeBins(), { width: 1000, height: 700 }))[0];
    expect([big.attrs.width, big.attrs.height]).toEqual(['1000', '700']);
    const bad = checkSvg(predictiveIntervalSvg([1, 2], [1, 2], [1, 1], { width: NaN, height: -5 }))[0];
    expect([bad.attrs.width, bad.attrs.height]).toEqual(['640', '180']);
  });
});
