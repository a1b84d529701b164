import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../src/serve/server.js';
import type { ExportManifest } from '../../src/stages/export.js';
import { tempDir } from '../helpers.js';
import { BOSTON_FEATURES, IMAGE_SPEC, TABULAR_SPEC, inputRows, writeExport } from '../runtime/exports.js';
import { asColumns, csvBody, expectClose, postJson, reference } from './fixtures.js';

let scratch: string;
const services: Record<string, { service: Service; url: string; dir: string; m: ExportManifest }> = {};
const BODY_LIMIT = 4096;

beforeAll(async () => {
  await tf.setBackend('cpu');
  scratch = await tempDir('bdk-serve-');
  const setups = {
    regression: { spec: TABULAR_SPEC, task: 'regression', targetTransform: 'log', seed: 2 },
    classification: { spec: IMAGE_SPEC, task: 'classification', temperature: 2, seed: 3 },
  } as const;
  for (const [name, s] of Object.entries(setups)) {
    const dir = path.join(scratch, name);
    const m = await writeExport(dir, s);
    const service = await createService({ model: dir, bodyLimit: BODY_LIMIT, maxBatch: 64, batchWaitMs: 0 });
    services[name] = { service, url: await service.listen(0, '127.0.0.1'), dir, m };
  }
});

afterAll(async () => {
  for (const s of Object.values(services)) await s.service.close();
});

describe('bdk serve: GET /health and /model', () => {
  it('reports its health, with the tensor calls and rows predicted so far', async () => {
    const { url, m } = services.regression;
    const health = async () => (await fetch(`${url}/health`)).json() as Promise<Record<string, number>>;
    const before = await health();
    expect(Object.keys(before)).toEqual(['status', 'tensorCalls', 'rowsPredicted']);
    expect(before.status).toBe('ok');
    expect((await postJson(url, { rows: inputRows(m, 3, 5) })).status).toBe(200);
    const after = await health();
    expect([after.tensorCalls - before.tensorCalls, after.rowsPredicted - before.rowsPredicted]).toEqual([
      1, 3,
    ]);
  });

  it("returns the export's manifest: task, features, metrics and size", async () => {
    const { url, m } = services.regression;
    const got = (await (await fetch(`${url}/model`)).json()) as ExportManifest;
    expect(got).toEqual(JSON.parse(JSON.stringify(m)));
    expect(got.features).toEqual(BOSTON_FEATURES);
    expect(got.task).toBe('regression');
    expect(got.bytes).toBeGreaterThan(0);
    expect(got.metrics).toEqual({ float32: {}, exported: {}, change: {} });
  });
});

describe('bdk serve: POST /predict equals bdk predict', () => {
  for (const name of ['regression', 'classification'])
    it(`${name}: JSON rows and a CSV body`, async () => {
      const { url, dir, m } = services[name];
      const rows = inputRows(m, 6, 11);
      const want = (await reference(dir, m, rows, scratch)).rows;
      const json = await postJson(url, { rows });
      expect(json.status).toBe(200);
      expectClose(asColumns(m, json.json.predictions as Record<string, unknown>[]), want);
      const csv = await postJson(url, csvBody(m, rows), 'text/csv; charset=utf-8');
      expect(csv.status).toBe(200);
      expectClose(asColumns(m, csv.json.predictions as Record<string, unknown>[]), want);
      if (m.task === 'classification') {
        const first = (json.json.predictions as Record<string, unknown>[])[0];
        expect(Object.keys(first)).toEqual(['probs', 'label', 'className', 'entropy']);
        expect(['cat', 'dog', 'eel']).toContain(first.className);
      }
    });

  it('named features in any order, and a CSV with other columns and other case', async () => {
    const { url, dir, m } = services.regression;
    const rows = inputRows(m, 3, 12);
    const want = (await reference(dir, m, rows, scratch)).rows;
    const named = rows.map((r) =>
      Object.fromEntries(BOSTON_FEATURES.map((f, k) => [f, r[k]] as const).reverse()),
    );
    const res = await postJson(url, { rows: named });
    expect(res.status).toBe(200);
    expect(Object.keys((res.json.predictions as object[])[0])).toEqual(['mean', 'sd', 'median']);
    expectClose(asColumns(m, res.json.predictions as Record<string, unknown>[]), want);
    const csv = [
      ['MEDV', ...BOSTON_FEATURES.map((f) => f.toLowerCase())].join(','),
      ...rows.map((r) => [99, ...r].join(',')),
    ].join('\n');
    const res2 = await postJson(url, csv, 'text/csv');
    expect(res2.status).toBe(200);
    expectClose(asColumns(m, res2.json.predictions as Record<string, unknown>[]), want);
  });
});

