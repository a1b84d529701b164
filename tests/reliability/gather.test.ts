import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

/**
 * `bdk gather` (issue 26): chain shards sampled into separate run folders, as on machines without a
 * shared filesystem, merge into one run byte-identical to sampling every chain in one process.
 */
let dir: string;
let env: Record<string, string>;
let shards: string;

const flags = [
  ...['--dataset', 'boston', '--arch', 'mlp-50', '--burn-in', '40'],
  ...['--thin', '3', '--step-size', '2e-5', '--samples', '5'],
];
const FILES = [
  'samples-c0.arrow',
  'shard-c0.json',
  'trace-c0.csv',
  'state-c0.bin',
  'config.json',
  'spec.json',
];

beforeAll(async () => {
  dir = await tempDir();
  shards = path.join(dir, 'machines');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: path.join(dir, 'runs') };
  expect(bdk(['data', 'prepare', 'boston'], env).code).toBe(0);
  // One process: chains 0..3.
  expect(bdk(['sample', ...flags, '--chains', '4', '--run', 'teacher'], env).code).toBe(0);
  // Four "machines", each its own runs folder, each sampling chain k alone.
  for (const [offset, chains] of [
    [0, 1],
    [1, 1],
    [2, 1],
    [3, 1],
  ]) {
    const machine = { ...env, BDK_RUNS_DIR: path.join(shards, `m${offset}`) };
    const r = bdk(
      ['sample', ...flags, '--chains', `${chains}`, '--chain-offset', `${offset}`, '--run', 'teacher'],
      machine,
    );
    expect(r.code, r.stderr).toBe(0);
  }
}, 300_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const shard = (offset: number) => path.join(shards, `m${offset}`, 'teacher');
const gatheredRuns = () => path.join(dir, 'gathered');

describe('bdk gather', () => {
  it('merges shards into files byte-identical to one process, teacher.json included (its seconds excepted)', async () => {
    const out = { ...env, BDK_RUNS_DIR: gatheredRuns() };
    // Any order on the command line.
    const r = bdk(['gather', '--into', 'teacher', shard(3), shard(0), shard(2), shard(1)], out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("gathered chains 0..3 from 4 shards into run 'teacher'");
    const one = path.join(env.BDK_RUNS_DIR, 'teacher');
    const merged = path.join(gatheredRuns(), 'teacher');
    for (const f of FILES) {
      const [a, b] = await Promise.all([fs.readFile(path.join(one, f)), fs.readFile(path.join(merged, f))]);
      expect(Buffer.compare(a, b), f).toBe(0);
    }
    const report = async (d: string) => {
      const t = JSON.parse(await fs.readFile(path.join(d, 'teacher.json'), 'utf8'));
      delete t.seconds;
      return t;
    };
    expect(await report(merged)).toEqual(await report(one));
    const record = JSON.parse(await fs.readFile(path.join(merged, 'gather.json'), 'utf8'));
    expect(
      record.shards.map((s: { chainOffset: number; chains: number }) => [s.chainOffset, s.chains]),
    ).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    // The gathered run is a teacher like any other: it resumes to more samples, as one process does.
    expect(
      bdk(['sample', ...flags, '--samples', '6', '--chains', '4', '--run', 'teacher', '--resume'], env).code,
    ).toBe(0);
    expect(
      bdk(['sample', ...flags, '--samples', '6', '--chains', '4', '--run', 'teacher', '--resume'], out).code,
    ).toBe(0);
    const again = await Promise.all([one, merged].map((d) => fs.readFile(path.join(d, 'samples-c0.arrow'))));
    expect(Buffer.compare(again[0], again[1])).toBe(0);
  });

  it('refuses an existing run without --force, overlapping or missing chains, and other settings', async () => {
    const out = { ...env, BDK_RUNS_DIR: gatheredRuns() };
    const refuse = (args: string[]) => {
      const r = bdk(['gather', ...args], out);
      expect(r.code).toBe(1);
      return expectOneLineError(r);
    };
    expect(refuse(['--into', 'teacher', shard(0), shard(1), shard(2), shard(3)])).toBe(
      `bdk: run 'teacher' already exists at ${path.join(gatheredRuns(), 'teacher')}; pass --force to replace it`,
    );
    expect(refuse(['--into', 'x', shard(0), shard(3)])).toBe(
      `bdk: chains 1..2 missing between ${shard(0)} and ${shard(3)} (gather needs every chain from 0; sample them with --chain-offset 1)`,
    );
    const wide = { ...env, BDK_RUNS_DIR: path.join(shards, 'wide') };
    expect(bdk(['sample', ...flags, '--chains', '2', '--run', 'teacher'], wide).code).toBe(0);
    const twoChains = path.join(shards, 'wide', 'teacher');
    expect(refuse(['--into', 'x', twoChains, shard(1)])).toBe(
      `bdk: ${shard(1)}: its chain 1 overlaps chains 0..1 of ${twoChains} (shards must hold disjoint chains)`,
    );
    const other = { ...env, BDK_RUNS_DIR: path.join(shards, 'other') };
    expect(
      bdk(
        [
          'sample',
          ...flags,
          '--step-size',
          '3e-5',
          '--chain-offset',
          '1',
          '--chains',
          '3',
          '--run',
          'teacher',
        ],
        other,
      ).code,
    ).toBe(0);
    expect(refuse(['--into', 'x', shard(0), path.join(shards, 'other', 'teacher')])).toBe(
      `bdk: ${path.join(shards, 'other', 'teacher')}: stepSize 0.00003 differs from ${shard(0)}'s 0.00002 (the shards of one run need the same settings and data)`,
    );
    expect(refuse(['--into', 'x', path.join(dir, 'nowhere')])).toBe(
      `bdk: ${path.join(dir, 'nowhere')}: not a teacher run folder (no config.json)`,
    );
    await expect(fs.stat(path.join(gatheredRuns(), 'x'))).rejects.toThrow();
  });

  it('refuses a damaged shard, naming it, and leaves no run behind', async () => {
    const copy = path.join(shards, 'damaged', 'teacher');
    await fs.cp(shard(3), copy, { recursive: true });
    const file = path.join(copy, 'samples-c3.arrow');
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 100] ^= 0xff;
    await fs.writeFile(file, bytes);
    const r = bdk(['gather', '--into', 'y', shard(0), shard(1), shard(2), copy], {
      ...env,
      BDK_RUNS_DIR: gatheredRuns(),
    });
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(new RegExp(`^bdk: ${copy}: .*SHA-256`));
    await expect(fs.stat(path.join(gatheredRuns(), 'y'))).rejects.toThrow();
  });
});
