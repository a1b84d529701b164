import { describe, expect, it } from 'vitest';
import { escapeXml, niceTicks } from '../../src/eval/svg.js';
import { parseXml, isNiceStep, expectNiceLinear } from './svg-check.js';
import { lcg } from './plot-fixtures.js';

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
