import { describe, expect, it } from 'vitest';
import { coveragePlotSvg } from '../../src/eval/plots/coverage.js';
import { checkSvg, withClass } from './svg-check.js';

describe('coveragePlotSvg', () => {
  it('draws the nominal diagonal and one line per model, named in the legend', () => {
    const cal = (c: number[]) => ({
      coverage: { '0.5': c[0], '0.8': c[1], '0.9': c[2], '0.95': c[3] },
      width: { '0.5': 1, '0.8': 2, '0.9': 3, '0.95': 4 },
      crps: 1,
    });
    const svg = coveragePlotSvg({
      ensemble: cal([0.5, 0.82, 0.9, 0.94]),
      student: cal([0.4, 0.7, 0.85, 0.9]),
    });
    const els = checkSvg(svg);
    expect(withClass(els, 'path', 'series')).toHaveLength(3);
    const names = els.filter((e) => e.name === 'text' && ['nominal', 'ensemble', 'student'].includes(e.text));
    expect(names.map((e) => e.text).sort()).toEqual(['ensemble', 'nominal', 'student']);
    expect(svg).toContain('observed coverage');
    expect(svg).toContain('nominal level');
  });
});
