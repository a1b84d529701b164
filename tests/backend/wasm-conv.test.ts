/**
 * bdk's wasm convolution kernels (src/backend/wasm-conv.ts: im2col + bdk's SIMD product) and its
 * MaxPoolGrad: forward, input and filter gradients against the cpu backend, a float64 reference and
 * finite differences, over strides, 'same' / 'valid' / explicit padding, dilation, odd sizes, batch 1,
 * both product orientations (Co a multiple of 8 or not) and batches split into im2col chunks.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { registerWasmMatMul } from '../../src/backend/wasm-matmul.js';
import { registerWasmFusedKernels } from '../../src/backend/wasm-fused.js';
import { COL_CHUNK_FLOATS, isBdkConvKernel, registerWasmConvKernels } from '../../src/backend/wasm-conv.js';
import {
  conv2dRef,
  expectClose,
  finiteDiff,
  makeData,
  onBackend,
  sampleIndices,
  size,
  tfGrads,
  uniform,
  type Case,
  type Shape4,
} from './conv-grad-fixtures.js';

const KERNELS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MaxPoolGrad'];

beforeAll(async () => {
  registerWasmConvGradKernels();
  registerWasmMatMul();
  registerWasmFusedKernels();
  registerWasmConvKernels();
  await tf.setBackend('wasm');
});

describe('registerWasmConvKernels', () => {
  it('replaces the four wasm kernels once, however often it is called', () => {
    const funcs = () => KERNELS.map((k) => tf.getKernel(k, 'wasm').kernelFunc);
    const before = funcs();
    const count = tf.getKernelsForBackend('wasm').length;
    registerWasmConvKernels();
    registerWasmConvKernels();
    expect(funcs()).toEqual(before);
    expect(tf.getKernelsForBackend('wasm').length).toBe(count);
    for (const k of KERNELS) expect(isBdkConvKernel(k)).toBe(true);
  });
});

const CASES: Case[] = [
  { name: 'LeNet conv1: 5×5 same, ci 1 → co 6', x: [3, 12, 11, 1], f: [5, 5, 1, 6], strides: 1, pad: 'same' },
  {
    name: 'LeNet conv2: 5×5 valid, ci 6 → co 16',
    x: [2, 9, 10, 6],
    f: [5, 5, 6, 16],
    strides: 1,
    pad: 'valid',
  },
  { name: 'batch 1, stride 2, same, odd sizes', x: [1, 7, 9, 3], f: [3, 2, 3, 5], strides: 2, pad: 'same' },
  { name: 'strides [2, 3], valid, co 8', x: [3, 11, 8, 2], f: [4, 3, 2, 8], strides: [2, 3], pad: 'valid' },
  {
    name: 'strides [1, 2], same, 1×1 filter, co 3',
    x: [2, 5, 6, 4],
    f: [1, 1, 4, 3],
    strides: [1, 2],
    pad: 'same',
  },
  {
    name: 'explicit padding, co 1',
    x: [2, 6, 9, 2],
    f: [2, 3, 2, 1],
    strides: [1, 2],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { name: 'filter wider than the image, same', x: [2, 3, 4, 2], f: [5, 5, 2, 16], strides: 1, pad: 'same' },
];

/** y = conv2d(x, w) on the current backend. */
function conv(c: Case, x: Float32Array, w: Float32Array, dilations = 1): Float32Array {
  return tf.tidy(
    () =>
      tf
        .conv2d(tf.tensor4d(x, c.x), tf.tensor4d(w, c.f), c.strides, c.pad, 'NHWC', dilations)
        .dataSync() as Float32Array,
  );
}

describe('wasm Conv2D', () => {
  for (const [i, c] of CASES.entries()) {
    it(`matches the float64 convolution and the cpu backend: ${c.name}`, async () => {
      const d = makeData(c, false, 300 + 10 * i);
      const y = await onBackend('wasm', () => conv(c, d.x, d.w));
      const cpu = await onBackend('cpu', () => conv(c, d.x, d.w));
      expectClose(y, conv2dRef(d.x, d.w, d.g), 1e-5, 'y vs float64');
      expectClose(y, cpu, 1e-5, 'y vs cpu');
    });
  }

  it('supports dilation 2 (same and valid)', async () => {
    for (const pad of ['same', 'valid'] as const) {
      for (const co of [4, 8]) {
        const c: Case = { name: 'dilated', x: [2, 11, 10, 3], f: [3, 3, 3, co], strides: 1, pad };
        const d = makeData(c, false, 17, 2);
        const y = await onBackend('wasm', () => conv(c, d.x, d.w, 2));
        expectClose(y, conv2dRef(d.x, d.w, d.g), 1e-5, `dilated y (${pad}, co ${co})`);
      }
    }
  });

  it('hands NCHW to the kernel it replaced (matches cpu)', async () => {
    const x = uniform(2 * 3 * 7 * 6, 1);
    const w = uniform(3 * 3 * 3 * 4, 2);
    const run = () =>
      tf.tidy(
        () =>
          tf
            .conv2d(tf.tensor4d(x, [2, 7, 6, 3]), tf.tensor4d(w, [3, 3, 3, 4]), 1, 'same')
            .dataSync() as Float32Array,
      );
    expectClose(await onBackend('wasm', run), await onBackend('cpu', run), 1e-5, 'NHWC');
  });
});

