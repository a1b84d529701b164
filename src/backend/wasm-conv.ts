/**
 * Convolution kernels for the wasm backend built from bdk's own SIMD code (`native/conv.c` for the
 * data movement, `native/matmul.c`'s product for the arithmetic): `Conv2D`, `Conv2DBackpropInput`,
 * `Conv2DBackpropFilter` and `MaxPoolGrad`, NHWC (other layouts and dtypes go to the kernels they
 * replace). Each convolution is im2col followed by one matrix product (docs/design.md §5):
 *
 *   forward        y [P, Co] = col [P, K] · W [K, Co]                 (Co a multiple of 8)
 *                  yᵀ [Co, P] = Wᵀ · colᵀ [K, P], then transposed      (otherwise)
 *   filter grad    dW [K, Co] = colᵀ · dy [P, Co]                      (Co a multiple of 8)
 *                  dWᵀ [Co, K] = dyᵀ · col, then transposed            (otherwise)
 *   input grad     dcol [P, K] = dy · Wᵀ, then dx = col2im(dcol)
 *
 * with P = B·OH·OW output pixels and K = FH·FW·Ci filter taps; transposed operands are read in place
 * by the product, and the orientation keeps the product's 8-wide SIMD tiles full. The batch is taken
 * in chunks whose im2col matrix stays in the L2 cache. tfjs-wasm 4.22 runs `Conv2DBackpropInput` and
 * `MaxPoolGrad` as scalar loops, and has no `Conv2DBackpropFilter` (bdk's JavaScript one,
 * `wasm-conv-grad.ts`, stays the fallback). Results equal tfjs's up to float round-off (the sums are
 * taken in another order); `tests/backend/wasm-conv.test.ts` compares them with the cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { bdkWasm, heapOffset, HeapBuffer, type BdkWasmExports, type WasmBackend } from './bdk-wasm.js';
import { directConv2D, usesDirectConv } from './wasm-conv-direct.js';
import { writeConvGeometry } from './wasm-conv-geometry.js';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** Floats of im2col matrix built at once: 2^17 (512 KiB) stays in a 1 MiB L2 cache with its product. */
export const COL_CHUNK_FLOATS = 1 << 17;

/** Per backend: the im2col matrix, a product's result before it is transposed, the product's scratch, the geometry. */
interface Buffers {
  col: HeapBuffer;
  tmp: HeapBuffer;
  scratch: HeapBuffer;
  geometry: HeapBuffer;
}
const buffers = new WeakMap<object, Buffers>();

function buffersOf(wasm: WasmBackend): Buffers {
  let b = buffers.get(wasm);
  if (!b) {
    b = {
      col: new HeapBuffer(wasm),
      tmp: new HeapBuffer(wasm),
      scratch: new HeapBuffer(wasm),
      geometry: new HeapBuffer(wasm),
    };
    buffers.set(wasm, b);
  }
  return b;
}

/** The geometry conv.c reads, for `batch` images, in this backend's geometry buffer. */
function writeGeometry(wasm: WasmBackend, info: tf.backend_util.Conv2DInfo, batch: number): number {
  return writeConvGeometry(wasm, buffersOf(wasm).geometry, info, batch);
}

/** Images per chunk: as many as keep the im2col matrix within {@link COL_CHUNK_FLOATS}, at least one. */
function chunkImages(info: tf.backend_util.Conv2DInfo, k: number): number {
  const perImage = info.outHeight * info.outWidth * k;
  return Math.max(1, Math.min(info.batchSize, Math.floor(COL_CHUNK_FLOATS / Math.max(1, perImage))));
}

/** Whether a product with n columns of the result fills the kernel's 8-wide tiles. */
const wide = (n: number) => n % 8 === 0;

interface Fallbacks {
  [kernel: string]: tf.KernelFunc | undefined;
}
const fallbacks: Fallbacks = {};

function fallback(name: string, args: KernelArgs): tf.TensorInfo {
  const f = fallbacks[name];
  if (!f) throw new Error(`${name} (wasm): no kernel for this case`);
  return f(args) as tf.TensorInfo;
}

