import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runsDir } from '../core/paths.js';
import { readJsonOrNull } from '../core/json-file.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import type { Analysis } from '../model/spec.js';
import { discreteLatencyUs, spaceKinds, specLatencyUs } from '../search/latency-budget.js';
import { expectedArchLatency } from '../search/latency-expectation.js';
import { measureLatencyUs, timeProbe } from '../search/latency-measure.js';
import {
  cachedLatencyTable,
  currentEnvironment,
  DEFAULT_LATENCY_BATCH,
  type LatencyTable,
} from '../search/latency-table.js';
import type { SpaceAnalysis } from '../search/space.js';
import type { SupernetLayout } from '../search/supernet.js';

/**
 * The latency budget's part of a search run (`bdk search --max-latency-us`, docs/design.md §3.9): the
 * latency table it uses, recorded in the run, and what `search.json` reports about latency.
 */

/** The latency table a search used, in its run folder: a resumed search reads it back. */
export const SEARCH_LATENCY_TABLE = 'latency-table.json';

/** The per-backend cache of latency tables under the runs folder. */
export const latencyCacheDir = (dir?: string) => path.join(dir ?? runsDir(), '.latency');

/**
 * The latency table of a search: the one recorded in the run when it resumes, else `latencyTable` (a
 * table passed by the caller), else the current backend's at `batch` examples per call from the cache
 * under `<runs dir>/.latency/` (measured when missing or stale). It is written to the run folder so
 * that the run can be resumed or repeated with the same numbers.
 */
export async function searchLatencyTable(
  sa: SpaceAnalysis,
  runDir: string,
  o: {
    resume?: boolean;
    runsDir?: string;
    latencyTable?: LatencyTable;
    batch?: number;
    log: (line: string) => void;
  },
): Promise<LatencyTable> {
  const file = path.join(runDir, SEARCH_LATENCY_TABLE);
  let table = o.resume ? await readJsonOrNull<LatencyTable>(file) : null;
  if (table) o.log(`latency table: the run's own (${table.backend}, measured ${table.measuredAt})`);
  else if (o.latencyTable) table = o.latencyTable;
  else {
    const env = currentEnvironment(tf.getBackend());
    const t0 = performance.now();
    const r = await cachedLatencyTable(
      latencyCacheDir(o.runsDir),
      spaceKinds(sa),
      env,
      timeProbe,
      o.batch ?? DEFAULT_LATENCY_BATCH,
    );
    table = r.table;
    o.log(
      r.how === 'cached'
        ? `latency table: ${r.file}`
        : `latency table: ${r.how} ${r.file} in ${((performance.now() - t0) / 1000).toFixed(1)} s${r.why ? ` (${r.why})` : ''}`,
    );
  }
  await writeFileAtomic(file, JSON.stringify(table, null, 2) + '\n');
  return table;
}

/** What `search.json` records with a latency budget (µs per example at the table's batch). */
export interface LatencySummary {
  maxLatencyUs: number;
  /** Examples per call the latencies are measured at (the table's batch). */
  batch: number;
  /** The smallest predicted latency of the space. */
  minLatencyUs: number;
  /** The final μ_L and E[latency] under the relaxation at the end. */
  mu: number;
  expectedLatencyUs: number;
  /** Predicted latency of the repaired choices (≤ the budget), and of the argmax choices before the repair. */
  predictedLatencyUs: number;
  latencyBeforeRepairUs: number;
  repaired: boolean;
  /** Predicted latency of the exported architecture (after ARD and structured pruning) and its measured latency. */
  exportedPredictedUs: number;
  measuredLatencyUs: number;
  /** The backend and CPU the table was measured on; the table itself is `latency-table.json`. */
  backend: string;
  cpu: string;
}

/** The latency part of the summary; measures the exported architecture on the current backend. */
export async function latencySummary(a: {
  sa: SpaceAnalysis;
  layout: SupernetLayout;
  table: LatencyTable;
  maxLatencyUs: number;
  minLatencyUs: number;
  mu: number;
  h: Float32Array[];
  argmax: number[];
  chosen: number[];
  exported: Analysis;
  weights: Float32Array;
}): Promise<LatencySummary> {
  const { sa, table } = a;
  return {
    maxLatencyUs: a.maxLatencyUs,
    batch: table.batch,
    minLatencyUs: a.minLatencyUs,
    mu: a.mu,
    expectedLatencyUs: tf.tidy(
      () =>
        expectedArchLatency(
          a.layout,
          a.h.map((v) => tf.tensor1d(v)),
          table,
        ).dataSync()[0],
    ),
    predictedLatencyUs: discreteLatencyUs(sa, a.chosen, table),
    latencyBeforeRepairUs: discreteLatencyUs(sa, a.argmax, table),
    repaired: a.chosen.some((c, ei) => c !== a.argmax[ei]),
    exportedPredictedUs: specLatencyUs(a.exported, table),
    // Timed three times like the table's probes, the fastest counting.
    measuredLatencyUs: Math.min(
      await measureLatencyUs(a.exported, a.weights, { batch: table.batch }),
      await measureLatencyUs(a.exported, a.weights, { batch: table.batch }),
      await measureLatencyUs(a.exported, a.weights, { batch: table.batch }),
    ),
    backend: table.backend,
    cpu: table.cpu,
  };
}
