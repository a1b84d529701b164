import { createRequire } from 'node:module';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { computeDevice, describeDevice } from '../../backend/cuda-device.js';
import { dataDir, runsDir } from '../../core/paths.js';
import { versionOf } from '../../core/versions.js';
import { addBackendOption, addJsonOption, printJson } from '../options.js';

const require = createRequire(import.meta.url);

export function registerInfo(program: Command): void {
  const cmd = program
    .command('info')
    .description('show the compute backend, versions, SIMD support and data/run folders');
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (opts: { backend: BackendChoice; json?: boolean }) => {
    const backend = await selectBackend(opts.backend);
    const env = tf.env();
    const simd = backend.name === 'wasm' ? Boolean(await env.getAsync('WASM_HAS_SIMD_SUPPORT')) : null;
    const threads =
      backend.name === 'wasm' ? Boolean(await env.getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) : null;
    const info = {
      bdk: (require('../../../package.json') as { version: string }).version,
      backend: backend.name,
      backendPackage: backend.package,
      backendRequested: opts.backend,
      skipped: backend.skipped,
      simd,
      threads,
      versions: {
        node: process.versions.node,
        tfjs: tf.version.tfjs,
        'tfjs-backend-wasm': versionOf('@tensorflow/tfjs-backend-wasm'),
        'tfjs-node': versionOf('@tensorflow/tfjs-node'),
        'tfjs-node-gpu': versionOf('@tensorflow/tfjs-node-gpu'),
        'apache-arrow': versionOf('apache-arrow'),
      },
      device: computeDevice(),
      cpus: os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      dataDir: dataDir(),
      runsDir: runsDir(),
    };
    if (opts.json) return printJson(info);
    const v = info.versions;
    const lines = [
      describeBackend(backend, opts.backend),
      `simd: ${simd === null ? 'n/a (not wasm)' : simd ? 'on' : 'off'}${threads === null ? '' : `, threads: ${threads ? 'on' : 'off'}`}`,
      `versions: bdk ${info.bdk}, node ${v.node}, tfjs ${v.tfjs}, tfjs-backend-wasm ${v['tfjs-backend-wasm'] ?? '-'}, ` +
        `tfjs-node ${v['tfjs-node'] ?? 'not installed'}, tfjs-node-gpu ${v['tfjs-node-gpu'] ?? 'not installed'}, apache-arrow ${v['apache-arrow']}`,
      `machine: ${info.cpus} cpus, ${info.memoryGiB} GiB`,
      describeDevice(info.device),
      `data: ${info.dataDir}`,
      `runs: ${info.runsDir}`,
    ];
    for (const s of backend.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
    console.log(lines.join('\n'));
  });
}
