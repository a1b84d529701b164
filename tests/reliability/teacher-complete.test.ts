import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefused } from './fixture.js';
import { bdk, ROOT, tempDir } from '../helpers.js';

/**
 * A teacher run is consumable only when complete (issue 23, class 2): every consumer of samples
 * refuses a truncated, damaged, unfinished or still-sampled teacher with a one-line error, leaving
 * every file as it was; `--allow-incomplete` uses it with a recorded warning.
 */
let dir: string;
let runs: string;
let env: Record<string, string>;

const teacherFlags = [
  ...['--dataset', 'boston', '--arch', 'mlp-50', '--sampler', 'sghmc', '--burn-in', '20'],
  ...['--thin', '2', '--chains', '2', '--step-size', '2e-5'],
];
const distillFlags = ['--epochs', '1'];

async function copyRun(from: string, to: string): Promise<string> {
  await fs.cp(path.join(runs, from), path.join(runs, to), { recursive: true });
  return path.join(runs, to);
}

const refused = (args: string[]) => expectRefused(args, env, runs);

const unfinished = (run: string) =>
  `bdk: teacher run '${run}' is not complete: chains 0..1 are unfinished: samples-c0.arrow holds 8 of 8 samples and shard-c0.json has no completion record; continue it with \`bdk sample --run ${run} --resume\`, or pass --allow-incomplete to use what is there`;

