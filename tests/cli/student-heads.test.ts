import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { parsePipeline } from '../../src/pipeline/load.js';
import { distillConfigFrom } from '../../src/stages/distill-config.js';
import { distillStudent } from '../../src/stages/distill.js';
import { evaluateSplits } from '../../src/pipeline/evaluate-splits.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

/** `bdk distill --student-head`: the heads that keep the ensemble's epistemic part, end to end. */

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = await tempDir();
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: path.join(dir, 'runs') };
  const rng = new Rng(5);
  const cls = ['x1,x2,y'];
  const reg = ['x1,x2,y'];
  for (let i = 0; i < 200; i++) {
    const [a, b] = [rng.normal(), rng.normal()];
    cls.push(`${a},${b},${a + 0.5 * b + 0.7 * rng.normal() > 0 ? 1 : a - b > 1 ? 2 : 0}`);
    reg.push(`${a},${b},${2 * a - b + 0.5 * rng.normal()}`);
  }
  await fs.writeFile(path.join(dir, 'cls.csv'), cls.join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'reg.csv'), reg.join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'in.csv'), 'x1,x2\n0.1,-0.3\n2.5,1\n-4,4\n');
  for (const [name, task] of [
    ['cls', 'classification'],
    ['reg', 'regression'],
  ]) {
    const file = path.join(dir, `${name}.csv`);
    expect(bdk(['data', 'import', file, '--name', name, '--target', 'y', '--task', task], env).code).toBe(0);
    const sample = [
      ...['sample', '--dataset', name, '--arch', 'mlp-50', '--sampler', 'sgld', '--burn-in', '100'],
      ...['--thin', '10', '--samples', '8', '--chains', '2', '--step-size', '1e-3', '--run', `${name}-t`],
    ];
    expect(bdk(sample, env).code).toBe(0);
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const distill = (teacher: string, run: string, head: string, extra: string[] = []) =>
  bdk(
    [
      ...['distill', '--teacher', teacher, '--run', run, '--student-head', head, '--epochs', '6'],
      ...['--samples-per-batch', '8', '--learning-rate', '3e-3', ...extra],
    ],
    env,
  );

/** Evaluates, exports and predicts `run`; returns the report, the manifest and the predictions' lines. */
function downstream(run: string) {
  expect(
    bdk(['evaluate', '--run', run, '--map-epochs', '0', '--latency-runs', '1', '--no-plots'], env).code,
  ).toBe(0);
  const report = JSON.parse(
    bdk(['evaluate', '--run', run, '--map-epochs', '0', '--latency-runs', '1', '--no-plots', '--json'], env)
      .stdout,
  );
  const out = path.join(dir, `${run}-export`);
  expect(bdk(['export', '--run', run, '--out', out], env).code).toBe(0);
  const pred = bdk(['predict', '--model', out, '--input', path.join(dir, 'in.csv')], env);
  expect(pred.code).toBe(0);
  return { report, out, lines: pred.stdout.trim().split('\n') };
}

describe('bdk distill --student-head', () => {
  it('dirichlet: student.json, the report, the manifest and predict carry the Dirichlet uncertainties', async () => {
    expect(distill('cls-t', 'dir', 'dirichlet').code).toBe(0);
    const config = JSON.parse(
      await fs.readFile(path.join(env.BDK_RUNS_DIR, 'dir', 'distill-config.json'), 'utf8'),
    );
    expect(config).toMatchObject({ studentHead: 'dirichlet', temperature: 2.5 });
    const summary = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'dir', 'student.json'), 'utf8'));
    expect(summary.head).toBe('dirichlet');
    const { report, out, lines } = downstream('dir');
    const u = report.studentUncertainty;
    expect(u.head).toBe('dirichlet');
    expect(u.alpha0).toBeGreaterThan(0);
    expect(u.totalEntropy).toBeCloseTo(u.expectedEntropy + u.mutualInformation, 10);
    expect(u.mutualInformation).toBeGreaterThan(0);
    const md = await fs.readFile(path.join(env.BDK_RUNS_DIR, 'dir', 'report.md'), 'utf8');
    expect(md).toContain('Uncertainty of the Dirichlet student');
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'bdk.json'), 'utf8'));
    expect(manifest).toMatchObject({ head: 'dirichlet', outputs: 'log-concentrations', temperature: 1 });
    expect(lines[0]).toBe(
      'p_0,p_1,p_2,predicted,entropy,alpha0,totalEntropy,expectedEntropy,mutualInformation',
    );
    expect(lines).toHaveLength(4);
    for (const line of lines.slice(1)) {
      const [p0, p1, p2, , entropy, alpha0, total, expected, mi] = line.split(',').map(Number);
      expect(p0 + p1 + p2).toBeCloseTo(1, 5);
      expect(alpha0).toBeGreaterThan(0);
      expect(total).toBeCloseTo(entropy, 5); // H[α/α₀] is the predictive entropy
      expect(total).toBeCloseTo(expected + mi, 5);
    }
  });

  it('two-variance: the report and predict carry the aleatoric and epistemic variances', async () => {
    expect(distill('reg-t', 'tv', 'two-variance').code).toBe(0);
    const { report, out, lines } = downstream('tv');
    const u = report.studentUncertainty;
    expect(u).toMatchObject({ head: 'two-variance', scale: 'original' });
    expect(u.totalVariance).toBeCloseTo(u.expectedVariance + u.varianceOfMeans, 10);
    expect(report.models.student.metrics.rmse).toBeGreaterThan(0);
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'bdk.json'), 'utf8'));
    expect(manifest).toMatchObject({
      head: 'two-variance',
      outputs: 'mean-logvar-aleatoric-logvar-epistemic',
    });
    // Under --shift the student is read through its Gaussian predictive too: at noise 0 its metrics are the plain ones.
    const evaluate = ['evaluate', '--run', 'tv', '--map-epochs', '0', '--latency-runs', '1', '--no-plots'];
    const shifted = JSON.parse(bdk([...evaluate, '--shift', 'noise:0,1', '--json'], env).stdout);
    expect(shifted.shift.models.student.rmse[0]).toBeCloseTo(report.models.student.metrics.rmse, 10);
    expect(shifted.shift.models.student.ll[0]).toBeCloseTo(report.models.student.metrics.ll, 10);
    expect(lines[0]).toBe('mean,sd,aleatoricVariance,epistemicVariance');
    for (const line of lines.slice(1)) {
      const [, sd, ale, epi] = line.split(',').map(Number);
      // The predictive is N(μ, σ²_ale + σ²_epi).
      expect(sd * sd).toBeCloseTo(ale + epi, 3);
    }
  });

  it('a head of the other task, or a KL direction with dirichlet, is a one-line error naming the flag', () => {
    const wrong = distill('reg-t', 'bad', 'dirichlet');
    expect(wrong.code).toBe(1);
    expect(expectOneLineError(wrong)).toBe(
      "bdk: --student-head dirichlet is for classification, but teacher 'reg-t' is a regression run; use gaussian or two-variance",
    );
    const kl = distill('cls-t', 'bad', 'dirichlet', ['--kl-direction', 'reverse']);
    expect(kl.code).toBe(1);
    expect(expectOneLineError(kl)).toMatch(
      /^bdk: --kl-direction reverse: --student-head dirichlet fits a Dirichlet/,
    );
    const unknown = distill('cls-t', 'bad', 'beta');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe(
      "error: option '--student-head <head>' argument 'beta' is invalid. Allowed choices are softmax, gaussian, dirichlet, two-variance.",
    );
  });

  it('a pipeline sets it with distillation.studentHead; the dirichlet head starts annealing at 2.5', () => {
    const section = { epochs: 1, batchSize: 8, learningRate: 1e-3 };
    const pipeline = (d: object) =>
      parsePipeline({ name: 'p', dataset: { name: 'boston' }, distillation: { ...section, ...d } }, 'p.json');
    const d = pipeline({ studentHead: 'dirichlet' }).distillation!;
    expect(distillConfigFrom({ ...d, teacher: 't' })).toMatchObject({
      studentHead: 'dirichlet',
      temperature: 2.5,
    });
    const hot = pipeline({ studentHead: 'dirichlet', temperature: 4 }).distillation!;
    expect(distillConfigFrom({ ...hot, teacher: 't' }).temperature).toBe(4);
    // The default head leaves the stored config as it was (no key, temperature 1).
    const plain = distillConfigFrom({ ...pipeline({}).distillation!, teacher: 't' });
    expect(plain.temperature).toBe(1);
    expect('studentHead' in plain).toBe(false);
    expect(() => pipeline({ studentHead: 'beta' })).toThrow(/^p\.json: distillation\.studentHead: /);
  });

  it('two-variance widens a spec file made for the Gaussian head; a pipeline report averages its uncertainty', async () => {
    const spec = {
      format: 'bdk-arch',
      version: 1,
      name: 'searched-like',
      input: [2],
      nodes: [{ id: 'h' }, { id: 'out', aggregate: 'sum' }],
      edges: [
        { from: 'input', to: 'h', op: { type: 'dense', units: 8, activation: 'relu' } },
        { from: 'h', to: 'out', op: { type: 'dense', units: 2 } },
        { from: 'input', to: 'out', op: { type: 'dense', units: 2 } },
      ],
      output: 'out',
    };
    const file = path.join(dir, 'searched-like.json');
    await fs.writeFile(file, JSON.stringify(spec));
    // The pipeline's naming: split 0's student of pipeline 'tvp' is run 'tvp-s0-student'.
    expect(distill('reg-t', 'tvp-s0-student', 'two-variance', ['--arch', file]).code).toBe(0);
    const student = JSON.parse(
      await fs.readFile(path.join(env.BDK_RUNS_DIR, 'tvp-s0-student', 'student-spec.json'), 'utf8'),
    );
    expect(student.edges.map((e: { op: { units: number } }) => e.op.units)).toEqual([8, 3, 3]);
    const config = parsePipeline(
      {
        name: 'tvp',
        dataset: { name: 'reg' },
        evaluation: { map: false, latencyRuns: 1, plots: false },
      },
      'tvp.json',
    );
    const { report } = await evaluateSplits(config, [0], {
      dataDir: env.BDK_DATA_DIR,
      runsDir: env.BDK_RUNS_DIR,
    });
    const split = JSON.parse(
      await fs.readFile(path.join(env.BDK_RUNS_DIR, 'tvp-s0-student', 'report.json'), 'utf8'),
    );
    expect(report.studentUncertainty!.head).toBe('two-variance');
    expect(report.studentUncertainty!.metrics.varianceOfMeans.values).toEqual([
      split.studentUncertainty.varianceOfMeans,
    ]);
    const md = await fs.readFile(path.join(env.BDK_RUNS_DIR, 'tvp', 'report.md'), 'utf8');
    expect(md).toContain('Uncertainty of the two-variance student (same units): totalVariance ');
  });

  it('an interrupted dirichlet run resumes into the same weights, annealing included', async () => {
    const config = distillConfigFrom({
      teacher: 'cls-t',
      studentHead: 'dirichlet',
      epochs: 4,
      samplesPerBatch: 4,
      learningRate: 3e-3,
    });
    const where = { dataDir: env.BDK_DATA_DIR, runsDir: env.BDK_RUNS_DIR };
    await distillStudent(config, { run: 'whole', ...where });
    const controller = new AbortController();
    const first = await distillStudent(config, {
      run: 'part',
      ...where,
      signal: controller.signal,
      onProgress: (step) => {
        if (step === 9) controller.abort(); // in the second epoch, while T is still annealing
      },
    });
    expect(first.completed).toBe(false);
    expect((await distillStudent(config, { run: 'part', resume: true, ...where })).completed).toBe(true);
    const weights = (run: string) => fs.readFile(path.join(env.BDK_RUNS_DIR, run, 'student.weights.bin'));
    expect(Buffer.compare(await weights('whole'), await weights('part'))).toBe(0);
  });
});
