import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSpec } from '../../src/model/spec.js';
import { specLatencyUs } from '../../src/search/latency-budget.js';
import {
  LATENCY_TABLE_FORMAT,
  LATENCY_TABLE_VERSION,
  type LatencyTable,
  type OpCost,
} from '../../src/search/latency-table.js';
import { prepareBuiltin } from '../../src/stages/prepare.js';
import { searchStructure, type SearchSummary } from '../../src/stages/search.js';
import { searchConfigFrom } from '../../src/stages/search-config.js';
import { pipelineSchema } from '../../src/pipeline/schema.js';
import { searchConfigFor } from '../../src/pipeline/search-splits.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir('bdk-latency-search-');
  env = { BDK_DATA_DIR: path.join(dir, 'datasets'), BDK_RUNS_DIR: path.join(dir, 'checkpoints') };
  await prepareBuiltin('boston', { targetTransform: 'log' }, { dir: env.BDK_DATA_DIR });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const op = (fixedUs: number, perMacUs: number, perOutputUs: number): OpCost & { points: [] } => ({
  fixedUs,
  perMacUs,
  perOutputUs,
  points: [],
});

/** A made-up table (the numbers a search uses are whatever the table says, measured or not). */
function table(scale = 1): LatencyTable {
  return {
    format: LATENCY_TABLE_FORMAT,
    version: LATENCY_TABLE_VERSION,
    bdk: '0.1.0',
    tfjs: 'test',
    backend: 'cpu',
    cpu: 'Test CPU × 2',
    batch: 1,
    measuredAt: '2026-01-01T00:00:00.000Z',
    ops: {
      base: op(4 * scale, 0, 0.001),
      add: op(3 * scale, 0, 0.002),
      concat: op(5 * scale, 0, 0.003),
      'dense/linear': op(6 * scale, 0.002, 0.01),
      'dense/relu': op(8 * scale, 0.002, 0.02),
      'dense/tanh': op(9 * scale, 0.0021, 0.05),
      'dense/sigmoid': op(10 * scale, 0.0022, 0.07),
    },
  };
}

const config = searchConfigFrom({
  dataset: 'boston',
  objective: 'labels',
  epochs: 4,
  batchSize: 32,
  trainRows: 64,
  widths: [10, 25],
  maxLatencyUs: 20,
});

/** A summary without what differs between runs of the same search: wall time, names, the measured latency. */
function comparable(s: SearchSummary) {
  const { seconds: _a, run: _b, arch: _c, latency, ...rest } = s;
  const { measuredLatencyUs: _d, ...lat } = latency!;
  return { ...rest, latency: lat };
}

