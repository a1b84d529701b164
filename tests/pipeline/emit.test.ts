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
 * `bdk run --emit kubernetes|slurm` (issue 26): the emitted files validate (batch/v1 Job schema,
 * `bash -n`), and a local simulation — every array index a separate process with JOB_COMPLETION_INDEX
 * or SLURM_ARRAY_TASK_ID set, into its own folders, then the gather step — gives the report `bdk run`
 * gives in one process (latencies, which are timings, excepted).
 */
let dir: string;
let pipeline: string;
let baseline: Record<string, unknown>;
const report = (runsDir: string) => reportWithoutLatency(runsDir, 'bq2');

beforeAll(async () => {
  dir = await tempDir();
  pipeline = path.join(dir, 'bq2.json');
  // boston-quick on two splits, with shorter chains and training so the three runs stay quick.
  await writeQuickPipeline(pipeline, {
    name: 'bq2',
    splits: [0, 1],
    teacher: { samples: 8, burnIn: 300, thin: 10 },
    searchEpochs: 3,
    distillEpochs: 5,
  });
  const env = {
    BDK_DATA_DIR: path.join(dir, 'one/datasets'),
    BDK_RUNS_DIR: path.join(dir, 'one/checkpoints'),
  };
  const r = bdk(['run', pipeline, '--jobs', '1'], env);
  expect(r.code, r.stderr).toBe(0);
  baseline = await report(env.BDK_RUNS_DIR);
}, 600_000);
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bdk run --emit', () => {
  it('slurm: the array and gather scripts pass bash -n, and a simulated array gives the same report', async () => {
    const out = path.join(dir, 'slurm');
    const r = bdk(['run', pipeline, '--emit', 'slurm', '--out', out, '--parallelism', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(out)).sort()).toEqual([
      'array.sbatch',
      'bq2.json',
      'gather.sbatch',
      'submit.sh',
    ]);
    const array = await fs.readFile(path.join(out, 'array.sbatch'), 'utf8');
    expect(array).toContain('#SBATCH --array=0-1%1\n');
    for (const f of ['array.sbatch', 'gather.sbatch', 'submit.sh']) sh('bash', ['-n', path.join(out, f)], {});
    const env = { BDK_EMIT_DIR: out, BDK };
    for (const i of [0, 1])
      sh('bash', [path.join(out, 'array.sbatch')], { ...env, SLURM_ARRAY_TASK_ID: `${i}` });
    // Each task wrote only its own split, into its own folder.
    expect(
      (await fs.readdir(path.join(out, 'shards/1/checkpoints'))).filter((f) => f.startsWith('bq2-s')),
    ).toEqual(['bq2-s1-search', 'bq2-s1-student', 'bq2-s1-teacher']);
    sh('bash', [path.join(out, 'gather.sbatch')], env);
    expect(await report(path.join(out, 'checkpoints'))).toEqual(baseline);
  }, 600_000);

  it('kubernetes: the manifests validate as batch/v1 Jobs, and a simulated Indexed Job gives the same report', async () => {
    const out = path.join(dir, 'k8s');
    const r = bdk([
      'run',
      pipeline,
      '--emit',
      'kubernetes',
      '--out',
      out,
      '--image',
      'registry.example/bdk:1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const docs = (f: string) =>
      fs.readFile(path.join(out, f), 'utf8').then((t) => parseAllDocuments(t).map((d) => d.toJSON()));
    const [configMap, claim, splitsJob] = await docs('splits-job.yaml');
    const [gatherJob] = await docs('gather-job.yaml');
    new ConfigMap(configMap).validate();
    new PersistentVolumeClaim(claim).validate();
    for (const j of [splitsJob, gatherJob]) new Job(j).validate();
    expect(splitsJob.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2 });
    expect(JSON.parse(configMap.data['bq2.json'])).toEqual(JSON.parse(await fs.readFile(pipeline, 'utf8')));
    expect(splitsJob.spec.template.spec.containers[0].image).toBe('registry.example/bdk:1');
    sh('bash', ['-n', path.join(out, 'submit.sh')], {});
    // The simulation: the volume is a folder, the ConfigMap a file, each pod a process.
    const work = path.join(dir, 'k8s-work');
    const mounted = path.join(dir, 'k8s-pipeline');
    await fs.mkdir(mounted, { recursive: true });
    await fs.writeFile(path.join(mounted, 'bq2.json'), configMap.data['bq2.json']);
    const command = (job: typeof splitsJob) => job.spec.template.spec.containers[0].command as string[];
    for (const i of [0, 1]) {
      const [shell, flag, script] = command(splitsJob);
      expect([shell, flag]).toEqual(['/bin/sh', '-c']);
      sh('sh', ['-c', script], { ...podEnv(splitsJob, work, mounted), JOB_COMPLETION_INDEX: `${i}`, BDK });
    }
    sh('sh', ['-c', command(gatherJob)[2]], { ...podEnv(gatherJob, work, mounted), BDK });
    expect(await report(path.join(work, 'checkpoints'))).toEqual(baseline);
    expect(await fs.readFile(path.join(out, 'Dockerfile'), 'utf8')).toMatch(/^FROM node:20-bookworm-slim$/m);
  }, 600_000);

  it('refuses an unknown engine, a missing --out, and files already there', async () => {
    const unknown = bdk(['run', pipeline, '--emit', 'nomad', '--out', path.join(dir, 'x')]);
    expect(expectOneLineError(unknown)).toBe("bdk: --emit: expected one of kubernetes, slurm, found 'nomad'");
    expect(expectOneLineError(bdk(['run', pipeline, '--emit', 'slurm']))).toBe(
      'bdk: --emit needs --out DIR, the folder to write the files into',
    );
    const again = bdk(['run', pipeline, '--emit', 'slurm', '--out', path.join(dir, 'slurm')]);
    expect(again.code).toBe(1);
    expect(expectOneLineError(again)).toBe(
      `bdk: ${path.join(dir, 'slurm', 'array.sbatch')} already exists; pass --force to replace the emitted files`,
    );
  });

  it('bdk gather --pipeline refuses a split in two shards, an unfinished split and runs already here', async () => {
    const slurm = (i: number) => path.join(dir, 'slurm/shards', `${i}`, 'checkpoints');
    const k8s = (i: number) => path.join(dir, 'k8s-work/shards', `${i}`, 'checkpoints');
    const env = { BDK_RUNS_DIR: path.join(dir, 'gathered') };
    const gather = (...shards: string[]) => bdk(['gather', '--pipeline', pipeline, ...shards], env);
    expect(expectOneLineError(gather(slurm(0), k8s(0)))).toBe(
      `bdk: split 0 of pipeline 'bq2' is in two shards, ${slurm(0)} and ${k8s(0)} (each array index runs its own splits)`,
    );
    const broken = path.join(dir, 'broken');
    await fs.cp(slurm(1), broken, { recursive: true });
    await fs.rm(path.join(broken, 'bq2-s1-student', 'student.json'));
    expect(expectOneLineError(gather(slurm(0), broken))).toBe(
      `bdk: ${broken}: split 1 is not finished: its student bq2-s1-student has no student.json (run the array job for it again)`,
    );
    await expect(fs.stat(env.BDK_RUNS_DIR)).rejects.toThrow(); // nothing copied
    expect(gather(slurm(0), slurm(1)).code).toBe(0);
    expect(expectOneLineError(gather(slurm(0)))).toBe(
      `bdk: run 'bq2-s0-search' already exists at ${path.join(env.BDK_RUNS_DIR, 'bq2-s0-search')}; pass --force to replace it`,
    );
  });
});
