/**
 * Shared fixtures of the wasm conv-gradient tests: deterministic data, an independent float64
 * reference convolution for finite differences, and running one computation on cpu or wasm.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'vitest';

export type Shape4 = [number, number, number, number];
export type Pair = [number, number];
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
export type Pad = 'same' | 'valid' | ExplicitPad;

// ---------------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------------

/** mulberry32: small seeded PRNG, uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` float32-representable values uniform in [-1, 1). */
export function uniform(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

/** Number of elements of a tensor of shape `s`. */
export const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);

// ---------------------------------------------------------------------------------------------
// Independent float64 reference convolution (NHWC), used for finite differences
// ---------------------------------------------------------------------------------------------

export interface Geometry {
  B: number;
  H: number;
  W: number;
  CI: number;
  FH: number;
  FW: number;
  CO: number;
  OH: number;
  OW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

/** TensorFlow padding semantics, computed independently of tfjs. */
function geometry(
  xShape: Shape4,
  fShape: Shape4,
  strides: number | Pair,
  pad: Pad,
  dilations: number | Pair,
  depthwise: boolean,
): Geometry {
  const [B, H, W, CI] = xShape;
  const [FH, FW, , F3] = fShape;
  const [sh, sw] = pair(strides);
  const [dh, dw] = pair(dilations);
  const effH = (FH - 1) * dh + 1;
  const effW = (FW - 1) * dw + 1;
  let OH: number, OW: number, top: number, left: number;
  if (pad === 'valid') {
    OH = Math.ceil((H - effH + 1) / sh);
    OW = Math.ceil((W - effW + 1) / sw);
    top = 0;
    left = 0;
  } else if (pad === 'same') {
    OH = Math.ceil(H / sh);
    OW = Math.ceil(W / sw);
    top = Math.floor(Math.max(0, (OH - 1) * sh + effH - H) / 2);
    left = Math.floor(Math.max(0, (OW - 1) * sw + effW - W) / 2);
  } else {
    const [, [pt, pb], [pl, pr]] = pad;
    OH = Math.floor((H + pt + pb - effH) / sh) + 1;
    OW = Math.floor((W + pl + pr - effW) / sw) + 1;
    top = pt;
    left = pl;
  }
  return { B, H, W, CI, FH, FW, CO: depthwise ? CI * F3 : F3, OH, OW, sh, sw, dh, dw, top, left };
}

/** y[b,oh,ow,co] = Σ x[b, oh·sh+fh·dh−top, ow·sw+fw·dw−left, ci]·w[fh,fw,ci,co] (float64). */
export function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, g: Geometry): Float64Array {
  const y = new Float64Array(g.B * g.OH * g.OW * g.CO);
  for (let b = 0; b < g.B; b++)
    for (let oh = 0; oh < g.OH; oh++)
      for (let ow = 0; ow < g.OW; ow++)
        for (let fh = 0; fh < g.FH; fh++) {
          const ih = oh * g.sh + fh * g.dh - g.top;
          if (ih < 0 || ih >= g.H) continue;
          for (let fw = 0; fw < g.FW; fw++) {
            const iw = ow * g.sw + fw * g.dw - g.left;
            if (iw < 0 || iw >= g.W) continue;
            for (let ci = 0; ci < g.CI; ci++) {
              const xv = x[((b * g.H + ih) * g.W + iw) * g.CI + ci];
              for (let co = 0; co < g.CO; co++) {
                y[((b * g.OH + oh) * g.OW + ow) * g.CO + co] +=
                  xv * w[((fh * g.FW + fw) * g.CI + ci) * g.CO + co];
              }
            }
          }
        }
  return y;
}

