import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from '../helpers.js';

/** The command the emitted scripts run as `$BDK`: this checkout's CLI. */
export const BDK = `${process.execPath} ${path.join(ROOT, 'bin/bdk.js')}`;

/** boston-quick named `name` on `splits`, with the teacher settings and epochs given, so the runs stay quick. */
export async function writeQuickPipeline(
  file: string,
  o: {
    name: string;
    splits: number[];
    teacher: Record<string, number>;
    searchEpochs: number;
    distillEpochs: number;
  },
): Promise<void> {
  const c = JSON.parse(await fs.readFile(path.join(ROOT, 'pipelines/boston-quick.json'), 'utf8'));
  c.name = o.name;
  c.dataset.use = o.splits;
  Object.assign(c.teacher, o.teacher);
  c.search.epochs = o.searchEpochs;
  c.distillation.epochs = o.distillEpochs;
  await fs.writeFile(file, JSON.stringify(c, null, 2));
}

/** Pipeline `name`'s report.json without the measured latencies. */
export async function reportWithoutLatency(runsDir: string, name: string): Promise<Record<string, unknown>> {
  const r = JSON.parse(await fs.readFile(path.join(runsDir, name, 'report.json'), 'utf8'));
  for (const m of Object.values(r.models) as Record<string, unknown>[]) delete m.latencyMs;
  return r as Record<string, unknown>;
}

/** Runs a shell script (an emitted batch script or a pod's command), expecting exit code 0. */
export function sh(shell: string, args: string[], env: Record<string, string>) {
  const r = spawnSync(shell, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  expect(r.status, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

/** A pod's environment with its volume (/work) and ConfigMap (/pipeline) mounted at local folders. */
export function podEnv(
  job: { spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } },
  work: string,
  mounted: string,
): Record<string, string> {
  return Object.fromEntries(
    job.spec.template.spec.containers[0].env.map((e) => [
      e.name,
      e.value.replace(/^\/work/, work).replace(/^\/pipeline/, mounted),
    ]),
  );
}
