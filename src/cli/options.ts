import { InvalidArgumentError, Option, type Command } from 'commander';
import { BACKENDS } from '../backend/select.js';
import { TARGET_TRANSFORMS } from '../data/target-transform.js';
import { Progress } from '../core/progress.js';
import type { LineKind } from '../core/log-line.js';
import { outputLevel, shows } from './output-level.js';

export function parseInteger(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`expected an integer, got '${value}'`);
    if (n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got ${n}`);
    return n;
  };
}

export function parseFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n < 1))
    throw new InvalidArgumentError(`expected a number between 0 and 1 (exclusive), got '${value}'`);
  return n;
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `--image-shape H,W,C`: three positive integers. */
export function parseImageShape(value: string): [number, number, number] {
  const parts = value.split(',').map((v) => v.trim());
  if (parts.length !== 3 || !parts.every((v) => /^[1-9]\d*$/.test(v)))
    throw new InvalidArgumentError(
      `expected height,width,channels (three positive integers, e.g. 32,32,3), got '${value}'`,
    );
  return parts.map(Number) as [number, number, number];
}

/** `--backend` for every command that computes with tfjs. */
export function addBackendOption(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--backend <name>',
      'compute backend; auto tries tensorflow-gpu, tensorflow, wasm, cpu in that order',
    )
      .choices(['auto', ...BACKENDS])
      .env('BDK_BACKEND')
      .default('auto'),
  );
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print machine-readable JSON on stdout');
}

/** Split options shared by `data prepare` and `data import`. */
export function addSplitOptions(cmd: Command): Command {
  return cmd
    .option('--seed <n>', 'seed of the random splits', parseInteger(0))
    .option('--splits <n>', 'number of random train/test splits (UCI protocol: 20)', parseInteger(1))
    .option(
      '--test-fraction <f>',
      'fraction of rows held out for test in each split (default 0.1)',
      parseFraction,
    )
    .option(
      '--validation-fraction <f>',
      'fraction of each training part carved out for validation',
      parseFraction,
    )
    .addOption(
      new Option(
        '--target-transform <kind>',
        "deprecated (the teacher's setting: bdk sample --target-transform): record log as the default for teachers that set none",
      ).choices(TARGET_TRANSFORMS),
    )
    .addOption(
      new Option(
        '--standardize <kind>',
        'images: per-channel z-scores each channel over the training rows; none divides pixels by 255',
      ).choices(['none', 'per-channel']),
    )
    .option('--force', 'replace an existing dataset whose content or splits differ');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function parsePositive(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0) || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}

export function parseNonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0) || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a number >= 0, got '${value}'`);
  return n;
}

/** `name value, …` with 4 decimals, for one-line metric summaries. */
export function formatMetrics(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join(', ');
}

/**
 * A progress bar (a status line now and then outside a terminal) plus a line logger that clears the
 * bar before printing and prints each line by its kind and the output level (`--verbose`, `--quiet`),
 * for long commands; with `--json` nothing is logged so stdout stays machine-readable.
 */
export function progressReporter(label: string, json?: boolean) {
  // Outside a terminal, status lines go where the log goes (stdout); --json's output stays one document.
  const progress = new Progress({
    label,
    total: 1,
    unit: 'steps',
    ...(json || outputLevel() === 'quiet' ? { mode: 'off' as const } : {}),
  });
  return {
    log: json
      ? undefined
      : (line: string, kind?: LineKind) => {
          if (!shows(kind)) return;
          progress.done();
          console.log(line);
        },
    onProgress: (step: number, total: number, info: string) => progress.setTotal(total).update(step, info),
    done: () => progress.done(),
  };
}

/**
 * The settings the user gave on the command line (not defaults), by config key: each flag's attribute
 * name, or its names in `rename` where the config stores it under others. `--resume` checks them
 * against the stored run.
 */
export function explicitSettings(cmd: Command, rename: Record<string, string[]> = {}): string[] {
  return cmd.options
    .map((o) => o.attributeName())
    .filter((k) => cmd.getOptionValueSource(k) === 'cli')
    .flatMap((k) => rename[k] ?? [k]);
}
