import * as tf from '@tensorflow/tfjs';
import type { HeapBuffer, WasmBackend } from './bdk-wasm.js';

/**
 * Writes the 14 ints the native convolution kernels read (`native/conv.c`: B, H, W, C, OH, OW, FH, FW,
 * SH, SW, DH, DW, PT, PL) for `batch` images of the geometry into `buffer`, and returns their offset.
 */
export function writeConvGeometry(
  wasm: WasmBackend,
  buffer: HeapBuffer,
  info: tf.backend_util.Conv2DInfo,
  batch: number,
): number {
  const ptr = buffer.reserve(14 * 4);
  new Int32Array(wasm.wasm.HEAPU8.buffer, ptr, 14).set([
    batch,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  ]);
  return ptr;
}
