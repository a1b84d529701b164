import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import { BDK, podEnv, reportWithoutLatency, sh, writeQuickPipeline } from './emit-helpers.js';

/**
 * `bdk run --emit kubernetes|slurm --chains-per-shard c` (issue 26): an array over the teacher's chain
 * shards. Simulated locally — every index a separate process into its own folders, then the gather
 * step — it gives the report `bdk run` gives in one process and teachers whose samples files are
 * byte-identical to it. Also `bdk run --chain-offset K --chains C`, the command an index runs.
 */
let dir: string;
let pipeline: string;
let one: string;
let baseline: Record<string, unknown>;
const SPLITS = [0, 1];
const report = (runsDir: string) => reportWithoutLatency(runsDir, 'bqc');

/** Every split's teacher samples file, byte for byte as `bdk run` wrote it in one process. */
async function expectSameTeachers(runsDir: string) {
  for (const k of SPLITS) {
    const file = (d: string) => path.join(d, `bqc-s${k}-teacher`, 'samples-c0.arrow');
    const [a, b] = await Promise.all([fs.readFile(file(one)), fs.readFile(file(runsDir))]);
    expect(Buffer.compare(a, b), `split ${k}`).toBe(0);
  }
}

beforeAll(async () => {
  dir = await tempDir();
  pipeline = path.join(dir, 'bqc.json');
  // boston-quick on two splits with four short chains, and short training, so the runs stay quick.
  await writeQuickPipeline(pipeline, {
    name: 'bqc',
    splits: SPLITS,
    teacher: { samples: 4, burnIn: 100, thin: 5, chains: 4 },
    searchEpochs: 2,
    distillEpochs: 2,
  });
  one = path.join(dir, 'one/checkpoints');
  const r = bdk(['run', pipeline, '--jobs', '1'], {
    BDK_DATA_DIR: path.join(dir, 'one/datasets'),
    BDK_RUNS_DIR: one,
  });
  expect(r.code, r.stderr).toBe(0);
  baseline = await report(one);
}, 600_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bdk run --emit --chains-per-shard', () => {
  it('slurm: index i samples split ⌊i/4⌋ from chain i mod 4; the gather step gives the same teachers and report', async () => {
    const out = path.join(dir, 'slurm');
    const r = bdk(['run', pipeline, '--emit', 'slurm', '--out', out, '--chains-per-shard', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('slurm array of 8 chain shards (2 splits × 4 shards of 1 chain)');
    const array = await fs.readFile(path.join(out, 'array.sbatch'), 'utf8');
    expect(array).toContain('#SBATCH --array=0-7\n');
    expect(array).toContain('#SBATCH --job-name=bqc-shards\n');
    for (const f of ['array.sbatch', 'gather.sbatch', 'submit.sh']) sh('bash', ['-n', path.join(out, f)], {});
    const env = { BDK_EMIT_DIR: out, BDK };
    for (let i = 0; i < 8; i++)
      sh('bash', [path.join(out, 'array.sbatch')], { ...env, SLURM_ARRAY_TASK_ID: `${i}` });
    // Index 6 holds chain 2 of split 1, and nothing else.
    const six = path.join(out, 'shards/6/checkpoints');
    expect(await fs.readdir(six)).toEqual(['bqc-s1-teacher']);
    const shard = JSON.parse(await fs.readFile(path.join(six, 'bqc-s1-teacher', 'shard-c2.json'), 'utf8'));
    expect([shard.chainOffset, shard.chains]).toEqual([2, 1]);
    // An index run again finds its shard done.
    const again = sh('bash', [path.join(out, 'array.sbatch')], { ...env, SLURM_ARRAY_TASK_ID: '6' });
    expect(again.stdout).toContain('split 1: chains 2..2 of teacher bqc-s1-teacher up to date');
    const past = spawnSync('bash', [path.join(out, 'array.sbatch')], {
      encoding: 'utf8',
      env: { ...process.env, ...env, SLURM_ARRAY_TASK_ID: '8' },
    });
    expect([past.status, past.stderr.trim()]).toEqual([
      1,
      'index 8 is past the 8 chain shards (2 splits × 4)',
    ]);
    // --verbose shows each split's line: the sample stage finds the gathered teachers up to date.
    const gathered = sh('bash', [path.join(out, 'gather.sbatch')], { ...env, BDK: `${BDK} --verbose` });
    expect(gathered.stdout).toContain("gathered chains 0..3 from 4 shards into run 'bqc-s1-teacher'");
    expect(gathered.stdout).toContain('split 1: teacher bqc-s1-teacher up to date');
    const runs = path.join(out, 'checkpoints');
    await expectSameTeachers(runs);
    expect(await report(runs)).toEqual(baseline);
    // The gather step retried keeps the teachers it gathered.
    const retried = sh('bash', [path.join(out, 'gather.sbatch')], env);
    expect(retried.stdout).not.toContain('gathered chains');
    await expectSameTeachers(runs);
  }, 600_000);

  it('kubernetes: the manifests validate, and a simulated Indexed Job over shards gives the same teachers and report', async () => {
    const out = path.join(dir, 'k8s');
    const r = bdk(['run', pipeline, '--emit', 'kubernetes', '--out', out, '--chains-per-shard', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(out)).sort()).toEqual([
      'Dockerfile',
      'Dockerfile.dockerignore',
      'gather-job.yaml',
      'shards-job.yaml',
      'submit.sh',
    ]);
    const docs = (f: string) =>
      fs.readFile(path.join(out, f), 'utf8').then((t) => parseAllDocuments(t).map((d) => d.toJSON()));
    const [configMap, claim, shardsJob] = await docs('shards-job.yaml');
    const [gatherJob] = await docs('gather-job.yaml');
    new ConfigMap(configMap).validate();
    new PersistentVolumeClaim(claim).validate();
    for (const j of [shardsJob, gatherJob]) new Job(j).validate();
    expect(shardsJob.metadata.name).toBe('bqc-shards');
    expect(shardsJob.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 4 });
    sh('bash', ['-n', path.join(out, 'submit.sh')], {});
    expect(await fs.readFile(path.join(out, 'submit.sh'), 'utf8')).toContain(
      'kubectl apply -f shards-job.yaml\nkubectl wait --for=condition=complete --timeout=-1s job.batch/bqc-shards\n',
    );
    // The simulation: the volume is a folder, the ConfigMap a file, each pod a process.
    const work = path.join(dir, 'k8s-work');
    const mounted = path.join(dir, 'k8s-pipeline');
    await fs.mkdir(mounted, { recursive: true });
    await fs.writeFile(path.join(mounted, 'bqc.json'), configMap.data['bqc.json']);
    const command = (job: typeof shardsJob) => job.spec.template.spec.containers[0].command as string[];
    for (let i = 0; i < 4; i++)
      sh('sh', ['-c', command(shardsJob)[2]], {
        ...podEnv(shardsJob, work, mounted),
        JOB_COMPLETION_INDEX: `${i}`,
        BDK,
      });
    // Pod 3 holds chains 2..3 of split 1.
    const pod3 = path.join(work, 'shards/3/checkpoints/bqc-s1-teacher');
    expect((await fs.readdir(pod3)).filter((f) => f.startsWith('samples-'))).toEqual(['samples-c2.arrow']);
    sh('sh', ['-c', command(gatherJob)[2]], { ...podEnv(gatherJob, work, mounted), BDK });
    await expectSameTeachers(path.join(work, 'checkpoints'));
    expect(await report(path.join(work, 'checkpoints'))).toEqual(baseline);
  }, 600_000);

  it('refuses chain shards that do not divide the chains, and shard flags without --emit', async () => {
    const emit = (...more: string[]) =>
      bdk(['run', pipeline, '--emit', 'slurm', '--out', path.join(dir, 'x'), ...more]);
    expect(expectOneLineError(emit('--chains-per-shard', '3'))).toBe(
      "bdk: --chains-per-shard 3 does not divide the teacher's 4 chains (pipeline 'bqc')",
    );
    expect(expectOneLineError(emit('--chain-offset', '0', '--chains', '2'))).toBe(
      'bdk: --chain-offset/--chains sample one teacher shard here; to shard an emitted array use --chains-per-shard',
    );
    expect(expectOneLineError(bdk(['run', pipeline, '--chains-per-shard', '2']))).toBe(
      'bdk: --chains-per-shard shapes an emitted array: give it with --emit ENGINE',
    );
    const bare = path.join(dir, 'bare.json');
    await fs.writeFile(bare, JSON.stringify({ name: 'bare', dataset: { name: 'boston', use: [0] } }));
    expect(
      expectOneLineError(bdk(['run', bare, '--emit', 'slurm', '--out', dir, '--chains-per-shard', '1'])),
    ).toBe("bdk: --chains-per-shard: pipeline 'bare' has no teacher section to shard");
    await expect(fs.stat(path.join(dir, 'x'))).rejects.toThrow(); // nothing written
  });
});

