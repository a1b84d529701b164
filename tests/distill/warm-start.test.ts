import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBuiltin } from '../../src/stages/prepare.js';
import { sampleTeacher } from '../../src/stages/sample.js';
import { SEARCH_ARCH_WEIGHTS, searchStructure, searchedStudent } from '../../src/stages/search.js';
import { searchConfigFrom } from '../../src/stages/search-config.js';
import { distillStudent } from '../../src/stages/distill.js';
import { distillConfigFrom } from '../../src/stages/distill-config.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

let dir: string;
let opts: { dataDir: string; runsDir: string };

const floats = async (file: string) => {
  const b = await fs.readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('bdk-warm-');
  opts = { dataDir: path.join(dir, 'datasets'), runsDir: path.join(dir, 'checkpoints') };
  await prepareBuiltin('boston', { targetTransform: 'log' }, { dir: opts.dataDir });
  await searchStructure(
    searchConfigFrom({
      dataset: 'boston',
      objective: 'labels',
      epochs: 2,
      batchSize: 32,
      trainRows: 64,
      widths: [10, 25],
    }),
    { ...opts, run: 'searched' },
  );
  await sampleTeacher(
    {
      dataset: 'boston',
      split: 0,
      trainOn: 'train',
      arch: 'linear',
      sampler: 'sgld',
      dropoutRate: 0.05,
      samples: 2,
      burnIn: 200,
      thin: 10,
      stepSize: 1e-4,
      schedule: { kind: 'constant' },
      batchSize: 32,
      chains: 1,
      seed: 1,
      priorPrecision: 1,
      temperature: 1,
      noisePrecision: null,
      noisePrior: { shape: 6, rate: 6 },
      friction: 0.05,
      rmsDecay: 0.99,
      rmsEpsilon: 1e-5,
    },
    { ...opts, run: 'teacher' },
  );
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const distill = (run: string, from: { arch: string; initialWeights?: string }) =>
  distillStudent(distillConfigFrom({ teacher: 'teacher', ...from, epochs: 1, learningRate: 1e-9, seed: 2 }), {
    ...opts,
    run,
  });

describe('warm start from the search', () => {
  it('the student starts from the search’s exported weights; --from-scratch does not', async () => {
    const warm = await searchedStudent('searched', opts.runsDir);
    expect(warm.initialWeights).toBe(path.join(opts.runsDir, 'searched', SEARCH_ARCH_WEIGHTS));
    const scratch = await searchedStudent('searched', opts.runsDir, false);
    expect(scratch).toEqual({ arch: warm.arch });
    const initial = await floats(warm.initialWeights!);
    const a = await distill('warm', warm);
    const b = await distill('scratch', scratch);
    expect(a.summary!.parameterCount).toBe(initial.length);
    // One epoch at a learning rate of 1e-9 leaves the weights where they started.
    const wa = await floats(path.join(a.runDir, 'student.weights.bin'));
    const wb = await floats(path.join(b.runDir, 'student.weights.bin'));
    let warmGap = 0;
    let scratchGap = 0;
    initial.forEach((w, i) => {
      warmGap = Math.max(warmGap, Math.abs(wa[i] - w));
      scratchGap = Math.max(scratchGap, Math.abs(wb[i] - w));
    });
    expect(warmGap).toBeLessThan(1e-6);
    expect(scratchGap).toBeGreaterThan(0.1);
    const stored = JSON.parse(await fs.readFile(path.join(a.runDir, 'distill-config.json'), 'utf8'));
    expect(stored.initialWeights).toBe(warm.initialWeights);
  });

  it('initial weights of the wrong size are a one-line error naming the file and the sizes', async () => {
    const { arch } = await searchedStudent('searched', opts.runsDir);
    const bad = path.join(dir, 'bad.bin');
    await fs.writeFile(bad, Buffer.alloc(12));
    const spec = JSON.parse(await fs.readFile(arch, 'utf8'));
    const n = (await floats(path.join(opts.runsDir, 'searched', SEARCH_ARCH_WEIGHTS))).length;
    await expect(distill('bad', { arch, initialWeights: bad })).rejects.toThrow(
      `${bad}: 12 bytes, but architecture '${spec.name}' needs ${n} float32 weights (${4 * n} bytes)`,
    );
  });

  it('bdk distill: --from-scratch needs --arch-from', () => {
    const r = bdk(['distill', '--teacher', 'teacher', '--run', 'x', '--from-scratch'], {
      BDK_DATA_DIR: opts.dataDir,
      BDK_RUNS_DIR: opts.runsDir,
    });
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe('bdk: --from-scratch needs --arch-from RUN');
  });
});
