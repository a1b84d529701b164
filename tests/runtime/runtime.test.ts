import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalQuantile } from '../../src/eval/normal-distribution.js';
import {
  loadStudent,
  type ClassificationPrediction,
  type RegressionPrediction,
} from '../../src/runtime/index.js';
import { predictFile } from '../../src/stages/predict.js';
import type { ExportManifest } from '../../src/stages/export.js';
import { tempDir } from '../helpers.js';
import { IMAGE_SPEC, inputRows, TABULAR_SPEC, TABULAR_SPEC_3, writeCsv, writeExport } from './exports.js';

let dir: string;
const exports: Record<string, { dir: string; m: ExportManifest }> = {};

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('bdk-runtime-');
  const setups = {
    log: { spec: TABULAR_SPEC, task: 'regression', targetTransform: 'log' },
    identity: { spec: TABULAR_SPEC, task: 'regression', seed: 2 },
    uint8: { spec: TABULAR_SPEC, task: 'regression', targetTransform: 'log', quantization: 'uint8', seed: 3 },
    image: { spec: IMAGE_SPEC, task: 'classification', temperature: 2 },
    image16: { spec: IMAGE_SPEC, task: 'classification', quantization: 'float16', seed: 4 },
    dirichlet: { spec: IMAGE_SPEC, task: 'classification', head: 'dirichlet', seed: 5 },
    twoVariance: {
      spec: TABULAR_SPEC_3,
      task: 'regression',
      targetTransform: 'log',
      head: 'two-variance',
      seed: 6,
    },
  } as const;
  for (const [name, s] of Object.entries(setups)) {
    const d = path.join(dir, name);
    exports[name] = { dir: d, m: await writeExport(d, s) };
  }
});

/** `bdk predict`'s numbers for rows, through a CSV file as the CLI reads them. */
async function reference(name: string, rows: number[][]) {
  const { dir: d, m } = exports[name];
  const columns = m.imageShape ? rows[0].map((_, k) => `px${k}`) : m.features;
  const file = path.join(dir, `${name}-input.csv`);
  await writeCsv(file, columns, rows);
  return predictFile(d, file);
}

