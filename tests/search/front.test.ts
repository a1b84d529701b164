import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { classificationFidelity, regressionFidelity, studentMoments } from '../../src/eval/fidelity.js';
import { frontSvg } from '../../src/eval/plots/front.js';
import { resolveArch } from '../../src/model/builtins.js';
import {
  archDescription,
  averageFronts,
  frontJson,
  frontMarkdown,
  parseFront,
  parseSelectionRule,
  selectMember,
  withSelection,
  type Front,
  type FrontMember,
} from '../../src/search/front.js';
import {
  parseBudgets,
  parseLambdaSweep,
  referenceName,
  searchedMembers,
  type FrontConfig,
} from '../../src/stages/front-config.js';
import { searchConfigFrom } from '../../src/stages/search-config.js';
import { parseXml } from '../eval/svg-check.js';

const member = (
  name: string,
  parameters: number,
  ll: number,
  extra: Partial<FrontMember> = {},
): FrontMember => ({
  name,
  kind: 'searched',
  budget: parameters,
  lambda: null,
  arch: `${name}-arch`,
  parameters,
  bytes: 4 * parameters,
  latencyMs: 0.001,
  test: { rmse: 3 - ll, ll, klToEnsemble: 0.1, meanRmseToEnsemble: 0.5 },
  validation: { rmse: 3 - ll, ll },
  runs: [`${name}-student`],
  ...extra,
});

const members = [
  member('b100', 100, -2.5),
  member('b400', 400, -2.305),
  member('b800', 800, -2.3),
  member('b2000', 2000, -2.296),
  member('ref-mlp-50', 802, -2.2, { kind: 'reference', budget: null }),
];

const front = (ms: FrontMember[] = members): Front =>
  withSelection(
    {
      format: 'bdk-front',
      version: 1,
      dataset: 'boston',
      task: 'regression',
      splits: [0],
      ensemble: { parameters: 320800, bytes: 1283200, latencyMs: 0.7, test: { rmse: 2.7, ll: -2.3 } },
      members: ms,
    },
    { rule: 'smallest-within', tolerance: 0.01 },
  );

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  return '(no error)';
};

describe('the selection rule of a front', () => {
  it('picks the closed-form choices among the searched members only', () => {
    // Best ll is b2000 (−2.296); the reference's −2.2 does not count.
    expect(selectMember(members, { rule: 'best' }, 'regression')!.name).toBe('b2000');
    // Within 0.01 of −2.296: b800 (−2.300) and b400 (−2.305), b2000; the smallest is b400.
    expect(selectMember(members, { rule: 'smallest-within', tolerance: 0.01 }, 'regression')!.name).toBe(
      'b400',
    );
    expect(selectMember(members, { rule: 'smallest-within', tolerance: 0.005 }, 'regression')!.name).toBe(
      'b800',
    );
    expect(selectMember(members, { rule: 'smallest-within', tolerance: 0 }, 'regression')!.name).toBe(
      'b2000',
    );
    // Relative: 10% of |−2.296| = 0.2296 admits b100 (−2.5 is 0.204 worse).
    expect(
      selectMember(members, { rule: 'smallest-within', tolerance: 0.1, relative: true }, 'regression')!.name,
    ).toBe('b100');
    // rmse is smaller-is-better: best is b2000 (0.704... the largest ll gives the smallest rmse).
    expect(selectMember(members, { rule: 'best', metric: 'rmse' }, 'regression')!.name).toBe('b2000');
    expect(selectMember(members, { rule: 'member', name: 'b800' }, 'regression')!.name).toBe('b800');
    expect(selectMember([members[4]], { rule: 'best' }, 'regression')).toBeNull();
  });

  it('reads the test part when asked, and ties go to the fewer parameters', () => {
    const ms = [
      member('a', 500, -2.3, { validation: { ll: -2.0 } }),
      member('b', 300, -2.3, { validation: { ll: -2.4 } }),
    ];
    expect(selectMember(ms, { rule: 'best' }, 'regression')!.name).toBe('a');
    expect(selectMember(ms, { rule: 'best', part: 'test' }, 'regression')!.name).toBe('b');
  });

  it('reads the string form and refuses what is not one, in one line', () => {
    expect(parseSelectionRule('best')).toEqual({ rule: 'best' });
    expect(parseSelectionRule('best:rmse')).toEqual({ rule: 'best', metric: 'rmse' });
    expect(parseSelectionRule('smallest-within:ll:0.01')).toEqual({
      rule: 'smallest-within',
      metric: 'll',
      tolerance: 0.01,
    });
    expect(parseSelectionRule('smallest-within:rmse:5%')).toEqual({
      rule: 'smallest-within',
      metric: 'rmse',
      tolerance: 0.05,
      relative: true,
    });
    expect(parseSelectionRule('member:b800')).toEqual({ rule: 'member', name: 'b800' });
    const expected = `--select: expected best[:METRIC], smallest-within:METRIC:TOLERANCE[%] or member:NAME, got`;
    for (const bad of [
      'smallest',
      'smallest-within:ll',
      'smallest-within:ll:-1',
      'smallest-within:ll:x',
      'member:',
    ])
      expect(errorOf(() => parseSelectionRule(bad))).toBe(`${expected} '${bad}'`);
    expect(errorOf(() => selectMember(members, { rule: 'best', metric: 'auc' }, 'regression'))).toBe(
      "student.select: unknown metric 'auc' on validation (expected one of rmse, ll)",
    );
    expect(errorOf(() => selectMember(members, { rule: 'member', name: 'b5' }, 'regression'))).toBe(
      "student.select: no front member 'b5' (members: b100, b400, b800, b2000, ref-mlp-50)",
    );
  });
});

