#!/usr/bin/env node
/**
 * Builds the assets `bdk demo` copies into a site (run by `npm run build`, after tsc): one browser
 * bundle `dist/demo/assets/bdk-demo.js` of the page script (src/demo/page/main.ts), bdk/runtime,
 * tfjs-core and the cpu, webgl and wasm backends, minified, and the wasm backend's `.wasm` files in
 * `dist/demo/assets/wasm/`. The CLI thus needs no bundler at run time; esbuild is a devDependency.
 */
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const assets = join(root, 'dist/demo/assets');
const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];

rmSync(assets, { recursive: true, force: true });
mkdirSync(join(assets, 'wasm'), { recursive: true });
await build({
  entryPoints: [join(root, 'src/demo/page/main.ts')],
  outfile: join(assets, 'bdk-demo.js'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2020',
  minify: true,
  legalComments: 'eof',
  // The runtime's Node file reader is a dynamic import a browser never takes.
  external: ['node:*'],
  logLevel: 'warning',
});
// The package's main file lies in its dist/, next to the .wasm files.
const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
for (const f of WASM_FILES) copyFileSync(join(wasmDir, f), join(assets, 'wasm', f));
const kb = (f) => `${(statSync(join(assets, f)).size / 1024).toFixed(0)} KB`;
// On stderr: `npm pack --json` runs this build (prepare) and its stdout must stay JSON.
console.error(`demo assets: bdk-demo.js ${kb('bdk-demo.js')}, ${WASM_FILES.length} wasm files in ${assets}`);