describe('bdk serve: bad requests get a one-line message', () => {
  const row = Array.from({ length: 13 }, (_, k) => 10 * k + 1);
  const named = Object.fromEntries(BOSTON_FEATURES.map((f, k) => [f, row[k]]));
  const expects = `the model expects 13 (${BOSTON_FEATURES.join(', ')})`;
  const cases: [string, string, string, number, string][] = [
    ['malformed JSON', 'application/json', '{"rows": [[1, 2,', 400, 'request body: not valid JSON ('],
    [
      'an empty body',
      'application/json',
      '',
      400,
      'request body: empty; expected a JSON object {"rows": [...]}',
    ],
    [
      'no rows key',
      'application/json',
      '{"data": []}',
      400,
      'request body: no "rows"; expected a JSON object {"rows": [...]}',
    ],
    [
      'another key',
      'application/json',
      JSON.stringify({ rows: [row], extra: 1 }),
      400,
      `request body: unknown key 'extra'; expected a JSON object {"rows": [...]}`,
    ],
    [
      'a JSON array',
      'application/json',
      '[[1, 2]]',
      400,
      'request body: expected a JSON object {"rows": [...]}',
    ],
    [
      'rows not a list',
      'application/json',
      '{"rows": 3}',
      400,
      'request body: "rows" must be a list of rows',
    ],
    [
      'no rows',
      'application/json',
      '{"rows": []}',
      400,
      'request body: "rows" is empty; send at least one row',
    ],
    [
      'a row of the wrong kind',
      'application/json',
      JSON.stringify({ rows: [row, 'x'] }),
      400,
      'request body: row 2 is neither a list of numbers nor an object keyed by feature name',
    ],
    [
      'a wrong feature count',
      'application/json',
      JSON.stringify({ rows: [row, row.slice(1)] }),
      400,
      `predict: row 2 has 12 values, ${expects}`,
    ],
    [
      'an unknown feature name',
      'application/json',
      JSON.stringify({ rows: [{ ...named, ROOMS: 3 }] }),
      400,
      `predict: row 1 has an unknown feature 'ROOMS'; ${expects}`,
    ],
    [
      'a missing feature name',
      'application/json',
      JSON.stringify({ rows: [{ ...named, TAX: undefined }] }),
      400,
      `predict: row 1 has no feature 'TAX'; ${expects}`,
    ],
    [
      'a non-finite value',
      'application/json',
      `{"rows": [[${row.slice(0, 12).join(',')}, 1e999]]}`,
      400,
      "predict: row 1, column 'LSTAT' is Infinity",
    ],
    [
      'a value that is not a number',
      'application/json',
      JSON.stringify({ rows: [[...row.slice(0, 12), null]] }),
      400,
      "predict: row 1, column 'LSTAT' is null, not a number",
    ],
    [
      'a CSV non-finite value',
      'text/csv',
      `${BOSTON_FEATURES.join(',')}\n${row.slice(0, 12).join(',')},inf\n`,
      400,
      "request body:2: column 'LSTAT' has non-finite value 'inf'",
    ],
    [
      'a CSV without a feature',
      'text/csv',
      `${BOSTON_FEATURES.slice(1).join(',')}\n${row.slice(1).join(',')}\n`,
      400,
      `request body: missing feature column 'CRIM' (the model needs: ${BOSTON_FEATURES.join(', ')})`,
    ],
    [
      'a body over the limit',
      'application/json',
      JSON.stringify({ rows: Array(200).fill(row) }),
      413,
      `request body: larger than the limit of ${BODY_LIMIT} bytes`,
    ],
    [
      'a wrong content type',
      'text/plain',
      JSON.stringify({ rows: [row] }),
      415,
      "Content-Type 'text/plain' is not supported: send application/json or text/csv",
    ],
  ];
  for (const [what, type, body, status, message] of cases)
    it(what, async () => {
      const res = await postJson(services.regression.url, body, type);
      expect(res.status).toBe(status);
      expect(Object.keys(res.json)).toEqual(['error']);
      const error = res.json.error as string;
      if (message.endsWith('(')) expect(error.startsWith(message)).toBe(true);
      else expect(error).toBe(message);
      expect(error).not.toMatch(/\n|\bat .*:\d+:\d+/);
    });

  it('a malformed JSON body leaves the connection open (its body was read to the end)', async () => {
    const res = await fetch(`${services.regression.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"rows": [[1,',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('connection')).toBe('keep-alive');
    await res.json();
  });

  it('an image model refuses named rows and a wrong pixel count', async () => {
    const { url } = services.classification;
    const a = await postJson(url, { rows: [{ pixels: 3 }] });
    expect(a).toEqual({
      status: 400,
      json: { error: 'predict: row 1 is an object; an image model takes rows of 64 pixel values' },
    });
    const b = await postJson(url, { rows: [Array(63).fill(0)] });
    expect(b.json.error).toBe('predict: row 1 has 63 values, the model expects 64 (a 8×8×1 image)');
  });

  it('an unknown path is a 404 with a message', async () => {
    const res = await fetch(`${services.regression.url}/nothing?x=1`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found: GET /nothing' });
  });
});
