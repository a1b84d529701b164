import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { now } from './measure.js';

export interface PipelineResult {
  pipeline: string;
  ok: boolean;
  exitCode: number | null;
  wallSeconds: number;
  /** Peak resident set size of the `bdk run` process, bytes (null when it could not be measured). */
  peakRss: number | null;
  /** How `peakRss` was measured. */
  rssMethod: string;
  /** Last lines of the child's output when it failed. */
  error?: string;
}

const GNU_TIME = '/usr/bin/time';

function vmHwm(pid: number): Promise<number | null> {
  return fs
    .readFile(`/proc/${pid}/status`, 'utf8')
    .then((s) => {
      const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(s);
      return m ? Number(m[1]) * 1024 : null;
    })
    .catch(() => null);
}

/**
 * `bdk run PIPELINE --backend B` as a child process with fresh, temporary BDK_DATA_DIR and
 * BDK_RUNS_DIR (so the prepare stage and every stage run from scratch), timed from spawn to exit.
 * Peak RSS: GNU time's "Maximum resident set size" (the kernel's maxrss of the `node` process, which
 * runs every stage in-process) when /usr/bin/time exists; otherwise VmHWM from /proc/PID/status,
 * polled every 100 ms (a lower bound: growth in the last 100 ms before exit is missed).
 */
export async function runPipeline(repoRoot: string, file: string, backend: string): Promise<PipelineResult> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bdk-bench-'));
  const timeFile = path.join(tmp, 'time.txt');
  const useTime = existsSync(GNU_TIME);
  const bdk = [path.join(repoRoot, 'bin', 'bdk.js'), 'run', file, '--backend', backend];
  const [cmd, args] = useTime
    ? [GNU_TIME, ['-v', '-o', timeFile, process.execPath, ...bdk]]
    : [process.execPath, bdk];
  const env = {
    ...process.env,
    BDK_DATA_DIR: path.join(tmp, 'datasets'),
    BDK_RUNS_DIR: path.join(tmp, 'checkpoints'),
    BDK_BACKEND: backend,
  };
  try {
    const t0 = now();
    let polled: number | null = null;
    const { code, tail } = await new Promise<{ code: number | null; tail: string }>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let tail = '';
      const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-4000));
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const timer = useTime
        ? null
        : setInterval(() => {
            void vmHwm(child.pid!).then((v) => {
              if (v !== null) polled = Math.max(polled ?? 0, v);
            });
          }, 100);
      child.on('error', reject);
      child.on('close', (c) => {
        if (timer) clearInterval(timer);
        resolve({ code: c, tail });
      });
    });
    const wallSeconds = (now() - t0) / 1000;
    let peakRss: number | null = polled;
    if (useTime) {
      const text = await fs.readFile(timeFile, 'utf8').catch(() => '');
      const m = /Maximum resident set size \(kbytes\):\s*(\d+)/.exec(text);
      peakRss = m ? Number(m[1]) * 1024 : null;
    }
    const ok = code === 0;
    return {
      pipeline: path.basename(file, '.json'),
      ok,
      exitCode: code,
      wallSeconds,
      peakRss,
      rssMethod: useTime
        ? '/usr/bin/time -v maxrss of the bdk process'
        : '/proc/PID/status VmHWM polled every 100 ms',
      ...(ok ? {} : { error: tail.trim().split('\n').slice(-5).join(' | ') }),
    };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
