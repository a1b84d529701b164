import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  augmentBatch,
  checkAugmentation,
  cropImage,
  flipHorizontal,
  padImage,
  shiftCropFlip,
} from '../../src/data/augment.js';

const SHAPE = [5, 6, 3];
const D = 5 * 6 * 3;

function image(seed: number, n = D): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

describe('image augmentation', () => {
  it('mirrors left-right, and mirroring twice is the identity', () => {
    const img = image(1);
    const once = flipHorizontal(img, SHAPE);
    // Pixel (y=2, x=1) channel 2 goes to x = W−1−1 = 4.
    expect(once[(2 * 6 + 4) * 3 + 2]).toBe(img[(2 * 6 + 1) * 3 + 2]);
    expect(once).not.toEqual(img);
    expect(flipHorizontal(once, SHAPE)).toEqual(img);
  });

  it('crops the padded image: the zero shift is its centre, the original image', () => {
    const img = image(2);
    const padded = padImage(img, SHAPE, 4);
    expect(padded.length).toBe(13 * 14 * 3);
    expect(padded[0]).toBe(0);
    expect(cropImage(padded, [13, 14, 3], 4, 4, 5, 6)).toEqual(img);
    expect(shiftCropFlip(img, SHAPE, { dy: 0, dx: 0, flip: false })).toEqual(img);
  });

  it('equals crop-of-padded (then mirror) for every shift', () => {
    const img = image(3);
    const padded = padImage(img, SHAPE, 4);
    for (let dy = -4; dy <= 4; dy++)
      for (let dx = -4; dx <= 4; dx++)
        for (const flip of [false, true]) {
          const window = cropImage(padded, [13, 14, 3], 4 + dy, 4 + dx, 5, 6);
          const expected = flip ? flipHorizontal(window, SHAPE) : window;
          expect(shiftCropFlip(img, SHAPE, { dy, dx, flip })).toEqual(expected);
        }
  });

  it('draws the same crops and mirrors from the same seed, and others from another', () => {
    const batch = image(4, 8 * D);
    const a = batch.slice();
    const b = batch.slice();
    const c = batch.slice();
    augmentBatch(a, 8, SHAPE, 'crop-flip', new Rng(9));
    augmentBatch(b, 8, SHAPE, 'crop-flip', new Rng(9));
    augmentBatch(c, 8, SHAPE, 'crop-flip', new Rng(10));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(batch);
    const untouched = batch.slice();
    const rng = new Rng(9);
    augmentBatch(untouched, 8, SHAPE, 'none', rng);
    expect(untouched).toEqual(batch);
    expect(rng.state()).toEqual(new Rng(9).state()); // `none` draws nothing
  });

  it('needs image data', () => {
    expect(() => checkAugmentation('crop-flip', [13], '--augment')).toThrow(
      "--augment crop-flip needs image data [height, width, channels]; this dataset's examples have shape [13]",
    );
    expect(() => checkAugmentation('crop-flip', [32, 32, 3], '--augment')).not.toThrow();
  });
});
