import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAllSamples, scanSamples } from '../../src/samples/index.js';
import { bdk, expectOneLineError, ROOT, tempDir } from '../helpers.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = await tempDir();
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: path.join(dir, 'runs') };
  expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const small = [
  '--dataset',
  'boston',
  '--arch',
  'mlp-50',
  '--sampler',
  'sghmc',
  '--burn-in',
  '50',
  '--thin',
  '5',
  '--chains',
  '2',
  '--step-size',
  '2e-5',
];

async function samplesOf(run: string) {
  const files = (await fs.readdir(path.join(env.BDK_RUNS_DIR, run)))
    .filter((f) => f.startsWith('samples-'))
    .sort();
  return readAllSamples(files.map((f) => path.join(env.BDK_RUNS_DIR, run, f)));
}

describe('bdk sample', () => {
  it('writes spec, config, samples, trace, state and a report; never overwrites without --force', async () => {
    const r = bdk(['sample', ...small, '--samples', '6', '--run', 'a', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.samples).toBe(12);
    expect(summary.metrics.rmse).toBeGreaterThan(0);
    expect(Number.isFinite(summary.metrics.ll)).toBe(true);
    const files = (await fs.readdir(path.join(env.BDK_RUNS_DIR, 'a'))).sort();
    expect(files).toEqual([
      'config.json',
      'samples-c0.arrow',
      'shard-c0.json',
      'spec.json',
      'state-c0.bin',
      'teacher.json',
      'trace-c0.csv',
    ]);
    const s = await samplesOf('a');
    expect(s.rows).toBe(12);
    expect(s.parameterCount).toBe(751);
    expect(Array.from(s.step.subarray(0, 4))).toEqual([55, 55, 60, 60]);
    const again = bdk(['sample', ...small, '--samples', '6', '--run', 'a'], env);
    expect(again.code).toBe(1);
    expect(expectOneLineError(again)).toBe(
      `bdk: run 'a' already exists at ${path.join(env.BDK_RUNS_DIR, 'a')}; pass --resume to continue it or --force to replace it`,
    );
  });

  it('the same seed gives bit-identical samples; shards with --chain-offset equal one vectorized run', async () => {
    expect(bdk(['sample', ...small, '--samples', '6', '--run', 'b'], env).code).toBe(0);
    const a = await samplesOf('a');
    const b = await samplesOf('b');
    expect(Buffer.from(b.weights.buffer).equals(Buffer.from(a.weights.buffer))).toBe(true);
    // The same 2 chains as two processes of one chain each.
    const one = small.map((v) => (v === '2' ? '1' : v));
    expect(bdk(['sample', ...one, '--samples', '6', '--run', 'c', '--chain-offset', '0'], env).code).toBe(0);
    expect(bdk(['sample', ...one, '--samples', '6', '--run', 'c', '--chain-offset', '1'], env).code).toBe(0);
    // Draws made one step ahead by the worker thread (forced on: these chains are small) are the same
    // draws: identical samples and identical saved chain state, generator positions included.
    expect(
      bdk(['sample', ...small, '--samples', '6', '--run', 'w'], { ...env, BDK_DRAW_WORKER: '1' }).code,
    ).toBe(0);
    const w = await samplesOf('w');
    expect(Buffer.from(w.weights.buffer).equals(Buffer.from(a.weights.buffer))).toBe(true);
    const state = (run: string) => fs.readFile(path.join(env.BDK_RUNS_DIR, run, 'state-c0.bin'));
    expect((await state('w')).equals(await state('a'))).toBe(true);
    const c = await samplesOf('c');
    expect(c.rows).toBe(12);
    const pick = (x: typeof a, chain: number) =>
      Array.from({ length: x.rows }, (_, i) => i).filter((i) => x.chain[i] === chain);
    for (const chain of [0, 1]) {
      const ia = pick(a, chain);
      const ic = pick(c, chain);
      expect(ic.length).toBe(6);
      for (let k = 0; k < 6; k++) {
        for (let j = 0; j < 751; j += 50) {
          expect(Math.abs(c.weights[ic[k] * 751 + j] - a.weights[ia[k] * 751 + j])).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('survives SIGKILL at any moment and resumes to the requested count with the same samples', async () => {
    const full = bdk(['sample', ...small, '--samples', '40', '--run', 'full'], env);
    expect(full.code, full.stderr).toBe(0);
    // Kill at several moments after sampling has started (the first sample is on disk).
    for (const delay of [0, 37, 150]) {
      const run = `killed-${delay}`;
      const child = spawn(
        process.execPath,
        [path.join(ROOT, 'bin/bdk.js'), 'sample', ...small, '--samples', '40', '--run', run],
        {
          env: { ...process.env, ...env },
          stdio: 'ignore',
        },
      );
      const samplesFile = path.join(env.BDK_RUNS_DIR, run, 'samples-c0.arrow');
      for (let i = 0; i < 600; i++) {
        const rows = await samplesOf(run)
          .then((s) => s.rows)
          .catch(() => 0);
        if (rows > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(await fs.stat(samplesFile).then(() => true)).toBe(true);
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const before = await samplesOf(run).catch(() => null); // readable (or not yet created)
      if (before) expect(before.rows).toBeLessThanOrEqual(80);
      const resumed = bdk(['sample', '--resume', '--run', run, '--samples', '40'], env);
      expect(resumed.code, resumed.stderr).toBe(0);
      const got = await samplesOf(run);
      const want = await samplesOf('full');
      expect(got.rows).toBe(80);
      expect(Array.from(got.step)).toEqual(Array.from(want.step));
      expect(Buffer.from(got.weights.buffer).equals(Buffer.from(want.weights.buffer))).toBe(true);
    }
  });

  it('resumes a run killed before its first write by starting its chains', async () => {
    expect(bdk(['sample', ...small, '--samples', '4', '--run', 'early'], env).code).toBe(0);
    const dirOf = path.join(env.BDK_RUNS_DIR, 'early');
    const want = await samplesOf('early');
    for (const f of await fs.readdir(dirOf))
      if (f !== 'config.json' && f !== 'spec.json') await fs.rm(path.join(dirOf, f));
    const r = bdk(['sample', '--resume', '--run', 'early'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "run 'early' has no saved chains from 0 (killed before its first write): starting them",
    );
    const got = await samplesOf('early');
    expect(Buffer.from(got.weights.buffer).equals(Buffer.from(want.weights.buffer))).toBe(true);
  });

  it('refuses a second writer on the same run shard while the first is alive', async () => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/bdk.js'), 'sample', ...small, '--samples', '400', '--run', 'locked'],
      {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      },
    );
    const lock = path.join(env.BDK_RUNS_DIR, 'locked', '.lock-c0');
    // Up to 60 s for the first writer to take its lock: a loaded machine starts Node and wasm slowly.
    for (
      let i = 0;
      i < 6000 &&
      !(await fs.stat(lock).then(
        () => true,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 10));
    const second = bdk(['sample', '--resume', '--run', 'locked'], env);
    expect(expectOneLineError(second)).toBe(
      `bdk: run 'locked' chains from 0 is in use by process ${child.pid} on ${os.hostname()} (lock ${lock}); wait for it or stop it`,
    );
    const replace = bdk(['sample', ...small, '--run', 'locked', '--force'], env);
    expect(expectOneLineError(replace)).toBe(
      `bdk: run 'locked' is being written by process ${child.pid} on ${os.hostname()}; stop it before replacing the run`,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
  });

  it('Ctrl-C stops MC-dropout training at once (its steps never wait for I/O), exit 130', async () => {
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/bdk.js'),
        'sample',
        '--dataset',
        'boston',
        '--sampler',
        'dropout',
        '--burn-in',
        '10000000', // hours of training steps: only the interrupt can end it
        '--samples',
        '2',
        '--run',
        'dropout-int',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 600 && !out.includes('sampling dropout'); i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500)); // well inside the training loop
    const sent = Date.now();
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code, out).toBe(130);
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(out).toContain('bdk: interrupted; saving state');
  });

  it('--sample-dtype float16 stores the same chains rounded, two bytes per weight', async () => {
    const r = bdk(['sample', ...small, '--samples', '6', '--run', 'half', '--sample-dtype', 'float16'], env);
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'half', 'config.json'), 'utf8'));
    expect(cfg.sampleDtype).toBe('float16');
    const [s16, s32] = await Promise.all(
      ['half', 'a'].map((run) => scanSamples(path.join(env.BDK_RUNS_DIR, run, 'samples-c0.arrow'))),
    );
    expect(s16.weightDtype).toBe('float16');
    expect(s16.records).toBe(12);
    // Two bytes saved per weight (give or take padding and the schemas' few bytes of difference).
    expect(Math.abs(s32.fileBytes - s16.fileBytes - 12 * 751 * 2)).toBeLessThanOrEqual(64);
    const [h, f] = [await samplesOf('half'), await samplesOf('a')];
    for (let i = 0; i < f.weights.length; i++) {
      expect(Math.abs(h.weights[i] - f.weights[i])).toBeLessThanOrEqual(
        Math.abs(f.weights[i]) * 2 ** -11 + 2 ** -25,
      );
    }
    // A float32 run's config does not name the dtype, so runs made before the option still match.
    const cfg32 = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'a', 'config.json'), 'utf8'));
    expect('sampleDtype' in cfg32).toBe(false);
    const bad = bdk(['sample', '--run', 'w', '--sample-dtype', 'float64'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(
      "error: option '--sample-dtype <dtype>' argument 'float64' is invalid. Allowed choices are float32, float16.",
    );
  });

  it('convert-samples writes a float16 copy of a run and reports the metric change; the copy resumes', async () => {
    const r = bdk(['convert-samples', '--run', 'a', '--out-run', 'a16', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ from: 'a', to: 'a16', sampleDtype: 'float16', samples: 12 });
    expect(s.bytes).toEqual({ before: 12 * 751 * 4, after: 12 * 751 * 2 });
    for (const k of ['rmse', 'll']) {
      expect(s.metrics.change[k]).toBeCloseTo(s.metrics.after[k] - s.metrics.before[k], 12);
      expect(Math.abs(s.metrics.change[k])).toBeLessThan(1e-2);
    }
    const before = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'a', 'teacher.json'), 'utf8'));
    expect(s.metrics.before).toEqual(before.metrics); // the original run's own report, recomputed
    const after = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'a16', 'teacher.json'), 'utf8'));
    expect(after.metrics).toEqual(s.metrics.after);
    // The same samples, rounded; the original run is untouched.
    const [h, f] = [await samplesOf('a16'), await samplesOf('a')];
    expect(Buffer.from(h.weights.buffer).equals(Buffer.from((await samplesOf('half')).weights.buffer))).toBe(
      true,
    );
    expect(f.rows).toBe(12);
    // The copied chain state continues the chains: 2 more samples per chain, appended as float16.
    const more = bdk(['sample', '--resume', '--run', 'a16', '--samples', '8'], env);
    expect(more.code, more.stderr).toBe(0);
    const grown = await scanSamples(path.join(env.BDK_RUNS_DIR, 'a16', 'samples-c0.arrow'));
    expect(grown).toMatchObject({ records: 16, weightDtype: 'float16' });
    const again = bdk(['convert-samples', '--run', 'a', '--out-run', 'a16'], env);
    expect(expectOneLineError(again)).toBe(
      `bdk: run 'a16' already exists at ${path.join(env.BDK_RUNS_DIR, 'a16')}; pass --force to replace it`,
    );
    const same = bdk(['convert-samples', '--run', 'a', '--out-run', 'a'], env);
    expect(expectOneLineError(same)).toBe(
      "bdk: --out-run must name a new run, not the run being converted ('a')",
    );
    expect((await fs.readdir(env.BDK_RUNS_DIR)).filter((d) => d.includes('.tmp-'))).toEqual([]);
  });

  it('--heteroscedastic: mean and log-variance outputs, no τ sampled, a finite mixture log-likelihood', async () => {
    const r = bdk(['sample', ...small, '--heteroscedastic', '--samples', '4', '--run', 'het', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.parameterCount).toBe(13 * 50 + 50 + 50 * 2 + 2);
    expect(Number.isFinite(summary.metrics.ll)).toBe(true);
    const cfg = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'het', 'config.json'), 'utf8'));
    expect(cfg.heteroscedastic).toBe(true);
    expect(Array.from((await samplesOf('het')).noisePrecision).every(Number.isNaN)).toBe(true);
  });

  it('--variance-prior-precision shrinks the output weights into the log-variance, and only those', async () => {
    const run = (name: string, extra: string[]) =>
      bdk(
        [
          ...['sample', ...small, '--sampler', 'sgld', '--burn-in', '500', '--heteroscedastic'],
          ...['--samples', '4', '--run', name, '--json', ...extra],
        ],
        env,
      );
    for (const [name, extra] of [
      ['hv-default', []],
      ['hv-tight', ['--variance-prior-precision', '1000']],
    ] as const) {
      const r = run(name, [...extra]);
      expect(r.code, r.stderr).toBe(0);
    }
    const cfg = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, 'hv-tight', 'config.json'), 'utf8'));
    expect(cfg.variancePriorPrecision).toBe(1000);
    // Root mean square of the weights from the hidden layer into the mean (column 0) and the log-variance (column 1).
    const headRms = async (name: string) => {
      const s = await samplesOf(name);
      const kernel = 13 * 50 + 50;
      const sq = [0, 0];
      for (let r = 0; r < s.rows; r++)
        for (let j = 0; j < 100; j++) sq[j % 2] += s.weights[r * s.parameterCount + kernel + j] ** 2;
      return sq.map((v) => Math.sqrt(v / (50 * s.rows)));
    };
    const [meanDefault, varDefault] = await headRms('hv-default');
    const [meanTight, varTight] = await headRms('hv-tight');
    // α_v = 1000 is a prior sd of 0.032: the log-variance weights stay near it, far below the plain model's,
    // while the mean's weights keep the plain prior's scale.
    expect(varTight).toBeLessThan(2 / Math.sqrt(1000));
    expect(varTight).toBeLessThan(varDefault / 2.5);
    expect(meanTight / meanDefault).toBeGreaterThan(0.7);
    expect(meanTight / meanDefault).toBeLessThan(1.4);
    const homo = bdk(['sample', ...small, '--variance-prior-precision', '10', '--run', 'hv-x'], env);
    expect(expectOneLineError(homo)).toBe(
      'bdk: --variance-prior-precision needs --heteroscedastic (it is the prior of the log-variance output)',
    );
  });

  it('bad settings are one-line errors', () => {
    const r = bdk(['sample', '--run', 'x', '--dataset', 'nope'], env);
    expect(expectOneLineError(r)).toMatch(/^bdk: dataset 'nope' not found at /);
    const arch = bdk(['sample', '--run', 'y', '--arch', 'lenet5'], env);
    expect(expectOneLineError(arch)).toBe(
      'bdk: lenet5 needs image input [height, width, channels], the data has shape [13]',
    );
    const leak = bdk(['sample', '--run', 'v', '--evaluate-on', 'validation'], env);
    expect(expectOneLineError(leak)).toBe(
      'bdk: scoring on the validation rows needs --train-on train (the whole training part includes them)',
    );
    const diverged = bdk(
      [
        'sample',
        '--run',
        'd',
        '--step-size',
        '10',
        '--burn-in',
        '20',
        '--thin',
        '1',
        '--samples',
        '1',
        '--chains',
        '1',
      ],
      env,
    );
    expect(expectOneLineError(diverged)).toBe(
      'bdk: chain 0 diverged before step 21 (its weights are no longer finite); use a smaller --step-size',
    );
    const sampler = bdk(['sample', '--run', 'z', '--sampler', 'hmc'], env);
    expect(sampler.code).toBe(1);
    expect(sampler.stderr.trim()).toBe(
      "error: option '--sampler <name>' argument 'hmc' is invalid. Allowed choices are sgld, psgld, sghmc, dropout.",
    );
  });
});