describe('loadStudent + predict reproduce bdk predict', () => {
  for (const name of ['log', 'identity', 'uint8']) {
    it(`regression (${name})`, async () => {
      const rows = inputRows(exports[name].m, 9);
      const ref = await reference(name, rows);
      const student = await loadStudent(exports[name].dir);
      const p = (await student.predict(rows)) as RegressionPrediction;
      student.dispose();
      const log = name !== 'identity';
      expect(ref.columns).toEqual(log ? ['mean', 'sd', 'median'] : ['mean', 'sd']);
      ref.rows.forEach((r, i) => {
        expect(p.mean[i]).toBeCloseTo(r[0], 5);
        expect(p.sd[i]).toBeCloseTo(r[1], 5);
        if (log) expect(p.median![i]).toBeCloseTo(r[2], 5);
        expect(Math.abs(p.mean[i] - r[0])).toBeLessThan(1e-5 * Math.max(1, Math.abs(r[0])));
      });
      if (!log) expect(p.median).toBeUndefined();
    });
  }

  for (const name of ['image', 'image16']) {
    it(`classification (${name})`, async () => {
      const rows = inputRows(exports[name].m, 7);
      const ref = await reference(name, rows);
      const student = await loadStudent(pathToFileURL(exports[name].dir));
      const p = (await student.predict(Float32Array.from(rows.flat()))) as ClassificationPrediction;
      student.dispose();
      expect(ref.columns).toEqual(['p_cat', 'p_dog', 'p_eel', 'predicted', 'entropy']);
      ref.rows.forEach((r, i) => {
        p.probs[i].forEach((q, k) => expect(Math.abs(q - r[k])).toBeLessThan(1e-5));
        expect(p.label[i]).toBe(r[3]);
        expect(p.className[i]).toBe(['cat', 'dog', 'eel'][r[3]]);
        expect(Math.abs(p.entropy[i] - r[4])).toBeLessThan(1e-5);
      });
      // Not a degenerate model: the rows do not all get one class with certainty.
      expect(Math.min(...p.entropy)).toBeGreaterThan(1e-3);
    });
  }

  const close = (a: number, b: number, what: string) =>
    expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b)));

  it('a Dirichlet student: the probabilities and its uncertainty columns', async () => {
    const rows = inputRows(exports.dirichlet.m, 7);
    const ref = await reference('dirichlet', rows);
    const student = await loadStudent(exports.dirichlet.dir);
    const p = (await student.predict(rows)) as ClassificationPrediction;
    student.dispose();
    const extra = ['alpha0', 'totalEntropy', 'expectedEntropy', 'mutualInformation'] as const;
    expect(ref.columns).toEqual(['p_cat', 'p_dog', 'p_eel', 'predicted', 'entropy', ...extra]);
    ref.rows.forEach((r, i) => {
      p.probs[i].forEach((q, k) => close(q, r[k], `p[${i}][${k}]`));
      expect(p.label[i]).toBe(r[3]);
      extra.forEach((c, j) => close(p[c]![i], r[5 + j], `${c}[${i}]`));
      close(p.totalEntropy![i], p.entropy[i], 'total entropy is the entropy of the mean');
    });
    expect(Math.max(...p.mutualInformation!)).toBeGreaterThan(0);
  });

  it('a two-variance student: the Gaussian predictive and its two variances', async () => {
    const rows = inputRows(exports.twoVariance.m, 9);
    const ref = await reference('twoVariance', rows);
    const student = await loadStudent(exports.twoVariance.dir);
    const p = (await student.predict(rows)) as RegressionPrediction;
    student.dispose();
    expect(ref.columns).toEqual(['mean', 'sd', 'median', 'aleatoricVariance', 'epistemicVariance']);
    ref.rows.forEach((r, i) => {
      close(p.mean[i], r[0], `mean[${i}]`);
      close(p.sd[i], r[1], `sd[${i}]`);
      close(p.median![i], r[2], `median[${i}]`);
      close(p.aleatoricVariance![i], r[3], `aleatoric[${i}]`);
      close(p.epistemicVariance![i], r[4], `epistemic[${i}]`);
    });
  });

  it('takes rows as arrays, a flat Float32Array or objects keyed by feature name, alike', async () => {
    const { dir: d, m } = exports.log;
    const rows = inputRows(m, 4);
    const student = await loadStudent(d + '/');
    // The task narrows the student's type, and so predict's result (no cast).
    if (student.task !== 'regression') throw new Error('expected a regression export');
    const a = await student.predict(rows);
    const b = await student.predict(Float32Array.from(rows.flat()));
    const objects = rows.map((r) => Object.fromEntries(m.features.map((f, k) => [f, r[k]])));
    const c = await student.predict(objects.reverse());
    student.dispose();
    // The flat array holds float32 inputs, so its rows differ from the float64 ones by rounding only.
    b.mean.forEach((v, i) => expect(Math.abs(v - a.mean[i])).toBeLessThan(1e-5 * a.mean[i]));
    expect(c.mean.reverse()).toEqual(a.mean);
  });
});

describe('interval(p)', () => {
  it('is mean ± z·sd for an untransformed target, the log-normal quantiles for a log target', async () => {
    const rowsOf = (name: string) => inputRows(exports[name].m, 5);
    const id = await loadStudent(exports.identity.dir);
    const g = (await id.predict(rowsOf('identity'))) as RegressionPrediction;
    const z90 = normalQuantile(0.95);
    expect(z90).toBeCloseTo(1.6448536269514722, 12);
    const i90 = g.interval(0.9);
    g.mean.forEach((m, i) => {
      expect(i90.lower[i]).toBeCloseTo(m - z90 * g.sd[i], 10);
      expect(i90.upper[i]).toBeCloseTo(m + z90 * g.sd[i], 10);
    });
    const lg = await loadStudent(exports.log.dir);
    const l = (await lg.predict(rowsOf('log'))) as RegressionPrediction;
    const i50 = l.interval(0.5);
    l.mean.forEach((mean, i) => {
      // The log-normal's m and s from its mean and median: median = e^m, mean = e^(m + s²/2).
      const m = Math.log(l.median![i]);
      const s = Math.sqrt(2 * (Math.log(mean) - m));
      const z = normalQuantile(0.75);
      expect(i50.lower[i]).toBeCloseTo(Math.exp(m - z * s), 8);
      expect(i50.upper[i]).toBeCloseTo(Math.exp(m + z * s), 8);
      // Its sd agrees with the same m and s: sd² = (e^(s²) − 1) e^(2m + s²).
      expect(l.sd[i]).toBeCloseTo(Math.sqrt(Math.expm1(s * s) * Math.exp(2 * m + s * s)), 6);
      expect(i50.lower[i]).toBeLessThan(l.median![i]);
    });
    expect(() => l.interval(1)).toThrow('interval: p must be between 0 and 1, got 1');
    id.dispose();
    lg.dispose();
  });
});

