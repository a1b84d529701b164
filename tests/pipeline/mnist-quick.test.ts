import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { loadPipeline } from '../../src/pipeline/load.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { ROOT, tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('end to end (slow): pipelines/mnist-quick.json', () => {
  it(
    'prepares MNIST, samples, distills, evaluates and exports; the student beats chance by a wide margin',
    { timeout: 900_000 },
    async () => {
      const config = await loadPipeline(path.join(ROOT, 'pipelines/mnist-quick.json'));
      const runsDir = path.join(dir, 'runs');
      const results = await runPipeline(config, {
        file: 'pipelines/mnist-quick.json',
        dataDir: path.join(dir, 'datasets'),
        runsDir,
      });
      expect(results.map((r) => r.stage)).toEqual([
        'prepare',
        'sample',
        'search',
        'distill',
        'evaluate',
        'export',
      ]);
      const search = JSON.parse(
        await fs.readFile(path.join(runsDir, 'mnist-quick-s0-search', 'search.json'), 'utf8'),
      );
      // The space's widest network is 784-100-100-10 with a linear skip: the searched student is at most that.
      expect(search.parameterCount).toBeLessThanOrEqual(785 * 100 + 101 * 100 + 101 * 10 + 785 * 10);
      const report = JSON.parse(await fs.readFile(path.join(runsDir, 'mnist-quick', 'report.json'), 'utf8'));
      expect(report.models.student.error.mean).toBeLessThan(0.3); // chance is 0.9
      expect(report.models.ensemble.error.mean).toBeLessThan(0.3);
      expect(report.models.student.ece.mean).toBeLessThan(0.2);
      const manifest = JSON.parse(
        await fs.readFile(path.join(runsDir, 'mnist-quick', 'export', 'bdk.json'), 'utf8'),
      );
      expect(manifest).toMatchObject({
        task: 'classification',
        imageShape: [28, 28, 1],
        outputs: 'logits',
        classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      });
    },
  );
});
