import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromRanges } from '../../src/data/splits.js';
import { loadDataset, partArrays } from '../../src/data/store.js';
import {
  originalGaussianLogDensity,
  originalLocation,
  originalMoments,
  standardizeTarget,
  type TargetScaling,
} from '../../src/data/target-transform.js';
import { metricsFromOutputs } from '../../src/stages/distill.js';
import { importTable, prepareBuiltin } from '../../src/stages/prepare.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** ∫ f(y) dy by Simpson's rule on [a, b] with n (even) intervals. */
function simpson(f: (y: number) => number, a: number, b: number, n = 200_000): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

describe('target transform', () => {
  const log: TargetScaling = { mean: 3.0, std: 0.4, transform: 'log' };
  const mu = 0.3;
  const varianceZ = 0.5;

  it('log: the density in original units integrates to 1 and has the log-normal moments it reports', () => {
    const p = (y: number) =>
      Math.exp(originalGaussianLogDensity(log, standardizeTarget(log, y), mu, varianceZ));
    const { mean, variance } = originalMoments(log, mu, varianceZ);
    const top = 400; // e^(m + 9 sd) with m = 3.12, sd = 0.28 is about 70: the tail beyond is negligible
    expect(simpson(p, 1e-9, top)).toBeCloseTo(1, 6);
    expect(simpson((y) => y * p(y), 1e-9, top)).toBeCloseTo(mean, 4);
    expect(simpson((y) => (y - mean) ** 2 * p(y), 1e-9, top)).toBeCloseTo(variance, 3);
    // Closed forms: m = 3 + 0.4·0.3, v = 0.16·0.5.
    expect(mean).toBeCloseTo(Math.exp(3.12 + 0.04), 12);
    expect(originalLocation(log, mu)).toBeCloseTo(Math.exp(3.12), 12); // the median
  });

  it('none: the Gaussian rescaled by std, unchanged from the plain standardization', () => {
    const id: TargetScaling = { mean: 22, std: 9 };
    const { mean, variance } = originalMoments(id, mu, varianceZ);
    expect(mean).toBeCloseTo(22 + 9 * mu, 12);
    expect(variance).toBeCloseTo(81 * varianceZ, 12);
    const y = 30;
    const direct = -0.5 * Math.log(2 * Math.PI * variance) - (y - mean) ** 2 / (2 * variance);
    expect(originalGaussianLogDensity(id, standardizeTarget(id, y), mu, varianceZ)).toBeCloseTo(direct, 12);
  });

  it('a student’s metrics on a log target: RMSE of the log-normal means, log-likelihood with the Jacobian', async () => {
    await prepareBuiltin('boston', { targetTransform: 'log' }, { dir });
    const ds = await loadDataset('boston', dir);
    const test = partArrays(ds, 0, 'test');
    // Outputs: μ = the standardized log target + 0.1, log-variance −1 (σ² = e⁻¹ in z units).
    const v = new Float32Array(2 * test.rows);
    for (let i = 0; i < test.rows; i++) [v[2 * i], v[2 * i + 1]] = [test.y[i] + 0.1, -1];
    const t = test.normalization.target!;
    const s2 = Math.exp(-1) * t.std ** 2; // variance of log y
    let se = 0;
    let ll = 0;
    for (let i = 0; i < test.rows; i++) {
      const m = t.mean + t.std * Math.fround(test.y[i] + 0.1);
      se += (Math.exp(m + s2 / 2) - test.yRaw![i]) ** 2;
      const ly = Math.log(test.yRaw![i]);
      ll += -Math.log(test.yRaw![i]) - 0.5 * Math.log(2 * Math.PI * s2) - (ly - m) ** 2 / (2 * s2);
    }
    const got = metricsFromOutputs(v, test, 'regression', 2);
    expect(got.rmse).toBeCloseTo(Math.sqrt(se / test.rows), 5);
    expect(got.ll).toBeCloseTo(ll / test.rows, 5);
  });
});