/** bdk's module when it can run this call: float32 NHWC tensors on a backend where the module loads. */
function usable(
  wasm: WasmBackend,
  ts: tf.TensorInfo[],
  dataFormat: string | undefined,
): BdkWasmExports | null {
  if ((dataFormat ?? 'NHWC') !== 'NHWC' || ts.some((t) => t.dtype !== 'float32' || t.shape.length !== 4))
    return null;
  return bdkWasm(wasm);
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: Rounding;
}

function conv2D(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const a = args.attrs as unknown as ConvAttrs;
  const m = usable(wasm, [x, filter], a.dataFormat);
  if (!m) return fallback('Conv2D', args);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filter.shape as Shape4,
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
  );
  const out = wasm.makeOutput(info.outShape, 'float32');
  const co = info.outChannels;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.outHeight * info.outWidth;
  if (info.batchSize * pixels * co === 0) return out;
  if (k === 0) {
    (wasm.typedArrayFromHeap(out) as Float32Array).fill(0);
    return out;
  }
  if (usesDirectConv(info)) {
    const at = {
      x: heapOffset(wasm, x),
      filter: heapOffset(wasm, filter),
      bias: 0,
      out: heapOffset(wasm, out),
    };
    directConv2D(wasm, m, info, at, false);
    return out;
  }
  const chunk = chunkImages(info, k);
  const buf = buffersOf(wasm);
  const col = buf.col.reserve(4 * chunk * pixels * k);
  const tmp = wide(co) ? 0 : buf.tmp.reserve(4 * chunk * pixels * co);
  const scratch = buf.scratch.reserve(4 * (k + 1));
  const [px, pw, py] = [heapOffset(wasm, x), heapOffset(wasm, filter), heapOffset(wasm, out)];
  for (let b0 = 0; b0 < info.batchSize; b0 += chunk) {
    const nb = Math.min(chunk, info.batchSize - b0);
    const p = nb * pixels;
    const g = writeGeometry(wasm, info, nb);
    const xb = px + 4 * b0 * info.inHeight * info.inWidth * info.inChannels;
    const yb = py + 4 * b0 * pixels * co;
    if (wide(co)) {
      m.im2col(xb, col, g, 0);
      m.batch_matmul(col, pw, yb, scratch, 1, p, k, co, 0, 0, 0, 0);
    } else {
      m.im2col(xb, col, g, 1);
      m.batch_matmul(pw, col, tmp, scratch, 1, co, k, p, 1, 0, 0, 0);
      m.transpose2d(tmp, yb, co, p);
    }
  }
  return out;
}

interface FusedConvAttrs extends ConvAttrs {
  activation?: string;
}

/**
 * FusedConv2D for a bias of one value per filter and a linear or ReLU activation (what bdk's models
 * use): the direct kernel adds and rectifies on the way out; otherwise Conv2D's product, then the bias
 * and the ReLU in place. Other cases (PReLU weights, other activations, NCHW) go to tfjs's kernel.
 */
function fusedConv2D(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<
    string,
    tf.TensorInfo | undefined
  >;
  const a = args.attrs as unknown as FusedConvAttrs;
  const act = a.activation ?? 'linear';
  const m = usable(wasm, [x!, filter!], a.dataFormat);
  const co = filter!.shape[3];
  const plainBias = !bias || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === co);
  if (!m || preluActivationWeights || !plainBias || (act !== 'linear' && act !== 'relu'))
    return fallback('FusedConv2D', args);
  const info = tf.backend_util.computeConv2DInfo(
    x!.shape as Shape4,
    filter!.shape as Shape4,
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
  );
  if (usesDirectConv(info) && tf.util.sizeFromShape(info.outShape) > 0) {
    const out = wasm.makeOutput(info.outShape, 'float32');
    const at = {
      x: heapOffset(wasm, x!),
      filter: heapOffset(wasm, filter!),
      bias: bias ? heapOffset(wasm, bias) : 0,
      out: heapOffset(wasm, out),
    };
    directConv2D(wasm, m, info, at, act === 'relu');
    return out;
  }
  const out = conv2D({ ...args, inputs: { x: x!, filter: filter! } });
  const n = tf.util.sizeFromShape(info.outShape);
  if (n === 0) return out;
  const py = heapOffset(wasm, out);
  if (bias) {
    const pattern = buffersOf(wasm).scratch.reserve(4 * 4 * co);
    m.add_bias(py, heapOffset(wasm, bias), py, n / co, co, pattern);
  }
  if (act === 'relu') m.relu(py, py, n);
  return out;
}

