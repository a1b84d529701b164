import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipeline } from '../../src/pipeline/load.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { prepareBuiltin } from '../../src/stages/prepare.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

/**
 * The target transform is the teacher's setting, applied when the data is loaded: one raw dataset
 * serves pipelines that model y and log y, and a log teacher on it gives what a dataset prepared with
 * log gave.
 */

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A pipeline small enough for a test: one split, a few samples, a linear student, one epoch. */
const tiny = (teacher: object = { targetTransform: 'log' }, splits?: object) => ({
  name: 'tt',
  dataset: { name: 'boston', ...(splits ? { splits } : {}), use: [0] },
  teacher: {
    arch: 'mlp-50',
    samples: 3,
    burnIn: 5,
    thin: 1,
    chains: 1,
    batchSize: 32,
    stepSize: 1e-5,
    ...teacher,
  },
  student: { arch: 'linear' },
  distillation: { epochs: 1, batchSize: 32, learningRate: 1e-3 },
  evaluation: { latencyRuns: 1, plots: false },
});

/** A JSON file's text without the keys that measure time (latency, seconds). */
async function untimed(file: string): Promise<string> {
  const drop = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(drop)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([k]) => !/latency|seconds/i.test(k))
              .map(([k, x]) => [k, drop(x)]),
          )
        : v;
  return JSON.stringify(drop(JSON.parse(await fs.readFile(file, 'utf8'))), null, 2);
}

describe('a teacher’s target transform on a raw dataset', () => {
  const outputs = [
    'tt/report.json',
    'tt/teacher-summary.json',
    'tt/student-summary.json',
    'tt-s0-teacher/teacher.json',
  ];

  async function run(name: string, prepared: 'raw' | 'log' | 'none', pipeline: object) {
    const dataDir = path.join(dir, name, 'datasets');
    const runsDir = path.join(dir, name, 'runs');
    if (prepared !== 'none')
      await prepareBuiltin('boston', prepared === 'log' ? { targetTransform: 'log' } : {}, { dir: dataDir });
    const results = await runPipeline(parsePipeline(pipeline, 'p.json'), {
      file: 'p.json',
      dataDir,
      runsDir,
    });
    expect(results.map((r) => [r.stage, r.status])).toEqual([
      ['prepare', prepared === 'none' ? 'done' : 'unchanged'],
      ['sample', 'done'],
      ['distill', 'done'],
      ['evaluate', 'done'],
    ]);
    return Promise.all(outputs.map((f) => untimed(path.join(runsDir, f))));
  }

  it('gives the same reports as a dataset prepared with the log transform, and refuses a teacher of the other scale', async () => {
    const raw = await run('raw', 'raw', tiny());
    const old = await run('old', 'log', tiny());
    // The deprecated pipeline key prepares the dataset the old way and is the teacher's default.
    const alias = await run('alias', 'none', tiny({}, { targetTransform: 'log' }));
    const config = JSON.parse(
      await fs.readFile(path.join(dir, 'raw/runs/tt-s0-teacher/config.json'), 'utf8'),
    );
    expect(config.targetTransform).toBe('log');
    const report = JSON.parse(raw[0]);
    expect(report.uncertaintyScale).toBe('log');
    expect(report.models.ensemble.rmse.mean).toBeGreaterThan(0);
    for (let i = 0; i < outputs.length; i++) {
      expect(raw[i], outputs[i]).toBe(old[i]);
      expect(alias[i], outputs[i]).toBe(old[i]);
    }
    // The raw dataset now asked for none (or nothing): the log teacher is refused, saying why.
    const refused =
      "run 'tt-s0-teacher' exists with different teacher settings (sampled with target transform log, now asked for none); pass --force to replace it";
    for (const teacher of [{ targetTransform: 'none' }, {}]) {
      await expect(
        runPipeline(parsePipeline(tiny(teacher), 'p.json'), {
          file: 'p.json',
          dataDir: path.join(dir, 'raw', 'datasets'),
          runsDir: path.join(dir, 'raw', 'runs'),
          stages: ['sample'],
        }),
      ).rejects.toThrow(refused);
      // Run without the sample stage, the distill and evaluate stages refuse the log teacher too.
      for (const stage of ['distill', 'evaluate'] as const)
        await expect(
          runPipeline(parsePipeline(tiny(teacher), 'p.json'), {
            file: 'p.json',
            dataDir: path.join(dir, 'raw', 'datasets'),
            runsDir: path.join(dir, 'raw', 'runs'),
            stages: [stage],
          }),
        ).rejects.toThrow(
          "teacher run 'tt-s0-teacher' was sampled with target transform log, but the pipeline's teacher now asks for none; run the sample stage with --force to sample it again",
        );
    }
  });

  it('refuses a pipeline whose two transform keys disagree', () => {
    expect(() =>
      parsePipeline(tiny({ targetTransform: 'none' }, { targetTransform: 'log' }), 'p.json'),
    ).toThrow(
      'p.json: teacher.targetTransform: disagrees with dataset.splits.targetTransform "log" (its deprecated alias; set only teacher.targetTransform), found "none"',
    );
    expect(() =>
      parsePipeline(tiny({ targetTransform: 'log' }, { targetTransform: 'log' }), 'p.json'),
    ).not.toThrow();
  });

  it('bdk data prepare, then a log-target pipeline and a plain bdk sample on the same dataset', async () => {
    const root = path.join(dir, 'cli');
    const env = { BDK_DATA_DIR: path.join(root, 'datasets'), BDK_RUNS_DIR: path.join(root, 'runs') };
    await fs.mkdir(root, { recursive: true });
    const file = path.join(root, 'tt.json');
    await fs.writeFile(file, JSON.stringify(tiny()));
    expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
    const r = bdk(['run', file], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('stage prepare: up to date');
    const s = bdk(
      ['sample', '--arch', 'linear', '--samples', '2', '--burn-in', '2', '--chains', '1', '--run', 'plain'],
      env,
    );
    expect(s.code, s.stderr).toBe(0);
    const plain = JSON.parse(await fs.readFile(path.join(root, 'runs', 'plain', 'config.json'), 'utf8'));
    expect(plain.targetTransform).toBe(undefined);
    // A log of a classification dataset is refused where the teacher applies it, naming the flag.
    const csv = path.join(root, 'classes.csv');
    await fs.writeFile(
      csv,
      'a,c\n' + Array.from({ length: 30 }, (_, i) => `${i},${i % 2}`).join('\n') + '\n',
    );
    expect(
      bdk(['data', 'import', csv, '--name', 'classes', '--target', 'c', '--task', 'classification'], env)
        .code,
    ).toBe(0);
    const bad = bdk(
      ['sample', '--dataset', 'classes', '--arch', 'linear', '--run', 'c', '--target-transform', 'log'],
      env,
    );
    expect(bad.code).toBe(1);
    expect(expectOneLineError(bad)).toBe(
      'bdk: classes: --target-transform log applies to regression targets; this dataset is classification',
    );
  });
});
