import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers.js';
import { TABULAR_SPEC, writeExport } from './exports.js';

/**
 * The browser bundle of `bdk/runtime` alone (tfjs external): its size, and that it imports nothing
 * but tfjs-core up front (the Node file reader is a dynamic `import('node:fs/promises')`, never taken in
 * a browser).
 */
const MAX_BYTES = 30_000;

async function bundle(stdin?: string, minify = true) {
  const r = await build({
    ...(stdin
      ? { stdin: { contents: stdin, resolveDir: ROOT, loader: 'ts' as const } }
      : { entryPoints: [path.join(ROOT, 'src/runtime/index.ts')] }),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify,
    external: ['@tensorflow/*', 'node:*'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const out = Object.values(r.metafile.outputs)[0];
  return { text: r.outputFiles[0].text, bytes: r.outputFiles[0].contents.byteLength, imports: out.imports };
}

describe('browser bundle', () => {
  let b: Awaited<ReturnType<typeof bundle>>;
  beforeAll(async () => {
    b = await bundle();
  });

  it(`is at most ${MAX_BYTES} bytes minified, without tfjs`, () => {
    expect(b.bytes).toBeGreaterThan(1000);
    expect(b.bytes).toBeLessThanOrEqual(MAX_BYTES);
  });

  it('imports only @tensorflow/tfjs-core statically; node:fs/promises only dynamically', () => {
    const kinds = [...new Set(b.imports.map((i) => `${i.kind} ${i.path}`))].sort();
    expect(kinds).toEqual(['dynamic-import node:fs/promises', 'import-statement @tensorflow/tfjs-core']);
    expect(b.text).not.toMatch(/(?:^|[;}\s])import[^(;]*["']node:/);
    expect(b.text).not.toMatch(/tfjs-layers|@tensorflow\/tfjs["']/);
  });

  it('runs in a bare Node process with tfjs-core and the cpu backend only', async () => {
    const dir = await tempDir('bdk-runtime-bundle-');
    const m = await writeExport(dir, { spec: TABULAR_SPEC, task: 'regression', targetTransform: 'log' });
    const script = await bundle(
      [
        "import '@tensorflow/tfjs-backend-cpu';",
        "import { getBackend } from '@tensorflow/tfjs-core';",
        "import { loadStudent } from './src/runtime/index.ts';",
        `const s = await loadStudent(${JSON.stringify(dir)});`,
        `const p = await s.predict([${JSON.stringify(m.standardization.features.mean)}]);`,
        'console.log(JSON.stringify({ backend: getBackend(), mean: p.mean[0], median: p.median[0] }));',
      ].join('\n'),
      false,
    );
    const r = spawnSync(process.execPath, ['--input-type=module'], {
      cwd: ROOT,
      input: script.text,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).not.toMatch(/Error/);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.backend).toBe('cpu');
    // A log target: the log-normal's mean exceeds its median, both positive.
    expect(out.median).toBeGreaterThan(0);
    expect(out.mean).toBeGreaterThan(out.median);
  });
});
