import { describe, expect, it } from 'vitest';
import { backendRequest } from '../../src/demo/page/backend-choice.js';
import { defaultInputs } from '../../src/demo/page/defaults.js';
import { liveUpdater } from '../../src/demo/page/live.js';
import {
  centreOfMass,
  frameLikeMnist,
  inkBox,
  modelPixels,
  resampleArea,
  rgbaToGray,
  type Gray,
} from '../../src/demo/page/pixels.js';
import { parseManifest } from '../../src/runtime/manifest.js';
import { standardizeRows } from '../../src/runtime/inputs.js';

/** The demo page's pure logic: canvas pixels → the model's input, the backend query, live updates. */
const gray = (w: number, h: number, at: (x: number, y: number) => number): Gray => ({
  w,
  h,
  data: Float32Array.from({ length: w * h }, (_, i) => at(i % w, Math.floor(i / w))),
});
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

describe('canvas pixels', () => {
  it('rgbaToGray: luminance of opaque pixels, transparent ones as black', () => {
    const rgba = Uint8ClampedArray.from([
      255, 255, 255, 255, 255, 0, 0, 255, 0, 0, 255, 255, 255, 255, 255, 0,
    ]);
    expect(Array.from(rgbaToGray(rgba, 2, 2).data)).toEqual(
      [255, 0.299 * 255, 0.114 * 255, 0].map((v) => Math.fround(v)),
    );
    expect(() => rgbaToGray(rgba, 3, 2)).toThrow('rgbaToGray: 16 bytes for a 3×2 image');
  });

  it('resampleArea: exact area means (a 3×3 image onto 2×2 by hand), and the ink is conserved', () => {
    const src = gray(3, 3, (x, y) => (x === 2 || y === 2 ? 9 : 0));
    const out = resampleArea(src, { x0: 0, y0: 0, x1: 3, y1: 3 }, 2, 2);
    // Each output pixel covers 1.5 × 1.5 source pixels: (1·½·9 + 1·1·9)/2.25 = 6, (½·9 + ½·9 + 9)/2.25 = 8.
    expect(Array.from(out.data)).toEqual([0, 6, 6, 8]);
    expect(sum(out.data) * 2.25).toBeCloseTo(sum(src.data), 10);
    // Upsampling repeats a pixel.
    expect(
      Array.from(
        resampleArea(
          gray(1, 1, () => 7),
          { x0: 0, y0: 0, x1: 1, y1: 1 },
          2,
          2,
        ).data,
      ),
    ).toEqual([7, 7, 7, 7]);
  });

  it('a 280×280 canvas downsamples to 28×28 by 10×10 block means, in [0, 255]', () => {
    const canvas = gray(280, 280, (x, y) => (x < 140 ? 255 : y < 5 ? 255 : 0));
    const px = modelPixels(canvas, [28, 28, 1], false);
    expect(px).toHaveLength(784);
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) expect(px[y * 28 + x]).toBe(x < 14 ? 255 : y === 0 ? 127.5 : 0);
  });

  it('inkBox and centreOfMass', () => {
    const img = gray(5, 4, (x, y) => (x >= 1 && x <= 2 && y === 3 ? 10 : 0));
    expect(inkBox(img)).toEqual({ x0: 1, y0: 3, x1: 3, y1: 4 });
    expect(centreOfMass(img)).toEqual({ x: 2, y: 3.5 });
    expect(inkBox(gray(3, 3, () => 0))).toBeNull();
    expect(centreOfMass(gray(3, 3, () => 0))).toBeNull();
  });

  it("frameLikeMnist: the ink's box scaled to fit 20×20, aspect kept, its centre of mass on the centre", () => {
    // A 40×10 bar in the canvas's corner becomes a 20×5 bar of full ink in the middle of 28×28.
    const canvas = gray(280, 280, (x, y) => (x >= 3 && x < 43 && y >= 7 && y < 17 ? 255 : 0));
    const img = frameLikeMnist(canvas, 28, 28, 20);
    const box = inkBox(img)!;
    expect([box.x1 - box.x0, box.y1 - box.y0]).toEqual([20, 5]);
    expect(sum(img.data)).toBeCloseTo(255 * 20 * 5, 6);
    const c = centreOfMass(img)!;
    expect(Math.abs(c.x - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(c.y - 14)).toBeLessThanOrEqual(0.5);
    // A blank drawing stays blank; modelPixels frames with a 20/28 box.
    expect(
      sum(
        frameLikeMnist(
          gray(10, 10, () => 0),
          28,
          28,
          20,
        ).data,
      ),
    ).toBe(0);
    expect(Array.from(modelPixels(canvas, [28, 28, 1], true))).toEqual(Array.from(img.data));
  });

  it('modelPixels repeats the gray over the channels of an RGB model', () => {
    const px = modelPixels(
      gray(4, 4, (x) => 60 * x),
      [2, 2, 3],
      false,
    );
    expect(Array.from(px)).toEqual([30, 30, 30, 150, 150, 150, 30, 30, 30, 150, 150, 150]);
  });

  it('the page feeds raw pixels in [0, 255], which an image export maps to [0, 1] as MNIST was trained', () => {
    // bdk's image datasets store uint8 pixels (MNIST: 0 background, 255 ink) and an image export
    // records standardization { kind: scale, offset: 0, scale: 255 } (src/data/splits.ts).
    const m = parseManifest(
      JSON.stringify({
        format: 'bdk-export',
        version: 1,
        task: 'classification',
        features: ['pixels'],
        featureCount: 4,
        imageShape: [2, 2, 1],
        target: 'label',
        classNames: ['0', '1'],
        standardization: { features: { kind: 'scale', offset: 0, scale: 255 }, target: null },
        outputs: 'logits',
        temperature: 1,
        quantization: 'none',
      }),
      'bdk.json',
    );
    const px = modelPixels(
      gray(4, 4, (x) => (x < 2 ? 255 : 0)),
      [2, 2, 1],
      false,
    );
    expect(Array.from(standardizeRows(px, m).x)).toEqual([1, 0, 1, 0]);
  });
});

