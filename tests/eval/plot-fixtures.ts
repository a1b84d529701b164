// Fixtures shared by the plot tests: deterministic bins, regression predictions and training curves.
import type { ReliabilityPlotBin } from '../../src/eval/plots/reliability.js';

/** Deterministic pseudo-random numbers (LCG) for fixtures. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function makeBins(): ReliabilityPlotBin[] {
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

export function regression(n: number): { y: number[]; mean: number[]; sd: number[] } {
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

export const epochs = Array.from({ length: 50 }, (_, i) => i + 1);
export const curves = [
  { name: 'train', x: epochs, y: epochs.map((e) => 2 * Math.exp(-e / 10) + 0.05) },
  { name: 'validation', x: epochs, y: epochs.map((e) => 2.2 * Math.exp(-e / 12) + 0.1) },
  { name: 'student', x: epochs, y: epochs.map((e) => 1.5 * Math.exp(-e / 8) + 0.08) },
];
