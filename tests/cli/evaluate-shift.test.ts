import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { saveDataset } from '../../src/data/store.js';
import { parseXml } from '../eval/svg-check.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

/**
 * `bdk evaluate --shift` and `--ood` on a tiny image teacher: 6×6 grey images of a vertical (class 0)
 * or horizontal (class 1) bar with noise, and on a tiny Boston teacher.
 */
async function saveImages(dir: string, name: string, rows: number, side: number, seed: number) {
  const rng = new Rng(seed);
  const features = new Uint8Array(rows * side * side);
  const targets = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const label = i % 2;
    const at = 1 + rng.int(side - 2);
    targets[i] = label;
    for (let r = 0; r < side; r++)
      for (let c = 0; c < side; c++) {
        const on = label === 0 ? c === at : r === at;
        features[i * side * side + r * side + c] = Math.min(255, (on ? 200 : 0) + rng.int(40));
      }
  }
  await saveDataset(
    {
      meta: {
        format: 'bdk-dataset',
        version: 1,
        name,
        task: 'classification',
        features: ['pixels'],
        featureCount: side * side,
        target: 'label',
        classCount: 2,
        imageShape: [side, side, 1],
        rows,
        source: 'test',
      },
      features,
      targets,
    },
    { protocol: 'random', seed: 0, count: 1, testFraction: 0.25, validationFraction: 0.1 },
    { dir },
  );
}

