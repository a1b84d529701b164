/**
 * A `BatchMatMul` kernel for the wasm backend: SIMD code of bdk's own (`native/matmul.c`, in the
 * module of `bdk-wasm.ts`) run directly on the backend's tensors, replacing tfjs-wasm's.
 *
 *   c[q] = op(a[q]) · op(b[q]), a [..., M, K] (or [..., K, M] with transposeA), b [..., K, N] (or
 *   [..., N, K] with transposeB); the leading dimensions flatten to batches Ba and Bb, which must be
 *   equal or 1 (as in tfjs-wasm's own kernel, which this one hands every other case to).
 *
 * Why: tfjs-wasm 4.22 runs a batched product (leading dimension above 1) through a scalar loop at
 * about 2 GFLOP/s, and a 2-D one through XNNPACK, which creates an operator and packs the right-hand
 * matrix on every call: the weights of a network being trained or sampled are new at every step, so
 * every product paid for the packing (a 100×784·784×400 product: 2.0 ms with the same weights, 3.3 ms
 * with new ones), and small products mostly paid for the setup. This kernel keeps a 4×8 tile of the
 * result in SIMD registers and streams the rows of b through it: no packing, no allocation, and
 * transposed operands read in place (the backend runs `transposeA` products many times slower).
 * `npm run bench` compares the two kernels on the shapes bdk uses.
 *
 * Nothing is copied: the module works on the tensors in the backend's heap. The gradient is tfjs's,
 * registered under the same kernel name.
 */
import * as tf from '@tensorflow/tfjs';
import { bdkWasm, bdkWasmUsable, heapOffset, HeapBuffer, type WasmBackend } from './bdk-wasm.js';

/** tfjs-wasm's own BatchMatMul (XNNPACK), kept under this name: the benchmark's yardstick on wasm. */
export const BACKEND_BATCH_MATMUL = 'BdkBackendBatchMatMul';

interface Attrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** Per backend: the kernel's scratch (a transposed b, then one column of b). */
const scratches = new WeakMap<object, HeapBuffer>();

type KernelArgs = Parameters<tf.KernelFunc>[0];

let backendKernel: tf.KernelFunc | null = null;

function batchMatMulWasm(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as Attrs;
  const ar = a.shape.length;
  const br = b.shape.length;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const ba = tf.util.sizeFromShape(outerA);
  const bb = tf.util.sizeFromShape(outerB);
  const kernels = bdkWasm(wasm);
  if (!kernels || a.dtype !== 'float32' || b.dtype !== 'float32' || (ba !== bb && ba !== 1 && bb !== 1))
    return backendKernel!(args) as tf.TensorInfo;
  const [m, k] = transposeA ? [a.shape[ar - 1], a.shape[ar - 2]] : [a.shape[ar - 2], a.shape[ar - 1]];
  const [k2, n] = transposeB ? [b.shape[br - 1], b.shape[br - 2]] : [b.shape[br - 2], b.shape[br - 1]];
  if (k !== k2)
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${k2}) of Tensors with shapes ${a.shape} and ${b.shape} ` +
        `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = Math.max(ba, bb);
  const out = wasm.makeOutput([...outer, m, n], 'float32');
  if (batch * m * n === 0) return out;
  let scratch = scratches.get(wasm);
  if (!scratch) scratches.set(wasm, (scratch = new HeapBuffer(wasm)));
  const ptr = (t: tf.TensorInfo) => heapOffset(wasm, t);
  kernels.batch_matmul(
    ptr(a),
    ptr(b),
    ptr(out),
    scratch.reserve(4 * (k * n + k)),
    batch,
    m,
    k,
    n,
    transposeA ? 1 : 0,
    transposeB ? 1 : 0,
    ba === 1 ? 0 : m * k,
    bb === 1 ? 0 : k * n,
  );
  return out;
}

/**
 * Makes {@link batchMatMulWasm} the wasm backend's BatchMatMul, and keeps the backend's own kernel as
 * {@link BACKEND_BATCH_MATMUL} (idempotent). tfjs's gradient of BatchMatMul, registered by name, is
 * unchanged and now runs on this kernel too.
 */
export function registerWasmMatMul(): void {
  const existing = tf.getKernel('BatchMatMul', 'wasm');
  if (existing?.kernelFunc === batchMatMulWasm) return;
  if (existing) {
    backendKernel = existing.kernelFunc;
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel({ ...existing, kernelName: BACKEND_BATCH_MATMUL });
  }
  // The backend's kernel binds its wasm function in setupFunc; keep it, as the fallback calls it.
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: existing?.setupFunc,
    kernelFunc: batchMatMulWasm as tf.KernelFunc,
  });
}

/** Whether the current backend's BatchMatMul is {@link batchMatMulWasm}, with bdk's module running. */
export function hasWasmMatMul(): boolean {
  return (
    tf.getBackend() === 'wasm' &&
    tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc === batchMatMulWasm &&
    bdkWasmUsable(tf.backend())
  );
}