beforeAll(async () => {
  dir = await tempDir();
  runs = path.join(dir, 'runs');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: runs };
  expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
  const r = bdk(['sample', ...teacherFlags, '--samples', '4', '--run', 't'], env);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('a teacher run is consumable only when complete', () => {
  it('bdk sample records each finished shard: samples per chain, bytes and SHA-256 of its file', async () => {
    const file = path.join(runs, 't', 'samples-c0.arrow');
    const bytes = await fs.readFile(file);
    const record = JSON.parse(await fs.readFile(path.join(runs, 't', 'shard-c0.json'), 'utf8'));
    expect(record).toEqual({
      chainOffset: 0,
      chains: 2,
      samples: 4,
      complete: {
        rows: 8,
        perChain: { '0': 4, '1': 4 },
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      },
    });
    const d = bdk(['distill', '--teacher', 't', '--run', 's', ...distillFlags], env);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('distilling 8 samples of t');
  });

  it('a samples file that lost its last 100 bytes is refused by distill, search, evaluate and convert-samples', async () => {
    await copyRun('t', 'cut');
    // A student distilled while the teacher was whole, for evaluate.
    expect(bdk(['distill', '--teacher', 'cut', '--run', 'cut-s', ...distillFlags], env).code).toBe(0);
    const file = path.join(runs, 'cut', 'samples-c0.arrow');
    const size = (await fs.stat(file)).size;
    await fs.truncate(file, size - 100);
    const msg = `bdk: teacher run 'cut' is not complete: samples-c0.arrow is damaged: ${size - 100} bytes (6 complete samples), its completion record says ${size} bytes (8 samples); sample it again with \`bdk sample --run cut --force\` and its settings, or pass --allow-incomplete to use what is there`;
    expect(await refused(['distill', '--teacher', 'cut', '--run', 'cut-s2', ...distillFlags])).toBe(msg);
    expect(await refused(['search', '--teacher', 'cut', '--run', 'cut-q', '--epochs', '1'])).toBe(msg);
    expect(await refused(['evaluate', '--run', 'cut-s', '--map-epochs', '0'])).toBe(msg);
    expect(await refused(['convert-samples', '--run', 'cut', '--out-run', 'cut16'])).toBe(msg);
  });

  it('a flipped byte in the middle of a samples file fails its checksum', async () => {
    const runDir = await copyRun('t', 'flip');
    const file = path.join(runDir, 'samples-c0.arrow');
    const bytes = await fs.readFile(file);
    const want = createHash('sha256').update(bytes).digest('hex');
    const at = Math.floor(bytes.length / 2);
    bytes[at] ^= 0x01;
    await fs.writeFile(file, bytes);
    const got = createHash('sha256').update(bytes).digest('hex');
    expect(await refused(['distill', '--teacher', 'flip', '--run', 'flip-s', ...distillFlags])).toBe(
      `bdk: teacher run 'flip' is not complete: samples-c0.arrow is damaged: SHA-256 ${got.slice(0, 12)}… differs from its completion record's ${want.slice(0, 12)}…; sample it again with \`bdk sample --run flip --force\` and its settings, or pass --allow-incomplete to use what is there`,
    );
  });

  it('a shard without its completion record is unfinished until bdk sample --resume completes it', async () => {
    const runDir = await copyRun('t', 'nocomp');
    const recordFile = path.join(runDir, 'shard-c0.json');
    const { complete: _c, ...started } = JSON.parse(await fs.readFile(recordFile, 'utf8'));
    await fs.writeFile(recordFile, JSON.stringify(started));
    expect(await refused(['distill', '--teacher', 'nocomp', '--run', 'nc-s', ...distillFlags])).toBe(
      unfinished('nocomp'),
    );
    expect(await refused(['convert-samples', '--run', 'nocomp', '--out-run', 'nc16'])).toBe(
      unfinished('nocomp'),
    );
    expect(bdk(['sample', '--run', 'nocomp', '--resume'], env).code).toBe(0);
    const d = bdk(['distill', '--teacher', 'nocomp', '--run', 'nc-s', ...distillFlags], env);
    expect(d.code, d.stderr).toBe(0);
  });

  it('a teacher killed mid-run (SIGKILL) is refused with how to continue it', async () => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/bdk.js'), 'sample', ...teacherFlags, '--samples', '2000', '--run', 'killed'],
      { env: { ...process.env, ...env }, stdio: 'ignore' },
    );
    const file = path.join(runs, 'killed', 'samples-c0.arrow');
    for (let i = 0; i < 3000; i++) {
      const size = await fs.stat(file).then(
        (s) => s.size,
        () => 0,
      );
      if (size > 20_000) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const line = await refused(['distill', '--teacher', 'killed', '--run', 'k-s', ...distillFlags]);
    expect(line).toMatch(
      /^bdk: teacher run 'killed' is not complete: chains 0\.\.1 are unfinished: samples-c0\.arrow holds \d+ of 4000 samples and shard-c0\.json has no completion record; continue it with `bdk sample --run killed --resume`, or pass --allow-incomplete to use what is there$/,
    );
  });

  it('a teacher still being sampled (its shard lock held by a live process) is refused', async () => {
    const runDir = await copyRun('t', 'live');
    // This test process stands for the sampler: it is alive and not the bdk process that reads.
    const lock = path.join(runDir, '.lock-c0');
    await fs.writeFile(lock, `${process.pid} ${os.hostname()}\n`);
    expect(await refused(['distill', '--teacher', 'live', '--run', 'live-s', ...distillFlags])).toBe(
      `bdk: teacher run 'live' is not complete: chains from 0 are being sampled by process ${process.pid} on ${os.hostname()} (lock ${lock}); wait for it to finish, or pass --allow-incomplete to use what is there`,
    );
  });

  it('--allow-incomplete uses what is there, with the warning printed and recorded', async () => {
    const runDir = await copyRun('t', 'part');
    expect(bdk(['distill', '--teacher', 'part', '--run', 'part-s', ...distillFlags], env).code).toBe(0);
    const file = path.join(runDir, 'samples-c0.arrow');
    const size = (await fs.stat(file)).size;
    await fs.truncate(file, size - 100);
    const warning = `teacher run 'part' is not complete, used as it is (--allow-incomplete): samples-c0.arrow is damaged: ${size - 100} bytes (6 complete samples), its completion record says ${size} bytes (8 samples)`;
    const d = bdk(
      ['distill', '--teacher', 'part', '--run', 'part-s2', ...distillFlags, '--allow-incomplete'],
      env,
    );
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain(`warning: ${warning}\n`);
    expect(d.stdout).toContain('distilling 6 samples of part');
    const student = JSON.parse(await fs.readFile(path.join(runs, 'part-s2', 'student.json'), 'utf8'));
    expect(student.teacherWarning).toBe(warning);
    expect(student.teacherSamples).toBe(6);

    const e = bdk(
      ['evaluate', '--run', 'part-s', '--map-epochs', '0', '--latency-runs', '1', '--allow-incomplete'],
      env,
    );
    expect(e.code, e.stderr).toBe(0);
    const report = JSON.parse(await fs.readFile(path.join(runs, 'part-s', 'report.json'), 'utf8'));
    expect(report.teacherWarning).toBe(warning);
    expect(report.models.ensemble.parameters).toBe(6 * 751);
    expect(await fs.readFile(path.join(runs, 'part-s', 'report.md'), 'utf8')).toContain(
      `**Warning:** ${warning}.`,
    );

    const c = bdk(['convert-samples', '--run', 'part', '--out-run', 'part16', '--allow-incomplete'], env);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain(`warning: ${warning}\n`);
    const convert = JSON.parse(await fs.readFile(path.join(runs, 'part16', 'convert.json'), 'utf8'));
    expect(convert.teacherWarning).toBe(warning);
    expect(convert.samples).toBe(6);
    // The copy of an incomplete teacher is marked unfinished too: it needs the flag again.
    const line = await refused(['distill', '--teacher', 'part16', '--run', 'p16-s', ...distillFlags]);
    expect(line).toContain(
      'chains 0..1 are unfinished: samples-c0.arrow holds 6 of 8 samples and shard-c0.json has no completion record; continue it with `bdk sample --run part16 --resume`',
    );
  });

  it('a teacher sampled before shard records existed is used when its samples match its config', async () => {
    const runDir = await copyRun('t', 'old');
    await fs.rm(path.join(runDir, 'shard-c0.json'));
    const d = bdk(['distill', '--teacher', 'old', '--run', 'old-s', ...distillFlags], env);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain(
      "note: teacher run 'old' has no shard records (sampled before bdk wrote them); accepted, as its samples files end cleanly and each of its 2 chains holds 4 samples (no checksums to verify)\n",
    );
    // The same run cut short by 100 bytes: a torn tail and two chains short.
    const cut = await copyRun('old', 'old-cut');
    const file = path.join(cut, 'samples-c0.arrow');
    const size = (await fs.stat(file)).size;
    await fs.truncate(file, size - 100);
    const line = await refused(['distill', '--teacher', 'old-cut', '--run', 'oc-s', ...distillFlags]);
    expect(line).toMatch(
      /^bdk: teacher run 'old-cut' is not complete: samples-c0\.arrow ends in a torn sample \(\d+ bytes, complete samples end at \d+\) \(and 2 more problems\); /,
    );
    // Without teacher.json (killed before the end) it is unfinished.
    const early = await copyRun('old', 'old-early');
    await fs.rm(path.join(early, 'teacher.json'));
    expect(await refused(['distill', '--teacher', 'old-early', '--run', 'oe-s', ...distillFlags])).toBe(
      "bdk: teacher run 'old-early' is not complete: it has no teacher.json (its sampling did not finish) and no shard records; continue it with `bdk sample --run old-early --resume`, or pass --allow-incomplete to use what is there",
    );
  });
});
