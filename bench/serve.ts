/**
 * Section `serve`: `bdk serve` under load from autocannon, the server in a child process (so the load
 * generator does not share its event loop), loopback only, each case bounded in time.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import autocannon, { type Request, type Result } from 'autocannon';
import { now, round, withTarget, type Figure } from './measure.js';
import { jsonBodies, malformedBodies, type ServeModel } from './serve-exports.js';

export const SERVE_ROWS = [1, 100];
export const SERVE_CONNECTIONS = [1, 16, 128];
const MiB = 2 ** 20;

export interface ServeCase {
  model: string;
  rowsPerRequest: number;
  connections: number;
  seconds: number;
  requestsPerSecond: number;
  predictionsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /**
   * The server's RSS floor during the case: the lowest sample (bytes; after a garbage collection) in
   * its second quarter and in its last quarter, and their relative change. The load is steady, so a
   * rising floor would be a leak; the garbage collector's sawtooth above the floor is not.
   */
  rss: { early: number; late: number; change: number };
  /** Tensor calls the server made in the case, and the mean rows per call (from its GET /health). */
  tensorCalls: number;
  rowsPerCall: number;
}

export interface MalformedRun {
  model: string;
  connections: number;
  seconds: number;
  valid: { sent: number; ok: number };
  malformed: { sent: number; ok: number };
  /** Responses whose status was not the expected one (200 for valid requests, 400/413/415 else). */
  wrongStatus: number;
  statusCodes: Record<string, number>;
}

export interface ServeModelResult {
  model: string;
  what: string;
  cases: ServeCase[];
  malformed: MalformedRun;
  /** The server's resident set size, sampled every 250 ms over all its cases. */
  rss: { afterFirstCase: number; atEnd: number; min: number; max: number; samples: number; seconds: number };
  /** Every RSS sample: seconds since the server started, MiB. */
  rssSeries: [number, number][];
  /** The case whose RSS floor changed most between its second and last quarter. */
  worstRssCase: { rowsPerRequest: number; connections: number; change: number };
  serverExitCode: number | null;
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<number | null>;
}

