import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  addGaussianNoise,
  builtinOodImages,
  parseOod,
  parseShift,
  pixelScalingOf,
  rotateImages,
  rotateStoredImages,
} from '../../src/eval/image-shift.js';

/** Pixels divided by `scale` after subtracting `offset`, at every position of an image of `size` values. */
const uniform = (offset: number, scale: number, size: number) =>
  pixelScalingOf({ kind: 'scale', offset, scale }, size);

function randomImages(rows: number, shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * shape[0] * shape[1] * shape[2] }, () => rng.uniform());
}

describe('rotateImages', () => {
  const shape = [5, 5, 2];
  const x = randomImages(3, shape, 1);

  it('by 0° is the identity', () => {
    expect(rotateImages(x, shape, 0)).toEqual(x);
    expect(rotateImages(x, shape, 360)).toEqual(x);
  });

  it('by 90° is a transpose and flip on a square image: out[r][c] = in[c][w−1−r]', () => {
    const out = rotateImages(x, shape, 90);
    const [h, w, c] = shape;
    for (let i = 0; i < 3; i++)
      for (let r = 0; r < h; r++)
        for (let col = 0; col < w; col++)
          for (let ch = 0; ch < c; ch++)
            expect(out[i * h * w * c + (r * w + col) * c + ch]).toBe(
              x[i * h * w * c + (col * w + (w - 1 - r)) * c + ch],
            );
    // Even size (the centre between pixels): four quarter turns are the identity.
    const s4 = [4, 4, 1];
    const y = randomImages(2, s4, 2);
    let z = y;
    for (let k = 0; k < 4; k++) z = rotateImages(z, s4, 90);
    expect(z).toEqual(y);
  });

  it('by 180° twice is the identity, and −90° undoes 90°', () => {
    expect(rotateImages(rotateImages(x, shape, 180), shape, 180)).toEqual(x);
    expect(rotateImages(rotateImages(x, shape, 90), shape, -90)).toEqual(x);
  });

  it('interpolates bilinearly and fills outside with the fill value', () => {
    // A 2×2 image rotated by 45°: every output pixel centre lands at distance √½ from the centre on an
    // axis, i.e. halfway between two input pixels on the image edge line, with half its weight outside.
    const img = Float32Array.of(1, 2, 3, 4);
    const out = rotateImages(img, [2, 2, 1], 45, 10);
    const d = Math.SQRT1_2; // the source point is (±d, 0) or (0, ±d) from the centre (0.5, 0.5)
    const f = 0.5 + d - 1; // fraction past the last pixel centre
    // Output (0,0): X=−½, Y=½ → source X = 0, Y = √½ → column 0.5, row 0.5 − √½ (above row 0).
    const expected0 = (1 - (1 - f)) * 10 * 0.5 * 2 + (1 - f) * 0.5 * (1 + 2);
    expect(out[0]).toBeCloseTo(expected0, 5);
    // A 45° turn keeps a uniform image uniform where the source is inside the image.
    const flat = new Float32Array(7 * 7).fill(3);
    const big = rotateImages(flat, [7, 7, 1], 45, 3);
    for (const v of big) expect(v).toBeCloseTo(3, 6);
  });
});

describe('perturbations and OOD images', () => {
  it('Gaussian noise has the scale asked for and is seeded', () => {
    const x = new Float32Array(20000);
    const a = addGaussianNoise(x, 2, 7);
    expect(addGaussianNoise(x, 2, 7)).toEqual(a);
    const sd = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(sd).toBeGreaterThan(1.95);
    expect(sd).toBeLessThan(2.05);
    expect(addGaussianNoise(x, 0, 7)).toEqual(x);
  });

  it('invert maps stored pixel v to 255 − v under the normalization', () => {
    const pixels = uniform(0, 255, 3);
    const x = Float32Array.of(0, 1, 0.2);
    const inv = builtinOodImages('invert', x, [1, 3, 1], pixels, 0);
    expect(Array.from(inv)).toEqual([1, 0, Math.fround(0.8)].map((v) => expect.closeTo(v, 6)));
    const shifted = uniform(100, 50, 2); // stored v=0 → −2, v=255 → 3.1
    const inv2 = builtinOodImages('invert', Float32Array.of(-2, 3.1), [1, 2, 1], shifted, 0);
    expect(inv2[0]).toBeCloseTo(3.1, 5);
    expect(inv2[1]).toBeCloseTo(-2, 5);
  });

  it('permute moves pixels with their channels by one fixed permutation; noise is uniform', () => {
    const shape = [3, 3, 2];
    const x = randomImages(2, shape, 3);
    const p = builtinOodImages('permute', x, shape, uniform(0, 255, 18), 5);
    expect(builtinOodImages('permute', x, shape, uniform(0, 255, 18), 5)).toEqual(p);
    const size = 18;
    for (let i = 0; i < 2; i++) {
      const a = Array.from(x.subarray(i * size, (i + 1) * size)).sort();
      const b = Array.from(p.subarray(i * size, (i + 1) * size)).sort();
      expect(b).toEqual(a);
    }
    // The same permutation for both images: the pixel that lands at k comes from the same place.
    for (let k = 0; k < 9; k++) {
      const from = Array.from({ length: 9 }, (_, j) => j).find((j) => x[j * 2] === p[k * 2])!;
      expect(p[size + k * 2]).toBe(x[size + from * 2]);
      expect(p[k * 2 + 1]).toBe(x[from * 2 + 1]);
    }
    const noise = builtinOodImages(
      'noise',
      new Float32Array(10000),
      [100, 100, 1],
      uniform(0, 255, 10000),
      1,
    );
    expect(Math.min(...noise)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...noise)).toBeLessThan(1);
    expect(noise.reduce((s, v) => s + v, 0) / noise.length).toBeCloseTo(0.5, 1);
  });
});