/** A gradient entry against its finite difference; an input no output reads (strides) has gradient 0. */
function expectCloseOrZero(g: number, fd: number, label: string): void {
  if (fd === 0) expect(g, label).toBe(0);
  else expectClose([g], [fd], 1e-4, label);
}

describe('conv2d gradients through bdk’s kernels', () => {
  for (const [i, c] of CASES.entries()) {
    it(`match cpu and finite differences: ${c.name}`, async () => {
      const d = makeData(c, false, 500 + 10 * i);
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, c.strides, c.pad);
      const [cpuGx, cpuGw] = await onBackend('cpu', () => tfGrads(op, c, d));
      const [gx, gw] = await onBackend('wasm', () => tfGrads(op, c, d));
      expectClose(gw, cpuGw, 1e-5, 'dW vs cpu');
      expectClose(gx, cpuGx, 1e-5, 'dx vs cpu');
      for (const k of sampleIndices(gw.length, i)) {
        const fd = finiteDiff(conv2dRef, d.x, d.w, d.r, d.g, 'w', k);
        expectCloseOrZero(gw[k], fd, `dW[${k}] vs finite difference`);
      }
      for (const k of sampleIndices(gx.length, i + 50)) {
        const fd = finiteDiff(conv2dRef, d.x, d.w, d.r, d.g, 'x', k);
        expectCloseOrZero(gx[k], fd, `dx[${k}] vs finite difference`);
      }
    });
  }

  it('Conv2DBackpropFilter with dilation 2 matches finite differences of the float64 reference', async () => {
    for (const co of [2, 8]) {
      const c: Case = { name: 'dilated', x: [2, 11, 10, 3], f: [3, 3, 3, co], strides: 1, pad: 'same' };
      const d = makeData(c, false, 7, 2);
      const gw = await onBackend('wasm', () =>
        tf.tidy(() => {
          const x = tf.tensor4d(d.x, c.x);
          const dy = tf.tensor4d(d.r, [d.g.B, d.g.OH, d.g.OW, d.g.CO]);
          const attrs = { strides: 1, pad: 'same', filterShape: c.f, dilations: [2, 2] };
          return (
            tf
              .engine()
              .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor
          ).dataSync() as Float32Array;
        }),
      );
      const fd = Array.from({ length: gw.length }, (_, k) =>
        finiteDiff(conv2dRef, d.x, d.w, d.r, d.g, 'w', k),
      );
      expectClose(gw, fd, 1e-4, `dilated dW (co ${co})`);
    }
  });
});

describe('batches split into im2col chunks', () => {
  // 5×5×6 taps × 14·14 pixels = 29 400 floats an image: a chunk holds COL_CHUNK_FLOATS / 29 400 images.
  const c: Case = { name: 'chunked', x: [13, 14, 14, 6], f: [5, 5, 6, 8], strides: 1, pad: 'same' };
  const perChunk = Math.floor(COL_CHUNK_FLOATS / (5 * 5 * 6 * 14 * 14));

  it('takes several chunks, the last one partial', () => {
    expect(perChunk).toBeGreaterThan(1);
    expect(c.x[0] % perChunk).not.toBe(0);
    expect(c.x[0]).toBeGreaterThan(perChunk);
  });

  for (const co of [8, 6]) {
    it(`gives what the cpu backend gives, forward and both gradients (co ${co})`, async () => {
      const cc: Case = { ...c, f: [5, 5, 6, co] };
      const d = makeData(cc, false, 900 + co);
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, cc.strides, cc.pad);
      const [cpuGx, cpuGw] = await onBackend('cpu', () => tfGrads(op, cc, d));
      const cpuY = conv(cc, d.x, d.w);
      const [gx, gw] = await onBackend('wasm', () => tfGrads(op, cc, d));
      const y = conv(cc, d.x, d.w);
      expectClose(y, cpuY, 1e-5, 'y');
      expectClose(gw, cpuGw, 1e-5, 'dW');
      expectClose(gx, cpuGx, 1e-5, 'dx');
    });
  }

  it('handles one image larger than a chunk', async () => {
    const big: Case = { name: 'big image', x: [2, 40, 40, 4], f: [5, 5, 4, 16], strides: 1, pad: 'same' };
    expect(40 * 40 * 5 * 5 * 4).toBeGreaterThan(COL_CHUNK_FLOATS);
    const d = makeData(big, false, 77);
    const op = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, 1, 'same');
    const [cpuGx, cpuGw] = await onBackend('cpu', () => tfGrads(op, big, d));
    const [gx, gw] = await onBackend('wasm', () => tfGrads(op, big, d));
    expectClose(gw, cpuGw, 1e-5, 'dW');
    expectClose(gx, cpuGx, 1e-5, 'dx');
  });
});

