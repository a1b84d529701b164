import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import { exists, startBdk, stop, treeHashes, waitFor } from './tree-hash.js';

let dir: string;
let env: Record<string, string>;
let runs: string;
const teacher = [
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
  '--samples',
  '6',
  '--step-size',
  '2e-5',
];
const inUse = (run: string, pid: number | undefined) =>
  `bdk: run '${run}' is in use by process ${pid} on ${os.hostname()} (lock ${path.join(runs, run, '.lock')}); wait for it or stop it`;

beforeAll(async () => {
  dir = await tempDir();
  runs = path.join(dir, 'runs');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: runs };
  expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
  expect(bdk(['sample', ...teacher, '--run', 't'], env).code).toBe(0);
  for (const run of ['done', 'busy'])
    expect(bdk(['distill', '--teacher', 't', '--run', run, '--epochs', '2'], env).code).toBe(0);
}, 240_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('one writer per run folder', () => {
  it('a second writer is refused while `distill --force` replaces a run; the first keeps a consistent run', async () => {
    const first = startBdk(
      ['distill', '--teacher', 't', '--run', 'busy', '--epochs', '100000', '--force'],
      env,
    );
    const busy = path.join(runs, 'busy');
    const lockText = `${first.child.pid} ${os.hostname()}\n`;
    try {
      // --force empties the old run (its summary goes) but keeps the lock it took before.
      await waitFor(
        async () =>
          (await fs.readFile(path.join(busy, '.lock'), 'utf8').catch(() => '')) === lockText &&
          !(await exists(path.join(busy, 'student.json'))) &&
          (await fs.readFile(path.join(busy, 'distill-config.json'), 'utf8').catch(() => '')).includes(
            '"epochs": 100000',
          ),
        'the forced run to start training',
      );
      expect(await fs.readFile(path.join(busy, '.lock'), 'utf8')).toBe(lockText);
      const config = await fs.readFile(path.join(busy, 'distill-config.json'), 'utf8');
      const spec = await fs.readFile(path.join(busy, 'student-spec.json'), 'utf8');
      for (const args of [
        ['distill', '--teacher', 't', '--run', 'busy', '--arch', 'linear', '--epochs', '2', '--force'],
        ['distill', '--teacher', 't', '--run', 'busy', '--resume'],
        ['evaluate', '--run', 'busy'],
        ['export', '--run', 'busy', '--out', path.join(dir, 'busy-export')],
        ['convert-samples', '--run', 't', '--out-run', 'busy', '--sample-dtype', 'float16', '--force'],
        ['sample', ...teacher, '--run', 'busy', '--force'],
      ]) {
        const r = bdk(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(expectOneLineError(r)).toBe(inUse('busy', first.child.pid));
      }
      expect(await fs.readFile(path.join(busy, 'distill-config.json'), 'utf8')).toBe(config);
      expect(await fs.readFile(path.join(busy, 'student-spec.json'), 'utf8')).toBe(spec);
      expect(await exists(path.join(dir, 'busy-export'))).toBe(false);
      // Ctrl-C: the first run stops after its epoch and saves a run whose parts agree.
      first.child.kill('SIGINT');
      expect(await first.exit, first.output()).toBe(130);
      expect(JSON.parse(config).arch).toBe('mlp-50');
      expect(JSON.parse(spec).name).toBe('mlp-50');
      expect((await fs.stat(path.join(busy, 'student.weights.bin'))).size).toBe(802 * 4);
      expect(await exists(path.join(busy, '.lock'))).toBe(false);
    } finally {
      await stop(first.child, first.exit);
    }
  });

  it('a run held by a live process is refused for every writer and left byte-identical', async () => {
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const holderExit = new Promise((r) => holder.on('exit', r));
    try {
      const lock = path.join(runs, 'done', '.lock');
      await fs.writeFile(lock, `${holder.pid} ${os.hostname()}\n`);
      // A search run too (its content does not matter: the lock is taken before it is read).
      const searchRun = path.join(runs, 'srch');
      await fs.mkdir(searchRun);
      await fs.writeFile(path.join(searchRun, 'search-config.json'), '{}\n');
      await fs.writeFile(path.join(searchRun, '.lock'), `${holder.pid} ${os.hostname()}\n`);
      const before = await treeHashes(dir);
      const cases: [string, string[]][] = [
        ['done', ['distill', '--teacher', 't', '--run', 'done', '--arch', 'linear', '--force']],
        ['done', ['distill', '--teacher', 't', '--run', 'done', '--resume']],
        ['done', ['evaluate', '--run', 'done']],
        ['done', ['export', '--run', 'done', '--out', path.join(dir, 'done-export')]],
        ['done', ['convert-samples', '--run', 't', '--out-run', 'done', '--force']],
        ['done', ['sample', ...teacher, '--run', 'done', '--force']],
        ['srch', ['search', '--teacher', 't', '--run', 'srch', '--epochs', '1', '--force']],
      ];
      for (const [run, args] of cases) {
        const r = bdk(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(expectOneLineError(r)).toBe(inUse(run, holder.pid));
      }
      expect(await treeHashes(dir)).toEqual(before);
    } finally {
      holder.kill('SIGKILL');
      await holderExit;
    }
  });

  it('a lock left by a dead process is taken over; a refused command leaves no empty folder', async () => {
    const r = bdk(['distill', '--teacher', 't', '--run', 'never', '--resume'], env);
    expect(expectOneLineError(r)).toBe(
      `bdk: cannot resume run 'never': ${path.join(runs, 'never', 'distill-config.json')} not found`,
    );
    expect(await exists(path.join(runs, 'never'))).toBe(false);
    // The holder of the previous test is gone: its lock is stale.
    expect(bdk(['evaluate', '--run', 'done', '--latency-runs', '1', '--map-epochs', '1'], env).code).toBe(0);
    expect(await exists(path.join(runs, 'done', '.lock'))).toBe(false);
  });
});

describe('temporary files', () => {
  it('Ctrl-C during convert-samples exits 130 and leaves no temporary folder or file', async () => {
    const big = [
      ...['--dataset', 'boston', '--arch', 'mlp-400-400', '--sampler', 'sghmc', '--burn-in', '0'],
      ...['--thin', '1', '--samples', '60', '--chains', '1', '--step-size', '1e-6', '--run', 'big'],
    ];
    expect(bdk(['sample', ...big], env).code).toBe(0);
    const before = await treeHashes(dir);
    const run = startBdk(
      ['convert-samples', '--run', 'big', '--out-run', 'big16', '--sample-dtype', 'float16'],
      env,
    );
    const tmp = path.join(runs, `big16.tmp-${run.child.pid}`);
    try {
      await waitFor(async () => await exists(path.join(tmp, 'config.json')), 'the temporary run folder');
      run.child.kill('SIGINT');
      expect(await run.exit, run.output()).toBe(130);
    } finally {
      await stop(run.child, run.exit);
    }
    expect(run.output()).toContain('bdk: interrupted');
    expect((await fs.readdir(runs)).filter((f) => f.includes('tmp'))).toEqual([]);
    expect(await exists(path.join(runs, 'big16'))).toBe(false);
    expect(await treeHashes(dir)).toEqual(before);
  });
});