interface BackpropInputAttrs extends ConvAttrs {
  inputShape: Shape4;
}

function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = args.attrs as unknown as BackpropInputAttrs;
  const m = usable(wasm, [dy, filter], a.dataFormat);
  if (!m) return fallback('Conv2DBackpropInput', args);
  const info = tf.backend_util.computeConv2DInfo(
    a.inputShape,
    filter.shape as Shape4,
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
  );
  assertShape('Conv2DBackpropInput', dy, info.outShape);
  const dx = wasm.makeOutput([...a.inputShape], 'float32');
  const co = info.outChannels;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.outHeight * info.outWidth;
  const imageSize = info.inHeight * info.inWidth * info.inChannels;
  if (info.batchSize * imageSize === 0) return dx;
  if (k === 0 || pixels * co === 0) {
    (wasm.typedArrayFromHeap(dx) as Float32Array).fill(0);
    return dx;
  }
  const chunk = chunkImages(info, k);
  const buf = buffersOf(wasm);
  const col = buf.col.reserve(4 * chunk * pixels * k);
  const scratch = buf.scratch.reserve(4 * (k * co + co));
  const [pdy, pw, pdx] = [heapOffset(wasm, dy), heapOffset(wasm, filter), heapOffset(wasm, dx)];
  for (let b0 = 0; b0 < info.batchSize; b0 += chunk) {
    const nb = Math.min(chunk, info.batchSize - b0);
    const g = writeGeometry(wasm, info, nb);
    // dcol [P, K] = dy [P, Co] · Wᵀ, W stored [K, Co].
    m.batch_matmul(pdy + 4 * b0 * pixels * co, pw, col, scratch, 1, nb * pixels, co, k, 0, 1, 0, 0);
    m.col2im(col, pdx + 4 * b0 * imageSize, g);
  }
  return dx;
}

interface BackpropFilterAttrs extends ConvAttrs {
  filterShape: Shape4;
}

function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = args.attrs as unknown as BackpropFilterAttrs;
  const m = usable(wasm, [x, dy], a.dataFormat);
  if (!m) return fallback('Conv2DBackpropFilter', args);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    a.filterShape,
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
  );
  assertShape('Conv2DBackpropFilter', dy, info.outShape);
  const dw = wasm.makeOutput([...a.filterShape], 'float32');
  const co = info.outChannels;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const pixels = info.outHeight * info.outWidth;
  if (k * co === 0) return dw;
  if (info.batchSize * pixels === 0) {
    (wasm.typedArrayFromHeap(dw) as Float32Array).fill(0);
    return dw;
  }
  const chunk = chunkImages(info, k);
  const buf = buffersOf(wasm);
  const col = buf.col.reserve(4 * chunk * pixels * k);
  // tmp: a chunk's dWᵀ (narrow Co), then the chunk's dW when it is added to the first chunks' sum.
  const tmp = buf.tmp.reserve(4 * 2 * k * co);
  const scratch = buf.scratch.reserve(4 * (co + k + 1));
  const [px, pdy, pdw] = [heapOffset(wasm, x), heapOffset(wasm, dy), heapOffset(wasm, dw)];
  const part = tmp + 4 * k * co;
  for (let b0 = 0; b0 < info.batchSize; b0 += chunk) {
    const nb = Math.min(chunk, info.batchSize - b0);
    const p = nb * pixels;
    const g = writeGeometry(wasm, info, nb);
    const dyb = pdy + 4 * b0 * pixels * co;
    const into = b0 === 0 ? pdw : part;
    const xb = px + 4 * b0 * info.inHeight * info.inWidth * info.inChannels;
    m.im2col(xb, col, g, 0);
    if (wide(co)) {
      // dW [K, Co] = colᵀ · dy, col stored [P, K].
      m.batch_matmul(col, dyb, into, scratch, 1, k, p, co, 1, 0, 0, 0);
    } else {
      // dWᵀ [Co, K] = dyᵀ · col, dy stored [P, Co].
      m.batch_matmul(dyb, col, tmp, scratch, 1, co, p, k, 1, 0, 0, 0);
      m.transpose2d(tmp, into, co, k);
    }
    if (b0 > 0) m.linear_combination(pdw, part, 0, pdw, k * co, 2, 1, 1, 0);
  }
  return dw;
}

