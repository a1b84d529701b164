import { UserError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/**
 * Training-time image augmentation (docs/design.md §7.3) on standardized HWC images, row-major
 * [height, width, channels] floats. `crop-flip` is the CIFAR recipe of He et al. (2016): pad the image
 * by 4 pixels of zeros on every side (under per-channel standardization, zero is the channel's
 * training mean), crop a window of the original size at a uniformly drawn offset, and mirror it
 * left–right with probability ½. The draws come from the caller's seeded Rng, so a run is reproduced
 * exactly by its seed.
 */
export const AUGMENTATIONS = ['none', 'crop-flip'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

/** Padding of `crop-flip`, in pixels on each side. */
export const CROP_PAD = 4;

/** One draw of `crop-flip`: the window's shift from the centre (each in −pad..pad) and the mirror. */
export interface CropFlip {
  dy: number;
  dx: number;
  flip: boolean;
}

/** The left–right mirror image: out(y, x, c) = img(y, W−1−x, c). */
export function flipHorizontal(
  img: Float32Array,
  shape: number[],
  out = new Float32Array(img.length),
): Float32Array {
  const [h, w, c] = shape;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const to = (y * w + x) * c;
      const from = (y * w + (w - 1 - x)) * c;
      for (let k = 0; k < c; k++) out[to + k] = img[from + k];
    }
  return out;
}

/** The image inside a border of `pad` zeros: shape [H + 2·pad, W + 2·pad, C]. */
export function padImage(img: Float32Array, shape: number[], pad: number): Float32Array {
  const [h, w, c] = shape;
  const pw = w + 2 * pad;
  const out = new Float32Array((h + 2 * pad) * pw * c);
  for (let y = 0; y < h; y++) out.set(img.subarray(y * w * c, (y + 1) * w * c), ((y + pad) * pw + pad) * c);
  return out;
}

/** The h×w window of an image of shape [H, W, C] whose top-left corner is (top, left). */
export function cropImage(
  img: Float32Array,
  shape: number[],
  top: number,
  left: number,
  h: number,
  w: number,
): Float32Array {
  const [, width, c] = shape;
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++)
    out.set(img.subarray(((top + y) * width + left) * c, ((top + y) * width + left + w) * c), y * w * c);
  return out;
}

/**
 * `crop-flip` with a given draw, without building the padded image: out(y, x) = img(y + dy, x′ + dx)
 * with x′ = W−1−x when flipped (else x), and zero where that falls outside the image. Equal to
 * `cropImage(padImage(img, pad), pad + dy, pad + dx, H, W)`, mirrored when `flip`.
 */
export function shiftCropFlip(
  img: Float32Array,
  shape: number[],
  draw: CropFlip,
  out = new Float32Array(img.length),
): Float32Array {
  const [h, w, c] = shape;
  for (let y = 0; y < h; y++) {
    const sy = y + draw.dy;
    for (let x = 0; x < w; x++) {
      const to = (y * w + x) * c;
      const sx = (draw.flip ? w - 1 - x : x) + draw.dx;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        for (let k = 0; k < c; k++) out[to + k] = 0;
      } else {
        const from = (sy * w + sx) * c;
        for (let k = 0; k < c; k++) out[to + k] = img[from + k];
      }
    }
  }
  return out;
}

/** One `crop-flip` draw from `rng`: dy, then dx, uniform on −pad..pad, then the mirror with probability ½. */
export function drawCropFlip(rng: Rng, pad = CROP_PAD): CropFlip {
  const dy = rng.int(2 * pad + 1) - pad;
  const dx = rng.int(2 * pad + 1) - pad;
  return { dy, dx, flip: rng.uniform() < 0.5 };
}

/**
 * Augments `rows` consecutive examples of `batch` (row-major, `shape` each) in place, drawing each
 * example's crop and mirror from `rng` in row order. `none` leaves them and draws nothing.
 */
export function augmentBatch(
  batch: Float32Array,
  rows: number,
  shape: number[],
  kind: Augmentation,
  rng: Rng,
): void {
  if (kind === 'none') return;
  const d = shape[0] * shape[1] * shape[2];
  const tmp = new Float32Array(d);
  for (let r = 0; r < rows; r++) {
    const img = batch.subarray(r * d, (r + 1) * d);
    shiftCropFlip(img, shape, drawCropFlip(rng), tmp);
    img.set(tmp);
  }
}

/** An augmentation needs image examples [height, width, channels]; `where` names the flag or key. */
export function checkAugmentation(kind: Augmentation | undefined, shape: number[], where: string): void {
  if (kind && kind !== 'none' && shape.length !== 3)
    throw new UserError(
      `${where} ${kind} needs image data [height, width, channels]; this dataset's examples have shape [${shape}]`,
    );
}
