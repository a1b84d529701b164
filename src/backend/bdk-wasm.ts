/**
 * bdk's own WebAssembly module (`native/*.c`, compiled by `scripts/build-wasm.mjs` into
 * `bdk-wasm-module.ts`), instantiated inside the memory of tfjs's wasm backend: it imports the
 * backend's `WebAssembly.Memory`, so its functions take the heap offsets of the backend's tensors and
 * work on them in place. The module has no memory of its own (no data, no stack, checked at build
 * time); what it needs besides tensors lives in buffers allocated with the backend's `malloc`.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type * as tf from '@tensorflow/tfjs';
import { BDK_WASM_BASE64 } from './bdk-wasm-module.js';

/** The parts of tfjs-wasm's backend object used here (not in its public typings). */
interface WasmBackendInternals {
  wasm: {
    asm: { memory: object };
    HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  };
  dataIdMap: { get(id: tf.DataId): { memoryOffset: number } };
}

export type WasmBackend = BackendWasm & WasmBackendInternals;

export interface BdkWasmExports {
  batch_matmul(
    a: number,
    b: number,
    c: number,
    scratch: number,
    batch: number,
    m: number,
    k: number,
    n: number,
    ta: number,
    tb: number,
    aStride: number,
    bStride: number,
  ): void;
  /** The conv.c kernels: `geometry` points at 14 int32 (B, H, W, C, OH, OW, FH, FW, SH, SW, DH, DW, PT, PL). */
  im2col(x: number, col: number, geometry: number, transposed: number): void;
  col2im(col: number, dx: number, geometry: number): void;
  /** conv_direct.c: floats of scratch `conv_direct` needs for the geometry and `co` filters. */
  conv_direct_scratch(geometry: number, co: number): number;
  /** Direct convolution (strides and dilations 1), plus the bias (pointer 0: none) and a ReLU when `relu`. */
  conv_direct(
    x: number,
    w: number,
    bias: number,
    y: number,
    geometry: number,
    co: number,
    scratch: number,
    relu: number,
  ): void;
  transpose2d(src: number, dst: number, rows: number, cols: number): void;
  max_pool_grad(x: number, dy: number, dx: number, geometry: number): void;
  max_pool_grad_tiled(
    x: number,
    dy: number,
    dx: number,
    b: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
    fh: number,
    fw: number,
  ): void;
  add_bias(x: number, bias: number, out: number, rows: number, n: number, pattern: number): void;
  relu_grad(dy: number, x: number, out: number, n: number): void;
  /** out = max(x, 0), NaN kept; may run in place. */
  relu(x: number, out: number, n: number): void;
  sum_rows(x: number, out: number, rows: number, n: number): void;
  linear_combination(
    x0: number,
    x1: number,
    x2: number,
    out: number,
    n: number,
    terms: number,
    c0: number,
    c1: number,
    c2: number,
  ): void;
  adam_update(
    g: number,
    value: number,
    m: number,
    v: number,
    acc1: number,
    acc2: number,
    out: number,
    n: number,
    maximize: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    epsilon: number,
    negLearningRate: number,
  ): void;
}

/** The `WebAssembly` global, typed here because the project's `lib` (ES2022, no DOM) leaves it out. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;
const instances = new WeakMap<object, BdkWasmExports | null>();

/**
 * bdk's module instantiated in `backend`'s memory (one instance per backend object), or null where it
 * cannot be: the multi-threaded build of tfjs-wasm has a shared memory, which this module does not
 * declare. Callers then use the backend's own kernels.
 */
export function bdkWasm(backend: WasmBackend): BdkWasmExports | null {
  if (!instances.has(backend)) {
    let inst: BdkWasmExports | null = null;
    try {
      compiled ??= new WA.Module(Buffer.from(BDK_WASM_BASE64, 'base64'));
      inst = new WA.Instance(compiled, { env: { memory: backend.wasm.asm.memory } })
        .exports as BdkWasmExports;
    } catch {
      inst = null;
    }
    instances.set(backend, inst);
  }
  return instances.get(backend)!;
}

/** Whether bdk's module runs on the current backend. */
export function bdkWasmUsable(backend: unknown): boolean {
  return bdkWasm(backend as WasmBackend) !== null;
}

/** Heap offset of a tensor held by the wasm backend. */
export function heapOffset(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** A heap buffer of at least some size, reallocated (contents lost) when asked for more. */
export class HeapBuffer {
  ptr = 0;
  private bytes = 0;

  constructor(private readonly backend: WasmBackend) {}

  /** The buffer's offset, after growing it to at least `bytes`. */
  reserve(bytes: number): number {
    if (bytes > this.bytes) {
      if (this.ptr) this.backend.wasm._free(this.ptr);
      this.ptr = this.backend.wasm._malloc(bytes);
      this.bytes = bytes;
    }
    return this.ptr;
  }
}
