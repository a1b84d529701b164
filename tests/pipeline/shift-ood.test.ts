import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipeline } from '../../src/pipeline/load.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const tiny = {
  name: 'shifty',
  dataset: { name: 'boston', use: [0, 1] },
  teacher: { arch: 'mlp-50', samples: 5, burnIn: 200, thin: 10, stepSize: 1e-5, batchSize: 32, chains: 2 },
  student: { arch: 'mlp-50' },
  distillation: { epochs: 2, batchSize: 32, learningRate: 0.003 },
  evaluation: { map: false, latencyRuns: 1, plots: false, shift: 'noise:0,2' },
};

describe('pipeline evaluation.shift and evaluation.ood', () => {
  it('are checked as the flags are', () => {
    expect(() => parsePipeline({ ...tiny, evaluation: { shift: 'rotate' } }, 'p.json')).toThrow(
      "p.json: evaluation.shift: --shift expects rotate:ANGLES or noise:SCALES, got 'rotate'",
    );
    expect(() => parsePipeline({ ...tiny, evaluation: { ood: ['noise', 'noise'] } }, 'p.json')).toThrow(
      "p.json: evaluation.ood: --ood names a set twice: 'noise,noise'",
    );
    expect(
      parsePipeline({ ...tiny, evaluation: { ood: ['permute', 'x'] } }, 'p.json').evaluation!.ood,
    ).toEqual(['permute', 'x']);
  });

  it('passes the shift to each split’s evaluation and reports its mean over splits', async () => {
    const runsDir = path.join(dir, 'runs');
    await runPipeline(parsePipeline(tiny, 'p.json'), { file: 'p.json', dataDir: dir, runsDir });
    const splits = await Promise.all(
      [0, 1].map(async (k) =>
        JSON.parse(await fs.readFile(path.join(runsDir, `shifty-s${k}-student`, 'report.json'), 'utf8')),
      ),
    );
    const report = JSON.parse(await fs.readFile(path.join(runsDir, 'shifty', 'report.json'), 'utf8'));
    expect(report.shift.kind).toBe('noise');
    expect(report.shift.values).toEqual([0, 2]);
    for (const i of [0, 1])
      expect(report.shift.models.ensemble.width90[i]).toBeCloseTo(
        (splits[0].shift.models.ensemble.width90[i] + splits[1].shift.models.ensemble.width90[i]) / 2,
        10,
      );
    const md = await fs.readFile(path.join(runsDir, 'shifty', 'report.md'), 'utf8');
    expect(md).toContain('Shift and OOD evaluation, mean over splits:');
    expect(md).toContain('| `ensemble` | 90 % width |');
    expect(md).toContain('never for training or for choosing settings');
  });
});
