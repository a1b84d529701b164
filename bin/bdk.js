#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run automatically by npm install/ci).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('bdk: not built yet (dist/cli/main.js missing); run `npm run build` in the bdk folder');
  process.exit(1);
}
await import(entry.href);
