/**
 * IEEE 754 binary16 ("half", float16) encoding and decoding of float32 values: used by quantized model
 * exports and by samples files stored at half precision. Encoding rounds to nearest even; every half
 * value decodes exactly to a float32, so encode(decode(h)) === h for every non-NaN half h.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a float32 value, rounding to nearest even; overflow gives ±Infinity. */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry into the exponent is correct rounding
  return half;
}

export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i]);
  return out;
}

let table: Float32Array | undefined;

/** float32 value of every half bit pattern, built once (256 KiB). */
function decodeTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) table[h] = mant ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return table;
}

/** float32 value of one half bit pattern. */
export function float16Value(bits: number): number {
  return decodeTable()[bits & 0xffff];
}

/** Decodes half values into `out` (a new array when omitted). */
export function decodeFloat16(
  values: Uint16Array,
  out: Float32Array<ArrayBufferLike> = new Float32Array(values.length),
): Float32Array<ArrayBufferLike> {
  if (out.length !== values.length) {
    throw new RangeError(
      `decodeFloat16: output length ${out.length} differs from input length ${values.length}`,
    );
  }
  const t = decodeTable();
  for (let i = 0; i < values.length; i++) out[i] = t[values[i]];
  return out;
}
