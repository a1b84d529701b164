/**
 * Section `conv`: each convolution kernel of a `lenet5` step (batch 64, MNIST-shaped), and the fused
 * forward convolutions of the searched MNIST student's first two layers, timed alone
 * through `tf.engine().runKernel`, with the kernel the backend has registered (on wasm, bdk's,
 * `src/backend/wasm-conv.ts`; with `BDK_WASM_KERNELS=0`, tfjs-wasm's and bdk's JavaScript filter
 * gradient), so that a slow step can be traced to its kernels. FLOPs: 2 per multiply-accumulate.
 */
import * as tf from '@tensorflow/tfjs';
import { median, timeRepeats } from './measure.js';
import type { Budget } from './sections.js';

export interface ConvKernelResult {
  name: string;
  kernel: string;
  /** Median time of one call, ms. */
  ms: number;
  /** Useful FLOPs of one call (0 for the pooling gradient). */
  flops: number;
  gflops: number;
  repeats: number;
}

interface KernelCase {
  name: string;
  kernel: string;
  inputs: Record<string, number[]>;
  attrs: Record<string, unknown>;
  macs: number;
}

const B = 64;
const conv1 = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
const conv2 = { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 };
const MACS1 = B * 28 * 28 * 6 * 25;
const MACS2 = B * 10 * 10 * 16 * 150;
const MACS_S1 = B * 28 * 28 * 4 * 25;
const MACS_S2 = B * 14 * 14 * 8 * 100;

const CASES: KernelCase[] = [
  {
    name: 'conv1 forward',
    kernel: 'Conv2D',
    inputs: { x: [B, 28, 28, 1], filter: [5, 5, 1, 6] },
    attrs: conv1,
    macs: MACS1,
  },
  {
    name: 'conv1 filter gradient',
    kernel: 'Conv2DBackpropFilter',
    inputs: { x: [B, 28, 28, 1], dy: [B, 28, 28, 6] },
    attrs: { ...conv1, filterShape: [5, 5, 1, 6] },
    macs: MACS1,
  },
  {
    name: 'conv2 forward',
    kernel: 'Conv2D',
    inputs: { x: [B, 14, 14, 6], filter: [5, 5, 6, 16] },
    attrs: conv2,
    macs: MACS2,
  },
  {
    name: 'conv2 filter gradient',
    kernel: 'Conv2DBackpropFilter',
    inputs: { x: [B, 14, 14, 6], dy: [B, 10, 10, 16] },
    attrs: { ...conv2, filterShape: [5, 5, 6, 16] },
    macs: MACS2,
  },
  {
    name: 'conv2 input gradient',
    kernel: 'Conv2DBackpropInput',
    inputs: { dy: [B, 10, 10, 16], filter: [5, 5, 6, 16] },
    attrs: { ...conv2, inputShape: [B, 14, 14, 6] },
    macs: MACS2,
  },
  // The first two layers of the searched MNIST student (docs/results.md), alone and as evaluated (bias and
  // ReLU fused).
  {
    name: 'student conv1 forward',
    kernel: 'Conv2D',
    inputs: { x: [B, 28, 28, 1], filter: [5, 5, 1, 4] },
    attrs: conv1,
    macs: MACS_S1,
  },
  {
    name: 'student conv1 fused forward',
    kernel: 'FusedConv2D',
    inputs: { x: [B, 28, 28, 1], filter: [5, 5, 1, 4], bias: [4] },
    attrs: { ...conv1, activation: 'relu' },
    macs: MACS_S1,
  },
  {
    name: 'student conv2 forward',
    kernel: 'Conv2D',
    inputs: { x: [B, 14, 14, 4], filter: [5, 5, 4, 8] },
    attrs: conv1,
    macs: MACS_S2,
  },
  {
    name: 'pool1 gradient',
    kernel: 'MaxPoolGrad',
    inputs: { dy: [B, 14, 14, 6], input: [B, 28, 28, 6], output: [B, 14, 14, 6] },
    attrs: { filterSize: 2, strides: 2, pad: 'valid' },
    macs: 0,
  },
];

/** Times every case: each repeat runs enough calls for about 20 ms and reads the last result back. */
export async function convKernels(b: Budget): Promise<ConvKernelResult[]> {
  const out: ConvKernelResult[] = [];
  for (const [i, c] of CASES.entries()) {
    const inputs = Object.fromEntries(
      Object.entries(c.inputs).map(([k, s], j) => [k, tf.randomNormal(s, 0, 1, 'float32', 10 * i + j)]),
    );
    const run = (inner: number) => {
      let last: tf.Tensor | null = null;
      for (let r = 0; r < inner; r++) {
        last?.dispose();
        last = tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor;
      }
      last!.dataSync();
      last!.dispose();
    };
    // Warm-up: the first calls of a wasm function may run before V8 has optimized it.
    run(10);
    const t0 = performance.now();
    run(2);
    const inner = Math.max(1, Math.min(200, Math.round(20 / Math.max(1e-3, (performance.now() - t0) / 2))));
    const times = await timeRepeats(() => run(inner), {
      warmup: 1,
      minRepeats: Math.max(5, b.minRepeats),
      budgetMs: b.budgetMs / 3,
      maxRepeats: 200,
    });
    tf.dispose(Object.values(inputs));
    const ms = median(times) / inner;
    const flops = 2 * c.macs;
    out.push({
      name: c.name,
      kernel: c.kernel,
      ms,
      flops,
      gflops: flops / (ms * 1e6),
      repeats: times.length,
    });
  }
  return out;
}
