import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';
import { TABULAR_SPEC, writeExport } from '../runtime/exports.js';

/**
 * `bdk demo` as a user runs it (the built binary): the site's files, the export copied byte for byte,
 * and what it refuses: a folder that is not empty without --force, a bad export.
 */
let dir: string;
let model: string;

beforeAll(async () => {
  dir = await tempDir('bdk-demo-cli-');
  model = path.join(dir, 'export');
  await writeExport(model, { spec: TABULAR_SPEC, task: 'regression', targetTransform: 'log' });
});

const demo = (...args: string[]) => bdk(['demo', '--backend', 'cpu', ...args]);

describe('bdk demo', () => {
  it('writes index.html, the page bundle, the wasm files and a copy of the export', async () => {
    const out = path.join(dir, 'site');
    const r = demo('--model', model, '--out', out, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const site = JSON.parse(r.stdout) as {
      out: string;
      task: string;
      files: { file: string; bytes: number }[];
    };
    expect(site.task).toBe('regression');
    expect(site.files.map((f) => f.file)).toEqual([
      'index.html',
      'bdk-demo.js',
      'model/bdk.json',
      'model/group1-shard1of1.bin',
      'model/model.json',
      'wasm/tfjs-backend-wasm-simd.wasm',
      'wasm/tfjs-backend-wasm-threaded-simd.wasm',
      'wasm/tfjs-backend-wasm.wasm',
    ]);
    for (const f of ['bdk.json', 'model.json', 'group1-shard1of1.bin'])
      expect(await fs.readFile(path.join(out, 'model', f))).toEqual(await fs.readFile(path.join(model, f)));
    const html = await fs.readFile(path.join(out, 'index.html'), 'utf8');
    expect(html).toContain('<script type="module" src="bdk-demo.js"></script>');
    // Self-contained: no resource from another origin.
    expect(html).not.toMatch(/https?:\/\//);
    const js = await fs.readFile(path.join(out, 'bdk-demo.js'), 'utf8');
    expect(js).not.toMatch(/cdn\.jsdelivr|unpkg\.com/);
    const wasm = await fs.readFile(path.join(out, 'wasm/tfjs-backend-wasm.wasm'));
    expect(wasm.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
  });

  it('refuses a folder that is not empty unless --force, which keeps the other files', async () => {
    const out = path.join(dir, 'mine');
    await fs.mkdir(path.join(out, 'model'), { recursive: true });
    await fs.writeFile(path.join(out, 'notes.txt'), 'mine');
    await fs.writeFile(path.join(out, 'model', 'stale.bin'), 'old');
    const r = demo('--model', model, '--out', out);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(
      `bdk: ${out} is not empty; pass --force to write the demo into it (replacing its index.html, bdk-demo.js, model/ and wasm/)`,
    );
    expect((await fs.readdir(out)).sort()).toEqual(['model', 'notes.txt']);

    const f = demo('--model', model, '--out', out, '--force');
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/^wrote a regression demo to .* \(8 files, [\d.]+ MiB\)/);
    expect(await fs.readFile(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect((await fs.readdir(path.join(out, 'model'))).sort()).toEqual([
      'bdk.json',
      'group1-shard1of1.bin',
      'model.json',
    ]);
  });

  it('a bad --model is the runtime’s one-line error, and nothing is written', async () => {
    const out = path.join(dir, 'bad');
    const missing = demo('--model', path.join(dir, 'nowhere'), '--out', out);
    expect(missing.code).toBe(1);
    expect(expectOneLineError(missing)).toBe(`bdk: ${path.join(dir, 'nowhere')}/bdk.json: file not found`);

    const broken = path.join(dir, 'broken');
    await fs.cp(model, broken, { recursive: true });
    const shard = path.join(broken, 'group1-shard1of1.bin');
    const bytes = await fs.readFile(shard);
    bytes[0] ^= 1;
    await fs.writeFile(shard, bytes);
    const r = demo('--model', broken, '--out', out);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      new RegExp(`^bdk: ${shard}: SHA-256 [0-9a-f]{12}… differs from the manifest's [0-9a-f]{12}…`),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an --out that is a file', async () => {
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, 'x');
    const r = demo('--model', model, '--out', file);
    expect(expectOneLineError(r)).toBe(`bdk: ${file} is a file, not a folder; choose another --out`);
  });
});
