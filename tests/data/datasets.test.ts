import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDataset, readDatasetMeta } from '../../src/data/arrow-dataset.js';
import { parseIdx } from '../../src/data/idx.js';
import { fromRanges, rangeSize, splitsPath, toRanges } from '../../src/data/splits.js';
import { loadDataset, partArrays } from '../../src/data/store.js';
import { defaultMnistFiles } from '../../src/data/sources/mnist.js';
import { importTable, prepareBuiltin } from '../../src/stages/prepare.js';
import { tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('boston', () => {
  it('converts the stdlib CSV to Arrow with metadata, known values and a stable checksum', async () => {
    const saved = await prepareBuiltin('boston', {}, { dir });
    expect(saved.status).toBe('written');
    const ds = await loadDataset('boston', dir);
    expect(ds.meta.rows).toBe(506);
    expect(ds.meta.featureCount).toBe(13);
    expect(ds.meta.features).toEqual([
      'CRIM',
      'ZN',
      'INDUS',
      'CHAS',
      'NOX',
      'RM',
      'AGE',
      'DIS',
      'RAD',
      'TAX',
      'PTRATIO',
      'B',
      'LSTAT',
    ]);
    expect(ds.meta.target).toBe('MEDV');
    expect(ds.meta.task).toBe('regression');
    expect(ds.features[0]).toBe(0.00632); // CRIM, row 0
    expect(ds.targets[0]).toBe(24.0); // MEDV, row 0
    expect(ds.targets[505]).toBe(11.9);
    expect(ds.meta.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Re-preparing identical content is a no-op and keeps the checksum.
    const again = await prepareBuiltin('boston', {}, { dir });
    expect(again.status).toBe('unchanged');
    expect(again.meta.checksum).toBe(ds.meta.checksum);
  });

  it('makes the UCI protocol splits: 20 disjoint 455/51 splits with a 91-row validation carve-out', async () => {
    const ds = await loadDataset('boston', dir);
    expect(ds.splits.count).toBe(20);
    const tests = new Set<string>();
    for (const s of ds.splits.splits) {
      const [tr, va, te] = [fromRanges(s.train), fromRanges(s.validation), fromRanges(s.test)];
      expect([tr.length, va.length, te.length]).toEqual([364, 91, 51]);
      const all = new Set([...tr, ...va, ...te]);
      expect(all.size).toBe(506); // disjoint and covering
      tests.add(te.join(','));
    }
    expect(tests.size).toBe(20); // the splits differ
  });

  it('standardizes with statistics of the training part only', async () => {
    const ds = await loadDataset('boston', dir);
    const k = 3;
    const train = partArrays(ds, k, 'train');
    const test = partArrays(ds, k, 'test');
    const d = ds.meta.featureCount;
    for (let j = 0; j < d; j++) {
      let m = 0;
      let v = 0;
      for (let i = 0; i < train.rows; i++) m += train.x[i * d + j];
      m /= train.rows;
      for (let i = 0; i < train.rows; i++) v += (train.x[i * d + j] - m) ** 2;
      expect(Math.abs(m)).toBeLessThan(1e-5);
      expect(Math.sqrt(v / train.rows)).toBeCloseTo(1, 4);
    }
    const t = train.normalization.target!;
    const raw = Array.from(fromRanges(ds.splits.splits[k].train), (i) => ds.targets[i]);
    expect(t.mean).toBeCloseTo(raw.reduce((a, b) => a + b, 0) / raw.length, 10);
    // Test rows use the training statistics: undoing them recovers the raw values.
    const f = test.normalization.features;
    const row = test.indices[0];
    expect(test.x[0] * f.std![0] + f.mean![0]).toBeCloseTo(ds.features[row * d], 4);
    expect(test.yRaw![0]).toBe(ds.targets[row]);
  });

  it('gives bit-identical splits for the same seed and different ones for another seed', async () => {
    const other = await tempDir();
    try {
      const a = await prepareBuiltin('boston', { seed: 5 }, { dir: other });
      const textA = await fs.readFile(a.splitsFile, 'utf8');
      await fs.rm(a.splitsFile);
      const b = await prepareBuiltin('boston', { seed: 5 }, { dir: other });
      expect(await fs.readFile(b.splitsFile, 'utf8')).toBe(textA);
      await expect(prepareBuiltin('boston', { seed: 6 }, { dir: other })).rejects.toThrow(
        /boston\.arrow already exists and has different splits \(uci ×20, seed 5, .*; new uci ×20, seed 6, .*\); pass --force to replace it$/,
      );
      const c = await prepareBuiltin('boston', { seed: 6 }, { dir: other, force: true });
      expect(await fs.readFile(c.splitsFile, 'utf8')).not.toBe(textA);
      expect((await fs.readdir(other)).sort()).toEqual(['boston.arrow', 'boston.splits.json']); // no temp files left
    } finally {
      await fs.rm(other, { recursive: true, force: true });
    }
  });

  it('detects corrupt and truncated Arrow files and changed content', async () => {
    const file = path.join(dir, 'boston.arrow');
    const bytes = await fs.readFile(file);
    const bad = path.join(dir, 'bad.arrow');
    await fs.writeFile(bad, bytes.subarray(0, 200));
    await expect(readDataset(bad)).rejects.toThrow(
      new RegExp(`^${bad}: corrupt or unreadable Arrow IPC file \\(`),
    );
    await fs.writeFile(bad, 'not arrow at all\n');
    await expect(readDatasetMeta(bad)).rejects.toThrow(`${bad}: corrupt or unreadable Arrow IPC file`);
    // Flip one byte of a float value: the file still parses but the checksum catches it.
    const flipped = Buffer.from(bytes);
    const needle = Buffer.from(new Float64Array([0.00632]).buffer);
    const at = flipped.indexOf(needle);
    expect(at).toBeGreaterThan(0);
    flipped[at] ^= 1;
    await fs.writeFile(bad, flipped);
    await expect(readDataset(bad)).rejects.toThrow(
      /content checksum mismatch \(stored sha256:[0-9a-f]+, computed sha256:[0-9a-f]+\); re-prepare the dataset$/,
    );
    await fs.writeFile(bad, '');
    await expect(readDataset(bad)).rejects.toThrow(`${bad}: file is empty`);
    await expect(readDataset(path.join(dir, 'missing.arrow'))).rejects.toThrow(
      `${path.join(dir, 'missing.arrow')}: file not found`,
    );
  });
});

describe('ranges', () => {
  it('round-trips index sets through sorted half-open ranges', () => {
    const idx = [9, 3, 4, 5, 0, 11, 10];
    const r = toRanges(idx);
    expect(r).toEqual([
      [0, 1],
      [3, 6],
      [9, 12],
    ]);
    expect([...fromRanges(r)]).toEqual([...idx].sort((a, b) => a - b));
    expect(rangeSize(r)).toBe(7);
  });
});

describe('mnist', () => {
  it('converts the IDX files: 60 000 + 10 000 uint8 images, label counts equal the IDX file, 50k/10k/10k split', async () => {
    const saved = await prepareBuiltin('mnist', {}, { dir });
    const ds = await loadDataset('mnist', dir);
    expect(saved.meta.rows).toBe(70_000);
    expect(ds.features).toBeInstanceOf(Uint8Array);
    expect(ds.features.length).toBe(70_000 * 784);
    expect(ds.meta.imageShape).toEqual([28, 28, 1]);
    expect(ds.meta.classCount).toBe(10);
    const labelBytes = await fs.readFile(defaultMnistFiles().trainLabels);
    const idxLabels = parseIdx(labelBytes, 'train-labels').data;
    const fromIdx = new Array(10).fill(0);
    for (const l of idxLabels) fromIdx[l]++;
    const fromArrow = new Array(10).fill(0);
    for (let i = 0; i < 60_000; i++) fromArrow[ds.targets[i]]++;
    expect(fromArrow).toEqual(fromIdx);
    expect(fromArrow.reduce((a, b) => a + b, 0)).toBe(60_000);
    // Pixels survive the round trip: image 0 of the IDX file equals row 0.
    const images = parseIdx(await fs.readFile(defaultMnistFiles().trainImages), 'train-images').data;
    expect(Buffer.from(ds.features.subarray(0, 784)).equals(Buffer.from(images.subarray(0, 784)))).toBe(true);
    const s = ds.splits.splits[0];
    expect([rangeSize(s.train), rangeSize(s.validation), rangeSize(s.test)]).toEqual([
      50_000, 10_000, 10_000,
    ]);
    const test = partArrays(ds, 0, 'test');
    expect(test.x.length).toBe(10_000 * 784);
    expect(Math.max(...test.x.subarray(0, 784))).toBeLessThanOrEqual(1);
    expect(test.y[0]).toBe(7); // first t10k label
    expect(JSON.parse(await fs.readFile(splitsPath(saved.file), 'utf8')).splits[0].test).toEqual([
      [60_000, 70_000],
    ]);
  });
});

describe('import', () => {
  it('imports a user CSV for classification and an Arrow file for regression with the same layout', async () => {
    const csv = path.join(dir, 'iris-like.csv');
    const lines = ['a,b,label'];
    for (let i = 0; i < 60; i++) lines.push(`${i / 10},${(i * 7) % 13},${i % 3}`);
    await fs.writeFile(csv, lines.join('\n') + '\n');
    const saved = await importTable(
      { file: csv, name: 'mine', target: 'label', task: 'classification' },
      {},
      { dir },
    );
    expect(saved.meta.classCount).toBe(3);
    const ds = await loadDataset('mine', dir);
    expect([...ds.targets.subarray(0, 4)]).toEqual([0, 1, 2, 0]);
    expect(ds.features[2 * 2 + 1]).toBe(14 % 13);

    const { tableToIPC, tableFromArrays } = await import('apache-arrow');
    const arrowFile = path.join(dir, 'reg-input.arrow');
    const x = Float64Array.from({ length: 50 }, (_, i) => i);
    await fs.writeFile(arrowFile, tableToIPC(tableFromArrays({ x, y: x.map((v) => 2 * v + 1) }), 'file'));
    const reg = await importTable(
      { file: arrowFile, name: 'reg', target: 'y', task: 'regression' },
      { count: 3 },
      { dir },
    );
    expect(reg.splits.count).toBe(3);
    expect((await loadDataset('reg', dir)).targets[10]).toBe(21);
  });

  it('refuses to import a file onto its own output path', async () => {
    await expect(
      importTable(
        { file: path.join(dir, 'reg.arrow'), name: 'reg', target: 'y', task: 'regression' },
        {},
        { dir },
      ),
    ).rejects.toThrow(
      `${path.join(dir, 'reg.arrow')}: cannot import a file onto itself (dataset 'reg' is stored there); choose another --name`,
    );
  });
});
