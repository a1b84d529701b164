/**
 * Training kernels missing from `@tensorflow/tfjs-backend-wasm` 4.22.
 *
 * The wasm backend ships the forward convolutions and `Conv2DBackpropInput`, but not
 * `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter` or
 * `DepthwiseConv2dNativeBackpropInput`, so `tf.grad` through a conv layer throws on 'wasm'.
 * {@link registerWasmConvGradKernels} registers JS/wasm implementations of those three.
 *
 * Conventions (NHWC unless stated): x [B, H, W, Ci], dy [B, OH, OW, Co],
 * conv filter [FH, FW, Ci, Co], depthwise filter [FH, FW, Ci, M] with Co = Ci·M and output channel
 * `ci·M + m`. Input coordinate of output (oh, ow) and filter tap (fh, fw):
 * `ih = oh·sh + fh·dh − padTop`, `iw = ow·sw + fw·dw − padLeft`; taps outside the image read zero.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type TensorInfo = tf.TensorInfo;
type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

const BACKEND = 'wasm';

/**
 * Largest im2col matrix (in float32 elements) built at once by the Conv2DBackpropFilter kernel;
 * bigger problems are split along the batch and the partial filter gradients summed.
 * 2^24 elements = 64 MiB of wasm heap.
 */
const MAX_COL_ELEMENTS = 1 << 24;

/** Reads a float32 copy of a tensor held by the wasm backend. */
function readF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  const v = backend.readSync(t.dataId);
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

/** Returns input `what`, throwing unless it is present, rank 4 and float32. */
function rank4F32Input(inputs: tf.NamedTensorInfoMap, what: string, kernel: string): TensorInfo {
  const t = inputs[what];
  if (t === undefined) throw new Error(`${kernel} (wasm): missing input '${what}'`);
  if (t.shape.length !== 4) {
    throw new Error(`${kernel} (wasm): ${what} must be rank 4, got shape [${t.shape.join(', ')}]`);
  }
  if (t.dtype !== 'float32') {
    throw new Error(`${kernel} (wasm): ${what} must be float32, got ${t.dtype}`);
  }
  return t;
}

