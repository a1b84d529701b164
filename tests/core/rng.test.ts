import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';

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

  it('fillStandardNormal32 (state inlined) gives the reference stream and leaves the same state', () => {
    const fast = new Rng(21);
    const ref = new Rng(21);
    for (const n of [1, 7, 100_000, 3, 50_000]) {
      const a = fast.fillStandardNormal32(new Float32Array(n));
      const b = ref.fillStandardNormal32Reference(new Float32Array(n));
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      expect(fast.state()).toEqual(ref.state());
      expect(fast.uniform()).toBe(ref.uniform());
    }
  });

  it('fillStandardNormal32 draws standard normals (moments, tails) and is reproducible', () => {
    const n = 200_001; // odd: the last pair's second value is dropped
    const xs = new Rng(8).fillStandardNormal32(new Float32Array(n));
    expect(Array.from(new Rng(8).fillStandardNormal32(new Float32Array(n)).subarray(0, 50))).toEqual(
      Array.from(xs.subarray(0, 50)),
    );
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const m2 = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const m4 = xs.reduce((a, b) => a + (b - mean) ** 4, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(m4 / (m2 * m2) - 3)).toBeLessThan(0.1);
    // P(|z| > 3) = 0.0027; binomial sd √(n·p·(1−p))
    const tail = xs.reduce((c, v) => c + (Math.abs(v) > 3 ? 1 : 0), 0);
    expect(Math.abs(tail - n * 0.0027)).toBeLessThan(5 * Math.sqrt(n * 0.0027));
    expect(xs.every(Number.isFinite)).toBe(true);
    // the CDF at several points, against Φ, each within 5 binomial standard errors
    const phi: [number, number][] = [
      [-3.5, 0.000233],
      [-2, 0.02275],
      [-1, 0.158655],
      [-0.2, 0.42074],
      [0, 0.5],
      [0.7, 0.758036],
      [1.5, 0.933193],
      [3.3, 0.999517],
    ];
    for (const [z, p] of phi) {
      const below = xs.reduce((c, v) => c + (v < z ? 1 : 0), 0);
      expect(Math.abs(below - n * p), `CDF at ${z}`).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    }
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
