import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it, vi } from 'vitest';

import { registerWasmConvGradKernels } from '../src/backend/wasm-conv-grad.js';

type Shape4 = [number, number, number, number];
type Pair = [number, number];
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'same' | 'valid' | ExplicitPad;

const TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
];

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
function uniform(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);

// ---------------------------------------------------------------------------------------------
// Independent float64 reference convolution (NHWC), used for finite differences
// ---------------------------------------------------------------------------------------------

interface Geometry {
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
function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, g: Geometry): Float64Array {
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
function depthwiseRef(x: ArrayLike<number>, w: ArrayLike<number>, g: Geometry): Float64Array {
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
function finiteDiff(
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
function sampleIndices(n: number, seed: number, count = 6): number[] {
  const r = rng(seed);
  const idx = new Set<number>([0, n - 1]);
  while (idx.size < Math.min(count, n)) idx.add(Math.floor(r() * n));
  return [...idx];
}

/** Elementwise |a − e| ≤ rtol·(|e| + max|e|), with a readable failure message. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, label = ''): void {
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

async function onBackend<T>(name: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await tf.setBackend(name);
  expect(tf.getBackend()).toBe(name);
  return fn();
}

interface Case {
  name: string;
  x: Shape4;
  f: Shape4;
  strides: number | Pair;
  pad: Pad;
}

interface Data {
  x: Float32Array;
  w: Float32Array;
  r: Float32Array;
  g: Geometry;
}

function makeData(c: Case, depthwise: boolean, seed: number, dilations: number | Pair = 1): Data {
  const g = geometry(c.x, c.f, c.strides, c.pad, dilations, depthwise);
  return {
    x: uniform(size(c.x), seed),
    w: uniform(size(c.f), seed + 1),
    r: uniform(g.B * g.OH * g.OW * g.CO, seed + 2),
    g,
  };
}

/** [dL/dx, dL/dw] of L = Σ op(x, w)·R via tf.grads on the current backend. */
function tfGrads(
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

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
});

// ---------------------------------------------------------------------------------------------

describe('registerWasmConvGradKernels', () => {
  it('registers the three training kernels for wasm and is idempotent', () => {
    const names = () => tf.getKernelsForBackend('wasm').map((k) => k.kernelName);
    for (const k of TRAINING_KERNELS) expect(names()).toContain(k);
    const before = names().length;
    const funcs = TRAINING_KERNELS.map((k) => tf.getKernel(k, 'wasm').kernelFunc);
    expect(() => registerWasmConvGradKernels()).not.toThrow();
    expect(() => registerWasmConvGradKernels()).not.toThrow();
    expect(names().length).toBe(before);
    expect(TRAINING_KERNELS.map((k) => tf.getKernel(k, 'wasm').kernelFunc)).toEqual(funcs);
    for (const k of TRAINING_KERNELS) expect(names().filter((n) => n === k)).toHaveLength(1);
  });

  it('leaves a kernel that is already registered for wasm alone (no re-registration warning)', () => {
    const name = 'DepthwiseConv2dNativeBackpropInput';
    const ours = tf.getKernel(name, 'wasm').kernelFunc;
    const sentinel: tf.KernelFunc = () => {
      throw new Error('sentinel');
    };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      tf.unregisterKernel(name, 'wasm');
      tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: sentinel });
      registerWasmConvGradKernels();
      expect(tf.getKernel(name, 'wasm').kernelFunc).toBe(sentinel);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      // Restore our kernel even if an assertion failed, so later tests are unaffected.
      warn.mockRestore();
      tf.unregisterKernel(name, 'wasm');
      registerWasmConvGradKernels();
    }
    const restored = tf.getKernel(name, 'wasm').kernelFunc;
    expect(restored).not.toBe(sentinel);
    expect(restored).toBe(ours);
  });
});

