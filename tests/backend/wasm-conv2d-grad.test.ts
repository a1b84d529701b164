/**
 * The wasm Conv2DBackpropFilter kernel: registration of the training kernels, conv2d gradients against
 * cpu and finite differences, and training a small conv net.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it, vi } from 'vitest';

import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
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

const TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
];

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
