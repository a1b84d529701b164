import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');

export async function tempDir(prefix = 'bdk-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `bdk` binary with a clean environment pointing data and runs at `env` folders. */
export function bdk(args: string[], env: Record<string, string> = {}, cwd = ROOT): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/bdk.js'), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...withoutBackend(process.env), ...env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A user-facing error: exactly one line on stderr, prefixed `bdk:`, no stack trace. */
export function expectOneLineError(r: CliResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  if (lines.length !== 1 || !lines[0].startsWith('bdk: ') || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected one 'bdk:' error line, got:\n${r.stderr}`);
  }
  return lines[0];
}

function withoutBackend(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { BDK_BACKEND: _drop, ...rest } = env;
  return rest;
}
