import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { forward, unflatten } from '../../src/model/forward.js';
import { analyzeSpec } from '../../src/model/spec.js';
import { BUILTIN_SPACES, analyzeSpace, type SpaceAnalysis } from '../../src/search/space.js';
import { supernetForward, supernetLayout, type SupernetLayout } from '../../src/search/supernet.js';
import { chosenCandidates, discretize, type TrainedValues } from '../../src/search/discretize.js';
import {
  checkBudget,
  discreteParameters,
  dualStep,
  repairToBudget,
  smallestArchitecture,
} from '../../src/search/budget.js';
import { expectedArchParameters } from '../../src/search/budget-expectation.js';
import { presetMetaparameters } from '../../src/search/objective.js';
import { runSearch, type SearchData } from '../../src/search/train-search.js';
import { prepareBuiltin } from '../../src/stages/prepare.js';
import { searchStructure } from '../../src/stages/search.js';
import { searchConfigFrom } from '../../src/stages/search-config.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import {
  allArchitectures,
  bruteForceExpectation,
  concatSpace,
  randomValues,
  spaces as smallSpaces,
} from './budget-spaces.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('bdk-budget-');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: path.join(dir, 'checkpoints') };
  await prepareBuiltin('boston', { targetTransform: 'log' }, { dir: env.BDK_DATA_DIR });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The budget-spaces fixtures, and `lenet` (1 728 architectures: too many for the latency tests). */
const spaces: [string, () => SpaceAnalysis][] = [
  ...smallSpaces,
  [
    'lenet',
    () => analyzeSpace(BUILTIN_SPACES.lenet.build({ input: [4, 4, 1], outputUnits: 2 }, { widths: [2, 3] })),
  ],
];

/** The exported architecture's parameter count for a choice vector (no pruning), or null when refused. */
function exportedCount(layout: SupernetLayout, v: TrainedValues, chosen: number[]): number | null {
  try {
    return discretize(layout, v, 1, 'x', chosen).analysis.parameterCount;
  } catch {
    return null;
  }
}

const logitsOf = (layout: SupernetLayout, v: TrainedValues) =>
  layout.logits.map((li) => (li === null ? [0] : Array.from(v.h[li])));

