import { describe, expect, it } from 'vitest';
import { decodeFloat16, encodeFloat16, float16Bits, float16Value } from '../../src/core/float16.js';
import { Rng } from '../../src/core/rng.js';

describe('float16 codec', () => {
  it('decodes known half values exactly', () => {
    expect(float16Value(0x3c00)).toBe(1);
    expect(float16Value(0xc000)).toBe(-2);
    expect(float16Value(0x7bff)).toBe(65504);
    expect(float16Value(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(float16Value(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(float16Value(0x0400)).toBe(2 ** -14); // smallest normal
    expect(float16Value(0x3555)).toBe(1365 / 4096); // 0.333251953125
    expect(float16Value(0x7c00)).toBe(Infinity);
    expect(float16Value(0xfc00)).toBe(-Infinity);
    expect(Object.is(float16Value(0x8000), -0)).toBe(true);
    expect(float16Value(0x7e00)).toBeNaN();
  });

  it('every non-NaN half pattern round-trips through float32 unchanged', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = encodeFloat16(decodeFloat16(all));
    let nan = 0;
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) {
        nan++;
        expect(Number.isNaN(float16Value(back[h]))).toBe(true);
      } else if (back[h] !== h) {
        throw new Error(`half 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
      }
    }
    expect(nan).toBe(2 * 1023);
  });

  it('encodes to the nearest half, ties to even', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround(rng.normal() * 2 ** Math.floor(rng.uniform() * 40 - 26));
      const h = float16Bits(x);
      const v = float16Value(h);
      // No other half is closer: compare with both neighbours of the chosen pattern.
      const mag = h & 0x7fff;
      for (const other of [mag - 1, mag + 1]) {
        if (other < 0 || other >= 0x7c00) continue;
        const o = float16Value((h & 0x8000) | other);
        expect(Math.abs(o - x)).toBeGreaterThanOrEqual(Math.abs(v - x));
        if (Math.abs(o - x) === Math.abs(v - x)) expect(h & 1).toBe(0); // a tie went to the even pattern
      }
    }
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1 + 2^-10: even (1)
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: even (1 + 2^-9)
  });

  it('decodes into a caller-supplied subarray and checks its length', () => {
    const out = new Float32Array(6).fill(7);
    decodeFloat16(new Uint16Array([0x3c00, 0xc000]), out.subarray(2, 4));
    expect(Array.from(out)).toEqual([7, 7, 1, -2, 7, 7]);
    expect(() => decodeFloat16(new Uint16Array(3), new Float32Array(2))).toThrow(
      'decodeFloat16: output length 2 differs from input length 3',
    );
  });
});