const CONV_CASES: Case[] = [
  { name: 'stride 1, same, ci 3 → co 4', x: [2, 7, 6, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { name: 'stride 2, valid, non-square filter', x: [3, 9, 8, 2], f: [3, 2, 2, 5], strides: 2, pad: 'valid' },
  { name: 'strides [2,1], same, 5x3 filter', x: [2, 8, 7, 3], f: [5, 3, 3, 2], strides: [2, 1], pad: 'same' },
  { name: 'stride 2, same, odd sizes', x: [2, 7, 9, 2], f: [4, 4, 2, 3], strides: 2, pad: 'same' },
  {
    name: 'strides [1,2], explicit padding',
    x: [2, 6, 9, 2],
    f: [2, 3, 2, 3],
    strides: [1, 2],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { name: 'LeNet-like 5x5 same, ci 1 → co 6', x: [4, 10, 10, 1], f: [5, 5, 1, 6], strides: 1, pad: 'same' },
];

describe('conv2d gradients on wasm', () => {
  for (const [i, c] of CONV_CASES.entries()) {
    it(`matches cpu and finite differences: ${c.name}`, async () => {
      const d = makeData(c, false, 100 + 10 * i);
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, c.strides, c.pad);
      const [cpuGx, cpuGw] = await onBackend('cpu', () => tfGrads(op, c, d));
      const [gx, gw] = await onBackend('wasm', () => tfGrads(op, c, d));
      expectClose(gw, cpuGw, 1e-4, 'dW vs cpu');
      expectClose(gx, cpuGx, 1e-4, 'dx vs cpu');
      for (const k of sampleIndices(gw.length, i)) {
        const fd = finiteDiff(conv2dRef, d.x, d.w, d.r, d.g, 'w', k);
        expectClose([gw[k]], [fd], 1e-4, `dW[${k}] vs finite difference`);
      }
      for (const k of sampleIndices(gx.length, i + 50)) {
        const fd = finiteDiff(conv2dRef, d.x, d.w, d.r, d.g, 'x', k);
        expectClose([gx[k]], [fd], 1e-4, `dx[${k}] vs finite difference`);
      }
    });
  }

  it('Conv2DBackpropFilter with dilation 2 matches the float64 reference', async () => {
    // tf.grad refuses dilated conv2d, and the cpu kernel ignores dilations: call the kernel directly.
    const c: Case = { name: 'dilated', x: [2, 11, 10, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' };
    for (const pad of ['same', 'valid'] as const) {
      const d = makeData({ ...c, pad }, false, 7, 2);
      const gw = await onBackend('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor4d(d.x, c.x);
          const dy = tf.tensor4d(d.r, [d.g.B, d.g.OH, d.g.OW, d.g.CO]);
          const out = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
            strides: 1,
            pad,
            dataFormat: 'NHWC',
            filterShape: c.f,
            dilations: [2, 2],
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          expect(out.shape).toEqual(c.f);
          return out.dataSync() as Float32Array;
        }),
      );
      const fdAll = Array.from({ length: gw.length }, (_, k) =>
        finiteDiff(conv2dRef, d.x, d.w, d.r, d.g, 'w', k),
      );
      expectClose(gw, fdAll, 1e-4, `dilated dW (${pad})`);
    }
  });

  it('Conv2DBackpropFilter supports NCHW (matches cpu)', async () => {
    const xShape: Shape4 = [2, 3, 7, 6];
    const filterShape: Shape4 = [3, 2, 3, 4];
    const dyShape: Shape4 = [2, 4, 4, 3]; // stride 2, same: ceil(7/2)=4, ceil(6/2)=3
    const xv = uniform(size(xShape), 11);
    const dyv = uniform(size(dyShape), 12);
    const run = () =>
      tf.tidy(() => {
        const out = tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xv, xShape), dy: tf.tensor4d(dyv, dyShape) }, {
            strides: 2,
            pad: 'same',
            dataFormat: 'NCHW',
            filterShape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
        return out.dataSync() as Float32Array;
      });
    const cpu = await onBackend('cpu', run);
    const wasm = await onBackend('wasm', run);
    expectClose(wasm, cpu, 1e-4, 'NCHW dW');
  });

  it('large batches (im2col split into chunks) sum to the per-sample gradients', async () => {
    // K·P = 5·5·32 · 5·100·100 = 40M im2col entries > the 16M chunk limit → 3 batch chunks.
    const xShape: Shape4 = [5, 100, 100, 32];
    const filterShape: Shape4 = [5, 5, 32, 2];
    const xv = uniform(size(xShape), 21);
    const dyv = uniform(5 * 100 * 100 * 2, 22);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap;
    const [full, perSample] = await onBackend('wasm', () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, xShape);
        const dy = tf.tensor4d(dyv, [5, 100, 100, 2]);
        const whole = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor;
        const sum = new Float32Array(size(filterShape));
        for (let b = 0; b < 5; b++) {
          const xb = tf.slice(x, [b, 0, 0, 0], [1, -1, -1, -1]);
          const dyb = tf.slice(dy, [b, 0, 0, 0], [1, -1, -1, -1]);
          const gb = (
            tf.engine().runKernel('Conv2DBackpropFilter', { x: xb, dy: dyb }, attrs) as tf.Tensor
          ).dataSync();
          for (let i = 0; i < sum.length; i++) sum[i] += gb[i];
        }
        return [whole.dataSync() as Float32Array, sum] as const;
      }),
    );
    expectClose(full, perSample, 1e-4, 'chunked dW');
  });
});

