import { createRequire } from 'node:module';
import path from 'node:path';
import { UserError } from '../../core/errors.js';

const require = createRequire(import.meta.url);

/** Absolute path of a file shipped inside an installed npm package. */
export function packageFile(pkg: string, relative: string): string {
  let root: string;
  try {
    root = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new UserError(`the package ${pkg} is not installed; run \`npm install\` in the bdk folder`);
  }
  return path.join(root, relative);
}
