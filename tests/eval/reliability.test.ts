import { describe, expect, it } from 'vitest';
import { reliabilityDiagramSvg } from '../../src/eval/plots/reliability.js';
import { checkSvg, withClass, tickValues, attr } from './svg-check.js';
import { makeBins } from './plot-fixtures.js';

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
