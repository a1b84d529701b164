import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { inlineDraws, prefetchedDraws, type DrawLayout } from '../../src/teacher/step-draws.js';
import { ROOT } from '../helpers.js';

// Three chains, minibatches of 5 from 40 rows, two noise blocks (sizes 7 and 2) in the
// parameter-major layout: block 0 at [0, 21), block 1 at [21, 27).
const layout: DrawLayout = {
  chains: 3,
  batch: 5,
  dataSize: 40,
  fullBatch: false,
  blocks: [
    { offset: 0, size: 7 },
    { offset: 21, size: 2 },
  ],
  noiseLength: 27,
};
const seeds = [11, 12, 13];

/** What one chain draws at one step, straight from its generator: indices, then each block's noise. */
function expected(rngs: Rng[]) {
  const idx: number[] = [];
  const noise = new Float32Array(layout.noiseLength);
  rngs.forEach((r, c) => {
    for (let j = 0; j < layout.batch; j++) idx.push(r.int(layout.dataSize));
    for (const b of layout.blocks)
      r.fillStandardNormal32(noise.subarray(b.offset + c * b.size, b.offset + (c + 1) * b.size));
  });
  return { idx, noise: Array.from(noise), states: rngs.map((r) => r.state()) };
}

function take(d: { idx: Int32Array; noise: Float32Array; states: number[][] }) {
  return { idx: Array.from(d.idx), noise: Array.from(d.noise), states: d.states };
}

describe('step draws', () => {
  it('inline: each chain its indices then its noise, block by block, from its own stream', () => {
    const src = inlineDraws(
      seeds.map((s) => new Rng(s).state()),
      layout,
    );
    const ref = seeds.map((s) => new Rng(s));
    for (let step = 0; step < 4; step++) expect(take(src.next())).toEqual(expected(ref));
    expect(src.prefetching).toBe(false);
  });

  it('a worker thread drawing one step ahead gives the same draws and generator states', () => {
    // The compiled worker (the tests' global setup builds dist/).
    const workerFile = pathToFileURL(path.join(ROOT, 'dist/teacher/step-draws-worker.js'));
    const src = prefetchedDraws(
      seeds.map((s) => new Rng(s).state()),
      layout,
      { force: true, workerFile },
    );
    expect(src.prefetching).toBe(true);
    const ref = seeds.map((s) => new Rng(s));
    try {
      for (let step = 0; step < 50; step++) expect(take(src.next())).toEqual(expected(ref));
    } finally {
      src.close();
    }
  });

  it('small steps are drawn inline; so is everything with BDK_DRAW_WORKER=0', () => {
    const workerFile = pathToFileURL(path.join(ROOT, 'dist/teacher/step-draws-worker.js'));
    const states = seeds.map((s) => new Rng(s).state());
    expect(prefetchedDraws(states, layout, { workerFile }).prefetching).toBe(false);
    const saved = process.env.BDK_DRAW_WORKER;
    process.env.BDK_DRAW_WORKER = '0';
    try {
      expect(prefetchedDraws(states, layout, { workerFile, force: true }).prefetching).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.BDK_DRAW_WORKER;
      else process.env.BDK_DRAW_WORKER = saved;
    }
  });
});
