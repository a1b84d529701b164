/**
 * The direct convolution of `native/conv_direct.c` for the wasm backend: no im2col matrix and no
 * product call, for layers with few filters or few input channels (an image model's first layers),
 * where im2col + matmul runs a product only a few columns wide. It can add the bias and apply a ReLU
 * on the way out, which `FusedConv2D` uses. `wasm-conv.ts` decides, by {@link usesDirectConv}, which
 * convolutions it computes.
 */
import * as tf from '@tensorflow/tfjs';
import { HeapBuffer, type BdkWasmExports, type WasmBackend } from './bdk-wasm.js';
import { writeConvGeometry } from './wasm-conv-geometry.js';

/**
 * Whether the direct kernel computes this convolution: strides and dilations 1, and at most 8 filters
 * or at most 4 input channels, where it measured faster than im2col + matmul (docs/benchmarks.md,
 * "Convolutions with few filters").
 */
export function usesDirectConv(info: tf.backend_util.Conv2DInfo): boolean {
  return (
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    (info.outChannels <= 8 || info.inChannels <= 4)
  );
}

const buffers = new WeakMap<object, { scratch: HeapBuffer; geometry: HeapBuffer }>();

/**
 * out = conv(x, filter) (+ bias) (ReLU when `relu`), offsets in the backend's heap; `bias` 0 for none.
 * The whole batch in one call: the kernel's scratch is one image's padded planes and the weights.
 */
export function directConv2D(
  wasm: WasmBackend,
  m: BdkWasmExports,
  info: tf.backend_util.Conv2DInfo,
  at: { x: number; filter: number; bias: number; out: number },
  relu: boolean,
): void {
  let b = buffers.get(wasm);
  if (!b) {
    b = { scratch: new HeapBuffer(wasm), geometry: new HeapBuffer(wasm) };
    buffers.set(wasm, b);
  }
  const g = writeConvGeometry(wasm, b.geometry, info, info.batchSize);
  const co = info.outChannels;
  const scratch = b.scratch.reserve(4 * m.conv_direct_scratch(g, co));
  m.conv_direct(at.x, at.filter, at.bias, at.out, g, co, scratch, relu ? 1 : 0);
}
