import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import {
  CIFAR10_RECORD_BYTES,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
} from '../../src/data/sources/cifar10.js';
import { prepareBuiltin } from '../../src/stages/prepare.js';
import { sampleTeacher } from '../../src/stages/sample.js';
import { sampleConfigFrom } from '../../src/stages/sample-config.js';
import { readAllSamples } from '../../src/samples/index.js';
import { samplesFile } from '../../src/stages/teacher-shards.js';
import { distillStudent } from '../../src/stages/distill.js';
import { distillConfigFrom } from '../../src/stages/distill-config.js';
import { STUDENT_WEIGHTS } from '../../src/stages/student-run.js';
import { tempDir } from '../helpers.js';

/** `crop-flip` in the MC-dropout teacher's and the student's training minibatches: seeded, and used. */
let dir: string;
let opts: { dataDir: string; runsDir: string };

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('bdk-augment-');
  opts = { dataDir: path.join(dir, 'datasets'), runsDir: path.join(dir, 'checkpoints') };
  const from = path.join(dir, 'batches');
  await fs.mkdir(from);
  const rng = new Rng(5);
  for (const f of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) {
    const bytes = Uint8Array.from({ length: 6 * CIFAR10_RECORD_BYTES }, () => rng.int(256));
    for (let i = 0; i < 6; i++) bytes[i * CIFAR10_RECORD_BYTES] = rng.int(10);
    await fs.writeFile(path.join(from, f), bytes);
  }
  await prepareBuiltin('cifar10', { standardize: 'per-channel' }, { dir: opts.dataDir }, { from });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const teacher = async (run: string, augment: 'none' | 'crop-flip', sampler: 'dropout' | 'sgld' = 'dropout') =>
  sampleTeacher(
    await sampleConfigFrom(
      {
        dataset: 'cifar10',
        arch: 'mlp-8',
        sampler,
        burnIn: 4,
        samples: 2,
        thin: 1,
        batchSize: 6,
        chains: 1,
        stepSize: 1e-3,
        seed: 3,
        augment,
      },
      opts.dataDir,
    ),
    { ...opts, run },
  );

const student = (run: string, augment: 'none' | 'crop-flip') =>
  distillStudent(
    distillConfigFrom({ teacher: 't-aug', arch: 'mlp-4', epochs: 1, batchSize: 8, seed: 4, augment }),
    { ...opts, run },
  );

const bytes = (file: string) => fs.readFile(file);

describe('augmented training', () => {
  it('the dropout teacher: the same seed gives the same samples, and augmentation changes them', async () => {
    await teacher('t-aug', 'crop-flip');
    await teacher('t-aug-again', 'crop-flip');
    await teacher('t-plain', 'none');
    const weights = async (run: string) =>
      (await readAllSamples([samplesFile(path.join(opts.runsDir, run), 0)])).weights;
    const [a, b, plain] = await Promise.all(['t-aug', 't-aug-again', 't-plain'].map(weights));
    expect(a).toEqual(b);
    expect(a).not.toEqual(plain);
    const config = JSON.parse(await fs.readFile(path.join(opts.runsDir, 't-aug', 'config.json'), 'utf8'));
    expect(config.augment).toBe('crop-flip');
    const plainConfig = JSON.parse(
      await fs.readFile(path.join(opts.runsDir, 't-plain', 'config.json'), 'utf8'),
    );
    expect('augment' in plainConfig).toBe(false);
  });

  it('the student: the same seed gives the same weights, and augmentation changes them', async () => {
    await student('s-aug', 'crop-flip');
    await student('s-aug-again', 'crop-flip');
    await student('s-plain', 'none');
    const file = (run: string) => path.join(opts.runsDir, run, STUDENT_WEIGHTS);
    const [a, b, plain] = await Promise.all([file('s-aug'), file('s-aug-again'), file('s-plain')].map(bytes));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(plain)).toBe(false);
  });

  it('is refused for an SG-MCMC teacher', async () => {
    await expect(teacher('t-sgld', 'crop-flip', 'sgld')).rejects.toThrow(
      '--augment crop-flip applies to --sampler dropout only',
    );
  });
});
