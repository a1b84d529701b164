import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { analyzeSpec } from '../../src/model/spec.js';
import { BUILTIN_SPACES, analyzeSpace, type SpaceAnalysis } from '../../src/search/space.js';
import { supernetLayout } from '../../src/search/supernet.js';
import { chosenCandidates, discretize } from '../../src/search/discretize.js';
import { discreteParameters } from '../../src/search/budget.js';
import {
  checkBudgets,
  discreteLatencyUs,
  repairToBudgets,
  smallestLatency,
  spaceKinds,
  specLatencyUs,
} from '../../src/search/latency-budget.js';
import { expectedArchLatency } from '../../src/search/latency-expectation.js';
import {
  cachedLatencyTable,
  fitOpCost,
  latencyProbes,
  staleReason,
  type LatencyEnvironment,
  type LatencyProbe,
  type LatencyTable,
  type OpCost,
} from '../../src/search/latency-table.js';
import { tempDir } from '../helpers.js';
import { allArchitectures, bruteForceExpectation, randomValues, spaces } from './budget-spaces.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('bdk-latency-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Made-up costs per kind (µs), different for every kind so that a mix-up shows. */
const TRUE: Record<string, OpCost> = {
  base: { fixedUs: 4, perMacUs: 0, perOutputUs: 0.001 },
  add: { fixedUs: 3, perMacUs: 0, perOutputUs: 0.002 },
  concat: { fixedUs: 5, perMacUs: 0, perOutputUs: 0.003 },
  'dense/linear': { fixedUs: 6, perMacUs: 0.002, perOutputUs: 0.01 },
  'dense/relu': { fixedUs: 8, perMacUs: 0.002, perOutputUs: 0.02 },
  'dense/tanh': { fixedUs: 9, perMacUs: 0.0021, perOutputUs: 0.05 },
  'dense/sigmoid': { fixedUs: 10, perMacUs: 0.0022, perOutputUs: 0.07 },
  'conv2d/relu': { fixedUs: 40, perMacUs: 0.001, perOutputUs: 0.004 },
  maxPool: { fixedUs: 7, perMacUs: 0.003, perOutputUs: 0.001 },
  flatten: { fixedUs: 1, perMacUs: 0, perOutputUs: 0 },
};
const cost = (c: OpCost, p: { macs: number; outputs: number }) =>
  c.fixedUs + c.perMacUs * p.macs + c.perOutputUs * p.outputs;

/** A timer that "measures" the made-up costs, counting the probes it times. */
function fakeTimer() {
  const timed: string[] = [];
  const time = async (p: LatencyProbe) => {
    timed.push(p.kind);
    const own = p.kind === 'base' ? 0 : cost(TRUE[p.kind], p);
    return cost(TRUE.base, { macs: 0, outputs: p.outputs }) + own;
  };
  return { time, timed };
}

const ENV: LatencyEnvironment = { bdk: '0.1.0', tfjs: '4.0.0', backend: 'cpu', cpu: 'Test CPU × 2' };

async function syntheticTable(): Promise<LatencyTable> {
  const kinds = Object.keys(TRUE).filter((k) => k !== 'base');
  return (await cachedLatencyTable(path.join(dir, 'synthetic'), kinds, ENV, fakeTimer().time)).table;
}