describe('parsing --shift and --ood', () => {
  it('reads the kinds and values', () => {
    expect(parseShift('rotate:0,15,180')).toEqual({ kind: 'rotate', values: [0, 15, 180] });
    expect(parseShift('noise:0,0.5,2')).toEqual({ kind: 'noise', values: [0, 0.5, 2] });
    expect(parseOod('permute,invert,my-set')).toEqual(['permute', 'invert', 'my-set']);
  });
  it('refuses bad text with one-line messages', () => {
    for (const bad of ['x', 'rotate:', 'rotate:1,,2', 'blur:1', 'rotate:a'])
      expect(() => parseShift(bad)).toThrow(`--shift expects rotate:ANGLES or noise:SCALES, got '${bad}'`);
    expect(() => parseShift('noise:-1')).toThrow("--shift noise scales must be ≥ 0, got 'noise:-1'");
    expect(() => parseOod('permute,,x')).toThrow(
      "--ood expects a comma-separated list of permute, invert, noise or dataset names, got 'permute,,x'",
    );
    expect(() => parseOod('noise,noise')).toThrow("--ood names a set twice: 'noise,noise'");
  });
});

describe('images standardized per channel', () => {
  // A 4×4 RGB image: channel c's stored pixels z-scored with μ_c and σ_c (repeated at every position).
  const shape = [4, 4, 3];
  const mu = [120, 80, 30];
  const sd = [60, 40, 20];
  const pixels = pixelScalingOf(
    {
      kind: 'zscore',
      mean: Array.from({ length: 48 }, (_, j) => mu[j % 3]),
      std: Array.from({ length: 48 }, (_, j) => sd[j % 3]),
    },
    48,
  );
  const rng = new Rng(11);
  const stored = Float32Array.from({ length: 48 }, () => Math.floor(256 * rng.uniform()));
  const normalize = (v: Float32Array) => v.map((s, j) => (s - mu[j % 3]) / sd[j % 3]);
  const x = normalize(stored);

  it('rotating by 90° moves the normalized pixels as it moves the stored ones', () => {
    const got = rotateStoredImages(x, shape, 90, pixels);
    const want = normalize(rotateImages(stored, shape, 90, 0));
    for (let j = 0; j < 48; j++) expect(got[j]).toBeCloseTo(want[j], 5);
  });

  it('fills outside a 45° turn with black in each channel: −μ_c/σ_c, not 0', () => {
    const black = rotateStoredImages(
      new Float32Array(48).fill(0).map((_, j) => -mu[j % 3] / sd[j % 3]),
      shape,
      45,
      pixels,
    );
    for (let j = 0; j < 48; j++) expect(black[j]).toBeCloseTo(-mu[j % 3] / sd[j % 3], 5);
    const turned = rotateStoredImages(x, shape, 45, pixels);
    const want = normalize(rotateImages(stored, shape, 45, 0));
    for (let j = 0; j < 48; j++) expect(turned[j]).toBeCloseTo(want[j], 4);
    // The old normalized fill of 0 would be mid-grey (μ_c): the corners differ from it.
    expect(turned[0]).not.toBeCloseTo(rotateImages(x, shape, 45, 0)[0], 2);
  });

  it('inverts each stored pixel v to 255 − v in its channel', () => {
    const inv = builtinOodImages('invert', x, shape, pixels, 0);
    const want = normalize(stored.map((v) => 255 - v));
    for (let j = 0; j < 48; j++) expect(inv[j]).toBeCloseTo(want[j], 4);
  });

  it('keeps the uniform scaling of pixels / 255 bit-identical to a rotation with the normalized fill', () => {
    const u = uniform(0, 255, 48);
    const y = stored.map((v) => v / 255);
    expect(rotateStoredImages(y, shape, 30, u)).toEqual(rotateImages(y, shape, 30, 0));
  });
});
