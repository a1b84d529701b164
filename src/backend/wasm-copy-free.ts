/**
 * `Slice`, `SplitV`, `Concat`, `Unpack`, `PadV2` and `Cast` on the wasm backend without needless copies. tfjs-wasm 4.22's
 * Slice copies the whole input out of the heap (`readSync`) before it copies the slice in, its Unpack is
 * one such Slice per output, and its PadV2 and Cast copy even when they change nothing. bdk's conv
 * layers slice a chain out of [1, ...] tensors and stack it back, and the gradients of those ops are
 * Unpack and a PadV2 with no padding; a ReLU's gradient casts float32 to float32: whole-tensor copies,
 * about 5 ms of a LeNet-5 step on 64 images. Here a slice that is the whole tensor, an Unpack along an
 * axis of length 1, a PadV2 of zeros on every side and a Cast to the same dtype share the input's buffer,
 * as tfjs-wasm's own Reshape does (tensors are immutable; the buffer is freed with its last user), and
 * any other float32 or int32 slice is copied inside the heap (one copy when contiguous, else one per
 * contiguous block). The values are the input's: nothing is computed.
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
  const out = wasm.makeOutput(s, x.dtype);
  const n = tf.util.sizeFromShape(s);
  if (n === 0) return out;
  if (tf.slice_util.isSliceContinous(x.shape, b, s)) {
    const from =
      heapOffset(wasm, x) + 4 * tf.slice_util.computeFlatOffset(b, tf.util.computeStrides(x.shape));
    wasm.wasm.HEAPU8.copyWithin(heapOffset(wasm, out), from, from + 4 * n);
  } else stridedCopy(wasm.wasm.HEAPU8, heapOffset(wasm, x), x.shape, b, s, heapOffset(wasm, out));
  return out;
}

/**
 * Copies slice [begin, begin + size) of a row-major 4-byte tensor of `shape` at byte `from` to `to`, as
 * contiguous blocks: the axes after the last one the slice cuts are whole, so each block is
 * size[k] · (their product) values (e.g. one pixel's channels in a split along the channel axis, the
 * gradient of a concatenation). tfjs-wasm's own strided Slice first reads the whole tensor out of
 * the heap, once per slice.
 */
export function stridedCopy(
  heap: Uint8Array,
  from: number,
  shape: number[],
  begin: number[],
  size: number[],
  to: number,
): void {
  let k = shape.length - 1;
  while (k > 0 && begin[k] === 0 && size[k] === shape[k]) k--;
  const strides = tf.util.computeStrides(shape); // in values, for axes 0 … rank − 2
  const stride = (axis: number) => (axis === shape.length - 1 ? 1 : strides[axis]);
  const block = 4 * size[k] * (k === shape.length - 1 ? 1 : strides[k]);
  const idx = new Array<number>(k).fill(0);
  let at = to;
  for (;;) {
    let offset = begin[k] * stride(k);
    for (let a = 0; a < k; a++) offset += (begin[a] + idx[a]) * stride(a);
    heap.copyWithin(at, from + 4 * offset, from + 4 * offset + block);
    at += block;
    let a = k - 1;
    while (a >= 0 && ++idx[a] === size[a]) idx[a--] = 0;
    if (a < 0) return;
  }
}

/**
 * `SplitV` (the gradient of a concatenation) as one `slice` per part: tfjs-wasm's calls its own Slice,
 * which for a split along the last axis reads the whole tensor out of the heap once per part.
 */
function splitV(args: KernelArgs): tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as unknown as {
    numOrSizeSplits: number[] | number;
    axis: number;
  };
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return fallbacks.SplitV!(args) as tf.TensorInfo[];
  const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const size = x.shape.slice();
  return sizes.map((s) => {
    size[$axis] = s;
    const part = slice({ ...args, inputs: { x }, attrs: { begin: begin.slice(), size: size.slice() } });
    begin[$axis] += s;
    return part;
  });
}

/**
 * `Concat` of float32 or int32 tensors as copies inside the heap: for each index of the axes before
 * `axis`, each input's block in turn (a loop over values for blocks of fewer than 64, else one
 * `copyWithin`). tfjs-wasm's reads every input out of the heap and writes the result back.
 */
function concat(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const inputs = (args.inputs as unknown as tf.TensorInfo[]).filter(
    (t) => tf.util.sizeFromShape(t.shape) > 0,
  );
  const dtype = (args.inputs as unknown as tf.TensorInfo[])[0]?.dtype;
  if (
    inputs.length < 2 ||
    (dtype !== 'float32' && dtype !== 'int32') ||
    inputs.some((t) => t.dtype !== dtype)
  )
    return fallbacks.Concat!(args) as tf.TensorInfo;
  const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, inputs[0].shape)[0];
  const shape = tf.backend_util.computeOutShape(
    inputs.map((t) => t.shape),
    axis,
  );
  const out = wasm.makeOutput(shape, dtype);
  const outer = tf.util.sizeFromShape(shape.slice(0, axis));
  const blocks = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
  const row = blocks.reduce((a, b) => a + b, 0);
  const heap = new Int32Array(wasm.wasm.HEAPU8.buffer); // every value copied as its 32 bits
  const to = heapOffset(wasm, out) / 4;
  let col = 0;
  inputs.forEach((t, i) => {
    const from = heapOffset(wasm, t) / 4;
    const n = blocks[i];
    for (let o = 0; o < outer; o++) {
      const src = from + o * n;
      const dst = to + o * row + col;
      if (n < 64) for (let j = 0; j < n; j++) heap[dst + j] = heap[src + j];
      else heap.copyWithin(dst, src, src + n);
    }
    col += n;
  });
  return out;
}

function unpack(args: KernelArgs): tf.TensorInfo[] {
  const wasm = args.backend as unknown as WasmBackend;
  const { value } = args.inputs as { value: tf.TensorInfo };
  let { axis } = args.attrs as unknown as { axis: number };
  if (axis < 0) axis += value.shape.length;
  if (value.shape[axis] !== 1 || value.dtype === 'string') return fallbacks.Unpack!(args) as tf.TensorInfo[];
  return [
    alias(
      wasm,
      value,
      value.shape.filter((_, i) => i !== axis),
    ),
  ];
}

function padV2(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { paddings } = args.attrs as unknown as { paddings: Array<[number, number]> };
  if (paddings.every(([before, after]) => before === 0 && after === 0) && x.dtype !== 'string')
    return alias(args.backend as unknown as WasmBackend, x, x.shape);
  return fallbacks.PadV2!(args) as tf.TensorInfo;
}

function cast(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
  if (dtype === x.dtype && dtype !== 'string')
    return alias(args.backend as unknown as WasmBackend, x, x.shape);
  return fallbacks.Cast!(args) as tf.TensorInfo;
}

const KERNELS: Array<[string, tf.KernelFunc]> = [
  ['Slice', slice as tf.KernelFunc],
  ['SplitV', splitV as unknown as tf.KernelFunc],
  ['Concat', concat],
  ['Unpack', unpack as unknown as tf.KernelFunc],
  ['PadV2', padV2],
  ['Cast', cast],
];

/** Makes these the wasm backend's kernels, keeping the ones they replace for the other cases (idempotent). */
export function registerWasmCopyFree(): void {
  for (const [name, kernelFunc] of KERNELS) {
    const existing = tf.getKernel(name, 'wasm');
    if (!existing || existing.kernelFunc === kernelFunc) continue;
    fallbacks[name] = existing.kernelFunc;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: existing.setupFunc, kernelFunc });
  }
}
