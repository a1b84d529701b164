/**
 * The direct convolution (native/conv_direct.c via src/backend/wasm-conv-direct.ts) and bdk's wasm
 * FusedConv2D: against the float64 convolution and the cpu backend, over widths that are not multiples
 * of its 8-pixel blocks, filter counts that are not multiples of its 4-channel groups, padding kinds,
 * biases and ReLU (NaN kept), the cases FusedConv2D hands back to tfjs, and gradients through it.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { registerWasmMatMul } from '../../src/backend/wasm-matmul.js';
import { registerWasmFusedKernels } from '../../src/backend/wasm-fused.js';
import { isBdkConvKernel, registerWasmConvKernels } from '../../src/backend/wasm-conv.js';
import { usesDirectConv } from '../../src/backend/wasm-conv-direct.js';
import {
  conv2dRef,
  expectClose,
  makeData,
  onBackend,
  tfGrads,
  uniform,
  type Case,
} from './conv-grad-fixtures.js';

beforeAll(async () => {
  registerWasmConvGradKernels();
  registerWasmMatMul();
  registerWasmFusedKernels();
  registerWasmConvKernels();
  await tf.setBackend('wasm');
});

const info = (c: Case) =>
  tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, 1, c.pad as 'same' | 'valid');

const DIRECT: Case[] = [
  {
    name: 'MNIST conv1: 28×28, 5×5 same, ci 1 → co 4',
    x: [3, 28, 28, 1],
    f: [5, 5, 1, 4],
    strides: 1,
    pad: 'same',
  },
  {
    name: 'width 13 (a partial 8-pixel block), co 3',
    x: [2, 9, 13, 1],
    f: [3, 3, 1, 3],
    strides: 1,
    pad: 'same',
  },
  { name: 'valid, ci 4 → co 8, width 10', x: [2, 14, 10, 4], f: [5, 5, 4, 8], strides: 1, pad: 'valid' },
  {
    name: 'ci 7 → co 5 (two channel groups, one partial)',
    x: [2, 6, 11, 7],
    f: [3, 3, 7, 5],
    strides: 1,
    pad: 'same',
  },
  {
    name: 'ci 3 → co 16 (RGB input), 4×2 filter',
    x: [2, 8, 9, 3],
    f: [4, 2, 3, 16],
    strides: 1,
    pad: 'same',
  },
  { name: 'co 1, width 3, valid 1×1', x: [1, 4, 3, 2], f: [1, 1, 2, 1], strides: 1, pad: 'valid' },
  { name: 'filter wider than the image, same', x: [2, 3, 4, 2], f: [5, 5, 2, 6], strides: 1, pad: 'same' },
  {
    name: 'explicit padding, co 2',
    x: [2, 6, 9, 2],
    f: [2, 3, 2, 2],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
];

describe('direct convolution', () => {
  it('is chosen for stride 1 with few filters or few input channels, not otherwise', () => {
    for (const c of DIRECT.filter((c) => typeof c.pad === 'string'))
      expect(usesDirectConv(info(c)), c.name).toBe(true);
    const wide: Case = { name: 'ci 6 → co 16', x: [1, 9, 9, 6], f: [5, 5, 6, 16], strides: 1, pad: 'valid' };
    const strided: Case = { name: 'stride 2', x: [1, 9, 9, 1], f: [3, 3, 1, 4], strides: 2, pad: 'same' };
    expect(usesDirectConv(info(wide))).toBe(false);
    expect(usesDirectConv(info(strided))).toBe(false);
  });

  for (const [i, c] of DIRECT.entries()) {
    it(`matches the float64 convolution and the cpu backend: ${c.name}`, async () => {
      const d = makeData(c, false, 40 + 10 * i);
      const run = () =>
        tf.tidy(
          () => tf.conv2d(tf.tensor4d(d.x, c.x), tf.tensor4d(d.w, c.f), 1, c.pad).dataSync() as Float32Array,
        );
      const y = await onBackend('wasm', run);
      expectClose(y, conv2dRef(d.x, d.w, d.g), 1e-5, 'y vs float64');
      expectClose(y, await onBackend('cpu', run), 1e-5, 'y vs cpu');
    });
  }
});

type Activation = 'linear' | 'relu' | 'elu';

/** tf.fused.conv2d of the case on the current backend, with or without a bias. */
function fusedConv(
  c: Case,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  activation: Activation,
) {
  return tf.tidy(
    () =>
      tf.fused
        .conv2d({
          x: tf.tensor4d(x, c.x),
          filter: tf.tensor4d(w, c.f),
          strides: c.strides,
          pad: c.pad as 'same' | 'valid',
          bias: bias ? tf.tensor1d(bias) : undefined,
          activation,
        })
        .dataSync() as Float32Array,
  );
}

describe('wasm FusedConv2D', () => {
  it('is bdk’s kernel', () => {
    expect(isBdkConvKernel('FusedConv2D')).toBe(true);
  });

  const direct = DIRECT[0];
  const product: Case = {
    name: 'im2col: ci 6 → co 10',
    x: [2, 9, 10, 6],
    f: [3, 3, 6, 10],
    strides: 1,
    pad: 'same',
  };
  const strided: Case = {
    name: 'im2col: stride 2, co 3',
    x: [2, 9, 10, 2],
    f: [3, 3, 2, 3],
    strides: 2,
    pad: 'same',
  };
  for (const c of [direct, product, strided])
    for (const activation of ['linear', 'relu', 'elu'] as const)
      for (const withBias of [true, false])
        it(`equals the cpu backend: ${c.name}, ${activation}, ${withBias ? 'bias' : 'no bias'}`, async () => {
          const d = makeData(c, false, 7);
          const bias = withBias ? uniform(c.f[3], 9) : null;
          const y = await onBackend('wasm', () => fusedConv(c, d.x, d.w, bias, activation));
          const cpu = await onBackend('cpu', () => fusedConv(c, d.x, d.w, bias, activation));
          expectClose(y, cpu, 1e-5, 'fused y vs cpu');
          if (activation === 'relu') expect(y.some((v) => v === 0)).toBe(true);
        });

  it('keeps a NaN through the ReLU (the non-finite guard relies on it)', async () => {
    for (const c of [direct, product]) {
      const d = makeData(c, false, 3);
      d.x[5] = NaN;
      const y = await onBackend('wasm', () => fusedConv(c, d.x, d.w, uniform(c.f[3], 1), 'relu'));
      const cpu = await onBackend('cpu', () => fusedConv(c, d.x, d.w, uniform(c.f[3], 1), 'relu'));
      const nan = (a: Float32Array) =>
        Array.from(a, (v, i) => (Number.isNaN(v) ? i : -1)).filter((i) => i >= 0);
      expect(nan(y).length, c.name).toBeGreaterThan(0);
      expect(nan(y), c.name).toEqual(nan(cpu));
    }
  });

  it('has the cpu backend’s gradients with bias and ReLU', async () => {
    for (const c of [direct, product]) {
      const d = makeData(c, false, 11);
      const b = uniform(c.f[3], 12);
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) =>
        tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: tf.tensor1d(b), activation: 'relu' });
      const [cpuGx, cpuGw] = await onBackend('cpu', () => tfGrads(op, c, d));
      const [gx, gw] = await onBackend('wasm', () => tfGrads(op, c, d));
      expectClose(gw, cpuGw, 1e-5, `dW (${c.name})`);
      expectClose(gx, cpuGx, 1e-5, `dx (${c.name})`);
    }
  });
});
