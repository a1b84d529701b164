/**
 * The wasm depthwise backprop kernels (input and filter): gradients against cpu and finite
 * differences, and no leaked tensors or wasm buffers.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import {
  depthwiseRef,
  expectClose,
  finiteDiff,
  makeData,
  onBackend,
  sampleIndices,
  tfGrads,
  uniform,
  type Case,
  type Shape4,
} from './conv-grad-fixtures.js';

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
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