/** Throws unless dy has the output shape implied by the convolution geometry. */
function assertDyShape(dy: TensorInfo, expected: number[], kernel: string): void {
  if (dy.shape.length !== expected.length || dy.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${kernel} (wasm): dy shape [${dy.shape.join(', ')}] does not match the convolution output ` +
        `shape [${expected.join(', ')}]`,
    );
  }
}

/**
 * First output index `o` in [0, outSize) whose input coordinate `o·stride + offset` is ≥ 0,
 * and one past the last one whose coordinate is < inSize. Lets im2col copy a contiguous run
 * without per-element bounds checks.
 */
function validRange(outSize: number, stride: number, offset: number, inSize: number): [number, number] {
  const lo = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const hi = inSize - 1 - offset < 0 ? 0 : Math.floor((inSize - 1 - offset) / stride) + 1;
  return [Math.min(lo, outSize), Math.max(Math.min(hi, outSize), Math.min(lo, outSize))];
}

/**
 * Conv2DBackpropFilter for the wasm backend.
 *
 * Inputs x [B,H,W,Ci] (or [B,Ci,H,W] for dataFormat 'NCHW') and dy [B,OH,OW,Co] (or [B,Co,OH,OW]);
 * attrs strides, pad ('same' | 'valid' | number | explicit), dataFormat, dimRoundingMode,
 * filterShape [FH,FW,Ci,Co], and an optional non-standard `dilations` (default 1).
 * Output dW [FH,FW,Ci,Co]:
 *
 *   dW[fh,fw,ci,co] = Σ_{b,oh,ow} x[b, oh·sh + fh·dh − padTop, ow·sw + fw·dw − padLeft, ci] · dy[b,oh,ow,co]
 *
 * Computed as one matrix product: the im2col matrix is built already transposed in JS,
 * colT [K = FH·FW·Ci, P = B·OH·OW] (zeros where the tap falls into padding), and multiplied by
 * dy viewed as [P, Co] with the wasm backend's own BatchMatMul (XNNPACK), giving [K, Co] which is
 * dW in row-major order. Large problems are processed in batch chunks of at most
 * {@link MAX_COL_ELEMENTS} im2col entries.
 */
function conv2DBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): TensorInfo {
  const kernel = 'Conv2DBackpropFilter';
  const backend = args.backend as BackendWasm;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: Rounding;
    filterShape: Shape4;
    dilations?: number | [number, number];
  };
  const x = rank4F32Input(args.inputs, 'x', kernel);
  const dy = rank4F32Input(args.inputs, 'dy', kernel);
  const dataFormat = attrs.dataFormat ?? 'NHWC';
  if (dataFormat !== 'NHWC' && dataFormat !== 'NCHW') {
    throw new Error(`${kernel} (wasm): unsupported dataFormat '${String(dataFormat)}'`);
  }
  const convInfo = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  assertDyShape(dy, convInfo.outShape, kernel);
  const channelsLast = dataFormat === 'NHWC';
  const {
    batchSize: B,
    inHeight: H,
    inWidth: W,
    inChannels: CI,
    outHeight: OH,
    outWidth: OW,
    outChannels: CO,
    filterHeight: FH,
    filterWidth: FW,
    strideHeight: SH,
    strideWidth: SW,
    dilationHeight: DH,
    dilationWidth: DW,
  } = convInfo;
  const padTop = convInfo.padInfo.top;
  const padLeft = convInfo.padInfo.left;
  const K = FH * FW * CI;
  const S = OH * OW;

  if (K === 0 || CO === 0 || B * S === 0) {
    return backend.makeOutput([...attrs.filterShape], 'float32', undefined, new Float32Array(K * CO));
  }

  // Element strides of x for (batch, row, column, channel).
  const xB = H * W * CI;
  const xR = channelsLast ? W * CI : W;
  const xC = channelsLast ? CI : 1;
  const xCh = channelsLast ? 1 : H * W;

  const xv = readF32(backend, x);
  const batchMatMul = tf.getKernel('BatchMatMul', BACKEND).kernelFunc;
  const chunk = Math.max(1, Math.min(B, Math.floor(MAX_COL_ELEMENTS / (K * S))));
  const single = chunk >= B;
  // dy as [P, Co] row-major: NHWC dy already is; NCHW (or a batch chunk) needs a copy.
  const dyv = single && channelsLast ? null : readF32(backend, dy);
  let acc: Float32Array | null = null;
  let result: TensorInfo | null = null;

  // Column offsets of the valid output columns for each filter column fw (same for all rows).
  const owRanges = new Array<[number, number]>(FW);
  for (let fw = 0; fw < FW; fw++) owRanges[fw] = validRange(OW, SW, fw * DW - padLeft, W);

  for (let b0 = 0; b0 < B; b0 += chunk) {
    const nb = Math.min(chunk, B - b0);
    const P = nb * S;

    // dy chunk as [1, P, Co].
    let dyInfo: TensorInfo;
    let dyOwned = false;
    if (dyv === null) {
      dyInfo = { dataId: dy.dataId, shape: [1, P, CO], dtype: 'float32' };
    } else {
      const buf = new Float32Array(P * CO);
      if (channelsLast) {
        buf.set(dyv.subarray(b0 * S * CO, (b0 + nb) * S * CO));
      } else {
        for (let b = 0; b < nb; b++) {
          const src = (b0 + b) * CO * S;
          const dst = b * S * CO;
          for (let co = 0; co < CO; co++) {
            const s0 = src + co * S;
            for (let s = 0; s < S; s++) buf[dst + s * CO + co] = dyv[s0 + s];
          }
        }
      }
      dyInfo = backend.makeOutput([1, P, CO], 'float32', undefined, buf);
      dyOwned = true;
    }

    // Transposed im2col: colT[k = (fh·FW + fw)·Ci + ci, p = (b·OH + oh)·OW + ow].
    const col = backend.makeOutput([1, K, P], 'float32');
    const colv = backend.typedArrayFromHeap(col) as Float32Array;
    for (let fh = 0; fh < FH; fh++) {
      const rowOffset = fh * DH - padTop;
      for (let fw = 0; fw < FW; fw++) {
        const colOffset = fw * DW - padLeft;
        const [owLo, owHi] = owRanges[fw];
        for (let ci = 0; ci < CI; ci++) {
          const k = (fh * FW + fw) * CI + ci;
          const rowBase = k * P;
          for (let b = 0; b < nb; b++) {
            const xBase = (b0 + b) * xB + ci * xCh;
            for (let oh = 0; oh < OH; oh++) {
              const base = rowBase + (b * OH + oh) * OW;
              const ih = oh * SH + rowOffset;
              if (ih < 0 || ih >= H || owLo >= owHi) {
                colv.fill(0, base, base + OW);
                continue;
              }
              if (owLo > 0) colv.fill(0, base, base + owLo);
              if (owHi < OW) colv.fill(0, base + owHi, base + OW);
              const xRow = xBase + ih * xR + colOffset * xC;
              const step = SW * xC;
              let xi = xRow + owLo * step;
              for (let ow = owLo; ow < owHi; ow++, xi += step) colv[base + ow] = xv[xi];
            }
          }
        }
      }
    }

    const prod = batchMatMul({
      inputs: { a: col, b: dyInfo },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as TensorInfo;
    backend.disposeData(col.dataId);
    if (dyOwned) backend.disposeData(dyInfo.dataId);

    if (single) {
      result = prod;
    } else {
      const part = readF32(backend, prod);
      backend.disposeData(prod.dataId);
      if (acc === null) acc = part;
      else for (let i = 0; i < acc.length; i++) acc[i] += part[i];
    }
  }

  if (result !== null) {
    return { dataId: result.dataId, shape: [...attrs.filterShape], dtype: 'float32' };
  }
  return backend.makeOutput([...attrs.filterShape], 'float32', undefined, acc as Float32Array);
}

/** Convolution geometry shared by the two depthwise kernels. */
function depthwiseInfo(
  kernel: string,
  inShape: Shape4,
  filterShape: Shape4,
  attrs: {
    strides: number | [number, number];
    pad: Pad;
    dilations?: number | [number, number];
    dimRoundingMode?: Rounding;
    dataFormat?: string;
  },
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm): only dataFormat 'NHWC' is supported, got '${attrs.dataFormat}'`);
  }
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
    'channelsLast',
  );
}