describe('front files', () => {
  it('front.json round-trips, and a file that is not a front is a one-line error', () => {
    const f = front();
    expect(f.selected).toBe('b400');
    expect(parseFront(frontJson(f), 'front.json')).toEqual(f);
    expect(errorOf(() => parseFront('{"format": "other"}', 'x.json'))).toBe(
      'x.json: not a bdk front (expected "format": "bdk-front", "version": 1)',
    );
    expect(errorOf(() => parseFront('{', 'x.json'))).toMatch(/^x\.json: invalid JSON/);
  });

  it('describes a searched architecture edge by edge', () => {
    expect(
      archDescription([
        { from: 'input', to: 'h1', op: { type: 'dense', units: 10, activation: 'tanh' } as never },
        { from: 'h1', to: 'out', op: { type: 'dense', units: 2 } as never },
        {
          from: 'input',
          to: 'c',
          op: { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' } as never,
        },
        { from: 'c', to: 'out', op: { type: 'flatten' } },
      ]),
    ).toBe('input→h1 dense 10 tanh, h1→out dense 2, input→c conv2d 8×3² relu, c→out flatten');
  });

  it('averages members over splits by name', () => {
    const other = front(
      members.map((m) => ({ ...m, parameters: m.parameters + 10, test: { ...m.test, ll: m.test.ll - 0.1 } })),
    );
    const avg = averageFronts([front(), { ...other, splits: [1] }], { rule: 'best' });
    expect(avg.splits).toEqual([0, 1]);
    const b400 = avg.members.find((m) => m.name === 'b400')!;
    expect(b400.parameters).toBe(405);
    expect(b400.test.ll).toBeCloseTo(-2.355, 12);
    expect(b400.runs).toEqual(['b400-student', 'b400-student']);
    expect(avg.selected).toBe('b2000');
    // Searched members by size, then references.
    expect(avg.members.map((m) => m.name)).toEqual(['b100', 'b400', 'b800', 'b2000', 'ref-mlp-50']);
  });

  it('candidates are listed under the table of one split and dropped from an average over splits', () => {
    const candidates = [
      { rank: 1, arch: 'tanh', parameters: 430, validation: -2.21 },
      { rank: 2, arch: 'relu', parameters: 802, validation: -2.1 },
    ];
    const one = front([member('b800', 802, -2.1, { candidate: 2, candidates }), ...members.slice(4)]);
    const md = frontMarkdown(one);
    expect(md).toContain(
      [
        '`b800`: candidate 2 of 2 kept on validation ll:',
        '',
        '- 1. `tanh`, 430 parameters, validation ll -2.2100',
        '- **2. `relu`, 802 parameters, validation ll -2.1000**',
      ].join('\n'),
    );
    expect(parseFront(frontJson(one), 'f.json')).toEqual(one);
    const avg = averageFronts([one, { ...one, splits: [1] }], { rule: 'best' });
    expect(avg.members[0].candidates).toBeUndefined();
    expect(frontMarkdown(avg)).not.toContain('kept on validation');
  });

  it('the markdown table has a row per member and the ensemble, the selected one marked', () => {
    const md = frontMarkdown(front());
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    expect(rows[0]).toBe(
      '| student | architecture | parameters | bytes | latency per example (ms) | test rmse | test ll | test klToEnsemble | test meanRmseToEnsemble | validation ll |',
    );
    expect(rows).toHaveLength(2 + members.length + 1);
    expect(rows[3]).toBe(
      '| **`b400`** (selected) | `b400-arch` | 400 | 1600 | 0.00100 | 5.3050 | -2.3050 | 0.1000 | 0.5000 | -2.3050 |',
    );
    expect(md).toContain('| `ref-mlp-50` (reference) |');
    expect(md).toContain('Selected by smallest within 0.01 of the best ll on validation: `b400`.');
  });

  it('front.svg is well-formed: the searched line, reference squares, the selected ring, a legend', () => {
    const svg = frontSvg(
      members.map((m) => ({ name: m.name, parameters: m.parameters, value: m.test.ll, kind: m.kind })),
      { yLabel: 'test ll', selected: 'b400' },
    );
    const els = parseXml(svg);
    const group = (cls: string) => els.find((e) => e.attrs.class === cls);
    expect(group('searched')).toBeDefined();
    expect(group('references')).toBeDefined();
    expect(group('selected')).toBeDefined();
    expect(group('legend')).toBeDefined();
    expect(els.filter((e) => e.name === 'circle' && e.attrs.r === '4')).toHaveLength(4);
    expect(els.filter((e) => e.name === 'text').map((e) => e.text)).toEqual(
      expect.arrayContaining([
        'b100',
        'ref-mlp-50',
        'searched (one per budget)',
        'hand-picked reference',
        'selected',
      ]),
    );
    expect(parseXml(frontSvg([], { yLabel: 'll' })).some((e) => e.text === 'No data')).toBe(true);
  });
});

describe('fidelity to the ensemble', () => {
  it('regression: the Gaussian KL and mean RMSE in closed form', () => {
    // KL(N(0,1) ‖ N(1,4)) = ½[log 4 + (1 + 1)/4 − 1] = ½ log 4 − ¼; identical predictives give 0.
    const f = regressionFidelity([0, 5], [1, 2], [1, 5], [4, 2]);
    expect(f.klToEnsemble).toBeCloseTo((0.5 * Math.log(4) - 0.25) / 2, 12);
    expect(f.meanRmseToEnsemble).toBeCloseTo(Math.sqrt(0.5), 12);
    // A log target: the student's moments are the log-normal's.
    const m = studentMoments([0, Math.log(0.25)], { mean: 1, std: 2, transform: 'log' });
    expect(m.mean[0]).toBeCloseTo(Math.exp(1 + 0.5), 12);
    expect(m.variance[0]).toBeCloseTo(Math.expm1(1) * Math.exp(3), 9);
  });

  it('classification: KL of the probabilities and argmax agreement', () => {
    const f = classificationFidelity([0.5, 0.5, 0.9, 0.1], [0.5, 0.5, 0.2, 0.8], 2);
    expect(f.klToEnsemble).toBeCloseTo((0.9 * Math.log(0.9 / 0.2) + 0.1 * Math.log(0.1 / 0.8)) / 2, 12);
    expect(f.agreement).toBe(0.5);
  });
});

describe('front settings', () => {
  const config: FrontConfig = {
    teacher: 't',
    search: searchConfigFrom({ dataset: 'boston', teacher: 't' }),
    budgets: [400, 800],
    lambdaSweep: null,
    references: [],
    distillation: {},
    select: { rule: 'best' },
    latencyRuns: 1,
  };

  it('budgets and λ sweeps: parsed, checked, crossed into named members', () => {
    expect(parseBudgets('800, 400,2000')).toEqual([400, 800, 2000]);
    expect(errorOf(() => parseBudgets('abc'))).toBe(
      "--budgets: expected positive integers like 400,800,2000, got 'abc'",
    );
    expect(errorOf(() => parseBudgets('400,0'))).toBe(
      "--budgets: expected positive integers like 400,800,2000, got '0'",
    );
    expect(errorOf(() => parseBudgets('400,400'))).toBe('--budgets: repeated budget');
    expect(parseLambdaSweep('kl-weight=0.1,1')).toEqual({ name: 'kl-weight', values: [0.1, 1] });
    expect(parseLambdaSweep('lambdaQPrior=0')).toEqual({ name: 'lambda-q-prior', values: [0] });
    expect(errorOf(() => parseLambdaSweep('kl-weight'))).toBe(
      "--lambda-sweep: expected NAME=v1,v2,…, got 'kl-weight'",
    );
    expect(errorOf(() => parseLambdaSweep('kl-weight=1,x'))).toBe(
      "--lambda-sweep: expected numbers ≥ 0, got 'x'",
    );
    expect(errorOf(() => parseLambdaSweep('seed=1'))).toBe(
      "--lambda-sweep: cannot sweep 'seed' (expected one of lambda-l-prior, lambda-q-lik, lambda-q-prior, kl-weight, size-penalty, ard-shape, ard-rate)",
    );
    expect(searchedMembers(config).map((m) => [m.name, m.search.maxParameters])).toEqual([
      ['b400', 400],
      ['b800', 800],
    ]);
    const crossed = searchedMembers({ ...config, lambdaSweep: { name: 'kl-weight', values: [0.1, 1] } });
    expect(crossed.map((m) => [m.name, m.search.maxParameters, m.search.klWeight])).toEqual([
      ['b400-kl-weight-0.1', 400, 0.1],
      ['b400-kl-weight-1', 400, 1],
      ['b800-kl-weight-0.1', 800, 0.1],
      ['b800-kl-weight-1', 800, 1],
    ]);
    const sweep = searchedMembers({
      ...config,
      budgets: [],
      lambdaSweep: { name: 'lambda-q-prior', values: [2] },
    });
    expect(sweep.map((m) => [m.name, m.search.maxParameters, m.search.lambdaQPrior])).toEqual([
      ['lambda-q-prior-2', undefined, 2],
    ]);
    // The member's config is the one `bdk search` builds, key for key (stored configs compare as text).
    expect(JSON.stringify(crossed[0].search)).toBe(
      JSON.stringify(
        searchConfigFrom({ dataset: 'boston', teacher: 't', klWeight: 0.1, maxParameters: 400 }),
      ),
    );
    expect(referenceName('mlp-10')).toBe('ref-mlp-10');
    expect(referenceName('specs/my arch.json')).toBe('ref-my_arch');
  });

  it('mlp-W[-W…] names hand-picked ReLU students', async () => {
    const ctx = { input: [13], outputUnits: 2 };
    expect((await resolveArch('mlp-10', ctx)).parameterCount).toBe(13 * 10 + 10 + 10 * 2 + 2);
    expect((await resolveArch('mlp-100-100', ctx)).parameterCount).toBe(1400 + 10100 + 202);
    expect((await resolveArch('mlp-50', ctx)).spec).toEqual((await resolveArch('mlp-50', ctx)).spec);
    await expect(resolveArch('mlp-0', ctx)).rejects.toThrow("unknown architecture 'mlp-0'");
  });
});
