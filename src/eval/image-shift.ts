import { UserError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

/**
 * Shifted and out-of-distribution inputs for `bdk evaluate --shift` and `--ood` (docs/design.md §4.7),
 * made from the test rows as the models see them (normalized): rotated images, tabular inputs with
 * Gaussian noise, and the built-in OOD image sets (a fixed pixel permutation, inverted images, uniform
 * noise). They are used only to evaluate, never to train or to choose settings.
 */

/** A `--shift` setting: rotation angles in degrees (images) or noise scales in standard deviations (tabular). */
export interface ShiftSpec {
  kind: 'rotate' | 'noise';
  values: number[];
}

/** The built-in OOD image sets; any other `--ood` name is a prepared dataset. */
export const BUILTIN_OOD = ['permute', 'invert', 'noise'] as const;

/** Parses `rotate:0,15,30` or `noise:0,1,2` (one-line UserError otherwise). */
export function parseShift(text: string): ShiftSpec {
  const bad = () => new UserError(`--shift expects rotate:ANGLES or noise:SCALES, got '${text}'`);
  const m = /^(rotate|noise):(.+)$/.exec(text.trim());
  if (!m) throw bad();
  const values = m[2].split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (values.some((v) => !Number.isFinite(v))) throw bad();
  if (m[1] === 'noise' && values.some((v) => v < 0))
    throw new UserError(`--shift noise scales must be ≥ 0, got '${text}'`);
  return { kind: m[1] as ShiftSpec['kind'], values };
}

/** Parses `permute,invert,noise,<dataset>`: a list of distinct non-empty names. */
export function parseOod(text: string): string[] {
  const names = text.split(',').map((s) => s.trim());
  if (!names.length || names.some((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s)))
    throw new UserError(
      `--ood expects a comma-separated list of permute, invert, noise or dataset names, got '${text}'`,
    );
  if (new Set(names).size !== names.length) throw new UserError(`--ood names a set twice: '${text}'`);
  return names;
}

/** cos and sin of an angle in degrees, exact for multiples of 90°. */
function cosSin(degrees: number): [number, number] {
  const d = ((degrees % 360) + 360) % 360;
  if (d === 0) return [1, 0];
  if (d === 90) return [0, 1];
  if (d === 180) return [-1, 0];
  if (d === 270) return [0, -1];
  const t = (d * Math.PI) / 180;
  return [Math.cos(t), Math.sin(t)];
}

/**
 * Each image of `x` (rows × h·w·c, row-major HWC) rotated counter-clockwise (as displayed, row 0 at
 * the top) by `degrees` about the image centre ((w−1)/2, (h−1)/2) in pixel-centre coordinates: each
 * output pixel takes the bilinear interpolation of the input at the inversely rotated position, with
 * `fill` (the normalized value of a black pixel) outside the image. A multiple of 90° lands on pixel
 * centres and so is an exact permutation of the pixels (at 90°, out[r][c] = in[c][w−1−r] on a square).
 */
export function rotateImages(
  x: Float32Array,
  shape: readonly number[],
  degrees: number,
  fill = 0,
): Float32Array {
  const [h, w, c] = shape;
  const size = h * w * c;
  const rows = x.length / size;
  const out = new Float32Array(x.length);
  const [cos, sin] = cosSin(degrees);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  // Source position of each output pixel, shared by every image and channel.
  const r0 = new Int32Array(h * w);
  const c0 = new Int32Array(h * w);
  const fr = new Float64Array(h * w);
  const fc = new Float64Array(h * w);
  for (let r = 0; r < h; r++)
    for (let col = 0; col < w; col++) {
      const X = col - cx;
      const Y = cy - r;
      const sc = X * cos + Y * sin + cx;
      const sr = cy - (-X * sin + Y * cos);
      const k = r * w + col;
      r0[k] = Math.floor(sr);
      c0[k] = Math.floor(sc);
      fr[k] = sr - r0[k];
      fc[k] = sc - c0[k];
    }
  const at = (base: number, r: number, col: number, ch: number) =>
    r >= 0 && r < h && col >= 0 && col < w ? x[base + (r * w + col) * c + ch] : fill;
  for (let i = 0; i < rows; i++) {
    const base = i * size;
    for (let k = 0; k < h * w; k++) {
      const a = fr[k];
      const b = fc[k];
      const r = r0[k];
      const col = c0[k];
      for (let ch = 0; ch < c; ch++) {
        // Terms of zero weight are skipped, so pixel-centre positions copy the value exactly.
        let v = (1 - a) * (1 - b) * at(base, r, col, ch);
        if (b > 0) v += (1 - a) * b * at(base, r, col + 1, ch);
        if (a > 0) v += a * (1 - b) * at(base, r + 1, col, ch);
        if (a > 0 && b > 0) v += a * b * at(base, r + 1, col + 1, ch);
        out[base + k * c + ch] = v;
      }
    }
  }
  return out;
}

/** `x` plus independent N(0, scale²) noise on every value (standardized units), from `Rng(seed)`. */
export function addGaussianNoise(x: Float32Array, scale: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + scale * rng.normal();
  return out;
}

/**
 * How normalized pixels relate to the stored uint8 ones at each position j of an image (HWC order):
 * x′ = (x − offset[j])/scale[j]. Pixels divided by 255 have one offset and scale for every position; a
 * per-channel z-score has its channel's mean and standard deviation at every position of the channel.
 */
export interface PixelScaling {
  offset: ArrayLike<number>;
  scale: ArrayLike<number>;
}

/** A split's feature scaling as a `PixelScaling` over images of `size` = h·w·c values. */
export function pixelScalingOf(
  f: { kind: 'zscore' | 'scale'; mean?: number[]; std?: number[]; offset?: number; scale?: number },
  size: number,
): PixelScaling {
  if (f.kind === 'zscore') return { offset: f.mean!, scale: f.std! };
  return { offset: new Float64Array(size).fill(f.offset!), scale: new Float64Array(size).fill(f.scale!) };
}

/** Whether every position has the same offset and scale (then a black pixel is one normalized value). */
export function isUniform(p: PixelScaling): boolean {
  for (let j = 1; j < p.offset.length; j++)
    if (p.offset[j] !== p.offset[0] || p.scale[j] !== p.scale[0]) return false;
  return true;
}

/**
 * Normalized images rotated as their stored pixels would be: back to stored values, rotated with black
 * (0) outside, and normalized again at each output position. For a uniform scaling this is
 * `rotateImages` with the normalized black as its fill (the same values, which that call computes
 * directly); for a per-channel z-score it is the only correct form, since black differs per channel.
 */
export function rotateStoredImages(
  x: Float32Array,
  shape: readonly number[],
  degrees: number,
  pixels: PixelScaling,
): Float32Array {
  const size = shape[0] * shape[1] * shape[2];
  if (isUniform(pixels)) return rotateImages(x, shape, degrees, (0 - pixels.offset[0]) / pixels.scale[0]);
  const stored = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) stored[j] = x[j] * pixels.scale[j % size] + pixels.offset[j % size];
  const turned = rotateImages(stored, shape, degrees, 0);
  for (let j = 0; j < x.length; j++)
    turned[j] = (turned[j] - pixels.offset[j % size]) / pixels.scale[j % size];
  return turned;
}