/** dx of Σ maxPool(x)·R on the current backend. */
function poolGrad(
  xv: Float32Array,
  shape: Shape4,
  r: Float32Array,
  window: number | [number, number],
  strides: number | [number, number],
  pad: 'same' | 'valid',
): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, shape);
    const y0 = tf.maxPool(x, window, strides, pad);
    const rt = tf.tensor(r.subarray(0, size(y0.shape)), y0.shape);
    return tf
      .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, window, strides, pad), rt)))(x)
      .dataSync() as Float32Array;
  });
}

describe('wasm MaxPoolGrad', () => {
  const POOLS: Array<
    [string, Shape4, number | [number, number], number | [number, number], 'same' | 'valid']
  > = [
    ['2×2 tiles, 6 channels (LeNet)', [3, 8, 8, 6], 2, 2, 'valid'],
    ['2×2 tiles, 16 channels, odd sizes (edges uncovered)', [2, 7, 9, 16], 2, 2, 'valid'],
    ['2×2 tiles, 4 channels, batch 1', [1, 6, 6, 4], 2, 2, 'valid'],
    ['2×2 tiles, 3 channels (the general loop)', [2, 6, 6, 3], 2, 2, 'valid'],
    ['3×3 windows, stride 2, same (overlapping, padded)', [2, 9, 8, 5], 3, 2, 'same'],
    ['2×3 windows, strides [1, 2], valid', [2, 6, 7, 4], [2, 3], [1, 2], 'valid'],
    ['2×2 tiles, same padding', [2, 7, 7, 4], 2, 2, 'same'],
  ];
  for (const [name, shape, window, strides, pad] of POOLS) {
    const overlap = name.includes('overlapping') || name.includes('strides [1, 2]');
    it(`equals the cpu backend${overlap ? ' up to round-off' : ' exactly'}: ${name}`, async () => {
      const n = size(shape);
      // Quantized values make ties common (a ReLU's zeros tie too); the first maximum takes the gradient.
      const xv = uniform(n, 5).map((v) => Math.round(v * 3) / 3);
      const r = uniform(n, 6);
      const wasm = await onBackend('wasm', () => poolGrad(xv, shape, r, window, strides, pad));
      const cpu = await onBackend('cpu', () => poolGrad(xv, shape, r, window, strides, pad));
      // Where windows overlap, a pixel sums several dy: the cpu backend adds them in float64, bdk in float32.
      if (overlap) expectClose(wasm, cpu, 1e-6, 'dx');
      else expect(Array.from(wasm)).toEqual(Array.from(cpu));
    });
  }

  it('passes nothing from a window of −∞ or NaN, as tfjs does', async () => {
    for (const c of [4, 2]) {
      const shape: Shape4 = [1, 2, 4, c];
      const xv = new Float32Array(size(shape)).fill(-Infinity);
      xv.fill(NaN, 0, 2 * c);
      xv.fill(NaN, 4 * c, 6 * c);
      xv[6 * c] = 1; // the second window's maximum, channel 0 only
      const r = new Float32Array(size(shape)).fill(1);
      const wasm = await onBackend('wasm', () => poolGrad(xv, shape, r, 2, 2, 'valid'));
      const expected = new Float32Array(size(shape));
      expected[6 * c] = 1;
      expect(Array.from(wasm)).toEqual(Array.from(expected));
    }
  });
});

describe('a LeNet-shaped network', () => {
  it('has the cpu backend’s gradients for every parameter', async () => {
    const xv = uniform(4 * 16 * 16, 41);
    const shapes: number[][] = [[5, 5, 1, 6], [6], [5, 5, 6, 16], [16], [64, 10], [10]];
    const params = shapes.map((s, i) => uniform(size(s), 50 + i).map((v) => v * 0.5));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [4, 16, 16, 1]);
        const ps = params.map((p, i) => tf.tensor(p, shapes[i]));
        const loss = (...p: tf.Tensor[]) => {
          let h = tf.relu(tf.add(tf.conv2d(x, p[0] as tf.Tensor4D, 1, 'same'), p[1]));
          h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
          h = tf.relu(tf.add(tf.conv2d(h as tf.Tensor4D, p[2] as tf.Tensor4D, 1, 'valid'), p[3]));
          h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
          const z = tf.add(tf.matMul(tf.reshape(h, [4, 64]), p[4] as tf.Tensor2D), p[5]);
          return tf.sum(tf.square(z));
        };
        return tf
          .grads(loss)(ps)
          .map((g) => g.dataSync() as Float32Array);
      });
    const cpu = await onBackend('cpu', run);
    const wasm = await onBackend('wasm', run);
    // 16×16 → conv 'same' → pool 8×8 → conv 5×5 'valid' 4×4 → pool 2×2: 2·2·16 = 64 features.
    expect(wasm.map((g) => g.length)).toEqual(shapes.map(size));
    wasm.forEach((g, i) => expectClose(g, cpu[i], 1e-4, `parameter ${i}`));
  });
});
