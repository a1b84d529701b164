import path from 'node:path';
import { UserError } from './errors.js';

/**
 * Where prepared datasets and runs land. Defaults are `datasets/` and `checkpoints/` under the
 * current working directory; `BDK_DATA_DIR` and `BDK_RUNS_DIR` override them.
 */
export function dataDir(): string {
  return path.resolve(process.env.BDK_DATA_DIR ?? 'datasets');
}

export function runsDir(): string {
  return path.resolve(process.env.BDK_RUNS_DIR ?? 'checkpoints');
}

/** Validates a dataset or run name: letters, digits, '.', '_' and '-', so it is always a safe file name. */
export function checkName(kind: 'dataset' | 'run', name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new UserError(`invalid ${kind} name '${name}': use letters, digits, '.', '_' and '-'`);
  }
  return name;
}
