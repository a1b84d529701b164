import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import { treeHashes } from './tree-hash.js';

let dir: string;
let env: Record<string, string>;
let runs: string;
let inputs: string;
let before: Record<string, string>;

beforeAll(async () => {
  dir = await tempDir();
  runs = path.join(dir, 'runs');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: runs };
  expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
  const sample = ['sample', '--dataset', 'boston', '--sampler', 'sghmc', '--burn-in', '20', '--thin', '2'];
  expect(bdk([...sample, '--samples', '4', '--step-size', '2e-5', '--run', 't'], env).code).toBe(0);
  expect(bdk(['distill', '--teacher', 't', '--run', 's', '--epochs', '1'], env).code).toBe(0);
  expect(bdk(['export', '--run', 's', '--out', path.join(dir, 'model')], env).code).toBe(0);
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'model', 'bdk.json'), 'utf8'));
  inputs = path.join(dir, 'inputs.csv');
  await fs.writeFile(
    inputs,
    `${manifest.features.join(',')}\n${manifest.features.map(() => '1').join(',')}\n`,
  );
  await fs.writeFile(path.join(dir, 'a-file'), 'not a folder\n');
  before = await treeHashes(dir);
}, 240_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Exit 1 with exactly `message` on one line, and nothing on disk changed. */
async function refused(args: string[], message: string) {
  const r = bdk(args, env);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(1);
  expect(expectOneLineError(r)).toBe(`bdk: ${message}`);
  expect(await treeHashes(dir)).toEqual(before);
}

const nameRule = "use letters, digits, '.', '_' and '-'";

describe('invalid run and dataset names are the user’s mistake (exit 1), for every command', () => {
  const cases: [string[], string][] = [
    [['distill', '--teacher', 't', '--run', '../evil'], `invalid run name '../evil': ${nameRule}`],
    [['distill', '--teacher', '../../tmp/x', '--run', 'ok'], `invalid run name '../../tmp/x': ${nameRule}`],
    [['sample', '--dataset', 'boston', '--run', '..'], `invalid run name '..': ${nameRule}`],
    [['sample', '--dataset', '../evil', '--run', 'ok'], `invalid dataset name '../evil': ${nameRule}`],
    [['search', '--teacher', 't', '--run', ''], `invalid run name '': ${nameRule}`],
    [['evaluate', '--run', 'a/b'], `invalid run name 'a/b': ${nameRule}`],
    [['export', '--run', '../s', '--out', 'x'], `invalid run name '../s': ${nameRule}`],
    [
      ['convert-samples', '--run', 't', '--out-run', '../../tmp/x'],
      `invalid run name '../../tmp/x': ${nameRule}`,
    ],
    [['data', 'info', '../evil'], `invalid dataset name '../evil': ${nameRule}`],
  ];
  for (const [args, message] of cases) it(args.join(' '), async () => refused(args, message));

  it('data import --name ../evil', async () => {
    const csv = path.join(dir, 'import.csv');
    await fs.writeFile(csv, 'a,y\n1,2\n3,4\n');
    const r = bdk(['data', 'import', csv, '--name', '../evil', '--target', 'y', '--task', 'regression'], env);
    await fs.rm(csv);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(`bdk: invalid dataset name '../evil': ${nameRule}`);
    expect(await treeHashes(dir)).toEqual(before);
  });
});

describe('damaged files and paths in the way are named with what is wrong', () => {
  it('a truncated weights shard given to predict: the file, expected and actual sizes', async () => {
    const damaged = path.join(dir, 'damaged');
    await fs.cp(path.join(dir, 'model'), damaged, { recursive: true });
    const shard = path.join(damaged, 'group1-shard1of1.bin');
    await fs.truncate(shard, 802 * 4 - 10);
    // The manifest's sizes and digests catch it first.
    const checked = bdk(['predict', '--model', damaged, '--input', inputs], env);
    expect(expectOneLineError(checked)).toBe(
      `bdk: ${shard}: 3198 bytes, the export's manifest records 3208 (truncated or damaged); export the model again`,
    );
    // An export made before manifests had them: the loader checks the sizes model.json lists.
    const manifestFile = path.join(damaged, 'bdk.json');
    const { files: _files, ...older } = JSON.parse(await fs.readFile(manifestFile, 'utf8'));
    await fs.writeFile(manifestFile, JSON.stringify(older));
    const truncated = bdk(['predict', '--model', damaged, '--input', inputs], env);
    expect(truncated.code).toBe(1);
    expect(expectOneLineError(truncated)).toBe(
      `bdk: ${shard}: expected 3208 bytes (the weights ${path.join(damaged, 'model.json')} lists), found 3198; the file is truncated or damaged (export the model again)`,
    );
    await fs.rm(shard);
    const missing = bdk(['predict', '--model', damaged, '--input', inputs], env);
    expect(missing.code).toBe(1);
    expect(expectOneLineError(missing)).toBe(
      `bdk: ${shard}: file not found (listed in ${path.join(damaged, 'model.json')})`,
    );
    await fs.rm(damaged, { recursive: true });
  });

  it('a truncated student weights file given to evaluate and export', async () => {
    const file = path.join(runs, 's', 'student.weights.bin');
    const whole = await fs.readFile(file);
    await fs.writeFile(file, whole.subarray(0, whole.length - 6));
    try {
      const message = `bdk: ${file}: expected 3208 bytes (802 float32 weights), found 3202; the file is truncated or damaged (distill the run again with --force)`;
      for (const args of [
        ['evaluate', '--run', 's'],
        ['export', '--run', 's', '--out', path.join(dir, 'model2')],
      ]) {
        const r = bdk(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(expectOneLineError(r)).toBe(message);
      }
    } finally {
      await fs.writeFile(file, whole);
    }
    expect(await treeHashes(dir)).toEqual(before);
  });

  it('export --out an existing file (with --force), or below one', async () => {
    const file = path.join(dir, 'a-file');
    await refused(
      ['export', '--run', 's', '--out', file, '--force'],
      `${file} is a file, not a folder; choose another --out`,
    );
    await refused(
      ['export', '--run', 's', '--out', path.join(file, 'model')],
      `${path.join(file, 'model')}: ${file} is a file, not a folder; choose another --out`,
    );
  });

  it('predict --output a folder, or below a file', async () => {
    const model = path.join(dir, 'model');
    await refused(
      ['predict', '--model', model, '--input', inputs, '--output', model, '--force'],
      `${model} is a folder, not a file; choose another --output`,
    );
    const file = path.join(dir, 'a-file');
    await refused(
      ['predict', '--model', model, '--input', inputs, '--output', path.join(file, 'p.csv')],
      `${file} is a file, not a folder; choose another --output`,
    );
  });
});