function assertShape(kernel: string, t: tf.TensorInfo, expected: number[]): void {
  if (!tf.util.arraysEqual(t.shape, expected))
    throw new Error(
      `${kernel} (wasm): dy shape [${t.shape.join(', ')}] does not match the convolution output ` +
        `shape [${expected.join(', ')}]`,
    );
}

interface PoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: Rounding;
}

function maxPoolGrad(args: KernelArgs): tf.TensorInfo {
  const wasm = args.backend as unknown as WasmBackend;
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const a = args.attrs as unknown as PoolGradAttrs;
  const m = usable(wasm, [dy, input], 'NHWC');
  if (!m) return fallback('MaxPoolGrad', args);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    a.filterSize,
    a.strides,
    1,
    a.pad as 'valid' | 'same' | number,
    a.dimRoundingMode,
  );
  assertShape('MaxPoolGrad', dy, info.outShape);
  const dx = wasm.makeOutput(input.shape, 'float32');
  if (tf.util.sizeFromShape(input.shape) === 0) return dx;
  const [px, pdy, pdx] = [heapOffset(wasm, input), heapOffset(wasm, dy), heapOffset(wasm, dx)];
  const { filterHeight: fh, filterWidth: fw, outHeight: oh, outWidth: ow } = info;
  // Windows that tile the image: each pixel in at most one, four channels at a time.
  const tiled =
    fh === info.strideHeight &&
    fw === info.strideWidth &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0 &&
    info.inChannels >= 4 &&
    oh * fh <= info.inHeight &&
    ow * fw <= info.inWidth;
  if (tiled)
    m.max_pool_grad_tiled(
      px,
      pdy,
      pdx,
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      oh,
      ow,
      fh,
      fw,
    );
  else m.max_pool_grad(px, pdy, pdx, writeGeometry(wasm, info, info.batchSize));
  return dx;
}

const KERNELS: Array<[string, tf.KernelFunc]> = [
  ['Conv2D', conv2D],
  ['FusedConv2D', fusedConv2D],
  ['Conv2DBackpropInput', conv2DBackpropInput],
  ['Conv2DBackpropFilter', conv2DBackpropFilter],
  ['MaxPoolGrad', maxPoolGrad],
];

/**
 * Makes these kernels the wasm backend's, keeping each one they replace as the fallback for the cases
 * they leave to it (idempotent; call after `registerWasmConvGradKernels`, whose Conv2DBackpropFilter
 * becomes the fallback). The setup function of the replaced kernel is kept: the fallback needs it.
 */
export function registerWasmConvKernels(): void {
  for (const [name, kernelFunc] of KERNELS) {
    const existing = tf.getKernel(name, 'wasm');
    if (existing?.kernelFunc === kernelFunc) continue;
    if (existing) {
      fallbacks[name] = existing.kernelFunc;
      tf.unregisterKernel(name, 'wasm');
    }
    tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: existing?.setupFunc, kernelFunc });
  }
}

/** Whether the wasm backend's kernel `name` is this module's (tests check the registration). */
export function isBdkConvKernel(name: string): boolean {
  const k = tf.getKernel(name, 'wasm');
  return KERNELS.some(([n, f]) => n === name && k?.kernelFunc === f);
}

/**
 * Whether `tf.fused.conv2d` can take a bias that is a view (a slice or reshape) of a larger tensor on the
 * current backend: everywhere but on tfjs-wasm's own FusedConv2D, which checks the rank of the bias's
 * buffer rather than of the tensor (bdk's kernel replaces it unless `BDK_WASM_KERNELS=0`).
 */
export function fusedConvTakesViews(): boolean {
  return tf.getBackend() !== 'wasm' || isBdkConvKernel('FusedConv2D');
}