describe('the page', () => {
  it('backendRequest: ?backend= names one backend; none (or auto) tries wasm, webgl, cpu', () => {
    expect(backendRequest('')).toEqual({ candidates: ['wasm', 'webgl', 'cpu'], explicit: false });
    expect(backendRequest('?backend=auto')).toEqual({
      candidates: ['wasm', 'webgl', 'cpu'],
      explicit: false,
    });
    expect(backendRequest('?x=1&backend=webgl')).toEqual({ candidates: ['webgl'], explicit: true });
    expect(() => backendRequest('?backend=gpu')).toThrow(
      "unknown backend 'gpu' in ?backend=: expected one of wasm, webgl, cpu",
    );
  });

  it('defaultInputs: the training means to 4 significant digits, else 0', () => {
    const base = { features: ['a', 'b'], featureCount: 2 };
    const z = { kind: 'zscore' as const, mean: [3.422831, 408.6016], std: [1, 1] };
    expect(defaultInputs({ ...base, standardization: { features: z } } as never)).toEqual([3.423, 408.6]);
    const s = { kind: 'scale' as const, offset: 0, scale: 1 };
    expect(defaultInputs({ ...base, standardization: { features: s } } as never)).toEqual([0, 0]);
  });

  it('liveUpdater: one run queued behind the running one, reading the latest input; settled waits for both', async () => {
    let input = 0;
    const seen: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const live = liveUpdater(async () => {
      const v = input;
      if (seen.length === 0) await gate;
      seen.push(v);
    });
    live.schedule();
    live.schedule(); // coalesced with the first: it has not started yet
    await Promise.resolve();
    await Promise.resolve();
    input = 1;
    live.schedule();
    input = 2;
    live.schedule(); // coalesced with the queued one, which will read 3
    input = 3;
    const done = live.settled();
    release();
    await done;
    expect(seen).toEqual([0, 3]);
  });
});
