/**
 * Two wasm kernels for the shapes of a bias: `Add` of a tensor [..., n] and a bias broadcast along its
 * leading axes ([n], or [1, ..., n]), and `Sum` over leading axes (the bias's gradient), with bdk's SIMD
 * code (`native/conv.c`: add_bias, sum_rows). tfjs-wasm 4.22 runs the first through a general broadcasting
 * loop, and the second transposes the tensor so that the summed axes come last, then sums: for a
 * conv layer's output [64, 28, 28, 6] about 2 ms and 1 ms, ten times a pass over the memory. Both give
 * the same floats as tfjs-wasm's kernels (one addition per element; each sum taken in the order of the
 * rows, from 0). Every other case goes to the kernel they replace.
 */
import * as tf from '@tensorflow/tfjs';
import { bdkWasm, heapOffset, HeapBuffer, type WasmBackend } from './bdk-wasm.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];

const fallbacks: { [kernel: string]: tf.KernelFunc | undefined } = {};

/** Per backend: the bias repeated to a multiple of 4 floats. */
const patterns = new WeakMap<object, HeapBuffer>();

/** The shape without its leading 1s. */
function squeezeLeading(shape: number[]): number[] {
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  return shape.slice(i);
}

/**
 * [big, bias] when one input is the other's trailing dimensions broadcast along its leading axes:
 * the bias's shape, less leading 1s, is a proper suffix of the big one's, which is the result's shape.
 */
function biasPair(a: tf.TensorInfo, b: tf.TensorInfo): [tf.TensorInfo, tf.TensorInfo] | null {
  for (const [big, small] of [
    [a, b],
    [b, a],
  ]) {
    const s = squeezeLeading(small.shape);
    if (small.shape.length > big.shape.length || s.length >= big.shape.length) continue;
    const tail = big.shape.slice(big.shape.length - s.length);
    if (tf.util.arraysEqual(tail, s)) return [big, small];
  }
  return null;
}

function add(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const pair = a.dtype === 'float32' && b.dtype === 'float32' ? biasPair(a, b) : null;
  const m = pair ? bdkWasm(wasm) : null;
  if (!pair || !m) return fallbacks.Add!(args) as tf.TensorInfo;
  const [big, bias] = pair;
  const out = wasm.makeOutput(big.shape, 'float32');
  const n = tf.util.sizeFromShape(bias.shape);
  const size = tf.util.sizeFromShape(big.shape);
  // Elementwise commutative: x + b and b + x are the same float.
  let pattern = patterns.get(wasm);
  if (!pattern) patterns.set(wasm, (pattern = new HeapBuffer(wasm)));
  const p = pattern.reserve(4 * 4 * n);
  if (size > 0)
    m.add_bias(heapOffset(wasm, big), heapOffset(wasm, bias), heapOffset(wasm, out), size / n, n, p);
  return out;
}

interface SumAttrs {
  axis: number | number[];
  keepDims: boolean;
}

function sum(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  // Leading axes 0..r−1, r < rank (summing the trailing ones needs no transpose in tfjs-wasm's own).
  const leading = axes.length > 0 && axes.length < rank && axes.every((d, i) => d === i);
  const m = leading && x.dtype === 'float32' ? bdkWasm(wasm) : null;
  if (!m) return fallbacks.Sum!(args) as tf.TensorInfo;
  const kept = x.shape.slice(axes.length);
  const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
  const n = tf.util.sizeFromShape(kept);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  if (n > 0) m.sum_rows(heapOffset(wasm, x), heapOffset(wasm, out), rows, n);
  return out;
}

const KERNELS: Array<[string, tf.KernelFunc]> = [
  ['Add', add],
  ['Sum', sum],
];

/** Makes both the wasm backend's kernels, keeping the ones they replace for the other cases (idempotent). */
export function registerWasmBiasSum(): void {
  for (const [name, kernelFunc] of KERNELS) {
    const existing = tf.getKernel(name, 'wasm');
    if (existing?.kernelFunc === kernelFunc) continue;
    if (!existing) continue;
    fallbacks[name] = existing.kernelFunc;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: existing.setupFunc, kernelFunc });
  }
}
