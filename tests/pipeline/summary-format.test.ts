import { describe, expect, it } from 'vitest';
import { formatNumber, formatSummary, summarizeOverSplits } from '../../src/pipeline/summary.js';

describe('numbers for people', () => {
  it('integers stay integers; other numbers get 4 significant digits', () => {
    expect(formatNumber(11725)).toBe('11725');
    expect(formatNumber(2.76803)).toBe('2.768');
    expect(formatNumber(-2.34497)).toBe('-2.345');
    expect(formatNumber(0.027123)).toBe('0.02712');
    expect(formatNumber(1234.5678)).toBe('1235');
    expect(formatNumber(3.2e-7)).toBe('3.200e-7');
    expect(formatNumber(NaN)).toBe('NaN');
  });

  it('± only where there is a spread, the mean to the standard error’s two significant digits', () => {
    const s = summarizeOverSplits([
      { rmse: 2.7, parameters: 11720, same: 3352 },
      { rmse: 2.9, parameters: 11730, same: 3352 },
      { rmse: 2.8, parameters: 11725, same: 3352 },
    ]);
    // se(rmse) = 0.1/√3 = 0.0577…; se(parameters) = 5/√3 = 2.886…
    expect(formatSummary(s.rmse)).toBe('2.800 ± 0.058');
    expect(formatSummary(s.parameters)).toBe('11725.0 ± 2.9');
    expect(formatSummary(s.same)).toBe('3352');
    const one = summarizeOverSplits([{ rmse: 2.76803, parameters: 3352 }]);
    expect(formatSummary(one.rmse)).toBe('2.768');
    expect(formatSummary(one.parameters)).toBe('3352');
  });
});
