import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipeline } from '../../src/pipeline/load.js';
import { runPipeline } from '../../src/pipeline/run.js';
import { parseFront } from '../../src/search/front.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import { parseXml } from '../eval/svg-check.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  dir = await tempDir();
  env = { BDK_DATA_DIR: path.join(dir, 'data'), BDK_RUNS_DIR: path.join(dir, 'runs') };
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const readFront = async (run: string) => {
  const file = path.join(dir, 'runs', run, 'front.json');
  return parseFront(await fs.readFile(file, 'utf8'), file);
};

describe('a front of students (bdk search --budgets)', () => {
  it('searches, distills and evaluates one student per budget and the references, then resumes', async () => {
    expect(bdk(['data', 'prepare', 'boston', '--target-transform', 'log'], env).code).toBe(0);
    const sample = bdk(
      [
        'sample',
        '--dataset',
        'boston',
        '--arch',
        'mlp-50',
        '--run',
        't',
        '--samples',
        '5',
        '--burn-in',
        '200',
      ],
      env,
    );
    expect(sample.code, sample.stderr).toBe(0);
    await fs.writeFile(path.join(dir, 'd.json'), '{"epochs": 2, "batchSize": 64, "learningRate": 0.003}');
    const args = [
      'search',
      '--teacher',
      't',
      '--run',
      'f',
      '--budgets',
      '600,200',
      '--epochs',
      '2',
      '--widths',
      '10,25',
      '--reference-students',
      'mlp-10',
      '--distill-settings',
      path.join(dir, 'd.json'),
      '--select',
      'best:ll',
      '--latency-runs',
      '1',
    ];
    const r = bdk(args, env);
    expect(r.code, r.stderr).toBe(0);
    const front = await readFront('f');
    expect(front.members.map((m) => [m.name, m.kind, m.budget])).toEqual([
      ...front.members.filter((m) => m.kind === 'searched').map((m) => [m.name, 'searched', m.budget]),
      ['ref-mlp-10', 'reference', null],
    ]);
    expect(new Set(front.members.map((m) => m.name))).toEqual(new Set(['b200', 'b600', 'ref-mlp-10']));
    for (const m of front.members) {
      expect(Object.keys(m.test)).toEqual([
        'rmse',
        'll',
        'klToEnsemble',
        'meanRmseToEnsemble',
        'sdCorrelation',
      ]);
      expect(m.validation.ll).toBeLessThan(0);
      expect(m.test.klToEnsemble).toBeGreaterThan(0);
    }
    const b200 = front.members.find((m) => m.name === 'b200')!;
    expect(b200.parameters).toBeLessThanOrEqual(200);
    expect(front.members.find((m) => m.name === 'ref-mlp-10')!.parameters).toBe(162);
    // best:ll on validation, among the searched students.
    const best = front.members
      .filter((m) => m.kind === 'searched')
      .sort((a, b) => b.validation.ll - a.validation.ll || a.parameters - b.parameters)[0];
    expect(front.selected).toBe(best.name);
    // The students were distilled with the settings of --distill-settings.
    const dc = JSON.parse(
      await fs.readFile(path.join(dir, 'runs', 'f-b200-student', 'distill-config.json'), 'utf8'),
    );
    expect([dc.epochs, dc.batchSize, dc.learningRate, dc.arch]).toEqual([
      2,
      64,
      0.003,
      path.join(dir, 'runs', 'f-b200-search', 'arch.json'),
    ]);
    expect(r.stdout).toContain(`| **\`${best.name}\`** (selected) |`);
    const svg = parseXml(await fs.readFile(path.join(dir, 'runs', 'f', 'front.svg'), 'utf8'));
    expect(svg.filter((e) => e.attrs.class === 'references')).toHaveLength(1);
    // Running it again takes every finished member as it is.
    const again = bdk([...args, '--verbose'], env); // --verbose: an epoch line would show
    expect(again.code, again.stderr).toBe(0);
    for (const run of ['f-b200-search', 'f-b600-student', 'f-ref-mlp-10-student'])
      expect(again.stdout).toMatch(new RegExp(`${run} up to date`));
    expect(again.stdout).not.toMatch(/epoch 1\/2/);
    expect((await readFront('f')).members.map((m) => m.test)).toEqual(front.members.map((m) => m.test));
  });

  it('bad input gives one line', () => {
    const base = ['search', '--teacher', 't', '--run', 'g', '--widths', '10'];
    const cases: [string[], string][] = [
      [['--budgets', 'abc'], "bdk: --budgets: expected positive integers like 400,800,2000, got 'abc'"],
      [
        ['--budgets', '5,600'],
        "bdk: --max-parameters 5 is below the smallest architecture of space 'mlp' on this data (28 parameters)",
      ],
      [
        ['--budgets', '600', '--max-parameters', '600'],
        'bdk: give either --max-parameters or --budgets, not both',
      ],
      [
        ['--budgets', '600', '--resume'],
        'bdk: a front resumes by itself: run the same command again, without --resume',
      ],
      [['--lambda-sweep', 'kl-weight=x'], "bdk: --lambda-sweep: expected numbers ≥ 0, got 'x'"],
      [
        ['--budgets', '600', '--select', 'worst'],
        expect.stringMatching(/^bdk: --select: expected best/) as never,
      ],
      [
        ['--budgets', '600', '--reference-students', 'resnet'],
        expect.stringMatching(/^bdk: unknown architecture 'resnet'/) as never,
      ],
    ];
    for (const [flags, message] of cases) {
      const r = bdk([...base, ...flags], env);
      expect(r.code).toBe(1);
      expect(expectOneLineError(r)).toEqual(message);
    }
    const noTeacher = bdk(
      ['search', '--objective', 'labels', '--dataset', 'boston', '--run', 'g', '--budgets', '600'],
      env,
    );
    expect(expectOneLineError(noTeacher)).toBe(
      'bdk: a front (--budgets, --lambda-sweep) needs --teacher RUN',
    );
  });

  it('a pipeline front over a λ sweep: the later stages take the selected student', async () => {
    const config = parsePipeline(
      {
        name: 'pf',
        dataset: { name: 'boston', splits: { targetTransform: 'log' }, use: [0] },
        teacher: { arch: 'mlp-50', samples: 5, burnIn: 200, stepSize: 1e-5, batchSize: 32, chains: 1 },
        search: {
          space: 'mlp',
          epochs: 1,
          widths: [10],
          budgets: [400],
          lambdaSweep: { name: 'klWeight', values: [0.1, 1] },
          candidates: 2,
        },
        student: { select: 'member:b400-kl-weight-1' },
        distillation: { epochs: 1, batchSize: 64, learningRate: 0.003 },
        evaluation: { map: false, latencyRuns: 1, plots: false },
        export: {},
      },
      'pf.json',
    );
    const runsDir = path.join(dir, 'runs');
    const opts = { file: path.join(dir, 'pf.json'), dataDir: path.join(dir, 'data'), runsDir };
    const results = await runPipeline(config, opts);
    // prepare: unchanged when the first test prepared the dataset already.
    expect(results.slice(1).map((r) => [r.stage, r.status])).toEqual(
      ['sample', 'search', 'distill', 'evaluate', 'export'].map((st) => [st, 'done']),
    );
    const front = await readFront('pf');
    expect(front.members.map((m) => m.name)).toEqual(
      expect.arrayContaining(['b400-kl-weight-0.1', 'b400-kl-weight-1']),
    );
    expect(front.selected).toBe('b400-kl-weight-1');
    const sc = JSON.parse(
      await fs.readFile(path.join(runsDir, 'pf-s0-b400-kl-weight-0.1-search', 'search-config.json'), 'utf8'),
    );
    expect([sc.klWeight, sc.maxParameters]).toEqual([0.1, 400]);
    // The later stages take the candidate the split's front kept on validation rows.
    const kept = (await readFront('pf-s0-front')).members.find((m) => m.name === 'b400-kl-weight-1')!;
    // (Here the second candidate, the first without the skip edge: validation ll −3.66 against −4.19.)
    expect(kept.candidate).toBe(2);
    const run = 'pf-s0-b400-kl-weight-1-c2-student';
    expect(kept.runs).toEqual([run]);
    const report = JSON.parse(await fs.readFile(path.join(runsDir, 'pf', 'report.json'), 'utf8'));
    expect(report.runs).toEqual([run]);
    expect(await fs.readFile(path.join(runsDir, 'pf', 'report.md'), 'utf8')).toContain(
      '| **`b400-kl-weight-1`** (selected) |',
    );
    const manifest = JSON.parse(await fs.readFile(path.join(runsDir, 'pf', 'export', 'bdk.json'), 'utf8'));
    expect(manifest.student.run).toBe(run);
    // Bad front settings in a pipeline are one line too.
    const bad = (search: object) => () =>
      parsePipeline({ ...config, search: { ...config.search, ...search } }, 'p.json');
    expect(bad({ lambdaSweep: { name: 'klWeight', values: [] } })).toThrow(
      'p.json: search.lambdaSweep.values: expected >=1 items, found []',
    );
    expect(bad({ lambdaSweep: { name: 'seed', values: [1] } })).toThrow(
      'p.json: search.lambdaSweep.name: cannot sweep \'seed\' (expected one of lambda-l-prior, lambda-q-lik, lambda-q-prior, kl-weight, size-penalty, ard-shape, ard-rate), found "seed"',
    );
    expect(bad({ maxParameters: 400 })).toThrow(
      'p.json: search.budgets: give either maxParameters or budgets, not both, found [400]',
    );
    expect(bad({ budgets: undefined, lambdaSweep: undefined, candidates: 3 })).toThrow(
      'p.json: search.candidates: candidates above 1 need budgets or lambdaSweep (a front distills each candidate and keeps the best on validation rows), found 3',
    );
  });

  it('candidates: each one distilled, the member is the best on validation rows', async () => {
    const args = [
      'search',
      '--teacher',
      't',
      '--run',
      'fc',
      '--budgets',
      '600',
      '--candidates',
      '3',
      '--epochs',
      '2',
      '--widths',
      '10,25',
      '--distill-settings',
      path.join(dir, 'd.json'),
      '--latency-runs',
      '1',
    ];
    const r = bdk(args, env);
    expect(r.code, r.stderr).toBe(0);
    const runs = path.join(dir, 'runs');
    const list = JSON.parse(await fs.readFile(path.join(runs, 'fc-b600-search', 'candidates.json'), 'utf8'));
    expect(list.map((c: { rank: number }) => c.rank)).toEqual([1, 2, 3]);
    const summary = JSON.parse(await fs.readFile(path.join(runs, 'fc-b600-search', 'search.json'), 'utf8'));
    expect([summary.candidates, list[0].parameters]).toEqual([3, summary.parameterCount]);
    for (const c of list) expect(c.parametersBeforePruning).toBeLessThanOrEqual(600);
    expect(r.stdout + r.stderr).toContain(
      `3 candidates (candidates.json): ${list.map((c: { parameters: number }) => c.parameters).join(', ')} parameters`,
    );
    const spec2 = JSON.parse(
      await fs.readFile(path.join(runs, 'fc-b600-search', 'candidates', '2', 'arch.json'), 'utf8'),
    );
    const dc2 = JSON.parse(
      await fs.readFile(path.join(runs, 'fc-b600-c2-student', 'distill-config.json'), 'utf8'),
    );
    expect(dc2.arch).toBe(path.join(runs, 'fc-b600-search', 'candidates', '2', 'arch.json'));
    expect(spec2.name).toBe('fc-b600-search-searched-c2');
    const front = await readFront('fc');
    const m = front.members.find((x) => x.name === 'b600')!;
    expect(m.candidates!.map((c) => c.rank)).toEqual([1, 2, 3]);
    const best = [...m.candidates!].sort((a, b) => b.validation! - a.validation!)[0];
    expect(m.candidate).toBe(best.rank);
    expect(m.validation.ll).toBeCloseTo(best.validation!, 10);
    expect([m.parameters, m.arch]).toEqual([best.parameters, best.arch]);
    expect(m.runs).toEqual([best.rank === 1 ? 'fc-b600-student' : `fc-b600-c${best.rank}-student`]);
    expect(r.stdout).toContain(`\`b600\`: candidate ${best.rank} of 3 kept on validation ll:`);
    // A candidate by hand: bdk distill --arch-from RUN --candidate k.
    const one = bdk(
      ['distill', '--teacher', 't', '--arch-from', 'fc-b600-search', '--candidate', '9', '--run', 'x'],
      env,
    );
    expect(one.code).toBe(1);
    expect(expectOneLineError(one)).toBe(
      `bdk: search run 'fc-b600-search' has no candidate 9 (no ${path.join(runs, 'fc-b600-search', 'candidates', '9', 'arch.json')}; search with --candidates 9 or more)`,
    );
    expect(
      expectOneLineError(bdk(['distill', '--teacher', 't', '--candidate', '2', '--run', 'x'], env)),
    ).toBe('bdk: --candidate needs --arch-from RUN');
  });
});
