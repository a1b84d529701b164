import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/store.js';
import { loadLayersModelFromDir } from '../../src/export/model-files.js';
import { predictFile } from '../../src/stages/predict.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/load.js';
import { plannedStages, runPipeline } from '../../src/pipeline/run.js';
import {
  CIFAR10_RECORD_BYTES,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
} from '../../src/data/sources/cifar10.js';
import { ROOT, tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const minimal = { name: 'p', dataset: { name: 'boston' } };

describe('pipeline files', () => {
  it('every shipped pipeline validates and configures every stage', async () => {
    const files = (await fs.readdir(path.join(ROOT, 'pipelines'))).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual([
      'boston-802.json',
      'boston-front.json',
      'boston-quick.json',
      'boston.json',
      'cifar10.json',
      'mnist-lenet.json',
      'mnist-quick.json',
      'mnist.json',
    ]);
    for (const f of files) {
      const config = await loadPipeline(path.join(ROOT, 'pipelines', f));
      // cifar10.json distills into the fixed vgg-small: it has no structure search.
      const stages = [
        'prepare',
        'sample',
        ...(f === 'cifar10.json' ? [] : ['search']),
        'distill',
        'evaluate',
        'export',
      ];
      expect(plannedStages(config)).toEqual(stages);
    }
  });

  it('names unknown keys with their path and the allowed keys', () => {
    expect(() =>
      parsePipeline(
        { ...minimal, teacher: { arch: 'mlp-50', smaples: 10, samples: 1, stepSize: 1e-4, batchSize: 8 } },
        'p.json',
      ),
    ).toThrow(
      "p.json: teacher: unknown key 'smaples' (allowed: arch, sampler, samples, burnIn, thin, stepSize, schedule, batchSize, chains, priorPrecision, temperature, noisePrecision, noisePrior, heteroscedastic, variancePriorPrecision, trainOn, friction, rmsDecay, rmsEpsilon, dropoutRate, seed, sampleDtype, augment, strictDiagnostics, targetTransform)",
    );
    expect(() => parsePipeline({ ...minimal, extra: 1 }, 'p.json')).toThrow(
      "p.json: (top level): unknown key 'extra' (allowed: name, description, seed, backend, dataset, teacher, search, student, distillation, evaluation, export)",
    );
  });

  it('names bad values with what was expected and what was found', () => {
    expect(() =>
      parsePipeline(
        {
          ...minimal,
          teacher: { arch: 'mlp-50', samples: 10, stepSize: 1e-4, batchSize: 8, sampler: 'hmc' },
        },
        'p.json',
      ),
    ).toThrow('p.json: teacher.sampler: expected one of "sgld", "psgld", "sghmc", "dropout", found "hmc"');
    expect(() =>
      parsePipeline(
        { ...minimal, teacher: { arch: 'mlp-50', samples: 2.5, stepSize: 1e-4, batchSize: 8 } },
        'p.json',
      ),
    ).toThrow('p.json: teacher.samples: expected int, found 2.5');
    expect(() => parsePipeline({ name: 'p' }, 'p.json')).toThrow(
      'p.json: dataset: required object is missing',
    );
    expect(() =>
      parsePipeline({ ...minimal, dataset: { name: 'boston', splits: { testFraction: 1.5 } } }, 'p.json'),
    ).toThrow('p.json: dataset.splits.testFraction: expected <1, found 1.5');
  });

  it('reports invalid JSON and missing files in one line', async () => {
    const bad = path.join(dir, 'bad.json');
    await fs.writeFile(bad, '{ "name": ');
    await expect(loadPipeline(bad)).rejects.toThrow(new RegExp(`^${bad}: invalid JSON \\(`));
    await expect(loadPipeline(path.join(dir, 'none.json'))).rejects.toThrow(
      `${path.join(dir, 'none.json')}: file not found`,
    );
  });

  it('runs every stage of the quick Boston pipeline and writes the report and the export', async () => {
    const config = await loadPipeline(path.join(ROOT, 'pipelines/boston-quick.json'));
    const lines: string[] = [];
    const runsDir = path.join(dir, 'runs');
    const results = await runPipeline(config, {
      file: 'pipelines/boston-quick.json',
      dataDir: dir,
      runsDir,
      log: (l) => lines.push(l),
    });
    expect(results.map((r) => r.stage)).toEqual([
      'prepare',
      'sample',
      'search',
      'distill',
      'evaluate',
      'export',
    ]);
    // The student is the searched architecture of split 0.
    const searched = JSON.parse(
      await fs.readFile(path.join(runsDir, 'boston-quick-s0-search', 'arch.json'), 'utf8'),
    );
    const studentSpec = JSON.parse(
      await fs.readFile(path.join(runsDir, 'boston-quick-s0-student', 'student-spec.json'), 'utf8'),
    );
    expect(studentSpec).toEqual(searched);
    expect(lines).toContainEqual(
      expect.stringMatching(/^stage search: searched student over 1 split: parameters \d+/),
    );
    const report = JSON.parse(await fs.readFile(path.join(runsDir, 'boston-quick', 'report.json'), 'utf8'));
    expect(Object.keys(report.models)).toEqual(['map', 'teacher_single', 'ensemble', 'student']);
    // The quick student is far better than predicting the mean: RMSE below the target's sd (9.2).
    expect(report.models.student.rmse.mean).toBeLessThan(9.2);
    // The searched student is one network no wider than the space's widest candidates (50 units).
    expect(report.models.student.parameters.mean).toBeLessThan(report.models.ensemble.parameters.mean / 5);
    // Interval calibration of every model (log target: widths in MEDV's units) and the ensemble's
    // variance decomposition (of log MEDV), in the split's report and over splits in the pipeline's.
    const split = JSON.parse(
      await fs.readFile(path.join(runsDir, 'boston-quick-s0-student', 'report.json'), 'utf8'),
    );
    expect(Object.keys(split.calibration)).toEqual(['map', 'teacher_single', 'ensemble', 'student']);
    for (const c of Object.values(split.calibration) as { coverage: object; width: object; crps: number }[]) {
      expect(Object.keys(c.coverage)).toEqual(['0.5', '0.8', '0.9', '0.95']);
      const cov = Object.values(c.coverage) as number[];
      const width = Object.values(c.width) as number[];
      for (let k = 0; k < 4; k++) {
        expect(cov[k]).toBeGreaterThanOrEqual(k ? cov[k - 1] : 0);
        expect(cov[k]).toBeLessThanOrEqual(1);
        expect(width[k]).toBeGreaterThan(k ? width[k - 1] : 0);
      }
      expect(width[3]).toBeLessThan(50); // MEDV is at most 50
      expect(c.crps).toBeGreaterThan(0);
      expect(c.crps).toBeLessThan(9.2);
    }
    const u = split.uncertainty;
    expect(u.scale).toBe('log');
    expect(u.varianceOfMeans).toBeGreaterThan(0);
    expect(u.totalVariance).toBeCloseTo(u.expectedVariance + u.varianceOfMeans, 12);
    expect(report.calibration.student.coverage90.values).toEqual([split.calibration.student.coverage['0.9']]);
    expect(report.calibration.ensemble.crps.mean).toBe(split.calibration.ensemble.crps);
    expect(report.uncertainty.totalVariance.mean).toBe(u.totalVariance);
    expect(report.uncertaintyScale).toBe('log');
    const md = await fs.readFile(path.join(runsDir, 'boston-quick', 'report.md'), 'utf8');
    expect(md).toContain('| model | coverage 90 % | width 90 % | CRPS |');
    expect((await fs.readdir(path.join(runsDir, 'boston-quick', 'export'))).sort()).toEqual([
      'bdk.json',
      'group1-shard1of1.bin',
      'model.json',
    ]);
    // The export models log MEDV: predict reports the student's log-normal mean, sd and median in
    // MEDV's units ($1000s).
    const exportDir = path.join(runsDir, 'boston-quick', 'export');
    const manifest = JSON.parse(await fs.readFile(path.join(exportDir, 'bdk.json'), 'utf8'));
    const t = manifest.standardization.target;
    expect(t.transform).toBe('log');
    const ds = await loadDataset('boston', dir);
    const d = ds.meta.featureCount;
    const csv = path.join(dir, 'two-houses.csv');
    const rowsCsv = [0, 1].map((r) => Array.from(ds.features.subarray(r * d, (r + 1) * d)).join(','));
    await fs.writeFile(csv, [ds.meta.features.join(','), ...rowsCsv].join('\n') + '\n');
    const predicted = await predictFile(exportDir, csv);
    expect(predicted.columns).toEqual(['mean', 'sd', 'median']);
    const f = manifest.standardization.features;
    const x = Float32Array.from({ length: 2 * d }, (_, k) => (ds.features[k] - f.mean[k % d]) / f.std[k % d]);
    const model = await loadLayersModelFromDir(exportDir);
    const out = (model.predict(tf.tensor2d(x, [2, d])) as tf.Tensor).dataSync();
    model.dispose();
    for (const r of [0, 1]) {
      const m = t.mean + t.std * out[2 * r]; // log-normal parameters of MEDV
      const v = t.std ** 2 * Math.exp(out[2 * r + 1]);
      expect(predicted.rows[r][0]).toBeCloseTo(Math.exp(m + v / 2), 4);
      expect(predicted.rows[r][1]).toBeCloseTo(Math.sqrt((Math.exp(v) - 1) * Math.exp(2 * m + v)), 4);
      expect(predicted.rows[r][2]).toBeCloseTo(Math.exp(m), 4);
    }
    expect(lines[1]).toMatch(/^stage prepare: wrote .*boston\.arrow \(506 rows, 20 splits\)$/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^stage distill: student over 1 split: rmse \d+\.\d+, ll -\d+\.\d+; wrote /),
    );
    expect(lines.find((l) => l.startsWith('stage sample: ensemble'))).toMatch(
      /^stage sample: ensemble over 1 split: rmse \d+\.\d+, ll -\d+\.\d+; wrote /,
    );
    const summary = JSON.parse(
      await fs.readFile(path.join(runsDir, 'boston-quick', 'teacher-summary.json'), 'utf8'),
    );
    expect(summary.splits).toEqual([0]);
    expect(summary.aggregate.rmse.mean).toBeGreaterThan(0);
    // Running again finds the teacher complete and does not sample again.
    const again: string[] = [];
    await runPipeline(config, {
      file: 'x',
      dataDir: dir,
      runsDir,
      stages: ['prepare', 'sample'],
      log: (l) => again.push(l),
    });
    expect(again).toContain('split 0: teacher boston-quick-s0-teacher up to date');
    const onlyPrepare = await runPipeline(config, { file: 'x', dataDir: dir, stages: ['prepare'] });
    expect(onlyPrepare).toEqual([
      { stage: 'prepare', status: 'unchanged', summary: expect.stringMatching(/^up to date /) },
    ]);
  });

  it('runs a labels search on its own and refuses a student "search" without a search section', async () => {
    const config = parsePipeline(
      {
        name: 'with-search',
        dataset: { name: 'boston', splits: { targetTransform: 'log' }, use: [1] },
        search: { space: 'mlp', objective: 'labels', epochs: 2, widths: [8, 16], activations: ['tanh'] },
      },
      'p.json',
    );
    const runsDir = path.join(dir, 'runs');
    const results = await runPipeline(config, { file: 'p.json', dataDir: dir, runsDir });
    expect(results.map((r) => [r.stage, r.status])).toEqual([
      ['prepare', 'unchanged'],
      ['search', 'done'],
    ]);
    const summary = JSON.parse(
      await fs.readFile(path.join(runsDir, 'with-search-s1-search', 'search.json'), 'utf8'),
    );
    expect(summary.objective).toBe('labels');
    expect(summary.choices).toHaveLength(4);
    const space = JSON.parse(
      await fs.readFile(path.join(runsDir, 'with-search-s1-search', 'space.json'), 'utf8'),
    );
    const hidden = space.edges.flatMap(
      (e: { choices: { label: string; op: { type: string; activation?: string } }[] }) =>
        e.choices.filter((c) => c.op.type === 'dense' && c.op.activation),
    );
    expect(hidden.map((c: { label: string }) => c.label)).toEqual([
      'dense-8-tanh',
      'dense-16-tanh',
      'dense-8-tanh',
      'dense-16-tanh',
    ]);
    const trace = JSON.parse(
      await fs.readFile(path.join(runsDir, 'with-search-s1-search', 'search-trace.json'), 'utf8'),
    );
    expect(trace.map((p: { epoch: number }) => p.epoch)).toEqual([1, 2]);
    const svg = await fs.readFile(path.join(runsDir, 'with-search-s1-search', 'gamma.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    const noSearch = parsePipeline(
      {
        name: 'no-search',
        dataset: { name: 'boston', splits: { targetTransform: 'log' }, use: [1] },
        // burnIn, thin and chains pinned to the schema's defaults before they became bdk sample's.
        teacher: { arch: 'mlp-50', samples: 2, batchSize: 32, stepSize: 1e-5, burnIn: 0, thin: 1, chains: 1 },
        student: { arch: 'search' },
        distillation: { epochs: 1, batchSize: 32, learningRate: 1e-3 },
      },
      'p.json',
    );
    await expect(
      runPipeline(noSearch, { file: 'p.json', dataDir: dir, runsDir, stages: ['sample', 'distill'] }),
    ).rejects.toThrow('student.arch "search" needs a search section in the pipeline');
  });

  it('imports user data named in a pipeline relative to the pipeline file', async () => {
    await fs.writeFile(
      path.join(dir, 'mine.csv'),
      'a,y\n' + Array.from({ length: 30 }, (_, i) => `${i},${i * 2}`).join('\n') + '\n',
    );
    const file = path.join(dir, 'mine.json');
    const config = parsePipeline(
      {
        name: 'mine',
        dataset: {
          name: 'mine',
          import: { file: 'mine.csv', target: 'y', task: 'regression' },
          splits: { count: 2 },
        },
      },
      file,
    );
    const [r] = await runPipeline(config, { file, dataDir: dir });
    expect(r.summary).toMatch(/mine\.arrow \(30 rows, 2 splits\)$/);
  });

  it('prepares cifar10 from dataset.from relative to the pipeline file, and names a missing folder', async () => {
    const batches = path.join(dir, 'cifar-10-batches-bin');
    await fs.mkdir(batches);
    for (const f of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE])
      await fs.writeFile(path.join(batches, f), new Uint8Array(2 * CIFAR10_RECORD_BYTES));
    const file = path.join(dir, 'cifar.json');
    const pipeline = (from: string) =>
      parsePipeline(
        { name: 'c', dataset: { name: 'cifar10', from, splits: { standardize: 'per-channel' } } },
        file,
      );
    const [r] = await runPipeline(pipeline('cifar-10-batches-bin'), { file, dataDir: dir });
    expect(r.summary).toMatch(/cifar10\.arrow \(12 rows, 1 splits\)$/);
    await expect(runPipeline(pipeline('elsewhere'), { file, dataDir: dir })).rejects.toThrow(
      `${path.join(dir, 'elsewhere')}: folder not found`,
    );
  });
});
