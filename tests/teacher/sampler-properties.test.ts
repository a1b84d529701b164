import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { Rng } from '../../src/core/rng.js';
import { BUILTIN_ARCHS } from '../../src/model/builtins.js';
import { analyzeSpec } from '../../src/model/spec.js';
import {
  chainSeed,
  runChains,
  type ChainSnapshot,
  type DrawnSample,
  type SamplerName,
  type SamplerSettings,
} from '../../src/teacher/chains.js';
import type { PosteriorModel } from '../../src/teacher/posterior.js';

const settings = (sampler: SamplerName, extra: Partial<SamplerSettings> = {}): SamplerSettings => ({
  sampler,
  stepSize: 1e-3,
  schedule: { kind: 'polynomial', b: 10, gamma: 0.55 },
  batchSize: 8,
  burnIn: 5,
  thin: 3,
  samples: 4,
  temperature: 1,
  friction: 0.1,
  rmsDecay: 0.99,
  rmsEpsilon: 1e-5,
  ...extra,
});

function data(task: 'regression' | 'classification') {
  const rng = new Rng(3);
  const n = 30;
  const x = tf.tensor2d(rng.fillNormal(new Float32Array(n * 4)), [n, 4]);
  const y =
    task === 'regression'
      ? tf.tensor1d(rng.fillNormal(new Float32Array(n)))
      : tf.tensor1d(
          Int32Array.from({ length: n }, (_, i) => i % 3),
          'int32',
        );
  const analysis = analyzeSpec(
    BUILTIN_ARCHS['mlp-50'].build({ input: [4], outputUnits: task === 'regression' ? 1 : 3 }),
  );
  const model: PosteriorModel =
    task === 'regression'
      ? { analysis, task, dataSize: n, priorPrecision: 1, noise: { shape: 6, rate: 6 } }
      : { analysis, task, dataSize: n, priorPrecision: 1 };
  return { x, y, model };
}

async function collect(task: 'regression' | 'classification', s: SamplerSettings, seeds: number[]) {
  const { x, y, model } = data(task);
  const out: DrawnSample[] = [];
  await runChains({ model, settings: s, x, y, seeds, onSamples: async (ss) => void out.push(...ss) });
  tf.dispose([x, y]);
  return out;
}

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
});