describe('verification and input errors', () => {
  it('a changed byte in a copy of the weight shard is a one-line error naming the file', async () => {
    const copy = path.join(dir, 'flipped');
    await fs.cp(exports.log.dir, copy, { recursive: true });
    const shard = path.join(copy, 'group1-shard1of1.bin');
    const bytes = await fs.readFile(shard);
    bytes[17] ^= 0x01;
    await fs.writeFile(shard, bytes);
    const err = await loadStudent(copy).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^${shard.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: SHA-256 [0-9a-f]{12}… differs from the manifest's [0-9a-f]{12}… \\(the file was changed after export\\); export the model again$`,
      ),
    );
    await fs.writeFile(shard, bytes.subarray(0, 100));
    await expect(loadStudent(copy)).rejects.toThrow(
      `${shard}: 100 bytes, the export's manifest records ${bytes.length} (truncated or damaged); export the model again`,
    );
    await fs.rm(shard);
    await expect(loadStudent(copy)).rejects.toThrow(`${shard}: file not found`);
    await expect(loadStudent(path.join(dir, 'nowhere'))).rejects.toThrow(
      `${path.join(dir, 'nowhere', 'bdk.json')}: file not found`,
    );
  });

  it('an unknown layer class is a one-line error naming it', async () => {
    const copy = path.join(dir, 'unknown-layer');
    await fs.cp(exports.identity.dir, copy, { recursive: true });
    const file = path.join(copy, 'model.json');
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    json.modelTopology.config.layers[1].class_name = 'LSTM';
    await fs.writeFile(file, JSON.stringify(json));
    const manifest = JSON.parse(await fs.readFile(path.join(copy, 'bdk.json'), 'utf8'));
    delete manifest.files; // an export made before digests: loaded without verification
    await fs.writeFile(path.join(copy, 'bdk.json'), JSON.stringify(manifest));
    const name = json.modelTopology.config.layers[1].name;
    await expect(loadStudent(copy)).rejects.toThrow(
      `${file}: layer '${name}' has class 'LSTM', which the runtime does not run (it runs InputLayer, Dense, Conv2D, MaxPooling2D, Flatten, Concatenate, Add, Dropout, Activation)`,
    );
  });

  it('wrong feature counts, unknown or missing names and non-finite values are one-line errors', async () => {
    const { dir: d, m } = exports.log;
    const student = await loadStudent(d);
    const rows = inputRows(m, 3);
    const names = m.features.join(', ');
    const fails = (r: unknown) => student.predict(r as number[][]);
    await expect(fails([rows[0], rows[1], rows[2].slice(1)])).rejects.toThrow(
      `predict: row 3 has 12 values, the model expects 13 (${names})`,
    );
    await expect(fails(new Float32Array(27))).rejects.toThrow(
      `predict: 27 values are not a whole number of rows; the model expects 13 (${names}) a row`,
    );
    const bad = rows.map((r) => [...r]);
    bad[1][9] = NaN;
    await expect(fails(bad)).rejects.toThrow("predict: row 2, column 'TAX' is NaN");
    bad[1][9] = Infinity;
    await expect(fails(bad)).rejects.toThrow("predict: row 2, column 'TAX' is Infinity");
    const obj = Object.fromEntries(m.features.map((f, k) => [f, rows[0][k]]));
    await expect(fails([obj, { ...obj, LSTAT: undefined, lstat: 3 }])).rejects.toThrow(
      `predict: row 2 has an unknown feature 'lstat'; the model expects 13 (${names})`,
    );
    const { RM: _rm, ...noRm } = obj;
    await expect(fails([noRm])).rejects.toThrow(
      `predict: row 1 has no feature 'RM'; the model expects 13 (${names})`,
    );
    await expect(fails([{ ...obj, AGE: '40' }])).rejects.toThrow(
      `predict: row 1, column 'AGE' is "40", not a number`,
    );
    await expect(fails([])).rejects.toThrow('predict: no rows to predict');
    student.dispose();
    const image = await loadStudent(exports.image.dir);
    await expect(image.predict([new Array(63).fill(0)])).rejects.toThrow(
      'predict: row 1 has 63 values, the model expects 64 (a 8×8×1 image)',
    );
    await expect(image.predict([{ pixels: 1 }])).rejects.toThrow(
      'predict: row 1 is an object; an image model takes rows of 64 pixel values',
    );
    image.dispose();
  });
});