describe('latency table', () => {
  it('fits the cost model of every kind exactly from its probes (non-negative least squares)', async () => {
    const table = await syntheticTable();
    for (const [kind, c] of Object.entries(TRUE)) {
      const got = table.ops[kind];
      expect(got.fixedUs, kind).toBeCloseTo(c.fixedUs, 6);
      expect(got.perMacUs, kind).toBeCloseTo(c.perMacUs, 9);
      expect(got.perOutputUs, kind).toBeCloseTo(c.perOutputUs, 9);
    }
    // A negative slope is not allowed: the fit drops that feature instead.
    const down = [1, 2, 3].map((o) => ({ macs: 0, outputs: o, us: 10 - o }));
    const f = fitOpCost(down);
    expect(f.perOutputUs).toBe(0);
    expect(f.fixedUs).toBeCloseTo(8, 9); // the mean, the best constant
  });

  it('the probes are a fixed list: the same networks every time', () => {
    for (const kind of ['dense/relu', 'conv2d/relu', 'maxPool', 'flatten', 'add', 'concat', 'base']) {
      const a = latencyProbes(kind);
      expect(JSON.stringify(latencyProbes(kind))).toBe(JSON.stringify(a));
      for (const p of a) expect(() => analyzeSpec(p.spec)).not.toThrow();
    }
  });

  it('is cached per backend, extended with missing kinds, and measured again when stale', async () => {
    const cache = path.join(dir, 'cache');
    const t1 = fakeTimer();
    const first = await cachedLatencyTable(cache, ['dense/relu'], ENV, t1.time);
    expect(first.how).toBe('measured');
    expect(first.file).toBe(path.join(cache, 'cpu.json'));
    expect(new Set(t1.timed)).toEqual(new Set(['base', 'add', 'concat', 'dense/relu']));
    const t2 = fakeTimer();
    const again = await cachedLatencyTable(cache, ['dense/relu'], ENV, t2.time);
    expect(again.how).toBe('cached');
    expect(t2.timed).toEqual([]);
    expect(again.table).toEqual(first.table);
    const t3 = fakeTimer();
    const more = await cachedLatencyTable(cache, ['dense/relu', 'dense/tanh'], ENV, t3.time);
    expect(more.how).toBe('extended');
    expect(new Set(t3.timed)).toEqual(new Set(['dense/tanh']));
    expect(more.table.ops['dense/relu']).toEqual(first.table.ops['dense/relu']);
    // Another CPU (or bdk, tfjs): the whole table is measured again.
    const t4 = fakeTimer();
    const moved = await cachedLatencyTable(cache, ['dense/relu'], { ...ENV, cpu: 'Other × 8' }, t4.time);
    expect(moved.how).toBe('measured');
    expect(moved.why).toBe('cpu "Test CPU × 2", now "Other × 8"');
    expect(t4.timed).toContain('base');
    // Another backend has a file of its own; a table claiming another backend is stale.
    const t5 = fakeTimer();
    const wasm = await cachedLatencyTable(cache, ['dense/relu'], { ...ENV, backend: 'wasm' }, t5.time);
    expect(wasm.how).toBe('measured');
    expect(wasm.file).toBe(path.join(cache, 'wasm.json'));
    expect(staleReason(wasm.table, ENV)).toBe('backend "wasm", now "cpu"');
    // The file round-trips: the stored JSON is the table.
    const stored = JSON.parse(await fs.readFile(wasm.file, 'utf8')) as LatencyTable;
    expect(stored).toEqual(wasm.table);
    expect(staleReason(stored, { ...ENV, backend: 'wasm' })).toBeNull();
  });

  it('a table at another batch size has a file of its own; the probes are timed at that batch', async () => {
    const cache = path.join(dir, 'batch');
    const batches: number[] = [];
    const timer = fakeTimer();
    const time = async (p: LatencyProbe, batch: number) => {
      batches.push(batch);
      return timer.time(p);
    };
    const one = await cachedLatencyTable(cache, ['dense/relu'], ENV, time);
    expect(one.file).toBe(path.join(cache, 'cpu.json'));
    expect(one.table.batch).toBe(1);
    expect(new Set(batches)).toEqual(new Set([1]));
    batches.length = 0;
    const big = await cachedLatencyTable(cache, ['dense/relu'], ENV, time, 1000);
    expect(big.how).toBe('measured');
    expect(big.file).toBe(path.join(cache, 'cpu-b1000.json'));
    expect(big.table.batch).toBe(1000);
    expect(new Set(batches)).toEqual(new Set([1000]));
    // Each is cached apart: asking again for either measures nothing.
    batches.length = 0;
    expect((await cachedLatencyTable(cache, ['dense/relu'], ENV, time, 1000)).how).toBe('cached');
    expect((await cachedLatencyTable(cache, ['dense/relu'], ENV, time)).how).toBe('cached');
    expect(batches).toEqual([]);
    expect(staleReason(big.table, ENV)).toBe('batch 1000, now 1');
    expect(staleReason(big.table, ENV, 1000)).toBeNull();
  });
});

