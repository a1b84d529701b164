import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Builds dist/ once (as `npm run build`: tsc, then the demo page's assets) so the CLI tests run the
 * same binary a user gets from `npx bdk`.
 */
export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..');
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  execFileSync(process.execPath, [path.join(root, 'scripts/build-demo.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
}
