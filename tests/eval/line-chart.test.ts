import { describe, expect, it } from 'vitest';
import { lineChartSvg } from '../../src/eval/plots/line-chart.js';
import { checkSvg, withClass, tickValues, expectNiceLinear, expectNiceLog } from './svg-check.js';
import { curves } from './plot-fixtures.js';

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
