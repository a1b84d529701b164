import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefused } from './fixture.js';
import { bdk, tempDir } from '../helpers.js';

/**
 * Chain shards of one teacher run (issue 23, class 6): `--chain-offset` ranges must be disjoint and a
 * shard's settings equal the run's, refused before any sample is written; a run whose shards overlap
 * or hold uneven samples (made before these checks, or by resuming one shard further) is refused
 * by its readers.
 */
let dir: string;
let runs: string;
let env: Record<string, string>;

const flags = [
  ...['--dataset', 'boston', '--arch', 'mlp-50', '--sampler', 'sghmc', '--burn-in', '20'],
  ...['--thin', '2', '--step-size', '2e-5', '--samples', '4'],
];

const refused = (args: string[]) => expectRefused(args, env, runs);

beforeAll(async () => {
  dir = await tempDir();
  runs = path.join(dir, 'runs');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: runs };
  expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
  const r = bdk(['sample', ...flags, '--chains', '2', '--run', 't'], env);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('chain shards of one teacher run', () => {
  it('refuses a --chain-offset range that overlaps an existing shard, before writing anything', async () => {
    const two = ['sample', ...flags, '--chains', '2', '--run', 't', '--chain-offset', '1'];
    expect(await refused(two)).toBe(
      "bdk: cannot add chains 1..2 to run 't': they overlap chains 0..1 of its shard samples-c0.arrow (chain shards must be disjoint); use --chain-offset 2",
    );
    const one = ['sample', ...flags, '--chains', '1', '--run', 't', '--chain-offset', '1'];
    expect(await refused(one)).toBe(
      "bdk: cannot add chain 1 to run 't': it overlaps chains 0..1 of its shard samples-c0.arrow (chain shards must be disjoint); use --chain-offset 2",
    );
    // Resuming a shard that never started takes the run's chain count: the same overlap.
    expect(await refused(['sample', '--run', 't', '--resume', '--chain-offset', '1'])).toBe(
      "bdk: cannot add chains 1..2 to run 't': they overlap chains 0..1 of its shard samples-c0.arrow (chain shards must be disjoint); use --chain-offset 2",
    );
  });

  it('refuses a shard whose settings differ from the run’s, naming the setting and both values', async () => {
    const base = ['sample', ...flags, '--chains', '2', '--run', 't', '--chain-offset', '2'];
    const samples = base.map((v, i) => (base[i - 1] === '--samples' ? '5' : v));
    expect(await refused(samples)).toBe(
      "bdk: cannot add chains from 2 to run 't': --samples 5 differs from the run's 4 (every shard of a run needs the same settings); give the run's settings, or --force to replace the run",
    );
    const step = base.map((v, i) => (base[i - 1] === '--step-size' ? '3e-5' : v));
    expect(await refused(step)).toBe(
      "bdk: cannot add chains from 2 to run 't': --step-size 0.00003 differs from the run's 0.00002 (every shard of a run needs the same settings); give the run's settings, or --force to replace the run",
    );
    expect(await refused([...base, '--sampler', 'sgld'])).toBe(
      'bdk: cannot add chains from 2 to run \'t\': --sampler "sgld" differs from the run\'s "sghmc" (every shard of a run needs the same settings); give the run\'s settings, or --force to replace the run',
    );
  });

  it('accepts a disjoint shard with the same settings; readers see every chain', async () => {
    await fs.cp(path.join(runs, 't'), path.join(runs, 'wide'), { recursive: true });
    const r = bdk(['sample', ...flags, '--chains', '1', '--run', 'wide', '--chain-offset', '2'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("adding chains 2..2 to run 'wide'");
    const record = JSON.parse(await fs.readFile(path.join(runs, 'wide', 'shard-c2.json'), 'utf8'));
    expect(record).toMatchObject({ chainOffset: 2, chains: 1, samples: 4, complete: { rows: 4 } });
    const d = bdk(['distill', '--teacher', 'wide', '--run', 'wide-s', '--epochs', '1'], env);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('distilling 12 samples of wide');
  });

  it('readers refuse shards that hold the same chain (made before the check)', async () => {
    const runDir = path.join(runs, 'dup');
    await fs.cp(path.join(runs, 't'), runDir, { recursive: true });
    // A second shard at offset 1 holding chains 0..1 again, with a valid completion record.
    await fs.copyFile(path.join(runDir, 'samples-c0.arrow'), path.join(runDir, 'samples-c1.arrow'));
    const record = JSON.parse(await fs.readFile(path.join(runDir, 'shard-c0.json'), 'utf8'));
    await fs.writeFile(path.join(runDir, 'shard-c1.json'), JSON.stringify({ ...record, chainOffset: 1 }));
    expect(await refused(['distill', '--teacher', 'dup', '--run', 'dup-s', '--epochs', '1'])).toBe(
      "bdk: teacher run 'dup' is not complete: chain 0 is in samples-c0.arrow and samples-c1.arrow (overlapping shards) (and 1 more problem); sample it again with `bdk sample --run dup --force` and disjoint --chain-offset ranges, or pass --allow-incomplete to use what is there",
    );
  });

  it('readers refuse uneven shards after one was resumed to more samples, naming how to even them', async () => {
    await fs.cp(path.join(runs, 't'), path.join(runs, 'uneven'), { recursive: true });
    const add = bdk(['sample', ...flags, '--chains', '1', '--run', 'uneven', '--chain-offset', '2'], env);
    expect(add.code, add.stderr).toBe(0);
    const more = bdk(['sample', '--run', 'uneven', '--resume', '--samples', '6'], env);
    expect(more.code, more.stderr).toBe(0);
    expect(await refused(['distill', '--teacher', 'uneven', '--run', 'un-s', '--epochs', '1'])).toBe(
      "bdk: teacher run 'uneven' is not complete: chain 2 in samples-c2.arrow has 4 samples, the run asks for 6; continue it with `bdk sample --run uneven --resume --chain-offset 2 --samples 6`, or pass --allow-incomplete to use what is there",
    );
    const even = bdk(['sample', '--run', 'uneven', '--resume', '--chain-offset', '2', '--samples', '6'], env);
    expect(even.code, even.stderr).toBe(0);
    const d = bdk(['distill', '--teacher', 'uneven', '--run', 'un-s', '--epochs', '1'], env);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('distilling 18 samples of uneven');
  });
});