describe('sampler properties', () => {
  for (const sampler of ['sgld', 'psgld', 'sghmc'] as const) {
    it(`${sampler}: the same seed gives identical samples; another seed does not`, async () => {
      const a = await collect('regression', settings(sampler), [chainSeed(1, 0)]);
      const b = await collect('regression', settings(sampler), [chainSeed(1, 0)]);
      const c = await collect('regression', settings(sampler), [chainSeed(2, 0)]);
      expect(a.length).toBe(4);
      expect(a.map((s) => s.step)).toEqual([8, 11, 14, 17]);
      for (let i = 0; i < a.length; i++) {
        expect(Array.from(b[i].weights)).toEqual(Array.from(a[i].weights));
        expect(b[i].noisePrecision).toBe(a[i].noisePrecision);
      }
      expect(Array.from(c[0].weights)).not.toEqual(Array.from(a[0].weights));
    });

    it(`${sampler}: vectorized chains give the samples each chain gives alone`, async () => {
      const seeds = [chainSeed(5, 0), chainSeed(5, 1), chainSeed(5, 2)];
      const together = await collect('classification', settings(sampler), seeds);
      for (let c = 0; c < seeds.length; c++) {
        const alone = await collect('classification', settings(sampler), [seeds[c]]);
        const mine = together.filter((s) => s.chain === c);
        expect(mine.length).toBe(alone.length);
        for (let i = 0; i < alone.length; i++) {
          let maxDiff = 0;
          let scale = 0;
          for (let k = 0; k < alone[i].weights.length; k++) {
            maxDiff = Math.max(maxDiff, Math.abs(alone[i].weights[k] - mine[i].weights[k]));
            scale = Math.max(scale, Math.abs(alone[i].weights[k]));
          }
          // Same streams, same arithmetic up to float32 summation order inside batched matmuls,
          // which pSGLD's early preconditioner 1/(λ + √V) amplifies; a wrong stream differs by O(1).
          expect(maxDiff / scale).toBeLessThan(sampler === 'psgld' ? 1e-3 : 1e-5);
        }
      }
    });
  }

  it('with a zero gradient at T = 0 the parameters do not move (SGLD, SGHMC)', async () => {
    // Zero data and zero prior precision ⇒ ∇log p̃ ≡ 0; T = 0 ⇒ no noise.
    for (const sampler of ['sgld', 'sghmc'] as const) {
      const { x, y, model } = data('classification');
      const zeroModel: PosteriorModel = { ...model, dataSize: 0, priorPrecision: 0 };
      const out: DrawnSample[] = [];
      const first = await runChains({
        model: zeroModel,
        settings: settings(sampler, { temperature: 0, burnIn: 0, thin: 1, samples: 1 }),
        x,
        y,
        seeds: [chainSeed(9, 0)],
        onSamples: async (ss) => void out.push(...ss),
      });
      const init = first.snapshot.weights;
      const later = await runChains({
        model: zeroModel,
        settings: settings(sampler, { temperature: 0, burnIn: 0, thin: 1, samples: 20 }),
        x,
        y,
        seeds: [chainSeed(9, 0)],
      });
      expect(Array.from(later.snapshot.weights)).toEqual(Array.from(init));
      tf.dispose([x, y]);
    }
  });

  it('leaks no tensors across steps', async () => {
    const { x, y, model } = data('regression');
    await runChains({ model, settings: settings('psgld', { samples: 2 }), x, y, seeds: [1, 2] }); // warm up kernels
    const before = tf.memory().numTensors;
    await runChains({
      model,
      settings: settings('psgld', { burnIn: 200, samples: 10 }),
      x,
      y,
      seeds: [1, 2],
    });
    await runChains({
      model,
      settings: settings('sghmc', { burnIn: 200, samples: 10 }),
      x,
      y,
      seeds: [1, 2],
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('M ≥ N takes the exact full-data gradient: at T = 0 the order of the rows no longer matters', async () => {
    const { x, y, model } = data('regression');
    const order = tf.tensor1d(
      Int32Array.from({ length: 30 }, (_, i) => (i * 7) % 30),
      'int32',
    ); // a permutation of the 30 rows
    const [xp, yp] = [tf.gather(x, order), tf.gather(y, order)];
    for (const sampler of ['sgld', 'psgld', 'sghmc'] as const) {
      const run = async (batchSize: number, xs: tf.Tensor, ys: tf.Tensor) => {
        const out: DrawnSample[] = [];
        const s = settings(sampler, { temperature: 0, batchSize, burnIn: 20, samples: 1 });
        await runChains({
          model,
          settings: s,
          x: xs,
          y: ys,
          seeds: [chainSeed(4, 0)],
          onSamples: async (ss) => void out.push(...ss),
        });
        return out[0].weights;
      };
      const gap = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
      expect(gap(await run(30, x, y), await run(30, xp, yp)), sampler).toBeLessThan(5e-4); // summation order only
      expect(gap(await run(8, x, y), await run(8, xp, yp)), sampler).toBeGreaterThan(5e-3); // other minibatches
    }
    tf.dispose([x, y, xp, yp, order]);
  });

  it('the live tensor count stays flat over 10 000 steps of every kernel', async () => {
    const { x, y, model } = data('classification');
    for (const sampler of ['sgld', 'psgld', 'sghmc'] as const) {
      const counts: number[] = [];
      await runChains({
        model,
        settings: settings(sampler, { burnIn: 0, thin: 1000, samples: 10 }),
        x,
        y,
        seeds: [1, 2],
        onSamples: async () => void counts.push(tf.memory().numTensors),
      });
      expect(counts).toHaveLength(10); // one reading every 1 000 steps
      expect(new Set(counts).size, `${sampler}: ${counts.join(' ')}`).toBe(1);
    }
    tf.dispose([x, y]);
  });

  it('checkpoints during burn-in, and resuming from such a checkpoint equals an uninterrupted run', async () => {
    const s = settings('psgld', { burnIn: 40, samples: 3 });
    const full = await collect('regression', s, [chainSeed(6, 0)]);
    const { x, y, model } = data('regression');
    const checkpoints: ChainSnapshot[] = [];
    const controller = new AbortController();
    await runChains({
      model,
      settings: s,
      x,
      y,
      seeds: [chainSeed(6, 0)],
      checkpointSeconds: 0,
      onCheckpoint: async (snap) => {
        checkpoints.push(snap);
        if (snap.step === 17) controller.abort();
      },
      signal: controller.signal,
    });
    expect(checkpoints.at(-1)!.step).toBe(17);
    expect(checkpoints.at(-1)!.samplesDrawn).toBe(0);
    const rest: DrawnSample[] = [];
    await runChains({
      model,
      settings: s,
      x,
      y,
      seeds: [chainSeed(6, 0)],
      resume: checkpoints.at(-1)!,
      onSamples: async (ss) => void rest.push(...ss),
    });
    expect(rest.map((r) => r.step)).toEqual(full.map((r) => r.step));
    for (let i = 0; i < full.length; i++)
      expect(Array.from(rest[i].weights)).toEqual(Array.from(full[i].weights));
    tf.dispose([x, y]);
  });

  it('resuming from a snapshot continues exactly like an uninterrupted run', async () => {
    const full = await collect('regression', settings('sghmc', { samples: 6 }), [
      chainSeed(4, 0),
      chainSeed(4, 1),
    ]);
    const { x, y, model } = data('regression');
    const part: DrawnSample[] = [];
    const controller = new AbortController();
    let snap: ReturnType<Parameters<NonNullable<Parameters<typeof runChains>[0]['onSamples']>>[1]> | null =
      null;
    await runChains({
      model,
      settings: settings('sghmc', { samples: 6 }),
      x,
      y,
      seeds: [chainSeed(4, 0), chainSeed(4, 1)],
      onSamples: async (ss, snapshot) => {
        part.push(...ss);
        if (part.length === 4) {
          snap = snapshot();
          controller.abort();
        }
      },
      signal: controller.signal,
    });
    expect(snap!.samplesDrawn).toBe(2);
    await runChains({
      model,
      settings: settings('sghmc', { samples: 6 }),
      x,
      y,
      seeds: [chainSeed(4, 0), chainSeed(4, 1)],
      resume: snap!,
      onSamples: async (ss) => void part.push(...ss),
    });
    expect(part.length).toBe(full.length);
    for (let i = 0; i < full.length; i++) {
      expect(part[i].step).toBe(full[i].step);
      expect(Array.from(part[i].weights)).toEqual(Array.from(full[i].weights));
    }
    tf.dispose([x, y]);
  });
});