describe('latency budget', () => {
  it.each(spaces)(
    '%s: the predicted latency of every architecture is that of its export',
    async (_, make) => {
      const table = await syntheticTable();
      const sa = make();
      const layout = supernetLayout(sa);
      const v = randomValues(layout, new Rng(1));
      for (const chosen of allArchitectures(sa)) {
        if (!discreteParameters(sa, chosen).valid) continue;
        const exported = discretize(layout, v, 1, 'x', chosen).analysis;
        expect(discreteLatencyUs(sa, chosen, table), chosen.join()).toBeCloseTo(
          specLatencyUs(exported, table),
          9,
        );
      }
    },
  );

  it.each(spaces)('%s: E[latency] is the exact expectation over every architecture', async (_, make) => {
    const table = await syntheticTable();
    const sa = make();
    const layout = supernetLayout(sa);
    const rng = new Rng(2);
    for (let trial = 0; trial < 5; trial++) {
      const v = randomValues(layout, rng, 1.5);
      const expected = bruteForceExpectation(sa, layout, v, (chosen) => discreteLatencyUs(sa, chosen, table));
      const got = tf.tidy(
        () =>
          expectedArchLatency(
            layout,
            v.h.map((a) => tf.tensor1d(a)),
            table,
          ).dataSync()[0],
      );
      expect(Math.abs(got - expected) / expected).toBeLessThan(1e-5);
    }
  });

  it.each(spaces)(
    '%s: over random relaxation states, the repaired discretization fits the latency budget (and both budgets)',
    async (_, make) => {
      const table = await syntheticTable();
      const sa: SpaceAnalysis = make();
      const layout = supernetLayout(sa);
      const all = allArchitectures(sa).filter((c) => discreteParameters(sa, c).valid);
      const lat = all.map((c) => discreteLatencyUs(sa, c, table));
      const par = all.map((c) => discreteParameters(sa, c).parameters);
      const minUs = smallestLatency(sa, table).latencyUs;
      expect(minUs).toBeCloseTo(Math.min(...lat), 9);
      const rng = new Rng(3);
      let repaired = 0;
      for (let trial = 0; trial < 40; trial++) {
        const v = randomValues(layout, rng, trial % 2 ? 3 : 0.5);
        const maxLatencyUs = trial % 5 === 0 ? minUs : minUs + rng.uniform() * (Math.max(...lat) - minUs);
        // Every third trial adds a parameter budget that some architecture within the latency budget meets.
        const within = all.map((_, i) => i).filter((i) => lat[i] <= maxLatencyUs);
        const both = trial % 3 === 0 ? par[within[Math.floor(rng.uniform() * within.length)]] : undefined;
        const budgets = { maxLatencyUs, table, ...(both !== undefined ? { maxParameters: both } : {}) };
        const argmax = chosenCandidates(layout, v.h);
        const logits = layout.logits.map((li) => (li === null ? [0] : Array.from(v.h[li])));
        const r = repairToBudgets(sa, argmax, logits, budgets);
        expect(r.latencyUs!).toBeLessThanOrEqual(maxLatencyUs);
        expect(r.latencyUs!).toBeCloseTo(discreteLatencyUs(sa, r.chosen, table), 9);
        if (both !== undefined) expect(r.parameters).toBeLessThanOrEqual(both);
        for (const threshold of [1, 0.5, 0.1]) {
          const d = discretize(layout, v, threshold, 'r', r.chosen);
          expect(specLatencyUs(d.analysis, table)).toBeLessThanOrEqual(maxLatencyUs + 1e-9);
        }
        if (r.changed) repaired++;
        else expect(r.chosen).toEqual(argmax);
        // The most probable architecture that fits.
        const logp = logits.map((s) => {
          const m = Math.max(...s);
          const lse = m + Math.log(s.reduce((a, b) => a + Math.exp(b - m), 0));
          return s.map((z) => z - lse);
        });
        const score = (c: number[]) => c.reduce((a, k, ei) => a + logp[ei][k], 0);
        let best = -Infinity;
        all.forEach((c, i) => {
          if (lat[i] <= maxLatencyUs && (both === undefined || par[i] <= both))
            best = Math.max(best, score(c));
        });
        expect(score(r.chosen)).toBeCloseTo(best, 9);
      }
      expect(repaired).toBeGreaterThan(0);
    },
  );

  it('a latency budget below the smallest architecture is a one-line error naming it', async () => {
    const table = await syntheticTable();
    const sa = analyzeSpace(BUILTIN_SPACES.mlp.build({ input: [13], outputUnits: 2 }));
    expect(spaceKinds(sa)).toEqual(['dense/linear', 'dense/relu', 'dense/sigmoid', 'dense/tanh']);
    // The linear model: base (2 outputs) + one dense 13 → 2.
    const linear = 4 + 0.002 + 6 + 0.002 * 26 + 0.01 * 2;
    const min = smallestLatency(sa, table);
    expect(min.latencyUs).toBeCloseTo(linear, 9);
    expect(checkBudgets(sa, { maxLatencyUs: 10.08, table }, 'mlp')).toEqual({
      minParameters: 0,
      minLatencyUs: min.latencyUs,
    });
    expect(() => checkBudgets(sa, { maxLatencyUs: 0.5, table }, 'mlp')).toThrow(
      "--max-latency-us 0.5 is below the smallest architecture of space 'mlp' on this data (10.08 µs on the cpu backend)",
    );
    expect(() => checkBudgets(sa, { maxParameters: 27, maxLatencyUs: 20, table }, 'mlp')).toThrow(
      "--max-parameters 27 is below the smallest architecture of space 'mlp' on this data (28 parameters)",
    );
  });

  it('two budgets that each leave an architecture but together none are one error naming both', async () => {
    const synthetic = await syntheticTable();
    const zero = { fixedUs: 0, perMacUs: 0, perOutputUs: 0, points: [] };
    // Only the read-out's multiply-accumulates and ReLU layers cost: the skip input → out (8 parameters)
    // takes 60 µs, the path through a 2-unit tanh layer (14 parameters) 40 µs.
    const table: LatencyTable = {
      ...synthetic,
      ops: {
        ...synthetic.ops,
        base: zero,
        add: zero,
        'dense/tanh': zero,
        'dense/linear': { ...zero, perMacUs: 10 },
        'dense/relu': { ...zero, fixedUs: 1000 },
      },
    };
    const sa = spaces.find(([n]) => n === 'sum')![1]();
    expect(smallestLatency(sa, table).latencyUs).toBe(40);
    expect(() => checkBudgets(sa, { maxParameters: 8, maxLatencyUs: 50, table }, 'sum')).toThrow(
      "--max-parameters 8 and --max-latency-us 50 together exclude every architecture of space 'sum' on this data",
    );
    const skip = [2, 2, 1, 0];
    const flat = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0],
      [0, 0],
    ];
    const r = repairToBudgets(sa, skip, flat, { maxParameters: 14, maxLatencyUs: 50, table });
    expect(r).toEqual({ chosen: [0, 2, 0, 1], parameters: 14, latencyUs: 40, changed: true });
  });
});