/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend.
 *
 * Inputs x [B,H,W,Ci], dy [B,OH,OW,Ci·M]; attrs strides, pad, dilations, dimRoundingMode,
 * filterShape [FH,FW,Ci,M]. Output dW [FH,FW,Ci,M]:
 *
 *   dW[fh,fw,ci,m] = Σ_{b,oh,ow} x[b, oh·sh + fh·dh − padTop, ow·sw + fw·dw − padLeft, ci] · dy[b,oh,ow,ci·M + m]
 *
 * Direct loops in JS (depthwise filters are small; no matmul structure worth exploiting).
 */
function depthwiseConv2dNativeBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): TensorInfo {
  const kernel = 'DepthwiseConv2dNativeBackpropFilter';
  const backend = args.backend as BackendWasm;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dilations?: number | [number, number];
    dimRoundingMode?: Rounding;
    filterShape: Shape4;
  };
  const x = rank4F32Input(args.inputs, 'x', kernel);
  const dy = rank4F32Input(args.inputs, 'dy', kernel);
  const info = depthwiseInfo(kernel, x.shape as Shape4, attrs.filterShape, attrs);
  assertDyShape(dy, info.outShape, kernel);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { outChannels: CO, filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const { dilationHeight: DH, dilationWidth: DW } = info;
  const M = CO / CI;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const xv = readF32(backend, x);
  const dyv = readF32(backend, dy);
  const dw = new Float32Array(FH * FW * CO);

  for (let fh = 0; fh < FH; fh++) {
    for (let fw = 0; fw < FW; fw++) {
      const [owLo, owHi] = validRange(OW, SW, fw * DW - padLeft, W);
      const wOff = (fh * FW + fw) * CO;
      for (let b = 0; b < B; b++) {
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * SH + fh * DH - padTop;
          if (ih < 0 || ih >= H) continue;
          const xRow = (b * H + ih) * W;
          const dyRow = (b * OH + oh) * OW;
          for (let ow = owLo; ow < owHi; ow++) {
            const iw = ow * SW + fw * DW - padLeft;
            const xOff = (xRow + iw) * CI;
            const dyOff = (dyRow + ow) * CO;
            if (M === 1) {
              for (let c = 0; c < CO; c++) dw[wOff + c] += xv[xOff + c] * dyv[dyOff + c];
            } else {
              for (let ci = 0, j = 0; ci < CI; ci++) {
                const xval = xv[xOff + ci];
                for (let m = 0; m < M; m++, j++) dw[wOff + j] += xval * dyv[dyOff + j];
              }
            }
          }
        }
      }
    }
  }
  return backend.makeOutput([...attrs.filterShape], 'float32', undefined, dw);
}

