import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { aupr, auroc, oodScore } from '../../src/eval/ood-scores.js';

/** P(positive > negative) + ½ P(tie), by counting every pair. */
function pairwise(neg: number[], pos: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (neg.length * pos.length);
}

describe('AUROC', () => {
  it('is 1 when perfectly separated, 0 when reversed, ½ when all tied', () => {
    expect(auroc([0.1, 0.2, 0.3], [0.5, 0.9])).toBe(1);
    expect(auroc([0.5, 0.9], [0.1, 0.2, 0.3])).toBe(0);
    expect(auroc([1, 1, 1], [1, 1])).toBe(0.5);
  });
  it('matches the pairwise count with ties counted ½ on random scores', () => {
    const rng = new Rng(4);
    for (let t = 0; t < 20; t++) {
      // Rounded scores so that many tie, within and across the classes.
      const neg = Array.from({ length: 1 + rng.int(40) }, () => Math.round(rng.normal() * 3) / 3);
      const pos = Array.from({ length: 1 + rng.int(40) }, () => Math.round((rng.normal() + 0.7) * 3) / 3);
      expect(auroc(neg, pos)).toBeCloseTo(pairwise(neg, pos), 12);
    }
  });
  it('refuses empty classes and NaN scores', () => {
    expect(() => auroc([], [1])).toThrow('ood scores: need negatives and positives, got 0 and 1');
    expect(() => auroc([NaN], [1])).toThrow('ood scores: a score is NaN');
  });
});

describe('AUPR (average precision)', () => {
  it('is 1 when perfectly separated', () => {
    expect(aupr([0.1, 0.2], [0.5, 0.9, 0.7])).toBe(1);
  });
  it('matches a hand-computed case', () => {
    // Descending: 0.9 pos, 0.8 neg, 0.7 pos, 0.6 neg, 0.5 pos. Precision at each positive: 1, 2/3, 3/5.
    expect(aupr([0.8, 0.6], [0.9, 0.7, 0.5])).toBeCloseTo((1 + 2 / 3 + 3 / 5) / 3, 12);
  });
  it('enters tied scores together', () => {
    // One threshold holds everything: precision P/(P+N) at recall 1.
    expect(aupr([1, 1, 1], [1])).toBe(0.25);
    // 0.9 pos; then a tie of {pos, neg} at 0.5: precision 2/3 for the second positive.
    expect(aupr([0.5], [0.9, 0.5])).toBeCloseTo(0.5 * 1 + 0.5 * (2 / 3), 12);
    expect(oodScore([0.5], [0.9, 0.5])).toEqual({ auroc: 0.75, aupr: aupr([0.5], [0.9, 0.5]) });
  });
});