describe('parameter budget', () => {
  it.each(spaces)(
    '%s: the count of every architecture equals the exported one; the minimum is the smallest',
    (name, make) => {
      const sa = make();
      const layout = supernetLayout(sa);
      const v = randomValues(layout, new Rng(1));
      let min = Infinity;
      // lenet has 1 728 architectures: every fifth (and the smallest) keeps the test quick.
      const stride = name === 'lenet' ? 5 : 1;
      for (const chosen of allArchitectures(sa).filter((_, i) => i % stride === 0)) {
        const exported = exportedCount(layout, v, chosen);
        const r = discreteParameters(sa, chosen);
        expect(r.valid, chosen.join()).toBe(exported !== null);
        if (exported === null) continue;
        expect(r.parameters, chosen.join()).toBe(exported);
        min = Math.min(min, exported);
      }
      const smallest = smallestArchitecture(sa);
      if (stride === 1) expect(smallest.parameters).toBe(min);
      else expect(smallest.parameters).toBeLessThanOrEqual(min);
      expect(exportedCount(layout, v, smallest.chosen)).toBe(min);
    },
  );

  it.each(spaces)('%s: E[parameters] is the exact expectation over every architecture', (_, make) => {
    const sa = make();
    const layout = supernetLayout(sa);
    const rng = new Rng(2);
    for (let trial = 0; trial < 5; trial++) {
      const v = randomValues(layout, rng, 1.5);
      const expected = bruteForceExpectation(
        sa,
        layout,
        v,
        (chosen) => discreteParameters(sa, chosen).parameters,
      );
      const got = tf.tidy(
        () =>
          expectedArchParameters(
            layout,
            v.h.map((a) => tf.tensor1d(a)),
          ).dataSync()[0],
      );
      expect(Math.abs(got - expected) / expected).toBeLessThan(1e-5);
    }
  });

  it('the concat space exports exactly what its supernet computes with one-hot γ', () => {
    const sa = analyzeSpace(concatSpace);
    const layout = supernetLayout(sa);
    const v = randomValues(layout, new Rng(5));
    const rng = new Rng(6);
    const x = tf.tensor2d(
      Float32Array.from({ length: 8 * 3 }, () => rng.normal()),
      [8, 3],
    );
    for (const chosen of allArchitectures(sa)) {
      if (!discreteParameters(sa, chosen).valid) continue;
      const d = discretize(layout, v, 1, 'c', chosen);
      const expected = tf.tidy(() => {
        const theta = v.theta.map((a, i) => {
          const g = layout.groups.find((gg) => gg.mean === i || gg.rho === i);
          return tf.tensor(a, g ? g.info.kernelShape : [a.length]);
        });
        const gammas = sa.space.edges.map((e, ei) =>
          layout.logits[ei] === null
            ? null
            : (tf.oneHot([chosen[ei]], e.choices.length).reshape([-1]).toFloat() as tf.Tensor1D),
        );
        return supernetForward(layout, { theta, gammas, x }).dataSync();
      });
      const got = tf.tidy(() => {
        const params = unflatten(d.analysis, tf.tensor2d(d.weights, [1, d.analysis.parameterCount]));
        return forward(d.analysis, params, tf.expandDims(x, 0)).dataSync();
      });
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
    }
    x.dispose();
  });

  it.each(spaces)(
    '%s: over random relaxation states, the discretized-and-repaired architecture fits every budget ≥ the minimum',
    (_, make) => {
      const sa = make();
      const layout = supernetLayout(sa);
      const min = smallestArchitecture(sa).parameters;
      const max = Math.max(...allArchitectures(sa).map((c) => discreteParameters(sa, c).parameters));
      const all = allArchitectures(sa);
      const rng = new Rng(3);
      let repaired = 0;
      for (let trial = 0; trial < 40; trial++) {
        const v = randomValues(layout, rng, trial % 2 ? 3 : 0.5);
        const budget = trial % 5 === 0 ? min : min + Math.floor(rng.uniform() * (max - min + 1));
        const argmax = chosenCandidates(layout, v.h);
        const logits = logitsOf(layout, v);
        const r = repairToBudget(sa, argmax, logits, budget);
        const d = discretize(layout, v, [1, 0.9, 0.5, 0.1][trial % 4], 'r', r.chosen);
        expect(d.analysis.parameterCount).toBeLessThanOrEqual(budget);
        expect(analyzeSpec(d.analysis.spec).parameterCount).toBeLessThanOrEqual(budget);
        expect(r.parameters).toBe(exportedCount(layout, v, r.chosen));
        const argmaxCount = discreteParameters(sa, argmax);
        if (argmaxCount.valid && argmaxCount.parameters <= budget) expect(r.chosen).toEqual(argmax);
        if (r.changed) repaired++;
        // The repair is the most probable architecture that fits.
        const logp = logits.map((s) => {
          const m = Math.max(...s);
          const lse = m + Math.log(s.reduce((a, b) => a + Math.exp(b - m), 0));
          return s.map((z) => z - lse);
        });
        const score = (c: number[]) => c.reduce((a, k, ei) => a + logp[ei][k], 0);
        let best = -Infinity;
        for (const c of all) {
          const n = discreteParameters(sa, c);
          if (n.valid && n.parameters <= budget) best = Math.max(best, score(c));
        }
        expect(score(r.chosen)).toBeCloseTo(best, 9);
      }
      expect(repaired).toBeGreaterThan(0);
    },
  );

  it('a budget below the minimum is refused, naming it; μ grows with the capped violation', () => {
    const sa = analyzeSpace(BUILTIN_SPACES.mlp.build({ input: [13], outputUnits: 2 }));
    expect(smallestArchitecture(sa).parameters).toBe(28); // the linear model: 13 × 2 + 2
    expect(checkBudget(sa, 28, 'mlp')).toBe(28);
    expect(() => checkBudget(sa, 27, 'mlp')).toThrow(
      "--max-parameters 27 is below the smallest architecture of space 'mlp' on this data (28 parameters)",
    );
    expect(dualStep(0, 600, 500, 0.1)).toBeCloseTo(0.02, 12);
    expect(dualStep(0, 5000, 500, 0.1)).toBeCloseTo(0.1, 12); // the violation is capped at 1
    expect(dualStep(0.05, 0, 500, 0.1)).toBe(0.05); // μ never decreases
    expect(dualStep(1, 500, 500, 0.1)).toBe(1);
  });

  it('a loose budget leaves the search as it is (μ stays 0); a tight one pushes E[parameters] down', async () => {
    const rng = new Rng(41);
    const d = 6;
    const make = (n: number) => {
      const x = Float32Array.from({ length: n * d }, () => rng.normal());
      const y = Float32Array.from({ length: n }, (_, i) => Math.sin(x[i * d]) + x[i * d + 1] * x[i * d + 2]);
      return { x, y, rows: n };
    };
    const data: SearchData = {
      task: 'regression',
      objective: 'labels',
      exampleShape: [d],
      train: make(120),
      validation: make(40),
    };
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [d], outputUnits: 2 }, { widths: [8, 16, 32] }),
    );
    const layout = supernetLayout(sa);
    const settings = {
      relaxation: 'gumbel-softmax' as const,
      hypergradient: 'first-order' as const,
      epochs: 6,
      batchSize: 20,
      learningRate: 0.01,
      hyperLearningRate: 0.05,
      temperature: { start: 1, end: 0.2 },
      pruneThreshold: 0.9,
      seed: 2,
    };
    const meta = presetMetaparameters('evidence');
    const plain = await runSearch(layout, data, settings, meta);
    const loose = await runSearch(
      layout,
      data,
      { ...settings, budget: { maxParameters: 1e9, step: 0.05 } },
      meta,
    );
    expect(loose!.mu).toBe(0);
    expect(loose!.h).toEqual(plain!.h);
    expect(loose!.theta).toEqual(plain!.theta);
    const expected = (v: TrainedValues) =>
      tf.tidy(
        () =>
          expectedArchParameters(
            layout,
            v.h.map((a) => tf.tensor1d(a)),
          ).dataSync()[0],
      );
    const trace: number[] = [];
    const tight = await runSearch(
      layout,
      data,
      { ...settings, budget: { maxParameters: 150, step: 5 } }, // a large η_μ, so six epochs suffice
      meta,
      { onEpoch: async (p) => void trace.push(p.budget!.mu) },
    );
    expect(trace.length).toBe(6);
    expect(trace[5]).toBeGreaterThan(trace[0]);
    // Adam moves the logits at most about 0.05 per step, so 36 steps cannot reach the budget.
    expect(expected(tight!)).toBeLessThan(0.9 * expected(plain!));
  });

  it('an interrupted budget search resumes exactly (μ is in the state)', async () => {
    const config = searchConfigFrom({
      dataset: 'boston',
      objective: 'labels',
      epochs: 4,
      batchSize: 32,
      trainRows: 64,
      widths: [10, 25],
      maxParameters: 300,
    });
    const opts = { runsDir: env.BDK_RUNS_DIR, dataDir: env.BDK_DATA_DIR };
    const whole = await searchStructure(config, { ...opts, run: 'whole' });
    const abort = new AbortController();
    const first = await searchStructure(config, {
      ...opts,
      run: 'parts',
      signal: abort.signal,
      onProgress: (step) => {
        if (step === 5) abort.abort(); // in epoch 3 (2 steps per epoch)
      },
    });
    expect(first.completed).toBe(false);
    const state = await fs.readFile(path.join(env.BDK_RUNS_DIR, 'parts', 'search-state.bin'));
    expect(state.toString('latin1')).toMatch(/"mu":[0-9.e-]+/);
    const rest = await searchStructure(config, { ...opts, run: 'parts', resume: true });
    expect(rest.completed).toBe(true);
    const read = (run: string, f: string) => fs.readFile(path.join(env.BDK_RUNS_DIR, run, f), 'utf8');
    expect(await read('parts', 'arch.json')).toBe(
      (await read('whole', 'arch.json')).replaceAll('whole', 'parts'),
    );
    expect(await read('parts', 'search-trace.json')).toBe(await read('whole', 'search-trace.json'));
    const { seconds: _a, run: _b, arch: _c, ...a } = whole.summary!;
    const { seconds: _d, run: _e, arch: _f, ...b } = rest.summary!;
    expect(b).toEqual(a);
    expect(a.budget!.mu).toBeGreaterThan(0);
  });

  it('bdk search: a budget below the minimum is a one-line error; --max-parameters 802 on Boston fits', async () => {
    const low = bdk(
      ['search', '--objective', 'labels', '--dataset', 'boston', '--run', 'low', '--max-parameters', '10'],
      env,
    );
    expect(low.code).toBe(1);
    expect(expectOneLineError(low)).toBe(
      "bdk: --max-parameters 10 is below the smallest architecture of space 'mlp' on this data (28 parameters)",
    );
    const r = bdk(
      [
        'search',
        '--objective',
        'labels',
        '--dataset',
        'boston',
        '--run',
        'b802',
        '--epochs',
        '3',
        '--train-rows',
        '64',
        '--max-parameters',
        '802',
        '--json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.parameterCount).toBeLessThanOrEqual(802);
    expect(summary.budget).toMatchObject({ maxParameters: 802, minParameters: 28 });
    expect(typeof summary.budget.repaired).toBe('boolean');
    const runDir = path.join(env.BDK_RUNS_DIR, 'b802');
    const spec = JSON.parse(await fs.readFile(path.join(runDir, 'arch.json'), 'utf8'));
    expect(analyzeSpec(spec).parameterCount).toBeLessThanOrEqual(802);
    const stored = JSON.parse(await fs.readFile(path.join(runDir, 'search-config.json'), 'utf8'));
    expect(stored.maxParameters).toBe(802);
    expect(Object.keys(stored).at(-1)).toBe('maxParameters');
    // Without the flag the stored config has no such key (older configs stay byte-identical).
    expect('maxParameters' in searchConfigFrom({ dataset: 'boston' })).toBe(false);
  });
});
