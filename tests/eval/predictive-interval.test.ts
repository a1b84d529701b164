import { describe, expect, it } from 'vitest';
import { predictiveIntervalSvg } from '../../src/eval/plots/predictive-interval.js';
import { checkSvg, withClass, tickValues, expectNiceLinear, attr } from './svg-check.js';
import { regression } from './plot-fixtures.js';

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
