import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromRanges } from '../../src/data/splits.js';
import { loadDataset, partArrays } from '../../src/data/store.js';
import { resolveTargetTransform, withTargetTransform } from '../../src/data/target-view.js';
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

  it('a dataset prepared again with another transform is up to date, not rewritten', async () => {
    const files = [path.join(dir, 'boston.arrow'), path.join(dir, 'boston.splits.json')];
    const before = await Promise.all(files.map((f) => fs.readFile(f)));
    for (const targetTransform of [undefined, 'none', 'log'] as const) {
      const again = await prepareBuiltin('boston', { targetTransform }, { dir });
      expect(again.status).toBe('unchanged');
    }
    const after = await Promise.all(files.map((f) => fs.readFile(f)));
    expect(after.map((b, i) => b.equals(before[i]))).toEqual([true, true]);
    // Another split seed is another dataset still.
    await expect(prepareBuiltin('boston', { seed: 9 }, { dir })).rejects.toThrow(
      /boston\.arrow already exists and has different splits \(uci ×20, seed 0, test 0\.1, validation 0\.2, log target; new uci ×20, seed 9, test 0\.1, validation 0\.2\); pass --force to replace it$/,
    );
  });

  it('the scaling refitted for a transform at load equals the one prepared with it, bit for bit', async () => {
    const rawDir = await tempDir();
    try {
      const plain = await prepareBuiltin('boston', {}, { dir: rawDir });
      expect(await fs.readFile(plain.splitsFile, 'utf8')).not.toContain('transform');
      const raw = await loadDataset('boston', rawDir);
      const logged = await loadDataset('boston', dir); // prepared the old way, with log
      const toLog = withTargetTransform(raw, 'log');
      const toNone = withTargetTransform(logged, 'none');
      expect(raw.splits.splits.length).toBe(20);
      for (let k = 0; k < 20; k++) {
        const stored = logged.splits.splits[k].normalization.target!;
        const refit = toLog.splits.splits[k].normalization.target!;
        expect(refit.transform).toBe('log');
        expect(refit.mean === stored.mean && refit.std === stored.std).toBe(true);
        const rawStored = raw.splits.splits[k].normalization.target!;
        const back = toNone.splits.splits[k].normalization.target!;
        expect(back.transform).toBe(undefined);
        expect(back.mean === rawStored.mean && back.std === rawStored.std).toBe(true);
        // The splits and the feature scaling are the dataset's, untouched.
        expect(toLog.splits.splits[k].train).toBe(raw.splits.splits[k].train);
        expect(toLog.splits.splits[k].normalization.features).toBe(
          raw.splits.splits[k].normalization.features,
        );
      }
      // A stored scaling with the requested transform is used as it is.
      expect(withTargetTransform(logged, 'log')).toBe(logged);
      expect(withTargetTransform(raw, 'none')).toBe(raw);
      // The standardized targets a teacher learns from are the same numbers either way.
      expect(partArrays(toLog, 2, 'train').y).toEqual(partArrays(logged, 2, 'train').y);
      // A teacher with no transform of its own takes the dataset's recorded default.
      expect(resolveTargetTransform(undefined, logged.splits)).toBe('log');
      expect(resolveTargetTransform(undefined, raw.splits)).toBe('none');
      expect(resolveTargetTransform('none', logged.splits)).toBe('none');
    } finally {
      await fs.rm(rawDir, { recursive: true, force: true });
    }
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
    // Applied at load, the error names the teacher's setting.
    await importTable({ file: csv, name: 'prices', target: 'price', task: 'regression' }, {}, { dir });
    await importTable(
      { file: csv, name: 'labels', target: 'a', task: 'classification', classes: 13 },
      {},
      { dir },
    );
    const prices = await loadDataset('prices', dir);
    expect(() => withTargetTransform(prices, 'log', 'teacher.targetTransform')).toThrow(
      "prices: target 'price' must be positive for teacher.targetTransform log; row 2 has 0",
    );
    expect(withTargetTransform(prices, 'none')).toBe(prices);
    const labels = await loadDataset('labels', dir);
    expect(() => withTargetTransform(labels, 'log')).toThrow(
      'labels: --target-transform log applies to regression targets; this dataset is classification',
    );
  });
});

describe('teacher runs and the target scale', () => {
  it('the transform is the teacher’s: recorded in its config, applied at load; the deprecated alias is the default', async () => {
    const root = await tempDir();
    const env = { BDK_DATA_DIR: path.join(root, 'datasets'), BDK_RUNS_DIR: path.join(root, 'runs') };
    const config = async (run: string) =>
      JSON.parse(await fs.readFile(path.join(root, 'runs', run, 'config.json'), 'utf8'));
    const sample = ['sample', '--arch', 'linear', '--samples', '3', '--burn-in', '5', '--thin', '2'];
    try {
      const plain = bdk(['data', 'prepare', 'boston'], env);
      expect(plain.code).toBe(0);
      expect(plain.stderr).toBe('');
      const log = bdk([...sample, '--chains', '1', '--run', 'log', '--target-transform', 'log'], env);
      expect(log.code, log.stderr).toBe(0);
      expect((await config('log')).targetTransform).toBe('log');
      const none = bdk([...sample, '--chains', '1', '--run', 'none'], env);
      expect(none.code, none.stderr).toBe(0);
      expect((await config('none')).targetTransform).toBe(undefined);
      // Both teachers distil from the one dataset, each on its own scale.
      for (const t of ['log', 'none']) {
        const d = bdk(['distill', '--teacher', t, '--run', `s-${t}`, '--epochs', '1'], env);
        expect(d.code, d.stderr).toBe(0);
      }
      // Another shard of a run must model the same scale.
      const shard = bdk([...sample, '--chains', '1', '--chain-offset', '1', '--run', 'log'], env);
      expect(shard.code).toBe(1);
      expect(expectOneLineError(shard)).toBe(
        'bdk: cannot add chains from 1 to run \'log\': --target-transform "none" differs from the run\'s "log" (every shard of a run needs the same settings); give the run\'s settings, or --force to replace the run',
      );
      // The deprecated alias: one notice, and the dataset's default for teachers that set none; an
      // existing dataset keeps its own default unless --force, and the notice says so.
      const kept = bdk(['data', 'prepare', 'boston', '--target-transform', 'log'], env);
      expect(kept.code).toBe(0);
      expect(kept.stderr).toMatch(
        /^bdk: --target-transform on data prepare is deprecated: [^\n]*; not recorded: \S*boston\.arrow already exists with default none, left as it is \(--force records log\)\n$/,
      );
      const old = bdk(['data', 'prepare', 'boston', '--target-transform', 'log', '--force'], env);
      expect(old.code).toBe(0);
      expect(old.stderr).toBe(
        "bdk: --target-transform on data prepare is deprecated: the target transform belongs to the teacher (bdk sample --target-transform log, or teacher.targetTransform in a pipeline); recorded as the dataset's default (log) for teachers that set none\n",
      );
      const byDefault = bdk([...sample, '--chains', '1', '--run', 'default'], env);
      expect(byDefault.code, byDefault.stderr).toBe(0);
      expect((await config('default')).targetTransform).toBe('log');
      const own = bdk([...sample, '--chains', '1', '--run', 'own', '--target-transform', 'none'], env);
      expect(own.code, own.stderr).toBe(0);
      expect((await config('own')).targetTransform).toBe(undefined);
      // The runs sampled before keep their scale on the re-prepared dataset.
      const d = bdk(['distill', '--teacher', 'none', '--run', 's-none', '--epochs', '1', '--force'], env);
      expect(d.code, d.stderr).toBe(0);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
