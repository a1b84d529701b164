import { expect } from 'vitest';

// ---------------------------------------------------------------------------------------------------
// A tiny XML well-formedness checker (no dependency): one root element, balanced and properly nested
// tags, quoted and unique attributes, no raw '<' in text or attribute values, and '&' only as the start
// of a predefined or numeric entity.
// ---------------------------------------------------------------------------------------------------

export interface XmlElement {
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
export function parseXml(xml: string): XmlElement[] {
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

export function checkSvg(svg: string): XmlElement[] {
  const els = parseXml(svg);
  expect(els[0].name).toBe('svg');
  expect(els[0].attrs.xmlns).toBe('http://www.w3.org/2000/svg');
  expect(svg).not.toMatch(/NaN|Infinity|undefined|null/);
  expect(svg).not.toMatch(/\bid=/);
  return els;
}

export const withClass = (els: XmlElement[], name: string, cls: string): XmlElement[] =>
  els.filter((e) => e.name === name && (e.attrs.class ?? '').split(/\s+/).includes(cls));

/** Tick labels of one axis ('x' or 'y'), as numbers. */
export function tickValues(els: XmlElement[], axis: 'x' | 'y'): number[] {
  return els
    .filter((e) => e.name === 'text' && e.attrs.class === `tick-label ${axis}`)
    .map((e) => {
      expect(e.text).toMatch(/^-?\d+(\.\d+)?(e-?\d+)?$/);
      return Number(e.text);
    });
}

export function isNiceStep(step: number): boolean {
  const e = Math.floor(Math.log10(step) + 1e-9);
  const m = step / 10 ** e;
  return [1, 2, 5, 10].some((n) => Math.abs(m - n) < 1e-6);
}

/** Linear axis: ≥ 2 ticks in an arithmetic progression whose step is 1, 2 or 5 × 10^k, on multiples of it. */
export function expectNiceLinear(values: number[]): void {
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
export function expectNiceLog(values: number[]): void {
  expect(values.length).toBeGreaterThanOrEqual(2);
  for (const v of values) expect(isNiceStep(v)).toBe(true);
}

export const attr = (e: XmlElement, k: string): number => Number(e.attrs[k]);
