import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmGather } from '../../src/backend/wasm-gather.js';
import { Rng } from '../../src/core/rng.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  registerWasmGather();
  registerWasmGather(); // idempotent
});

/** Runs `f` on the cpu backend (tfjs's reference kernels) and on wasm (the kernel under test). */
async function both(f: () => tf.Tensor): Promise<{ cpu: number[]; wasm: number[]; shapes: number[][] }> {
  await tf.setBackend('cpu');
  const c = f();
  const cpu = Array.from(c.dataSync());
  const cShape = c.shape;
  c.dispose();
  await tf.setBackend('wasm');
  const w = f();
  const wasm = Array.from(w.dataSync());
  const shapes = [cShape, w.shape];
  w.dispose();
  return { cpu, wasm, shapes };
}

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  new Rng(seed).fillStandardNormal32(a);
  return a;
}

describe('wasm GatherV2 (slice copies)', () => {
  const cases: {
    name: string;
    shape: number[];
    idx: number[];
    idxShape?: number[];
    axis: number;
    batchDims?: number;
  }[] = [
    {
      name: 'minibatch rows of images (axis 0, rank 4)',
      shape: [50, 4, 5, 1],
      idx: [3, 49, 0, 3, 17],
      axis: 0,
    },
    { name: 'targets (slices of one element)', shape: [50], idx: [7, 7, 2, 49], axis: 0 },
    { name: 'a middle axis', shape: [3, 6, 20], idx: [5, 0, 2], axis: 1 },
    { name: 'the last axis', shape: [4, 9], idx: [8, 1, 1, 0, 4], axis: 1 },
    { name: '2-D indices', shape: [10, 18], idx: [1, 2, 3, 9, 8, 7], idxShape: [2, 3], axis: 0 },
    {
      name: 'batchDims 1',
      shape: [3, 7, 20],
      idx: [0, 6, 1, 2, 5, 5],
      idxShape: [3, 2],
      axis: 1,
      batchDims: 1,
    },
  ];
  for (const c of cases)
    it(`equals tfjs's gather: ${c.name}`, async () => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const x = values(n, n);
      const r = await both(() =>
        tf.tidy(() =>
          tf.gather(
            tf.tensor(x, c.shape),
            tf.tensor(c.idx, c.idxShape ?? [c.idx.length], 'int32'),
            c.axis,
            c.batchDims ?? 0,
          ),
        ),
      );
      expect(r.shapes[1]).toEqual(r.shapes[0]);
      expect(r.wasm).toEqual(r.cpu);
    });

  it('gathers int32 and bool tensors', async () => {
    const ints = await both(() => tf.tidy(() => tf.gather(tf.tensor1d([5, -3, 9, 12], 'int32'), [3, 0, 0])));
    expect(ints.wasm).toEqual([12, 5, 5]);
    const bools = await both(() =>
      tf.tidy(() => tf.gather(tf.tensor2d([true, false, false, true, true, false], [3, 2], 'bool'), [2, 1])),
    );
    expect(bools.wasm).toEqual(bools.cpu);
  });

  it('is the kernel in use, and keeps the index error', () => {
    expect(tf.getKernel('GatherV2', 'wasm')?.kernelFunc.name).toBe('gatherV2Wasm');
    expect(() => tf.gather(tf.ones([3, 2]), [3])).toThrow('GatherV2: the index value 3 is not in [0, 2]');
  });
});