describe('bdk run --chain-offset --chains', () => {
  it('refuses a shard that is not one split’s sample stage, or lies outside the teacher’s chains', async () => {
    const env = { BDK_DATA_DIR: path.join(dir, 'none/datasets'), BDK_RUNS_DIR: path.join(dir, 'none/runs') };
    const run = (...more: string[]) => expectOneLineError(bdk(['run', pipeline, ...more], env));
    expect(run('--chain-offset', '1', '--stages', 'sample', '--splits', '0')).toBe(
      "bdk: --chain-offset needs --chains C, the shard's number of chains",
    );
    expect(run('--chains', '1', '--stages', 'sample', '--splits', '0')).toBe(
      "bdk: --chains needs --chain-offset K, the shard's first chain",
    );
    const shard = ['--chain-offset', '1', '--chains', '2'];
    expect(run(...shard, '--splits', '0')).toBe(
      'bdk: --chain-offset/--chains sample one teacher shard: give --stages sample (or prepare,sample), found every stage',
    );
    expect(run(...shard, '--splits', '0', '--stages', 'sample,search')).toBe(
      'bdk: --chain-offset/--chains sample one teacher shard: give --stages sample (or prepare,sample), found sample,search',
    );
    expect(run(...shard, '--stages', 'sample')).toBe(
      "bdk: --chain-offset/--chains sample one split's teacher shard: give --splits k with one split, found none",
    );
    expect(run(...shard, '--stages', 'sample', '--splits', '0,1')).toBe(
      "bdk: --chain-offset/--chains sample one split's teacher shard: give --splits k with one split, found 0,1",
    );
    expect(run('--chain-offset', '3', '--chains', '2', '--stages', 'sample', '--splits', '1')).toBe(
      "bdk: --chain-offset 3 --chains 2: chains 3..4 are not all among the teacher's 4 chains (0..3)",
    );
    // --dry-run checks the shard and says what it would sample, sampling nothing.
    const dry = bdk(['run', pipeline, ...shard, '--stages', 'sample', '--splits', '1', '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(`${pipeline}: valid; shard: split 1's teacher chains 1..2\n`);
    await expect(fs.access(path.join(dir, 'none'))).rejects.toThrow();
  });
});