let dir: string;
let env: Record<string, string>;
const run = (args: string[]) => bdk(args, env);
const ok = (args: string[]) => {
  const r = run(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
};

beforeAll(async () => {
  dir = await tempDir('bdk-shift-');
  const data = path.join(dir, 'datasets');
  env = { BDK_DATA_DIR: data, BDK_RUNS_DIR: path.join(dir, 'runs') };
  await saveImages(data, 'bars', 240, 6, 1);
  await saveImages(data, 'bars-other', 100, 6, 2);
  await saveImages(data, 'wide', 50, 7, 3);
  ok(['data', 'prepare', 'boston']);
  const teacher = ['--burn-in', '200', '--thin', '10', '--samples', '10', '--chains', '2'];
  ok(['sample', '--dataset', 'bars', ...teacher, '--run', 'it']);
  ok(['distill', '--teacher', 'it', '--run', 'is', '--epochs', '3']);
  ok(['sample', '--dataset', 'boston', ...teacher, '--run', 'bt']);
  ok(['distill', '--teacher', 'bt', '--run', 'bs', '--epochs', '3']);
}, 300_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const evaluate = ['evaluate', '--map-epochs', '0', '--latency-runs', '1'];

describe('bdk evaluate --shift and --ood', () => {
  it('rotates test images and scores the OOD sets; rotation by 0° reproduces the test metrics', async () => {
    ok([
      ...evaluate,
      '--run',
      'is',
      '--shift',
      'rotate:0,90,180',
      '--ood',
      'permute,invert,noise,bars-other',
    ]);
    const runDir = path.join(dir, 'runs', 'is');
    const report = JSON.parse(await fs.readFile(path.join(runDir, 'report.json'), 'utf8'));
    expect(report.shift.kind).toBe('rotate');
    expect(report.shift.values).toEqual([0, 90, 180]);
    expect(Object.keys(report.shift.models)).toEqual(['teacher_single', 'ensemble', 'student']);
    for (const name of ['teacher_single', 'ensemble', 'student'])
      for (const metric of ['error', 'nll', 'brier', 'ece']) {
        expect(report.shift.models[name][metric]).toHaveLength(3);
        expect(report.shift.models[name][metric][0]).toBeCloseTo(report.models[name].metrics[metric], 10);
      }
    expect(report.shift.models.student.klToEnsemble[0]).toBeCloseTo(report.fidelity.klToEnsemble, 10);
    // A quarter turn makes vertical bars horizontal: the labels swap, so the error is far above chance.
    expect(report.shift.models.ensemble.error[1]).toBeGreaterThan(0.5);
    expect(report.ood.rows).toEqual({
      test: report.testRows,
      sets: { permute: report.testRows, invert: report.testRows, noise: report.testRows, 'bars-other': 60 },
    });
    for (const set of ['permute', 'invert', 'noise', 'bars-other']) {
      const s = report.ood.sets[set];
      expect(Object.keys(s)).toEqual(['teacher_single', 'ensemble', 'student']);
      expect(Object.keys(s.ensemble)).toEqual(['entropy', 'mutualInformation']);
      expect(Object.keys(s.student)).toEqual(['entropy']);
      expect(Object.keys(s.teacher_single)).toEqual(['entropy']);
      for (const v of [s.ensemble.entropy, s.ensemble.mutualInformation, s.student.entropy]) {
        expect(v.auroc).toBeGreaterThanOrEqual(0);
        expect(v.auroc).toBeLessThanOrEqual(1);
        expect(v.aupr).toBeGreaterThan(0);
        expect(v.aupr).toBeLessThanOrEqual(1);
      }
    }
    const md = await fs.readFile(path.join(runDir, 'report.md'), 'utf8');
    expect(md).toContain(
      'Shifted and OOD inputs are used only for this evaluation, never for training or for choosing settings.',
    );
    expect(md).toContain('| teacher ensemble (`ensemble`) | mutual information |');
    const svg = await fs.readFile(path.join(runDir, 'shift.svg'), 'utf8');
    const els = parseXml(svg);
    expect(els.filter((e) => e.name === 'svg')).toHaveLength(3);
    expect(report.settings).toMatchObject({
      shift: { kind: 'rotate', values: [0, 90, 180] },
      ood: ['permute', 'invert', 'noise', 'bars-other'],
    });
  });

  it('scores a Dirichlet student by its own mutual information too', async () => {
    ok(['distill', '--teacher', 'it', '--run', 'id', '--epochs', '3', '--student-head', 'dirichlet']);
    ok([...evaluate, '--run', 'id', '--no-plots', '--ood', 'noise']);
    const report = JSON.parse(await fs.readFile(path.join(dir, 'runs', 'id', 'report.json'), 'utf8'));
    const s = report.ood.sets.noise.student;
    expect(Object.keys(s)).toEqual(['entropy', 'mutualInformation']);
    expect(s.mutualInformation.auroc).toBeGreaterThanOrEqual(0);
    expect(s.mutualInformation.auroc).toBeLessThanOrEqual(1);
    expect(s.mutualInformation.aupr).toBeGreaterThan(0);
    // The plain student of the same teacher has no epistemic part of its own.
    const plain = JSON.parse(await fs.readFile(path.join(dir, 'runs', 'is', 'report.json'), 'utf8'));
    expect(Object.keys(plain.ood.sets.noise.student)).toEqual(['entropy']);
  });

  it('takes an imported table of pixel columns as an OOD set', async () => {
    const rng = new Rng(9);
    const header = [...Array.from({ length: 36 }, (_, j) => `p${j}`), 'label'].join(',');
    const rows = Array.from({ length: 30 }, (_, i) =>
      [...Array.from({ length: 36 }, () => rng.int(256)), i % 2].join(','),
    );
    const csv = path.join(dir, 'pixels.csv');
    await fs.writeFile(csv, [header, ...rows].join('\n') + '\n');
    ok(['data', 'import', csv, '--name', 'csvpix', '--target', 'label', '--task', 'classification']);
    ok([...evaluate, '--run', 'is', '--no-plots', '--ood', 'csvpix']);
    const report = JSON.parse(await fs.readFile(path.join(dir, 'runs', 'is', 'report.json'), 'utf8'));
    expect(report.shift).toBeUndefined();
    expect(report.ood.rows.sets).toEqual({ csvpix: 30 });
    const s = report.ood.sets.csvpix.ensemble;
    expect(s.entropy.auroc).toBeGreaterThanOrEqual(0);
    expect(s.mutualInformation.aupr).toBeGreaterThan(0);
  });

  it('adds noise to tabular inputs: level 0 reproduces the test metrics, the ensemble’s intervals widen', async () => {
    ok([...evaluate, '--run', 'bs', '--no-plots', '--shift', 'noise:0,1,4']);
    const report = JSON.parse(await fs.readFile(path.join(dir, 'runs', 'bs', 'report.json'), 'utf8'));
    const e = report.shift.models.ensemble;
    expect(Object.keys(e)).toEqual(['rmse', 'll', 'coverage90', 'width90']);
    expect(e.rmse[0]).toBeCloseTo(report.models.ensemble.metrics.rmse, 10);
    expect(e.width90[0]).toBeCloseTo(report.calibration.ensemble.width['0.9'], 10);
    expect(report.shift.models.student.coverage90[0]).toBeCloseTo(
      report.calibration.student.coverage['0.9'],
      10,
    );
    expect(e.width90[2]).toBeGreaterThan(e.width90[0]);
  });

  it('refuses bad settings with one-line errors', () => {
    const line = (args: string[]) => {
      const r = run([...evaluate, ...args]);
      expect(r.code).toBe(1);
      return expectOneLineError(r);
    };
    expect(line(['--run', 'is', '--shift', 'x'])).toBe(
      "bdk: --shift expects rotate:ANGLES or noise:SCALES, got 'x'",
    );
    expect(line(['--run', 'is', '--shift', 'rotate:10,a'])).toBe(
      "bdk: --shift expects rotate:ANGLES or noise:SCALES, got 'rotate:10,a'",
    );
    expect(line(['--run', 'is', '--ood', 'permute,,x'])).toBe(
      "bdk: --ood expects a comma-separated list of permute, invert, noise or dataset names, got 'permute,,x'",
    );
    expect(line(['--run', 'bs', '--shift', 'rotate:0,90'])).toBe(
      "bdk: --shift rotate needs image data; dataset 'boston' is tabular (use noise:SCALES)",
    );
    expect(line(['--run', 'is', '--shift', 'noise:1'])).toBe(
      "bdk: --shift noise is for tabular data; dataset 'bars' holds images (use rotate:ANGLES)",
    );
    expect(line(['--run', 'bs', '--ood', 'noise'])).toBe(
      "bdk: --ood needs a classification dataset; 'boston' is regression",
    );
    expect(line(['--run', 'is', '--ood', 'wide'])).toBe(
      "bdk: --ood dataset 'wide' has input shape [7,7,1], the run's dataset 'bars' has [6,6,1]",
    );
    expect(line(['--run', 'is', '--ood', 'nope'])).toMatch(/^bdk: dataset 'nope' not found at /);
  });
});