/** y[b,oh,ow,ci·M+m] = Σ x[b, ih, iw, ci]·w[fh,fw,ci,m] (float64). */
export function depthwiseRef(x: ArrayLike<number>, w: ArrayLike<number>, g: Geometry): Float64Array {
  const M = g.CO / g.CI;
  const y = new Float64Array(g.B * g.OH * g.OW * g.CO);
  for (let b = 0; b < g.B; b++)
    for (let oh = 0; oh < g.OH; oh++)
      for (let ow = 0; ow < g.OW; ow++)
        for (let fh = 0; fh < g.FH; fh++) {
          const ih = oh * g.sh + fh * g.dh - g.top;
          if (ih < 0 || ih >= g.H) continue;
          for (let fw = 0; fw < g.FW; fw++) {
            const iw = ow * g.sw + fw * g.dw - g.left;
            if (iw < 0 || iw >= g.W) continue;
            for (let ci = 0; ci < g.CI; ci++)
              for (let m = 0; m < M; m++) {
                y[((b * g.OH + oh) * g.OW + ow) * g.CO + ci * M + m] +=
                  x[((b * g.H + ih) * g.W + iw) * g.CI + ci] * w[((fh * g.FW + fw) * g.CI + ci) * M + m];
              }
          }
        }
  return y;
}

type RefConv = (x: ArrayLike<number>, w: ArrayLike<number>, g: Geometry) => Float64Array;

/** L(x, w) = Σ conv(x, w) · R in float64. */
function lossRef(
  conv: RefConv,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  r: ArrayLike<number>,
  g: Geometry,
) {
  const y = conv(x, w, g);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * r[i];
  return s;
}

/** Central finite difference of L w.r.t. entry `idx` of x (wrt='x') or of w (wrt='w'). */
export function finiteDiff(
  conv: RefConv,
  x: Float32Array,
  w: Float32Array,
  r: Float32Array,
  g: Geometry,
  wrt: 'x' | 'w',
  idx: number,
  h = 1e-3,
): number {
  const xp = Float64Array.from(x);
  const wp = Float64Array.from(w);
  const target = wrt === 'x' ? xp : wp;
  const v = target[idx];
  target[idx] = v + h;
  const lp = lossRef(conv, xp, wp, r, g);
  target[idx] = v - h;
  const lm = lossRef(conv, xp, wp, r, g);
  return (lp - lm) / (2 * h);
}

/** A few spread-out indices (first, last and some in between) into an array of length n. */
export function sampleIndices(n: number, seed: number, count = 6): number[] {
  const r = rng(seed);
  const idx = new Set<number>([0, n - 1]);
  while (idx.size < Math.min(count, n)) idx.add(Math.floor(r() * n));
  return [...idx];
}

/** Elementwise |a − e| ≤ rtol·(|e| + max|e|), with a readable failure message. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-4,
  label = '',
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  expect(scale, `${label}: reference is all zeros`).toBeGreaterThan(0);
  for (let i = 0; i < expected.length; i++) {
    const tol = rtol * (Math.abs(expected[i]) + scale);
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      expect.fail(`${label}: index ${i}: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running the same computation on a given backend
// ---------------------------------------------------------------------------------------------

/** Switches to backend `name` and runs `fn` there. */
export async function onBackend<T>(name: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await tf.setBackend(name);
  expect(tf.getBackend()).toBe(name);
  return fn();
}

export interface Case {
  name: string;
  x: Shape4;
  f: Shape4;
  strides: number | Pair;
  pad: Pad;
}

export interface Data {
  x: Float32Array;
  w: Float32Array;
  r: Float32Array;
  g: Geometry;
}

/** Seeded input x, filter w and output weights R for case `c` (the loss is L = Σ conv(x, w)·R). */
export function makeData(c: Case, depthwise: boolean, seed: number, dilations: number | Pair = 1): Data {
  const g = geometry(c.x, c.f, c.strides, c.pad, dilations, depthwise);
  return {
    x: uniform(size(c.x), seed),
    w: uniform(size(c.f), seed + 1),
    r: uniform(g.B * g.OH * g.OW * g.CO, seed + 2),
    g,
  };
}

/** [dL/dx, dL/dw] of L = Σ op(x, w)·R via tf.grads on the current backend. */
export function tfGrads(
  op: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  c: Case,
  d: Data,
): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, c.x);
    const w = tf.tensor4d(d.w, c.f);
    const y0 = op(x, w);
    const r = tf.tensor(d.r, y0.shape);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(op(a as tf.Tensor4D, b as tf.Tensor4D), r)),
    )([x, w]);
    return [gx.dataSync() as Float32Array, gw.dataSync() as Float32Array];
  });
}