const DW_CASES: Case[] = [
  { name: 'stride 1, same, ci 3, M 2', x: [2, 7, 6, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' },
  {
    name: 'stride 2, valid, non-square filter, M 2',
    x: [3, 9, 8, 2],
    f: [3, 2, 2, 2],
    strides: 2,
    pad: 'valid',
  },
  {
    name: 'strides [2,1], same, 5x3 filter, M 2',
    x: [2, 8, 7, 4],
    f: [5, 3, 4, 2],
    strides: [2, 1],
    pad: 'same',
  },
  { name: 'stride 2, same, M 1', x: [2, 7, 9, 3], f: [3, 3, 3, 1], strides: 2, pad: 'same' },
  { name: 'stride 1, valid, M 3', x: [2, 6, 5, 2], f: [2, 2, 2, 3], strides: 1, pad: 'valid' },
];

describe('depthwiseConv2d gradients on wasm', () => {
  for (const [i, c] of DW_CASES.entries()) {
    it(`matches cpu and finite differences: ${c.name}`, async () => {
      const d = makeData(c, true, 300 + 10 * i);
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) =>
        tf.depthwiseConv2d(x, w, c.strides, c.pad as 'same' | 'valid');
      const [cpuGx, cpuGw] = await onBackend('cpu', () => tfGrads(op, c, d));
      const [gx, gw] = await onBackend('wasm', () => tfGrads(op, c, d));
      expectClose(gw, cpuGw, 1e-4, 'dW vs cpu');
      expectClose(gx, cpuGx, 1e-4, 'dx vs cpu');
      for (const k of sampleIndices(gw.length, i)) {
        const fd = finiteDiff(depthwiseRef, d.x, d.w, d.r, d.g, 'w', k);
        expectClose([gw[k]], [fd], 1e-4, `dW[${k}] vs finite difference`);
      }
      for (const k of sampleIndices(gx.length, i + 50)) {
        const fd = finiteDiff(depthwiseRef, d.x, d.w, d.r, d.g, 'x', k);
        expectClose([gx[k]], [fd], 1e-4, `dx[${k}] vs finite difference`);
      }
    });
  }

  it('both depthwise backprop kernels handle dilation 2 (float64 reference)', async () => {
    // tf.grad refuses dilated depthwise convs and the cpu kernels ignore dilations, so the
    // kernels are called directly and checked against finite differences of the reference.
    const c: Case = { name: 'dilated', x: [2, 9, 10, 3], f: [3, 2, 3, 2], strides: 1, pad: 'same' };
    for (const pad of ['same', 'valid'] as const) {
      const d = makeData({ ...c, pad }, true, 17, 2);
      const dyShape: Shape4 = [d.g.B, d.g.OH, d.g.OW, d.g.CO];
      const common = { strides: 1, pad, dilations: [2, 2] };
      const [gx, gw] = await onBackend('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor4d(d.x, c.x);
          const w = tf.tensor4d(d.w, c.f);
          const dy = tf.tensor4d(d.r, dyShape);
          const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, {
            ...common,
            inputShape: c.x,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
            ...common,
            filterShape: c.f,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
        }),
      );
      const fdW = Array.from({ length: gw.length }, (_, k) =>
        finiteDiff(depthwiseRef, d.x, d.w, d.r, d.g, 'w', k),
      );
      expectClose(gw, fdW, 1e-4, `dilated depthwise dW (${pad})`);
      for (const k of sampleIndices(gx.length, 5, 12)) {
        const fd = finiteDiff(depthwiseRef, d.x, d.w, d.r, d.g, 'x', k);
        expectClose([gx[k]], [fd], 1e-4, `dilated depthwise dx[${k}] (${pad})`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * conv 5x5 (1 → 6, same) → relu → maxPool 2 → dense (→ 10) → softmax cross-entropy.
 * Trains `steps` plain SGD steps with tf.variableGrads on a fixed random batch; returns the
 * loss before each step and after the last one.
 */
function trainSmallConvNet(steps: number, lr: number): number[] {
  const B = 16;
  const xs = tf.tensor4d(uniform(B * 12 * 12, 1), [B, 12, 12, 1]);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: B }, (_, i) => (i * 7) % 10),
      'int32',
    ),
    10,
  );
  const conv = tf.variable(tf.randomNormal<tf.Rank.R4>([5, 5, 1, 6], 0, 0.3, 'float32', 42), true, 'conv_w');
  const convB = tf.variable(tf.zeros([6]), true, 'conv_b');
  const dense = tf.variable(tf.randomNormal([6 * 6 * 6, 10], 0, 0.1, 'float32', 43), true, 'dense_w');
  const denseB = tf.variable(tf.zeros([10]), true, 'dense_b');
  const vars = [conv, convB, dense, denseB];
  const lossFn = () =>
    tf.tidy(() => {
      const h = tf.relu(tf.add<tf.Tensor4D>(tf.conv2d(xs, conv, 1, 'same'), convB));
      const p = tf.maxPool(h, 2, 2, 'valid');
      const logits = tf.add(tf.matMul(tf.reshape(p, [B, -1]), dense), denseB);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(lossFn, vars);
      losses.push(value.dataSync()[0]);
      expect(tf.sum(tf.abs(grads[conv.name])).dataSync()[0]).toBeGreaterThan(0);
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], lr)));
    });
  }
  losses.push(lossFn().dataSync()[0]);
  tf.dispose([xs, labels, ...vars]);
  return losses;
}