/** `bdk serve` in a child process on a free loopback port; resolves once it prints its URL. */
async function startServer(root: string, model: ServeModel, backend: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [path.join(root, 'bin', 'bdk.js'), 'serve', '--model', model.dir, '--port', '0', '--backend', backend],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`bdk serve exited with ${code}: ${stderr.trim()}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The server's counts of tensor calls and rows predicted so far. */
async function counts(url: string): Promise<{ calls: number; rows: number }> {
  const h = (await (await fetch(`${url}/health`)).json()) as { tensorCalls: number; rowsPredicted: number };
  return { calls: h.tensorCalls, rows: h.rowsPredicted };
}

async function rssOf(pid: number): Promise<number | null> {
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

function post(body: string, type = 'application/json'): Request {
  return { method: 'POST', path: '/predict', headers: { 'content-type': type }, body };
}

/** The lowest RSS sampled between t0 and t1 (seconds since the server started). */
function rssFloor(samples: { t: number; v: number }[], t0: number, t1: number): number {
  return Math.min(...samples.filter((s) => s.t >= t0 && s.t <= t1).map((s) => s.v));
}

function caseOf(
  model: ServeModel,
  rows: number,
  connections: number,
  r: Result,
  rss: ServeCase['rss'],
  batching: { calls: number; rows: number },
): ServeCase {
  return {
    model: model.name,
    rowsPerRequest: rows,
    connections,
    seconds: r.duration,
    requestsPerSecond: r.requests.average,
    predictionsPerSecond: r.requests.average * rows,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    rss,
    tensorCalls: batching.calls,
    rowsPerCall: batching.rows / batching.calls,
  };
}

/**
 * Every case of one model against one server process: single-row and 100-row requests at 1, 16 and
 * 128 connections, `seconds` each after a 1 s warm-up, then valid and malformed requests mixed.
 */
export async function serveModel(
  root: string,
  model: ServeModel,
  backend: string,
  seconds: number,
  log: (s: string) => void,
): Promise<ServeModelResult> {
  const server = await startServer(root, model, backend);
  const rss: { t: number; v: number }[] = [];
  const t0 = now();
  const timer = setInterval(() => {
    void rssOf(server.pid).then((v) => v !== null && rss.push({ t: (now() - t0) / 1000, v }));
  }, 250);
  let afterFirst = NaN;
  const cases: ServeCase[] = [];
  let malformed: MalformedRun;
  try {
    for (const rows of SERVE_ROWS) {
      const requests = jsonBodies(model, rows, 16).map((b) => post(b));
      await autocannon({ url: server.url, connections: 16, duration: 1, requests });
      for (const connections of SERVE_CONNECTIONS) {
        const before = await counts(server.url);
        const start = (now() - t0) / 1000;
        const r = await autocannon({ url: server.url, connections, duration: seconds, requests });
        const end = (now() - t0) / 1000;
        const after = await counts(server.url);
        const batching = { calls: after.calls - before.calls, rows: after.rows - before.rows };
        const q = (end - start) / 4;
        const early = rssFloor(rss, start + q, start + 2 * q);
        const late = rssFloor(rss, end - q, end);
        const c = caseOf(model, rows, connections, r, { early, late, change: late / early - 1 }, batching);
        cases.push(c);
        if (cases.length === 1) afterFirst = (await rssOf(server.pid)) ?? NaN;
        log(
          `  ${model.name}, ${rows} row${rows > 1 ? 's' : ''}/request, ${connections} connections: ` +
            `${round(c.predictionsPerSecond)} predictions/s, p50 ${c.latencyMs.p50} ms, p99 ${c.latencyMs.p99} ms, ` +
            `${round(c.rowsPerCall)} rows/call, ${c.errors + c.timeouts + c.non2xx} failed, RSS floor ${round(late / MiB)} MiB (${round(c.rss.change * 100)} % within the case)`,
        );
      }
    }
    malformed = await malformedRun(server.url, model, seconds);
    log(
      `  ${model.name}, valid and malformed mixed: ${malformed.valid.ok}/${malformed.valid.sent} valid got 200, ` +
        `${malformed.malformed.ok}/${malformed.malformed.sent} malformed got their 4xx`,
    );
  } finally {
    clearInterval(timer);
  }
  const atEnd = (await rssOf(server.pid)) ?? NaN;
  const serverExitCode = await server.stop();
  const vs = rss.map((s) => s.v);
  const worst = cases.reduce((w, c) => (Math.abs(c.rss.change) > Math.abs(w.rss.change) ? c : w));
  return {
    model: model.name,
    what: model.what,
    cases,
    malformed,
    rss: {
      afterFirstCase: afterFirst,
      atEnd,
      min: Math.min(...vs),
      max: Math.max(...vs),
      samples: vs.length,
      seconds: rss.length ? rss[rss.length - 1].t : 0,
    },
    rssSeries: rss.map((x) => [round(x.t), round(x.v / MiB)]),
    worstRssCase: {
      rowsPerRequest: worst.rowsPerRequest,
      connections: worst.connections,
      change: worst.rss.change,
    },
    serverExitCode,
  };
}

/** 16 connections sending one malformed request (of five kinds, in turn) after every valid one. */
async function malformedRun(url: string, model: ServeModel, seconds: number): Promise<MalformedRun> {
  const valid = { sent: 0, ok: 0 };
  const bad = { sent: 0, ok: 0 };
  const requests: Request[] = [];
  const goods = jsonBodies(model, 1, 5);
  malformedBodies(model).forEach((m, i) => {
    requests.push({
      ...post(goods[i]),
      onResponse: (status) => {
        valid.sent++;
        if (status === 200) valid.ok++;
      },
    });
    requests.push({
      ...post(m.body, m.type),
      onResponse: (status) => {
        bad.sent++;
        if (status === m.status) bad.ok++;
      },
    });
  });
  const r = await autocannon({ url, connections: 16, duration: seconds, requests });
  const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count]));
  return {
    model: model.name,
    connections: 16,
    seconds: r.duration,
    valid,
    malformed: bad,
    wrongStatus: valid.sent - valid.ok + (bad.sent - bad.ok) + r.errors + r.timeouts,
    statusCodes,
  };
}

/** The figures of one model: throughput and latency per case, failures, the mixed run and RSS. */
export function serveFigures(r: ServeModelResult): Figure[] {
  const unit = r.model === 'mnist' ? 'images/s' : 'predictions/s';
  const figures: Figure[] = [];
  for (const c of r.cases) {
    const key = `serve.${r.model}.rows${c.rowsPerRequest}.c${c.connections}`;
    const label = `${r.model}: ${c.rowsPerRequest}-row requests, ${c.connections} connections`;
    const note =
      `${round(c.requestsPerSecond)} requests/s over ${c.seconds} s; p90 ${c.latencyMs.p90} ms, max ${c.latencyMs.max} ms; ` +
      `${round(c.rowsPerCall)} rows per tensor call (${c.tensorCalls} calls)`;
    let rate: Figure = {
      key: `${key}.rate`,
      section: 'serve',
      label,
      value: c.predictionsPerSecond,
      unit,
      note,
    };
    let p99: Figure = {
      key: `${key}.p99`,
      section: 'serve',
      label: `${label}, p99 latency`,
      value: c.latencyMs.p99,
      unit: 'ms',
    };
    if (r.model === 'boston' && c.rowsPerRequest === 1 && c.connections === 128) {
      rate = withTarget(rate, { op: '>=', value: 5000, on: 'value', text: '≥ 5 000/s' });
      p99 = withTarget(p99, { op: '<=', value: 50, on: 'value', text: '≤ 50 ms' });
    }
    if (r.model === 'mnist' && c.rowsPerRequest === 100 && c.connections === 128)
      rate = withTarget(rate, { op: '>=', value: 1000, on: 'value', text: '≥ 1 000/s' });
    figures.push(
      rate,
      {
        key: `${key}.p50`,
        section: 'serve',
        label: `${label}, p50 latency`,
        value: c.latencyMs.p50,
        unit: 'ms',
      },
      p99,
    );
  }
  const failed = r.cases.reduce((n, c) => n + c.errors + c.timeouts + c.non2xx, 0);
  const requests = r.cases.reduce((n, c) => n + c.requests, 0);
  const m = r.malformed;
  const w = r.worstRssCase;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${round(x * 100)} %`;
  figures.push(
    withTarget(
      {
        key: `serve.${r.model}.failed`,
        section: 'serve',
        label: `${r.model}: valid requests not answered 2xx (errors, timeouts, non-2xx)`,
        value: failed,
        unit: 'requests',
        note: `of ${requests} requests in the ${r.cases.length} cases`,
      },
      { op: '<=', value: 0, on: 'value', text: '0' },
    ),
    withTarget(
      {
        key: `serve.${r.model}.malformedMix.wrongStatus`,
        section: 'serve',
        label: `${r.model}: valid and malformed mixed, responses with a wrong status`,
        value: m.wrongStatus,
        unit: 'responses',
        note: `${m.valid.ok}/${m.valid.sent} valid got 200, ${m.malformed.ok}/${m.malformed.sent} malformed got 400/415; status codes ${JSON.stringify(m.statusCodes)}`,
      },
      { op: '<=', value: 0, on: 'value', text: '0' },
    ),
    withTarget(
      {
        key: `serve.${r.model}.rssChange`,
        section: 'serve',
        label: `${r.model}: server RSS floor change within a case, largest (second → last quarter, absolute)`,
        value: Math.abs(w.change) * 100,
        unit: '%',
        note:
          `${pct(w.change)} in the ${w.rowsPerRequest}-row, ${w.connections}-connection case; over all cases ` +
          `${round(r.rss.afterFirstCase / MiB)} MiB after the first → ${round(r.rss.atEnd / MiB)} MiB at the end, ` +
          `min ${round(r.rss.min / MiB)}, max ${round(r.rss.max / MiB)} MiB (${r.rss.samples} samples in ${round(r.rss.seconds)} s)`,
      },
      { op: '<=', value: 10, on: 'value', text: '≤ 10 %' },
    ),
  );
  return figures;
}
