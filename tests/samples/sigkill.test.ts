/** Sample store: a writer killed (SIGKILL) at any moment leaves every durable sample readable. */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { describe, expect, it } from 'vitest';

import { readAllSamples, SampleWriter, scanSamples } from '../../src/samples/index.js';
import { ROOT } from '../helpers.js';
import { expectRows, range, rec, useTempDir } from './fixtures.js';

const { fresh } = useTempDir();

describe('sample store: SIGKILL while appending', () => {
  const modulePath = path.join(ROOT, 'dist/samples/index.js');
  const P = 50_000;
  // The same generator as rec() in fixtures.ts, as plain JavaScript for the child process.
  const childScript = (group: number) => `
import { SampleWriter } from ${JSON.stringify(pathToFileURL(modulePath).href)};
const [file, pArg] = process.argv.slice(2);
const p = Number(pArg);
function rec(i, p) {
  const w = new Float32Array(p);
  for (let j = 0; j < p; j++) w[j] = (((i * 2654435761 + j * 40503) >>> 0) / 4294967296 - 0.5) * (i + 1);
  return { chain: i % 3, step: 10 * i + 1, logLikelihood: -1.5 * i - 0.1, noisePrecision: i % 2 === 1 ? NaN : 1 / (i + 1), weights: w };
}
const writer = await SampleWriter.create(file, p, { child: true });
process.stdout.write('created\\n');
for (let i = 0; ; i += ${group}) {
  await writer.append(Array.from({ length: ${group} }, (_, k) => rec(i + k, p)));
  process.stdout.write('done ' + (i + ${group}) + '\\n');
}
`;

  /** Runs the child, kills it `delayMs` after its first durable append (or after spawn). */
  async function killChild(
    group: number,
    delayMs: number,
    from: 'first-append' | 'spawn',
  ): Promise<{ file: string; durable: number }> {
    const script = fresh('child.mjs');
    await fs.writeFile(script, childScript(group));
    const file = fresh();
    const child = spawn(process.execPath, [script, file, String(P)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
    };
    if (from === 'spawn') kill();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (from === 'first-append' && out.includes('done ')) kill();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_code, sig) => resolve(sig)),
    );
    clearTimeout(timer);
    expect(err).toBe('');
    expect(signal).toBe('SIGKILL');
    const done = [...out.matchAll(/done (\d+)/g)].map((m) => Number(m[1]));
    return { file, durable: done.length ? done[done.length - 1] : 0 };
  }

  async function checkKilledFile(file: string, durable: number, group: number): Promise<number> {
    const scan = await scanSamples(file);
    // Every append that resolved is on disk; at most the group being written is lost (or made it).
    expect(scan.records).toBeGreaterThanOrEqual(durable);
    expect(scan.records).toBeLessThanOrEqual(durable + group);
    expect(scan.records % group).toBe(0);
    const all = await readAllSamples([file]);
    expect(all.rows).toBe(scan.records);
    expectRows(all, range(0, scan.records, P));
    return scan.records;
  }

  for (const [group, delay] of [
    [1, 300],
    [1, 0],
    [1, 45],
    [1, 170],
    [3, 90],
    [1, 650],
  ] as const) {
    it(`keeps every durable sample (group ${group}, killed ${delay} ms after the first append)`, async () => {
      const { file, durable } = await killChild(group, delay, 'first-append');
      const records = await checkKilledFile(file, durable, group);
      expect(records).toBeGreaterThanOrEqual(1);
      // Resume: keep what the (hypothetical) chain state accounts for and carry on.
      const keep = Math.max(1, records - group);
      const w = await SampleWriter.openForAppend(file, keep);
      await w.append([rec(keep, P)]);
      await w.close();
      expectRows(await readAllSamples([file]), range(0, keep + 1, P));
    });
  }

  it('never leaves a samples file without its header, even when killed during create', async () => {
    for (const delay of [80, 160, 240, 320]) {
      const { file, durable } = await killChild(1, delay, 'spawn');
      const exists = await fs.stat(file).then(
        () => true,
        () => false,
      );
      if (exists) await checkKilledFile(file, durable, 1);
      else expect(durable).toBe(0);
    }
  });
});