describe('training on wasm', () => {
  it('a small conv net reduces its loss with SGD (and tracks the cpu trajectory)', async () => {
    const wasmLosses = await onBackend('wasm', () => trainSmallConvNet(8, 0.1));
    const cpuLosses = await onBackend('cpu', () => trainSmallConvNet(8, 0.1));
    await tf.setBackend('wasm');
    for (const l of wasmLosses) expect(Number.isFinite(l)).toBe(true);
    expect(wasmLosses[wasmLosses.length - 1]).toBeLessThan(0.8 * wasmLosses[0]);
    for (let i = 1; i < wasmLosses.length; i++) expect(wasmLosses[i]).toBeLessThan(wasmLosses[i - 1]);
    expectClose(wasmLosses, cpuLosses, 1e-3, 'loss trajectory wasm vs cpu');
  });
});

describe('memory', () => {
  it('gradient computations inside tf.tidy leak no tensors or wasm buffers', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const x = tf.tensor4d(uniform(3 * 9 * 8 * 4, 5), [3, 9, 8, 4]);
    const w = tf.tensor4d(uniform(3 * 3 * 4 * 5, 6), [3, 3, 4, 5]);
    const dwf = tf.tensor4d(uniform(3 * 3 * 4 * 2, 7), [3, 3, 4, 2]);
    const run = () =>
      tf.tidy(() => {
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))),
        )([x, w]);
        const [gx2, gw2] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))),
        )([x, dwf]);
        return [gx, gw, gx2, gw2].map((t) => t.sum().dataSync()[0]);
      });
    run(); // warm-up
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = backend.numDataIds();
    const sums = run();
    for (const s of sums) expect(Number.isFinite(s)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(backend.numDataIds()).toBe(buffersBefore);
    tf.dispose([x, w, dwf]);
  });
});
