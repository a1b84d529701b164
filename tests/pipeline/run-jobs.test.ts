import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bdk, expectOneLineError, ROOT, tempDir } from '../helpers.js';

// `bdk run --jobs N` shares the per-split stages out to N processes; `--splits` restricts a run.
let dir: string;
let pipeline: string;
const env = (runs: string) => ({
  BDK_DATA_DIR: path.join(dir, 'datasets'),
  BDK_RUNS_DIR: path.join(dir, runs),
});

beforeAll(async () => {
  dir = await tempDir();
  const quick = JSON.parse(await fs.readFile(path.join(ROOT, 'pipelines/boston-quick.json'), 'utf8'));
  quick.name = 'two';
  quick.dataset.use = [0, 3];
  quick.evaluation = { ...quick.evaluation, plots: false, map: false };
  pipeline = path.join(dir, 'two.json');
  await fs.writeFile(pipeline, JSON.stringify(quick));
  expect(bdk(['data', 'prepare', 'boston', '--target-transform', 'log'], env('seq')).code).toBe(0);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Every file that holds a result: teacher samples, searched architectures, student weights. */
async function results(runs: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const k of [0, 3]) {
    for (const f of [
      `two-s${k}-teacher/samples-c0.arrow`,
      `two-s${k}-search/arch.json`,
      `two-s${k}-student/student.weights.bin`,
    ])
      out[f] = await fs.readFile(path.join(dir, runs, f));
  }
  return out;
}

const metricsOf = async (runs: string) => {
  const r = JSON.parse(await fs.readFile(path.join(dir, runs, 'two', 'report.json'), 'utf8'));
  return Object.fromEntries(
    Object.entries(r.models as Record<string, Record<string, { mean: number }>>).map(([m, v]) => [
      m,
      [v.rmse.mean, v.ll.mean],
    ]),
  );
};

describe('bdk run --jobs / --splits', () => {
  it('two processes write exactly what one process writes', async () => {
    const one = bdk(['run', pipeline, '--jobs', '1'], env('seq'));
    expect(one.code, one.stderr).toBe(0);
    const two = bdk(['run', pipeline, '--jobs', '2', '--verbose'], env('par'));
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain('sample, search, distill, evaluate: 2 processes share out the splits');
    expect(two.stdout).toContain('[s3] stage sample: start');
    // the children evaluated their splits; the parent only collects their reports
    expect(two.stdout).toContain('[s3] stage evaluate: start');
    expect(two.stdout).toMatch(/^\[s3\] epoch \d+\/\d+: loss /m); // the distillation's, with --verbose
    // Children print no backend line and write none of the pipeline's summaries: the parent does.
    expect(two.stdout.match(/^(\[s\d+\] )?backend: /gm)).toEqual(['backend: ']);
    expect(two.stdout).not.toMatch(/^\[s\d+\] .*wrote .*(summary\.json|report\.json)/m);
    for (const f of ['teacher-summary.json', 'search-summary.json', 'student-summary.json'])
      expect(JSON.parse(await fs.readFile(path.join(dir, 'par', 'two', f), 'utf8')).splits).toEqual([0, 3]);
    expect(two.stdout).toMatch(/^split 0 \(up to date\): student rmse/m);
    expect(two.stdout).toMatch(/^split 3 \(up to date\): student rmse/m);
    expect(await results('par')).toEqual(await results('seq'));
    expect(await metricsOf('par')).toEqual(await metricsOf('seq'));
  });

  it('--quiet and --verbose change what is printed and nothing else', async () => {
    const normal = bdk(['run', pipeline, '--jobs', '2'], env('normal'));
    expect(normal.code, normal.stderr).toBe(0);
    const quiet = bdk(['run', pipeline, '--jobs', '2', '--quiet'], env('quiet'));
    expect(quiet.code, quiet.stderr).toBe(0);
    // Default: stage lines, warnings and the final table; no per-split or per-epoch line.
    expect(normal.stdout).toMatch(/^stage distill: student over 2 splits: rmse /m);
    expect(normal.stdout).not.toMatch(/^(\[s\d+\] )?split \d/m);
    expect(normal.stdout).not.toMatch(/epoch \d+\/\d+:/);
    expect(normal.stdout.split('\n').filter((l) => /^\[s\d+\] /.test(l) && !/\] warning: /.test(l))).toEqual(
      [],
    );
    // --quiet: the final table alone, the same as the default run's last lines.
    const table = quiet.stdout.trimEnd().split('\n');
    expect(table[0]).toMatch(
      /^result of two, test rows over 2 splits \(mean ± standard error\); full report: /,
    );
    expect(table[1].trim().split(/\s{2,}/)).toEqual([
      'model',
      'rmse',
      'll',
      'coverage 90 %',
      'parameters',
      'latency/example',
    ]);
    expect(table.slice(2).map((l) => l.trim().split(/\s+/)[0])).toEqual([
      'teacher_single',
      'ensemble',
      'student',
    ]);
    expect(quiet.stderr).toBe('');
    const tail = normal.stdout.trimEnd().split('\n').slice(-table.length);
    expect(tail.slice(2).map((l) => l.split(/\s{2,}/).slice(0, 4))).toEqual(
      table.slice(2).map((l) => l.split(/\s{2,}/).slice(0, 4)),
    );
    // The same files, and the same bytes in every result file, at every level.
    const files = async (runs: string) =>
      (await fs.readdir(path.join(dir, runs), { recursive: true })).map(String).sort();
    expect(await files('quiet')).toEqual(await files('normal'));
    expect(await files('par')).toEqual(await files('normal'));
    expect(await results('quiet')).toEqual(await results('seq'));
    expect(await results('normal')).toEqual(await results('seq'));
    expect(await metricsOf('quiet')).toEqual(await metricsOf('seq'));
  });

  it('Ctrl-C stops every process with exit code 130; running again resumes to the same result', async () => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/bdk.js'), 'run', pipeline, '--jobs', '2', '--verbose'],
      {
        env: { ...process.env, ...env('stop') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 1200 && !/\[s3\] stage search: start/.test(out); i++)
      await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(out).toContain('interrupted');
    const again = bdk(['run', pipeline, '--jobs', '2'], env('stop'));
    expect(again.code, again.stderr).toBe(0);
    expect(await results('stop')).toEqual(await results('seq'));
  });

  it('evaluate reuses a split report that is up to date and redoes one older than its student', async () => {
    const again = bdk(['run', pipeline, '--stages', 'evaluate', '--jobs', '1', '--verbose'], env('seq'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^split 0 \(up to date\): /m);
    expect(again.stdout).toMatch(/^split 3 \(up to date\): /m);
    const later = new Date(Date.now() + 5000);
    await fs.utimes(path.join(dir, 'seq', 'two-s3-student', 'student.weights.bin'), later, later);
    const redo = bdk(['run', pipeline, '--stages', 'evaluate', '--jobs', '1', '--verbose'], env('seq'));
    expect(redo.code, redo.stderr).toBe(0);
    expect(redo.stdout).toMatch(/^split 0 \(up to date\): /m);
    expect(redo.stdout).toMatch(/^split 3: student rmse/m);
    expect(await metricsOf('seq')).toEqual(await metricsOf('par'));
  });

  it('a child process reports events to its parent and writes no summary of the pipeline', async () => {
    const r = bdk(['run', pipeline, '--splits', '3', '--stages', 'sample', '--jobs', '1'], {
      ...env('child'),
      BDK_PIPELINE_CHILD: '1',
    });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trimEnd().split('\n');
    expect(events.every((l) => l.startsWith('bdk-event {'))).toBe(true);
    const parsed = events.map((l) => JSON.parse(l.slice('bdk-event '.length)));
    expect(parsed.filter((e) => e.t === 'unit')).toEqual([
      { t: 'unit', stage: 'sample', split: 3, phase: 'start' },
      { t: 'unit', stage: 'sample', split: 3, phase: 'end', cached: false },
    ]);
    expect(parsed.some((e) => e.t === 'step')).toBe(true);
    // Its stage lines are detail: the parent prints the stage over every split.
    expect(
      parsed.find((e) => e.t === 'log' && e.text.startsWith('stage sample: ensemble over 1 split'))?.kind,
    ).toBe('detail');
    await expect(
      fs.access(path.join(dir, 'child', 'two-s3-teacher', 'teacher.json')),
    ).resolves.toBeUndefined();
    await expect(fs.access(path.join(dir, 'child', 'two'))).rejects.toThrow();
  });

  it('--splits runs a subset; a split the pipeline does not use is a one-line error', async () => {
    const r = bdk(
      ['run', pipeline, '--splits', '3', '--stages', 'sample', '--jobs', '1', '--verbose'],
      env('seq'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('split 3: teacher two-s3-teacher up to date');
    expect(r.stdout).not.toContain('split 0');
    const bad = bdk(['run', pipeline, '--splits', '1,3'], env('seq'));
    expect(bad.code).toBe(1);
    expect(expectOneLineError(bad)).toBe("bdk: --splits: split 1 is not among the pipeline's splits (0, 3)");
  });
});
