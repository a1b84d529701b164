import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = await tempDir();
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: path.join(dir, 'checkpoints') };
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bdk CLI', () => {
  it('documents every command and option in --help', () => {
    const top = bdk(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['info', 'data', 'run']) expect(top.stdout).toContain(c);
    const imp = bdk(['data', 'import', '--help']);
    for (const o of [
      '--name',
      '--target',
      '--task',
      '--features',
      '--classes',
      '--splits',
      '--seed',
      '--test-fraction',
      '--validation-fraction',
      '--force',
      '--json',
    ]) {
      expect(imp.stdout).toContain(o);
    }
    expect(bdk(['info', '--help']).stdout).toContain('--backend <name>');
  });

  it('info picks wasm on this machine and reports SIMD and folders as JSON', () => {
    const r = bdk(['info', '--json'], env);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(['tensorflow-gpu', 'tensorflow', 'wasm']).toContain(info.backend);
    if (info.backend === 'wasm') expect(typeof info.simd).toBe('boolean');
    expect(info.dataDir).toBe(env.BDK_DATA_DIR);
    expect(info.versions.tfjs).toBe('4.22.0');
  });

  it('an unavailable backend is a one-line error naming the package', () => {
    const r = bdk(['info', '--backend', 'tensorflow-gpu'], env);
    if (r.code === 0) return; // tfjs-node-gpu really is installed on this machine
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      /^bdk: backend 'tensorflow-gpu' (needs the package @tensorflow\/tfjs-node-gpu, which is not installed|failed to load)/,
    );
    const viaEnv = bdk(['info'], { ...env, BDK_BACKEND: 'tensorflow-gpu' });
    expect(viaEnv.stderr).toBe(r.stderr);
  });

  it('prepares, describes and lists datasets', () => {
    const badTransform = bdk(['data', 'prepare', 'boston', '--target-transform', 'sqrt'], env);
    expect(badTransform.code).not.toBe(0);
    expect(badTransform.stderr).toContain("option '--target-transform <kind>' argument 'sqrt' is invalid");
    // The log target of the Boston pipelines (the quick one runs on this dataset below).
    const prep = bdk(['data', 'prepare', 'boston', '--target-transform', 'log'], env);
    expect(prep.code).toBe(0);
    // A deprecated alias: the transform is the teacher's (bdk sample --target-transform).
    expect(prep.stderr).toMatch(/^bdk: --target-transform on data prepare is deprecated: [^\n]*\n$/);
    expect(prep.stdout).toMatch(
      /^wrote .*boston\.arrow \(506 rows, 13 features, regression\); 20 splits \(train 364 \/ validation 91 \/ test 51\)\n$/,
    );
    const again = bdk(['data', 'prepare', 'boston', '--target-transform', 'log'], env);
    expect(again.stdout).toMatch(/^up to date: /);
    const info = JSON.parse(bdk(['data', 'info', 'boston', '--json', '--verify'], env).stdout);
    expect(info.meta.rows).toBe(506);
    expect(info.verified).toBe(true);
    expect(info.splits).toMatchObject({
      protocol: 'uci',
      count: 20,
      seed: 0,
      targetTransform: 'log',
      sizes: { train: 364, validation: 91, test: 51 },
    });
    expect(bdk(['data', 'info', 'boston'], env).stdout).toMatch(
      /task: +regression; target MEDV \(teachers' default: log MEDV\)/,
    );
    expect(bdk(['data', 'list'], env).stdout).toMatch(
      /^boston\tregression\t506 rows\t13 features\t20 splits$/m,
    );
  });

  it('refuses to overwrite a dataset silently', () => {
    const r = bdk(['data', 'prepare', 'boston', '--seed', '9'], env);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      /already exists and has different splits .*; pass --force to replace it$/,
    );
  });

  it('bad input: one line on stderr, non-zero exit, no stack trace', async () => {
    const csv = path.join(dir, 'ragged.csv');
    await fs.writeFile(csv, 'a,b\n1,2\n3\n');
    const r = bdk(['data', 'import', csv, '--name', 'r', '--target', 'b', '--task', 'regression'], env);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(`bdk: ${csv}:3: expected 2 fields (as in the header), found 1`);
    const unknown = bdk(['data', 'info', 'nothing'], env);
    expect(expectOneLineError(unknown)).toMatch(
      /^bdk: dataset 'nothing' not found at .*nothing\.arrow; run `bdk data prepare nothing` or `bdk data import`$/,
    );
    const badName = bdk(['data', 'prepare', 'cifar'], env);
    expect(expectOneLineError(badName)).toBe(
      "bdk: unknown built-in dataset 'cifar': expected one of boston, mnist, cifar10 (use `bdk data import` for your own files)",
    );
    const badFlag = bdk(['data', 'prepare', 'boston', '--test-fraction', '2'], env);
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.stderr).toContain("expected a number between 0 and 1 (exclusive), got '2'");
    const badActivation = bdk(
      ['search', '--objective', 'labels', '--dataset', 'boston', '--activations', 'relu,swish', '--run', 'a'],
      env,
    );
    expect(badActivation.code).toBe(1);
    expect(expectOneLineError(badActivation)).toBe(
      "bdk: --activations: unknown activation 'swish' (expected linear, relu, tanh, sigmoid, softplus, elu)",
    );
  });

  it('run validates a pipeline, runs every stage, and names a missing teacher for a distill search', async () => {
    const dry = bdk(['run', 'pipelines/boston-quick.json', '--dry-run'], env);
    expect(dry.stdout).toBe(
      'pipelines/boston-quick.json: valid; stages: prepare → sample → search → distill → evaluate → export\n',
    );
    const r = bdk(['run', 'pipelines/boston-quick.json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^backend: \S+ \(/);
    expect(r.stdout).toContain('stage prepare: up to date');
    expect(r.stdout).toMatch(/stage sample: ensemble over 1 split: rmse /);
    expect(r.stdout).toMatch(
      /stage evaluate: student rmse [\d.]+, ll -[\d.]+; ensemble rmse [\d.]+, ll -[\d.]+; student \d+× smaller, \d+× faster; wrote /,
    );
    expect(r.stdout).toMatch(
      /stage export: wrote .*boston-quick\/export \(split 0 student, \d+ bytes of float32 weights\)/,
    );
    const search = path.join(dir, 'search.json');
    await fs.writeFile(
      search,
      JSON.stringify({
        name: 's',
        dataset: { name: 'boston', splits: { targetTransform: 'log' }, use: [0] },
        search: { space: 'mlp', epochs: 1 },
      }),
    );
    const noTeacher = bdk(['run', search], env);
    expect(noTeacher.code).toBe(1);
    expect(expectOneLineError(noTeacher)).toBe(
      'bdk: search.objective "distill" needs a teacher section (or use "labels")',
    );
    const bad = path.join(dir, 'bad.json');
    await fs.writeFile(
      bad,
      JSON.stringify({ name: 'x', dataset: { name: 'boston' }, teacher: { arch: 'mlp-50' } }),
    );
    const v = bdk(['run', bad], env);
    expect(v.code).toBe(1);
    expect(expectOneLineError(v)).toBe(
      `bdk: ${bad}: teacher.samples: required number is missing; teacher.batchSize: required number is missing`,
    );
  });
});