describe('latency budget in the search', () => {
  it('the result fits the budget under the run’s table; the same seed and table give the same result', async () => {
    const opts = { runsDir: env.BDK_RUNS_DIR, dataDir: env.BDK_DATA_DIR, latencyTable: table() };
    const a = await searchStructure(config, { ...opts, run: 'lat-a' });
    const b = await searchStructure(config, { ...opts, run: 'lat-b' });
    const s = a.summary!;
    expect(s.latency!.maxLatencyUs).toBe(20);
    expect(s.latency!.predictedLatencyUs).toBeLessThanOrEqual(20);
    expect(s.latency!.exportedPredictedUs).toBeLessThanOrEqual(s.latency!.predictedLatencyUs + 1e-9);
    expect(s.latency!.minLatencyUs).toBeCloseTo(4.002 + 6 + 0.002 * 26 + 0.01 * 2, 9); // the linear model
    expect(s.latency!.measuredLatencyUs).toBeGreaterThan(0);
    expect(s.latency!.backend).toBe('cpu');
    expect(s.budget).toBeUndefined();
    const runDir = path.join(env.BDK_RUNS_DIR, 'lat-a');
    const spec = analyzeSpec(JSON.parse(await fs.readFile(path.join(runDir, 'arch.json'), 'utf8')));
    expect(specLatencyUs(spec, table())).toBeCloseTo(s.latency!.exportedPredictedUs, 9);
    // The run records the table it used, and search.json round-trips.
    const recorded = JSON.parse(await fs.readFile(path.join(runDir, 'latency-table.json'), 'utf8'));
    expect(recorded).toEqual(table());
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'search.json'), 'utf8'))).toEqual(s);
    const stored = JSON.parse(await fs.readFile(path.join(runDir, 'search-config.json'), 'utf8'));
    expect(stored.maxLatencyUs).toBe(20);
    expect(Object.keys(stored).at(-1)).toBe('maxLatencyUs');
    expect(comparable(b.summary!)).toEqual(comparable(s));
  });

  it('an interrupted search resumes with the table it recorded, exactly (μ_L is in the state)', async () => {
    const opts = { runsDir: env.BDK_RUNS_DIR, dataDir: env.BDK_DATA_DIR };
    const tight = { ...config, maxLatencyUs: 16 };
    const whole = await searchStructure(tight, { ...opts, run: 'lat-whole', latencyTable: table() });
    const abort = new AbortController();
    const first = await searchStructure(tight, {
      ...opts,
      run: 'lat-parts',
      latencyTable: table(),
      signal: abort.signal,
      onProgress: (step) => {
        if (step === 5) abort.abort();
      },
    });
    expect(first.completed).toBe(false);
    const state = await fs.readFile(path.join(env.BDK_RUNS_DIR, 'lat-parts', 'search-state.bin'));
    expect(state.toString('latin1')).toMatch(/"muLatency":[0-9.e-]+/);
    // Another table passed on resume is not used: the run's own is.
    const rest = await searchStructure(tight, {
      ...opts,
      run: 'lat-parts',
      resume: true,
      latencyTable: table(5),
    });
    const read = (run: string, f: string) => fs.readFile(path.join(env.BDK_RUNS_DIR, run, f), 'utf8');
    expect(await read('lat-parts', 'arch.json')).toBe(
      (await read('lat-whole', 'arch.json')).replaceAll('lat-whole', 'lat-parts'),
    );
    expect(await read('lat-parts', 'search-trace.json')).toBe(await read('lat-whole', 'search-trace.json'));
    expect(comparable(rest.summary!)).toEqual(comparable(whole.summary!));
    expect(whole.summary!.latency!.mu).toBeGreaterThan(0);
  });

  it('both budgets together: the result fits both', async () => {
    const r = await searchStructure(
      { ...config, maxParameters: 300, maxLatencyUs: 25 },
      { runsDir: env.BDK_RUNS_DIR, dataDir: env.BDK_DATA_DIR, run: 'lat-both', latencyTable: table() },
    );
    const s = r.summary!;
    expect(s.parameterCount).toBeLessThanOrEqual(300);
    expect(s.budget!.maxParameters).toBe(300);
    expect(s.latency!.predictedLatencyUs).toBeLessThanOrEqual(25);
  });

  it('the pipeline key search.maxLatencyUs reaches the search config', () => {
    const p = pipelineSchema.parse({
      name: 'p',
      dataset: { name: 'boston' },
      search: { space: 'mlp', objective: 'labels', epochs: 2, maxLatencyUs: 40.5 },
    });
    expect(searchConfigFor(p, 0).maxLatencyUs).toBe(40.5);
    expect(() =>
      pipelineSchema.parse({
        name: 'p',
        dataset: { name: 'boston' },
        search: { space: 'mlp', epochs: 2, maxLatencyUs: 0 },
      }),
    ).toThrow();
    expect('maxLatencyUs' in searchConfigFrom({ dataset: 'boston' })).toBe(false);
  });

  it('bdk search: a latency budget below the smallest architecture is a one-line error; the table is cached', async () => {
    const args = ['search', '--objective', 'labels', '--dataset', 'boston', '--backend', 'cpu'];
    const low = bdk([...args, '--run', 'low', '--max-latency-us', '0.5'], env);
    expect(low.code).toBe(1);
    expect(expectOneLineError(low)).toMatch(
      /^bdk: --max-latency-us 0\.5 is below the smallest architecture of space 'mlp' on this data \([0-9.]+ µs on the cpu backend\)$/,
    );
    const cached = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, '.latency', 'cpu.json'), 'utf8'));
    expect(cached).toMatchObject({ format: LATENCY_TABLE_FORMAT, backend: 'cpu', batch: 1 });
    expect(Object.keys(cached.ops).sort()).toEqual(
      ['add', 'base', 'concat', 'dense/linear', 'dense/relu', 'dense/sigmoid', 'dense/tanh'].sort(),
    );
    // A second command reads the cache: the same minimum in the message.
    const again = bdk([...args, '--run', 'low2', '--max-latency-us', '0.5'], env);
    expect(expectOneLineError(again)).toBe(expectOneLineError(low));
  });

  it('bdk search --latency-batch: the table is measured at that batch, in a file of its own; it needs a budget', async () => {
    const args = ['search', '--objective', 'labels', '--dataset', 'boston', '--backend', 'cpu'];
    const low = bdk([...args, '--run', 'lowb', '--max-latency-us', '0.001', '--latency-batch', '16'], env);
    expect(low.code).toBe(1);
    expect(expectOneLineError(low)).toMatch(
      /^bdk: --max-latency-us 0\.001 is below the smallest architecture of space 'mlp' on this data \([0-9.]+ µs on the cpu backend at batch 16\)$/,
    );
    const file = path.join(env.BDK_RUNS_DIR, '.latency', 'cpu-b16.json');
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toMatchObject({ backend: 'cpu', batch: 16 });
    // The batch-1 table of the test above is another file, left as it was.
    const one = JSON.parse(await fs.readFile(path.join(env.BDK_RUNS_DIR, '.latency', 'cpu.json'), 'utf8'));
    expect(one.batch).toBe(1);
    const alone = bdk([...args, '--run', 'nob', '--latency-batch', '16'], env);
    expect(alone.code).toBe(1);
    expect(expectOneLineError(alone)).toBe(
      'bdk: a latency batch (16) needs a latency budget (--max-latency-us, or search.maxLatencyUs in a pipeline)',
    );
  });

  it('a search at a latency batch records it: config, table and search.json', async () => {
    const t = { ...table(), batch: 64 };
    const r = await searchStructure(
      { ...config, latencyBatch: 64 },
      { runsDir: env.BDK_RUNS_DIR, dataDir: env.BDK_DATA_DIR, run: 'lat-b64', latencyTable: t },
    );
    expect(r.summary!.latency!.batch).toBe(64);
    const runDir = path.join(env.BDK_RUNS_DIR, 'lat-b64');
    const stored = JSON.parse(await fs.readFile(path.join(runDir, 'search-config.json'), 'utf8'));
    expect(stored).toMatchObject({ maxLatencyUs: 20, latencyBatch: 64 });
    expect(JSON.parse(await fs.readFile(path.join(runDir, 'latency-table.json'), 'utf8')).batch).toBe(64);
    // The pipeline key reaches the config; batch 1 is not stored, so older configs still match.
    const p = pipelineSchema.parse({
      name: 'p',
      dataset: { name: 'boston' },
      search: { space: 'mlp', objective: 'labels', epochs: 2, maxLatencyUs: 40, latencyBatch: 1000 },
    });
    expect(searchConfigFor(p, 0).latencyBatch).toBe(1000);
    expect('latencyBatch' in searchConfigFrom({ dataset: 'boston', maxLatencyUs: 40, latencyBatch: 1 })).toBe(
      false,
    );
  });
});
