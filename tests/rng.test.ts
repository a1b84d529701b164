import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.js';

describe('Rng', () => {
  it('gives identical streams for the same seed and different ones for different seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 100 }, () => a.nextUint32());
    expect(Array.from({ length: 100 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('restores its exact position from a saved state, including a cached normal', () => {
    const a = new Rng(7);
    a.normal(); // leaves the second Box–Muller value cached
    const saved = a.state();
    const expected = [a.normal(), a.uniform(), a.nextUint32()];
    const b = Rng.fromState(saved);
    expect([b.normal(), b.uniform(), b.nextUint32()]).toEqual(expected);
  });

  it('draws uniforms with mean 1/2 and variance 1/12 within Monte-Carlo error', () => {
    const r = new Rng(1);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
      s2 += u * u;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    // standard error of the mean is sqrt(1/12/n) ≈ 6.5e-4; allow 5 of them
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
  });

  it('draws standard normals with the right first four moments', () => {
    const r = new Rng(2);
    const n = 200_000;
    const xs = new Float64Array(n);
    r.fillNormal(xs);
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const m2 = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const m4 = xs.reduce((a, b) => a + (b - mean) ** 4, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(m4 / (m2 * m2) - 3)).toBeLessThan(0.1); // kurtosis of a Gaussian
  });

  it('makes permutations that contain every index once and are uniform over positions', () => {
    const r = new Rng(3);
    const counts = new Float64Array(5 * 5);
    const trials = 50_000;
    for (let t = 0; t < trials; t++) {
      const p = r.permutation(5);
      expect([...p].sort()).toEqual([0, 1, 2, 3, 4]);
      for (let i = 0; i < 5; i++) counts[i * 5 + p[i]]++;
    }
    // each (position, value) pair has probability 1/5; binomial sd = sqrt(n·0.2·0.8)
    const sd = Math.sqrt(trials * 0.2 * 0.8);
    for (const c of counts) expect(Math.abs(c - trials / 5)).toBeLessThan(5 * sd);
  });

  it('draws bounded integers without modulo bias', () => {
    const r = new Rng(4);
    const n = 3;
    const counts = [0, 0, 0];
    for (let i = 0; i < 90_000; i++) counts[r.int(n)]++;
    for (const c of counts)
      expect(Math.abs(c - 30_000)).toBeLessThan(5 * Math.sqrt(90_000 * (1 / 3) * (2 / 3)));
    expect(() => r.int(0)).toThrow('Rng.int: bad bound 0');
  });
});
