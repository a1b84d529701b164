import { describe, expect, it } from 'vitest';
import { lineChartSvg } from '../../src/eval/plots/line-chart.js';
import { predictiveIntervalSvg } from '../../src/eval/plots/predictive-interval.js';
import { reliabilityDiagramSvg } from '../../src/eval/plots/reliability.js';
import { parseXml, checkSvg } from './svg-check.js';
import { makeBins, curves } from './plot-fixtures.js';

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
