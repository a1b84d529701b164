import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import { readJsonOrNull } from '../core/json-file.js';
import { versionOf } from '../core/versions.js';
import { INPUT, type Activation, type ArchSpec, type Op } from '../model/spec.js';
import type { ChoiceOp } from './space.js';

/**
 * The per-op latency table of a latency budget (docs/design.md §3.9): for each op kind, a cost model
 * fitted to per-example latencies measured on one tfjs backend at one batch size, cached per backend and
 * batch in `<runs dir>/.latency/<backend>.json` (batch 1) or `<backend>-b<batch>.json`. At batch 1 it is
 * the latency of a served model answering one request, where each op's fixed cost counts; at a large
 * batch it is the time per example of scoring many rows at once (what `bdk evaluate` reports), where
 * the multiply-adds do.
 *
 * An op's cost is fixedUs + perMacUs · macs + perOutputUs · outputs (µs per example), with macs its
 * multiply-accumulates (comparisons for max-pooling) and outputs the values it writes. Every network
 * also pays `base`, the cost of running at all and reading back its output, fitted the same way.
 * Each kind is measured on a fixed list of small probe networks with seeded weights and inputs
 * (`latencyProbes`), so what is measured is deterministic; the times are not, which is why a search
 * records the table it used.
 */

export const LATENCY_TABLE_FORMAT = 'bdk-latency-table';
/**
 * 2: tables measured since bdk has its own wasm Concat and SplitV (a version-1 table priced them slower).
 * 3: since the direct convolution and FusedConv2D, with conv probes at MNIST's sizes.
 */
export const LATENCY_TABLE_VERSION = 3;
/** The default batch size of a table: one example per call, a served model's latency. */
export const DEFAULT_LATENCY_BATCH = 1;

/** µs per example = fixedUs + perMacUs · macs + perOutputUs · outputs (all ≥ 0). */
export interface OpCost {
  fixedUs: number;
  perMacUs: number;
  perOutputUs: number;
}

/** One probe's measurement: its features and the µs per example above the base cost. */
export interface LatencyPoint {
  macs: number;
  outputs: number;
  us: number;
}

export interface LatencyTable {
  format: typeof LATENCY_TABLE_FORMAT;
  version: typeof LATENCY_TABLE_VERSION;
  /** What the table is valid for: a table whose fields differ from the current ones is measured again. */
  bdk: string;
  tfjs: string;
  backend: string;
  cpu: string;
  /** Examples per timed call; the table's costs are µs per example at this batch. */
  batch: number;
  measuredAt: string;
  /** Op kinds (`dense/relu`, `conv2d/relu`, `maxPool`, `flatten`, `add`, `concat`) and `base`. */
  ops: Record<string, OpCost & { points: LatencyPoint[] }>;
}

/** The environment a table is measured in (injectable for tests). */
export interface LatencyEnvironment {
  bdk: string;
  tfjs: string;
  backend: string;
  cpu: string;
}

