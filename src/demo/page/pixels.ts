/**
 * From a drawing canvas to an image model's input: pure functions on pixel arrays (no DOM), so they run
 * and are tested in Node. bdk's image datasets store uint8 pixels (MNIST: 0 = background, 255 = ink) and
 * an image export's standardization divides by 255 itself, so the model's raw input is [0, 255]: the
 * functions keep that range.
 */

/** A grayscale image: `h × w` values in [0, 255], row-major. */
export interface Gray {
  data: Float32Array;
  w: number;
  h: number;
}

/** A rectangle in continuous pixel coordinates: pixel (x, y) covers [x, x + 1) × [y, y + 1). */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The luminance (0.299 R + 0.587 G + 0.114 B) of canvas RGBA bytes, alpha-composited over black. */
export function rgbaToGray(rgba: Uint8ClampedArray | Uint8Array, w: number, h: number): Gray {
  if (rgba.length !== 4 * w * h) throw new Error(`rgbaToGray: ${rgba.length} bytes for a ${w}×${h} image`);
  const data = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const a = rgba[4 * i + 3] / 255;
    data[i] = a * (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
  }
  return { data, w, h };
}

/**
 * Area resampling: the part `from` of `src` onto a `w × h` image, each output pixel the exact mean of the
 * source area it covers (fractional overlaps weighted). Downsampling a 280×280 canvas to 28×28 averages
 * 10×10 blocks; upsampling a small part repeats its pixels.
 */
export function resampleArea(src: Gray, from: Rect, w: number, h: number): Gray {
  const sx = (from.x1 - from.x0) / w;
  const sy = (from.y1 - from.y0) / h;
  if (!(sx > 0 && sy > 0)) throw new Error('resampleArea: empty source rectangle');
  const data = new Float32Array(w * h);
  for (let oy = 0; oy < h; oy++) {
    const ya = from.y0 + oy * sy;
    const yb = ya + sy;
    for (let ox = 0; ox < w; ox++) {
      const xa = from.x0 + ox * sx;
      const xb = xa + sx;
      let sum = 0;
      for (let y = Math.max(0, Math.floor(ya)); y < Math.min(src.h, Math.ceil(yb)); y++) {
        const wy = Math.min(yb, y + 1) - Math.max(ya, y);
        for (let x = Math.max(0, Math.floor(xa)); x < Math.min(src.w, Math.ceil(xb)); x++) {
          const wx = Math.min(xb, x + 1) - Math.max(xa, x);
          sum += wx * wy * src.data[y * src.w + x];
        }
      }
      data[oy * w + ox] = sum / (sx * sy);
    }
  }
  return { data, w, h };
}

/** The bounding box of the pixels above `threshold`, or null for a blank image. */
export function inkBox(img: Gray, threshold = 0): Rect | null {
  let x0 = img.w;
  let y0 = img.h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.h; y++)
    for (let x = 0; x < img.w; x++)
      if (img.data[y * img.w + x] > threshold) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/** The intensity-weighted centre of an image in continuous coordinates (pixel centres at i + ½). */
export function centreOfMass(img: Gray): { x: number; y: number } | null {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < img.h; y++)
    for (let x = 0; x < img.w; x++) {
      const v = img.data[y * img.w + x];
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  return m > 0 ? { x: mx / m, y: my / m } : null;
}

/**
 * MNIST's framing of a digit (LeCun et al.): the ink's bounding box scaled, aspect kept, to fit a
 * `box × box` square, then placed in a `w × h` image so that its centre of mass falls on the image's
 * centre (to the nearest whole pixel, kept inside the image). A blank drawing gives a blank image.
 */
export function frameLikeMnist(src: Gray, w: number, h: number, box: number): Gray {
  const ink = inkBox(src);
  if (!ink) return { data: new Float32Array(w * h), w, h };
  const bw = ink.x1 - ink.x0;
  const bh = ink.y1 - ink.y0;
  const s = box / Math.max(bw, bh);
  const dw = Math.max(1, Math.round(bw * s));
  const dh = Math.max(1, Math.round(bh * s));
  const digit = resampleArea(src, ink, dw, dh);
  const c = centreOfMass(digit)!;
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const ox = clamp(Math.round(w / 2 - c.x), w - dw);
  const oy = clamp(Math.round(h / 2 - c.y), h - dh);
  const data = new Float32Array(w * h);
  for (let y = 0; y < dh; y++) data.set(digit.data.subarray(y * dw, (y + 1) * dw), (oy + y) * w + ox);
  return { data, w, h };
}

/**
 * The model's input row for a drawing: `h × w × channels` values in [0, 255] in the row-major
 * height × width × channels order `predict` takes (gray repeated over 3 channels for an RGB model),
 * from the whole canvas resampled, or framed like MNIST.
 */
export function modelPixels(
  canvas: Gray,
  shape: readonly [number, number, number],
  frame: boolean,
): Float32Array {
  const [h, w, channels] = shape;
  const img = frame
    ? frameLikeMnist(canvas, w, h, Math.round((20 / 28) * Math.min(w, h)))
    : resampleArea(canvas, { x0: 0, y0: 0, x1: canvas.w, y1: canvas.h }, w, h);
  const out = new Float32Array(h * w * channels);
  for (let i = 0; i < h * w; i++) {
    const v = Math.min(255, Math.max(0, img.data[i]));
    for (let c = 0; c < channels; c++) out[i * channels + c] = v;
  }
  return out;
}
