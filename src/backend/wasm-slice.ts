/**
 * `Slice` and `Unpack` on the wasm backend without needless copies. tfjs-wasm 4.22's Slice copies the
 * whole input out of the heap (`readSync`) before it copies the slice in, and its Unpack is one such
 * Slice per output. bdk's conv layers slice a chain out of [1, ...] tensors and stack it back, so both
 * are whole-tensor copies there, with their gradients: about 5 ms of a LeNet-5 step on 64 images.
 * Here a slice that is the whole tensor, and an Unpack along an axis of length 1, share the input's
 * buffer as tfjs-wasm's own Reshape does (tensors are immutable; the buffer is freed with its last
 * user), and any other contiguous float32 or int32 slice is one copy inside the heap. The values are
 * the input's: nothing is computed.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOffset, type WasmBackend } from './bdk-wasm.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];

const fallbacks: { [kernel: string]: tf.KernelFunc | undefined } = {};

/** The input's buffer under another shape, its reference count raised. */
function alias(wasm: WasmBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  wasm.incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

function slice(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return fallbacks.Slice!(args) as tf.TensorInfo;
  if (tf.util.arraysEqual(s, x.shape)) return alias(wasm, x, s);
  if (!tf.slice_util.isSliceContinous(x.shape, b, s)) return fallbacks.Slice!(args) as tf.TensorInfo;
  const out = wasm.makeOutput(s, x.dtype);
  const n = tf.util.sizeFromShape(s);
  if (n === 0) return out;
  const from = heapOffset(wasm, x) + 4 * tf.slice_util.computeFlatOffset(b, tf.util.computeStrides(x.shape));
  wasm.wasm.HEAPU8.copyWithin(heapOffset(wasm, out), from, from + 4 * n);
  return out;
}

function unpack(args: KernelArgs): tf.TensorInfo[] {
  const wasm = args.backend as unknown as WasmBackend;
  const { value } = args.inputs as { value: tf.TensorInfo };
  let { axis } = args.attrs as unknown as { axis: number };
  if (axis < 0) axis += value.shape.length;
  if (value.shape[axis] !== 1) return fallbacks.Unpack!(args) as tf.TensorInfo[];
  return [
    alias(
      wasm,
      value,
      value.shape.filter((_, i) => i !== axis),
    ),
  ];
}

const KERNELS: Array<[string, tf.KernelFunc]> = [
  ['Slice', slice as tf.KernelFunc],
  ['Unpack', unpack as unknown as tf.KernelFunc],
];

/** Makes both the wasm backend's kernels, keeping the ones they replace for the other cases (idempotent). */
export function registerWasmSlice(): void {
  for (const [name, kernelFunc] of KERNELS) {
    const existing = tf.getKernel(name, 'wasm');
    if (!existing || existing.kernelFunc === kernelFunc) continue;
    fallbacks[name] = existing.kernelFunc;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: existing.setupFunc, kernelFunc });
  }
}
