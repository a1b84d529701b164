/**
 * Weight quantization in the formats tfjs decodes when it loads a model (weight spec
 * `quantization: { dtype: 'float16' }` or `{ dtype: 'uint8', scale, min }`), so quantized exports are
 * ordinary tfjs models that load at a half or a quarter of the size.
 */
export type Quantization = 'none' | 'float16' | 'uint8';

export { encodeFloat16, float16Bits } from '../core/float16.js';

/** Affine uint8 quantization of one tensor: v ≈ q·scale + min, q = round((v − min)/scale). */
export function encodeUint8(values: Float32Array): { data: Uint8Array; scale: number; min: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min)) {
    min = 0;
    max = 0;
  }
  const scale = max > min ? (max - min) / 255 : 1;
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.round((values[i] - min) / scale);
  return { data, scale, min };
}