describe('log targets in datasets', () => {
  it('standardizes log y with the training rows’ statistics and keeps y in original units', async () => {
    const ds = await loadDataset('boston', dir);
    expect(ds.splits.targetTransform).toBe('log');
    const k = 3;
    const train = partArrays(ds, k, 'train');
    const t = train.normalization.target!;
    expect(t.transform).toBe('log');
    const logs = Array.from(fromRanges(ds.splits.splits[k].train), (i) => Math.log(ds.targets[i]));
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / logs.length);
    expect(t.mean).toBeCloseTo(mean, 10);
    expect(t.std).toBeCloseTo(sd, 10);
    const test = partArrays(ds, k, 'test');
    expect(test.yRaw![0]).toBe(ds.targets[test.indices[0]]);
    expect(test.y[0]).toBeCloseTo((Math.log(test.yRaw![0]) - mean) / sd, 5);
  });

  it('changing the transform of a prepared dataset needs --force; the identity writes no transform', async () => {
    await expect(prepareBuiltin('boston', {}, { dir })).rejects.toThrow(
      /boston\.arrow already exists and has different splits \(uci ×20, seed 0, test 0\.1, validation 0\.2, log target; new uci ×20, seed 0, test 0\.1, validation 0\.2\); pass --force to replace it$/,
    );
    const plain = await prepareBuiltin('boston', { targetTransform: 'none' }, { dir, force: true });
    const text = await fs.readFile(plain.splitsFile, 'utf8');
    expect(text).not.toContain('transform');
    expect(partArrays(await loadDataset('boston', dir), 0, 'train').normalization.target!.transform).toBe(
      undefined,
    );
  });

  it('refuses a log transform of a non-positive target and of class labels, naming the row and value', async () => {
    const csv = path.join(dir, 'prices.csv');
    await fs.writeFile(csv, 'a,price\n1,10\n2,0\n3,5\n4,7\n5,9\n6,8\n7,6\n8,4\n9,3\n10,2\n11,1\n12,2\n');
    await expect(
      importTable(
        { file: csv, name: 'prices', target: 'price', task: 'regression' },
        { targetTransform: 'log' },
        { dir },
      ),
    ).rejects.toThrow("prices: target 'price' must be positive for --target-transform log; row 2 has 0");
    await expect(
      importTable(
        { file: csv, name: 'labels', target: 'a', task: 'classification', classes: 13 },
        { targetTransform: 'log' },
        { dir },
      ),
    ).rejects.toThrow(
      'labels: --target-transform log applies to regression targets; this dataset is classification',
    );
  });
});

describe('teacher runs and the target scale', () => {
  it('a teacher sampled before the dataset changed transform is refused, with what to do', async () => {
    const root = await tempDir();
    const env = { BDK_DATA_DIR: path.join(root, 'datasets'), BDK_RUNS_DIR: path.join(root, 'runs') };
    try {
      expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
      const sample = [
        'sample',
        '--dataset',
        'boston',
        '--arch',
        'linear',
        '--samples',
        '3',
        '--burn-in',
        '5',
      ];
      const first = bdk([...sample, '--thin', '2', '--chains', '1', '--run', 't'], env);
      expect(first.code, first.stderr).toBe(0);
      const stored = JSON.parse(await fs.readFile(path.join(root, 'runs', 't', 'config.json'), 'utf8'));
      expect(stored.targetTransform).toBe(undefined);
      expect(bdk(['data', 'prepare', 'boston', '--target-transform', 'log', '--force'], env).code).toBe(0);
      const expected =
        "bdk: teacher run 't' was sampled with target transform none, but dataset 'boston' is now prepared with log; sample it again (--force) or prepare the dataset with --target-transform none";
      const distill = bdk(['distill', '--teacher', 't', '--run', 's', '--epochs', '1'], env);
      expect(distill.code).toBe(1);
      expect(expectOneLineError(distill)).toBe(expected);
      const resume = bdk(['sample', '--resume', '--run', 't', '--samples', '4'], env);
      expect(resume.code).toBe(1);
      expect(expectOneLineError(resume)).toBe(expected);
      // Sampled again on the log scale, the run records it and distils.
      const again = bdk([...sample, '--thin', '2', '--chains', '1', '--run', 't', '--force'], env);
      expect(again.code, again.stderr).toBe(0);
      const now = JSON.parse(await fs.readFile(path.join(root, 'runs', 't', 'config.json'), 'utf8'));
      expect(now.targetTransform).toBe('log');
      expect(bdk(['distill', '--teacher', 't', '--run', 's', '--epochs', '1'], env).code).toBe(0);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