/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend.
 *
 * Inputs dy [B,OH,OW,Ci·M], filter [FH,FW,Ci,M]; attrs strides, pad, dilations, dimRoundingMode,
 * inputShape [B,H,W,Ci]. Output dx [B,H,W,Ci]:
 *
 *   dx[b,ih,iw,ci] = Σ_{fh,fw,m; oh·sh + fh·dh − padTop = ih, ow·sw + fw·dw − padLeft = iw} W[fh,fw,ci,m] · dy[b,oh,ow,ci·M + m]
 *
 * Computed by scattering each dy entry through the filter taps (direct loops in JS).
 */
function depthwiseConv2dNativeBackpropInputWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): TensorInfo {
  const kernel = 'DepthwiseConv2dNativeBackpropInput';
  const backend = args.backend as BackendWasm;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | [number, number];
    pad: Pad;
    dilations?: number | [number, number];
    dimRoundingMode?: Rounding;
    inputShape: Shape4;
  };
  const dy = rank4F32Input(args.inputs, 'dy', kernel);
  const filter = rank4F32Input(args.inputs, 'filter', kernel);
  const info = depthwiseInfo(kernel, attrs.inputShape, filter.shape as Shape4, attrs);
  assertDyShape(dy, info.outShape, kernel);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { outChannels: CO, filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const { dilationHeight: DH, dilationWidth: DW } = info;
  const M = CO / CI;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  const wv = readF32(backend, filter);
  const dyv = readF32(backend, dy);
  const dx = new Float32Array(B * H * W * CI);

  for (let fh = 0; fh < FH; fh++) {
    for (let fw = 0; fw < FW; fw++) {
      const [owLo, owHi] = validRange(OW, SW, fw * DW - padLeft, W);
      const wOff = (fh * FW + fw) * CO;
      for (let b = 0; b < B; b++) {
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * SH + fh * DH - padTop;
          if (ih < 0 || ih >= H) continue;
          const xRow = (b * H + ih) * W;
          const dyRow = (b * OH + oh) * OW;
          for (let ow = owLo; ow < owHi; ow++) {
            const iw = ow * SW + fw * DW - padLeft;
            const xOff = (xRow + iw) * CI;
            const dyOff = (dyRow + ow) * CO;
            if (M === 1) {
              for (let c = 0; c < CO; c++) dx[xOff + c] += wv[wOff + c] * dyv[dyOff + c];
            } else {
              for (let ci = 0, j = 0; ci < CI; ci++) {
                let s = 0;
                for (let m = 0; m < M; m++, j++) s += wv[wOff + j] * dyv[dyOff + j];
                dx[xOff + ci] += s;
              }
            }
          }
        }
      }
    }
  }
  return backend.makeOutput([...attrs.inputShape], 'float32', undefined, dx);
}

/**
 * Registers Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput for the 'wasm' backend so that conv nets can be trained on it.
 *
 * Idempotent: a kernel already registered for 'wasm' (by an earlier call, or by a future
 * tfjs-backend-wasm release that ships its own) is left alone. May be called before or after
 * `tf.setBackend('wasm')`; kernels are looked up at dispatch time.
 */
export function registerWasmConvGradKernels(): void {
  const kernels: Array<[string, tf.KernelFunc]> = [
    ['Conv2DBackpropFilter', conv2DBackpropFilterWasm],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseConv2dNativeBackpropFilterWasm],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseConv2dNativeBackpropInputWasm],
  ];
  const registered = new Set(tf.getKernelsForBackend(BACKEND).map((k) => k.kernelName));
  for (const [kernelName, kernelFunc] of kernels) {
    if (registered.has(kernelName)) continue;
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  }
}
