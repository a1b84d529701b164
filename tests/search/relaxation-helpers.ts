import { integrateSimplex2LogRatio } from '../../src/search/simplex-density.js';

/** Shared parameters and Monte-Carlo helpers of the relaxation tests (densities, samplers, plots). */

export const S = [1, 2, 3];
export const ALPHA = [0.7, 2, 3];
export const MU = [0, 0.5, -0.3];
export const SIGMA = [0.8, 1, 0.6];

/** n draws, each copied to a plain array. */
export function draws(n: number, draw: () => ArrayLike<number>): number[][] {
  return Array.from({ length: n }, () => Array.from(draw()));
}

/** Sample mean of f over the draws and its Monte-Carlo standard error. */
export function meanSe(xs: number[][], f: (x: number[]) => number): { mean: number; se: number } {
  const v = xs.map(f);
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s2 = v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
  return { mean: m, se: Math.sqrt(s2 / v.length) };
}

/** E f(x) under a log density on the 2-simplex, by the log-ratio integrator. */
export function expectation(
  logp: (x: Float64Array) => number,
  f: (x: Float64Array) => number,
  halfWidth = 40,
) {
  return integrateSimplex2LogRatio((x) => f(x) * Math.exp(logp(x)), { n: 400, halfWidth });
}

export const maxOf = (x: ArrayLike<number>) => Math.max(...Array.from(x));
export const distToCentre = (x: ArrayLike<number>) => Math.hypot(...Array.from(x, (v) => v - 1 / 3));
