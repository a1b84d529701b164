import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExportManifest } from '../../src/stages/export.js';
import { ROOT, bdk, expectOneLineError, tempDir } from '../helpers.js';
import { TABULAR_SPEC, inputRows, writeExport } from '../runtime/exports.js';
import { asColumns, expectClose, postJson, reference } from './fixtures.js';

let scratch: string;
let dir: string;
let m: ExportManifest;

beforeAll(async () => {
  await tf.setBackend('cpu');
  scratch = await tempDir('bdk-serve-cli-');
  dir = path.join(scratch, 'model');
  m = await writeExport(dir, { spec: TABULAR_SPEC, task: 'regression', seed: 8 });
});

describe('bdk serve (the command)', () => {
  it('listens on 127.0.0.1 by default; on SIGTERM a request in flight finishes, then it exits 0', async () => {
    // A request waits 3 s for others to join its tensor call: SIGTERM comes while it waits.
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/bdk.js'),
        'serve',
        '--model',
        dir,
        '--port',
        '0',
        '--batch-wait-ms',
        '3000',
        '--backend',
        'cpu',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const first = stdout.split('\n')[0];
        if (stdout.includes('\n')) resolve(first);
      });
      child.on('close', () => reject(new Error(`bdk serve exited: ${stderr}`)));
    });
    const match = /^serving (.+) on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
    expect(match?.[1]).toBe(dir);
    const url = `http://127.0.0.1:${match![2]}`;
    const rows = inputRows(m, 2, 31);
    const answer = postJson(url, { rows });
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGTERM');
    const res = await answer;
    expect(res.status).toBe(200);
    expectClose(
      asColumns(m, res.json.predictions as Record<string, unknown>[]),
      (await reference(dir, m, rows, scratch)).rows,
    );
    expect(await exited).toBe(0);
    expect(stdout.trimEnd().split('\n')).toEqual([line, 'bdk serve: stopped']);
    expect(stderr).toBe('bdk serve: stopping; requests in flight finish (again to quit at once)\n');
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('a port in use is a one-line error, exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = bdk(['serve', '--model', dir, '--port', String(port), '--backend', 'cpu']);
      expect(r.code).toBe(1);
      expect(expectOneLineError(r)).toBe(`bdk: --port ${port}: 127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
    }
  });

  it("a bad model folder is the runtime's one-line error, exit 1; so is nothing to serve", () => {
    const missing = path.join(scratch, 'missing');
    const r = bdk(['serve', '--model', missing, '--port', '0', '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(`bdk: ${missing}/bdk.json: file not found`);
    const none = bdk(['serve']);
    expect(none.code).toBe(1);
    expect(expectOneLineError(none)).toBe('bdk: serve: give --model DIR, --static DIR or both');
  });
});