const { version: BDK_VERSION } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The current environment: bdk and tfjs versions, the tfjs backend and the CPU. */
export function currentEnvironment(backend: string): LatencyEnvironment {
  const cpus = os.cpus();
  return {
    bdk: BDK_VERSION,
    tfjs: versionOf('@tensorflow/tfjs') ?? 'unknown',
    backend,
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`,
  };
}

/**
 * The kind whose cost an op has in the table, or null for ops that run nothing at inference
 * (`identity`, `dropout`, `zero`).
 */
export function latencyKind(op: ChoiceOp): string | null {
  if (op.type === 'dense' || op.type === 'conv2d') return `${op.type}/${op.activation ?? 'linear'}`;
  if (op.type === 'maxPool' || op.type === 'flatten') return op.type;
  return null;
}

/** A probe: a one-op network whose latency above the base measures one kind at one size. */
export interface LatencyProbe {
  kind: string;
  spec: ArchSpec;
  macs: number;
  outputs: number;
}

const spec = (input: number[], edges: ArchSpec['edges'], nodes: ArchSpec['nodes'] = [{ id: 'out' }]) =>
  ({ format: 'bdk-arch', version: 1, name: 'probe', input, nodes, edges, output: 'out' }) as ArchSpec;
const one = (input: number[], op: Op) => spec(input, [{ from: INPUT, to: 'out', op }]);

/** The probe networks of one kind (a fixed list: the same sizes every time). */
export function latencyProbes(kind: string): LatencyProbe[] {
  const [type, act] = kind.split('/') as [string, Activation];
  if (type === 'dense')
    return [
      [1, 1],
      [16, 64],
      [64, 16],
      [128, 128],
      [512, 256],
      [784, 400],
    ].map(([a, b]) => ({
      kind,
      spec: one([a], { type: 'dense', units: b, activation: act }),
      macs: a * b,
      outputs: b,
    }));
  if (type === 'conv2d')
    return [
      [6, 1, 2, 3],
      [8, 4, 8, 3],
      [12, 8, 8, 5],
      [16, 16, 16, 3],
      // An image model's first two layers at MNIST's sizes, where few filters make a conv slow per MAC.
      [28, 1, 4, 5],
      [14, 4, 8, 5],
    ].map(([hw, c, f, k]) => ({
      kind,
      spec: one([hw, hw, c], { type: 'conv2d', filters: f, kernelSize: k, padding: 'same', activation: act }),
      macs: k * k * c * f * hw * hw,
      outputs: f * hw * hw,
    }));
  if (type === 'maxPool')
    return [
      [4, 1, 2, 2],
      [16, 8, 2, 2],
      [16, 16, 3, 1],
    ].map(([hw, c, p, s]) => {
      const out = s === 1 ? hw : Math.floor(hw / p);
      return {
        kind,
        spec: one([hw, hw, c], {
          type: 'maxPool',
          poolSize: p,
          strides: s,
          padding: s === 1 ? 'same' : 'valid',
        }),
        macs: p * p * c * out * out,
        outputs: c * out * out,
      };
    });
  if (type === 'flatten')
    return [
      [2, 1],
      [8, 4],
      [16, 16],
    ].map(([hw, c]) => ({
      kind,
      spec: one([hw, hw, c], { type: 'flatten' }),
      macs: 0,
      outputs: hw * hw * c,
    }));
  const widths = [1, 64, 1024, 8192];
  if (type === 'add' || type === 'concat')
    return widths.map((w) => ({
      kind,
      spec: spec(
        [w],
        [
          { from: INPUT, to: 'out', op: { type: 'identity' } },
          { from: INPUT, to: 'out', op: { type: 'identity' } },
        ],
        [{ id: 'out', aggregate: type === 'add' ? 'sum' : 'concat' }],
      ),
      macs: 0,
      outputs: type === 'add' ? w : 2 * w,
    }));
  if (type === 'base')
    return widths.map((w) => ({ kind, spec: one([w], { type: 'identity' }), macs: 0, outputs: w }));
  throw new Error(`latencyProbes: unknown op kind '${kind}'`);
}

/** The features of a probe or op for the fit: [1, macs, outputs]. */
const features = (p: { macs: number; outputs: number }) => [1, p.macs, p.outputs];

/** Solves the square system A x = b by Gaussian elimination with partial pivoting (null when singular). */
function solve(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    if (Math.abs(m[p][c]) < 1e-12) return null;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

/**
 * The non-negative least-squares fit of a cost model to measured points, relative to each point's
 * measured total `weights[i]` (so small ops count as much as large ones): the best of the
 * least-squares fits on every subset of the features whose coefficients are all ≥ 0 (exact for
 * three features). Features that are 0 at every point get coefficient 0.
 */
export function fitOpCost(points: LatencyPoint[], weights: number[] = points.map(() => 1)): OpCost {
  const x = points.map(features);
  const scale = [0, 1, 2].map((j) => Math.max(...x.map((r) => Math.abs(r[j]))));
  const usable = [0, 1, 2].filter((j) => scale[j] > 0);
  let best: { coef: number[]; loss: number } = {
    coef: [0, 0, 0],
    loss: points.reduce((s, p, i) => s + (p.us / weights[i]) ** 2, 0),
  };
  for (let mask = 1; mask < 1 << usable.length; mask++) {
    const cols = usable.filter((_, i) => mask & (1 << i));
    const rows = x.map((r, i) => cols.map((j) => r[j] / scale[j] / weights[i]));
    const y = points.map((p, i) => p.us / weights[i]);
    const ata = cols.map((_, a) => cols.map((_, b) => rows.reduce((s, r) => s + r[a] * r[b], 0)));
    const aty = cols.map((_, a) => rows.reduce((s, r, i) => s + r[a] * y[i], 0));
    const sol = solve(ata, aty);
    if (!sol || sol.some((v) => v < 0)) continue;
    const coef = [0, 0, 0];
    cols.forEach((j, i) => (coef[j] = sol[i] / scale[j]));
    const loss = points.reduce((s, p, i) => {
      const f = features(p);
      return s + ((f[0] * coef[0] + f[1] * coef[1] + f[2] * coef[2] - p.us) / weights[i]) ** 2;
    }, 0);
    if (loss < best.loss - 1e-15) best = { coef, loss };
  }
  return { fixedUs: best.coef[0], perMacUs: best.coef[1], perOutputUs: best.coef[2] };
}

/** The cost of `kind` at `macs` and `outputs`, µs per example. */
export function opCostUs(table: LatencyTable, kind: string, macs: number, outputs: number): number {
  const c = table.ops[kind];
  if (!c) throw new Error(`latency table has no entry for '${kind}'`);
  return c.fixedUs + c.perMacUs * macs + c.perOutputUs * outputs;
}

/**
 * Times one probe network, µs per example at `batch` examples per call (base included).
 * `latency-measure.ts` has the tfjs one; tests pass a function of the probe's features.
 */
export type ProbeTimer = (probe: LatencyProbe, batch: number) => Promise<number>;

/** Why a table is not the current environment's, or null when it is. */
export function staleReason(
  t: LatencyTable,
  env: LatencyEnvironment,
  batch: number = DEFAULT_LATENCY_BATCH,
): string | null {
  if (t.format !== LATENCY_TABLE_FORMAT || t.version !== LATENCY_TABLE_VERSION) return 'an older format';
  if (t.batch !== batch) return `batch ${t.batch}, now ${batch}`;
  for (const k of ['backend', 'cpu', 'bdk', 'tfjs'] as const)
    if (t[k] !== env[k]) return `${k} ${JSON.stringify(t[k])}, now ${JSON.stringify(env[k])}`;
  return null;
}

/** How many times each probe is timed (the fastest counts). */
export const MEASURE_PASSES = 3;

/**
 * Measures the given kinds (and `base`, when `into` has none) and fits their cost models. Every probe
 * is timed in `MEASURE_PASSES` passes over all of them, keeping its fastest time: the repeats of one
 * probe lie seconds apart, so a burst of load from other processes rarely covers them all.
 */
export async function measureKinds(
  kinds: string[],
  time: ProbeTimer,
  into: LatencyTable,
): Promise<LatencyTable> {
  const todo = [...(into.ops.base ? [] : ['base']), ...kinds.filter((k) => !into.ops[k])];
  const probes = todo.map((kind) => latencyProbes(kind));
  const totals = probes.map((list) => list.map(() => Infinity));
  for (let pass = 0; pass < MEASURE_PASSES; pass++)
    for (const [k, list] of probes.entries())
      for (const [i, p] of list.entries()) totals[k][i] = Math.min(totals[k][i], await time(p, into.batch));
  const ops = { ...into.ops };
  todo.forEach((kind, k) => {
    // Above the base cost of a network with the probe's output (base itself: the whole time).
    const points = probes[k].map((p, i) => ({
      macs: p.macs,
      outputs: p.outputs,
      us: totals[k][i] - (kind === 'base' ? 0 : opCostUs({ ...into, ops }, 'base', 0, p.outputs)),
    }));
    ops[kind] = { ...fitOpCost(points, totals[k]), points };
  });
  return { ...into, ops, measuredAt: new Date().toISOString() };
}

/** The cache file of the tables of one backend and batch size. */
export function latencyTableFile(cacheDir: string, backend: string, batch: number): string {
  const name = backend.replace(/[^A-Za-z0-9._-]/g, '_');
  return path.join(cacheDir, batch === DEFAULT_LATENCY_BATCH ? `${name}.json` : `${name}-b${batch}.json`);
}

/**
 * The table of `kinds` for the current environment at `batch` examples per call, from the cache
 * (`latencyTableFile`) when it holds them and matches `env` (bdk, tfjs, backend, CPU) and the batch,
 * else measured with `time`: the missing kinds are added to a matching table, a stale or missing one
 * is replaced. `how` says which.
 */
export async function cachedLatencyTable(
  cacheDir: string,
  kinds: string[],
  env: LatencyEnvironment,
  time: ProbeTimer,
  batch: number = DEFAULT_LATENCY_BATCH,
): Promise<{ table: LatencyTable; file: string; how: 'cached' | 'extended' | 'measured'; why?: string }> {
  const file = latencyTableFile(cacheDir, env.backend, batch);
  const stored = await readJsonOrNull<LatencyTable>(file);
  const why = stored ? staleReason(stored, env, batch) : 'no table yet';
  const fresh: LatencyTable = {
    format: LATENCY_TABLE_FORMAT,
    version: LATENCY_TABLE_VERSION,
    ...env,
    batch,
    measuredAt: '',
    ops: {},
  };
  const base = stored && !why ? stored : fresh;
  const missing = ['add', 'concat', ...kinds].filter((k, i, a) => a.indexOf(k) === i && !base.ops[k]);
  if (!missing.length && base.ops.base) return { table: base, file, how: 'cached' };
  const table = await measureKinds(missing, time, base);
  await writeFileAtomic(file, JSON.stringify(table, null, 2) + '\n');
  return { table, file, how: base === fresh ? 'measured' : 'extended', ...(why ? { why } : {}) };
}
