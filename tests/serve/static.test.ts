import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../src/serve/server.js';
import { tempDir } from '../helpers.js';
import { TABULAR_SPEC, writeExport } from '../runtime/exports.js';

/** GET with the path sent exactly as written (fetch would resolve `..` itself). */
function rawGet(url: string, rawPath: string): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bdk serve --static', () => {
  let root: string;
  let service: Service;
  let url: string;

  beforeAll(async () => {
    root = await tempDir('bdk-serve-static-');
    const site = path.join(root, 'site');
    await fs.mkdir(path.join(site, 'model'), { recursive: true });
    await fs.writeFile(path.join(site, 'index.html'), '<h1>demo</h1>\n');
    await fs.writeFile(path.join(site, 'app.js'), 'export const x = 1;\n');
    await fs.writeFile(path.join(site, 'model', 'bdk.json'), '{"format":"bdk-export"}\n');
    await fs.writeFile(path.join(root, 'secret.txt'), 'TOP-SECRET-CONTENT\n');
    await fs.symlink(path.join(root, 'secret.txt'), path.join(site, 'link.txt'));
    service = await createService({ static: site, bodyLimit: 1024, maxBatch: 1, batchWaitMs: 0 });
    url = await service.listen(0, '127.0.0.1');
  });

  afterAll(() => service.close());

  it('serves the files of the folder, and index.html for a folder', async () => {
    expect(await rawGet(url, '/')).toEqual({
      status: 200,
      type: 'text/html; charset=utf-8',
      body: '<h1>demo</h1>\n',
    });
    expect(await rawGet(url, '/app.js?v=2')).toEqual({
      status: 200,
      type: 'text/javascript; charset=utf-8',
      body: 'export const x = 1;\n',
    });
    const m = await rawGet(url, '/model/bdk.json');
    expect([m.status, m.type, JSON.parse(m.body)]).toEqual([
      200,
      'application/json; charset=utf-8',
      { format: 'bdk-export' },
    ]);
    expect((await rawGet(url, '/health')).body).toBe('{"status":"ok"}');
  });

  it('404s a missing file and every path out of the folder', async () => {
    for (const p of [
      '/missing.js',
      '/../secret.txt',
      '/model/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e%5csecret.txt',
      '/link.txt',
      '/app.js%00.html',
    ]) {
      const r = await rawGet(url, p);
      expect([p, r.status]).toEqual([p, 404]);
      expect(r.body).not.toContain('TOP-SECRET');
    }
  });

  it('a path that cannot be decoded is a 400', async () => {
    expect((await rawGet(url, '/%E0%A4%A')).status).toBe(400);
  });

  it('has no /predict without a model', async () => {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(404);
  });

  it('with --model too: the API routes and the folder side by side', async () => {
    const model = path.join(root, 'model-export');
    await writeExport(model, { spec: TABULAR_SPEC, task: 'regression' });
    const both = await createService({
      model,
      static: path.join(root, 'site'),
      bodyLimit: 1 << 16,
      maxBatch: 8,
      batchWaitMs: 0,
    });
    const u = await both.listen(0, '127.0.0.1');
    try {
      expect((await rawGet(u, '/app.js')).body).toBe('export const x = 1;\n');
      expect(JSON.parse((await rawGet(u, '/model')).body).features).toHaveLength(13);
      const res = await fetch(`${u}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rows: [Array.from({ length: 13 }, (_, k) => k)] }),
      });
      expect(res.status).toBe(200);
      expect((await rawGet(u, '/../secret.txt')).status).toBe(404);
    } finally {
      await both.close();
    }
  });

  it('a static folder that does not exist is a one-line error', async () => {
    await expect(
      createService({ static: path.join(root, 'nope'), bodyLimit: 1024, maxBatch: 1, batchWaitMs: 0 }),
    ).rejects.toThrow(`--static ${path.join(root, 'nope')}: not a folder`);
  });
});