/**
 * A built-in OOD image set made from the test images `x` (normalized, rows × h·w·c): `permute` moves
 * every image's pixels (with their channels) by one fixed permutation drawn from `Rng(seed)`, `invert`
 * maps each stored pixel value v to 255 − v, `noise` draws every pixel uniformly from [0, 255] (as
 * many images as `x` has).
 */
export function builtinOodImages(
  name: (typeof BUILTIN_OOD)[number],
  x: Float32Array,
  shape: readonly number[],
  pixels: PixelScaling,
  seed: number,
): Float32Array {
  const [h, w, c] = shape;
  const size = h * w * c;
  const rows = x.length / size;
  const out = new Float32Array(x.length);
  const rng = new Rng(seed);
  if (name === 'permute') {
    const p = rng.permutation(h * w);
    for (let i = 0; i < rows; i++)
      for (let k = 0; k < h * w; k++)
        for (let ch = 0; ch < c; ch++) out[i * size + k * c + ch] = x[i * size + p[k] * c + ch];
  } else if (name === 'invert') {
    const { offset, scale } = pixels;
    for (let j = 0; j < x.length; j++) {
      const p = j % size;
      out[j] = (255 - (x[j] * scale[p] + offset[p]) - offset[p]) / scale[p];
    }
  } else {
    for (let j = 0; j < x.length; j++)
      out[j] = (255 * rng.uniform() - pixels.offset[j % size]) / pixels.scale[j % size];
  }
  return out;
}
