/**
 * `npm run bench`: the performance benchmark of bdk's hot paths on the selected backend, every figure
 * also relative to a raw-matMul yardstick measured in the same run. Not part of the tests or CI.
 * Compiled by tsconfig.bench.json into dist/bench/ (see package.json); `--help` lists the flags.
 */
import { existsSync, readFileSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, requestedBackend, selectBackend, type BackendInfo } from '../src/backend/select.js';
import { BACKEND_BATCH_MATMUL } from '../src/backend/wasm-matmul.js';
import { messageOf } from '../src/core/errors.js';
import { versionOf } from '../src/core/versions.js';
import { convKernels } from './conv-kernels.js';
import { CHILD_MARK, ensembleChild, runEnsembleChild, type EnsembleChildResult } from './ensemble.js';
import {
  INLINE_NOTE,
  MiB,
  chainFigures,
  convKernelFigures,
  efficiency,
  ensembleFigures,
  inlineSgldFigure,
  pipelineFigures,
  sampleStepFigure,
  table,
  trainFigures,
} from './figures.js';
import { round, type Figure } from './measure.js';
import { HELP, numberList, parseOptions, seconds } from './options.js';
import { runPipeline, type PipelineResult } from './pipelines.js';
import { serveFigures, serveModel, type ServeModelResult } from './serve.js';
import { bostonModel, mnistModel } from './serve-exports.js';
import {
  chainsStep,
  distillStep,
  sgldStep,
  yardstick,
  type Budget,
  type ChainsResult,
  type TrainStepResult,
} from './sections.js';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'bdk')
      return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the bdk package root');
    dir = up;
  }
}

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** Runs `f` with the sampler's draws made in the main thread (no prefetching worker). */
async function drawsInline<T>(f: () => Promise<T>): Promise<T> {
  const saved = process.env.BDK_DRAW_WORKER;
  process.env.BDK_DRAW_WORKER = '0';
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.BDK_DRAW_WORKER;
    else process.env.BDK_DRAW_WORKER = saved;
  }
}

async function backendDetails(info: BackendInfo) {
  const env = tf.env();
  const wasm = info.name === 'wasm';
  return {
    name: info.name,
    package: info.package,
    skipped: info.skipped,
    simd: wasm ? Boolean(await env.getAsync('WASM_HAS_SIMD_SUPPORT')) : null,
    threads: wasm ? Boolean(await env.getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) : null,
  };
}

async function main(): Promise<void> {
  const o = parseOptions();
  if (o.help) {
    console.log(HELP);
    return;
  }
  if (o.child === 'ensemble') {
    await selectBackend(requestedBackend(o.backend));
    const r = await ensembleChild(
      numberList('--samples', o.samples ?? '')[0],
      numberList('--inputs', o.inputs ?? '')[0],
      seconds('--max-seconds', o['max-seconds'] ?? '0'),
    );
    process.stdout.write(`${CHILD_MARK}${JSON.stringify(r)}\n`);
    return;
  }
  const root = repoRoot();
  const choice = requestedBackend(o.backend);
  const info = await selectBackend(choice);
  log(describeBackend(info, choice));
  const budget: Budget = o.quick ? { budgetMs: 1000, minRepeats: 5 } : { budgetMs: 3000, minRepeats: 10 };
  const loadStart = os.loadavg();
  const started = new Date();
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};

  // On wasm, tf.matMul runs bdk's own kernel; the yardstick stays the backend's (XNNPACK) kernel.
  const ownKernel = tf.getKernel(BACKEND_BATCH_MATMUL, tf.getBackend()) !== undefined;
  const yardstickKernel = ownKernel ? BACKEND_BATCH_MATMUL : 'BatchMatMul';
  const yardstickWhat = ownKernel ? `the backend's own kernel (${BACKEND_BATCH_MATMUL})` : 'tf.matMul';
  log(`yardstick: 512×512×512 matMul, ${yardstickWhat}`);
  const y = await yardstick(budget, 512, 1, yardstickKernel);
  raw.yardstick = y;
  figures.push(
    {
      key: 'yardstick.gflops',
      section: 'yardstick',
      label: `yardstick: ${y.n}×${y.n}×${y.n} matMul`,
      value: y.gflops,
      unit: 'GFLOP/s',
      ratio: { value: 1, meaning: 'the yardstick itself' },
      note: `median of ${y.repeats} repeats; ${yardstickWhat}`,
    },
    {
      key: 'yardstick.ms',
      section: 'yardstick',
      label: `yardstick: ${y.n}×${y.n}×${y.n} matMul, time`,
      value: y.ms,
      unit: 'ms',
      ratio: { value: 1, meaning: 'the yardstick itself' },
    },
  );
  log(`  ${round(y.gflops)} GFLOP/s (${round(y.ms)} ms per product)`);
  log('yardstick: batched matMul, 4 × 512×512×512');
  const yb = await yardstick(budget, 512, 4, yardstickKernel);
  raw.batchedYardstick = yb;
  figures.push({
    key: 'yardstick.batched4.gflops',
    section: 'yardstick',
    label: `batched matMul [4, ${yb.n}, ${yb.n}]·[4, ${yb.n}, ${yb.n}]`,
    value: yb.gflops,
    unit: 'GFLOP/s',
    ratio: efficiency(yb.gflops, y),
    note: `median of ${yb.repeats} repeats; ${yardstickWhat}; the form of the vectorized chains' and the ensemble's products`,
  });
  log(`  ${round(yb.gflops)} GFLOP/s`);
  if (ownKernel) {
    // The same two products through tf.matMul, i.e. bdk's SIMD kernel (src/backend/wasm-matmul.ts).
    const [ours, oursBatched] = [await yardstick(budget), await yardstick(budget, 512, 4)];
    raw.bdkKernel = { plain: ours, batched: oursBatched };
    for (const [key, r, label] of [
      ['yardstick.bdk.gflops', ours, `bdk's wasm kernel: ${ours.n}×${ours.n}×${ours.n} matMul`],
      [
        'yardstick.bdk.batched4.gflops',
        oursBatched,
        `bdk's wasm kernel: batched [4, 512, 512]·[4, 512, 512]`,
      ],
    ] as const) {
      figures.push({
        key,
        section: 'yardstick',
        label,
        value: r.gflops,
        unit: 'GFLOP/s',
        ratio: efficiency(r.gflops, y),
        note: `median of ${r.repeats} repeats; tf.matMul, which every bdk product uses on wasm`,
      });
      log(`  ${label}: ${round(r.gflops)} GFLOP/s`);
    }
  }

  for (const section of ['sgld', 'distill'] as const) {
    if (!o.sections.has(section)) continue;
    const rs: TrainStepResult[] = [];
    for (const [arch, batch] of [
      ['mlp-400-400', 100],
      ['lenet5', 64],
      ['vgg-small', 32],
    ] as const) {
      log(`${section}: ${arch}, batch ${batch}`);
      const r =
        section === 'sgld' ? await sgldStep(arch, batch, budget) : await distillStep(arch, batch, budget);
      log(`  ${round(r.ms)} ms/step, ${round(r.gflops)} GFLOP/s useful`);
      rs.push(r);
      figures.push(...trainFigures(section, r, y));
      if (section === 'sgld' && arch === 'mlp-400-400') {
        log(`sgld: ${arch}, batch ${batch}, recording a sample at every step`);
        const rec = await sgldStep(arch, batch, { ...budget, recordSamples: true });
        log(`  ${round(rec.ms)} ms/step`);
        rs.push(rec);
        figures.push(sampleStepFigure(rec, r, y));
        log(`sgld: ${arch}, batch ${batch}, draws in the main thread`);
        const one = await drawsInline(() => sgldStep(arch, batch, budget));
        log(`  ${round(one.ms)} ms/step`);
        rs.push({ ...one, inlineDraws: true } as TrainStepResult);
        figures.push(inlineSgldFigure(one, y));
      }
    }
    raw[section] = rs;
  }

  if (o.sections.has('conv')) {
    log('conv: the convolution kernels of a lenet5 step, batch 64, each timed alone');
    const rs = await convKernels(budget);
    for (const r of rs) log(`  ${r.name}: ${round(r.ms)} ms${r.flops ? `, ${round(r.gflops)} GFLOP/s` : ''}`);
    raw.conv = rs;
    figures.push(...convKernelFigures(rs, y));
  }

  if (o.sections.has('ensemble')) {
    const script = fileURLToPath(import.meta.url);
    const rs: EnsembleChildResult[] = [];
    const cap = o.ensembleMaxSeconds;
    for (const s of o.ensembleSamples) {
      log(
        `ensemble: S = ${s}, ${o.ensembleInputs} inputs, in a child process` +
          (Number.isFinite(cap) ? ` (timed part capped at about ${cap} s)` : ''),
      );
      const r = await runEnsembleChild(script, info.name, s, o.ensembleInputs, cap);
      log(
        `  ${round(r.ms / 1000)} s for ${r.timedSamples} samples over ${r.inputs} inputs, ${round(r.gflops)} GFLOP/s, ` +
          `peak RSS ${round(r.peakRss / MiB)} MiB`,
      );
      rs.push(r);
      figures.push(...ensembleFigures(r, y));
      if (r.timedSamples !== r.samples)
        notes.push(
          `ensemble S = ${r.samples}: all ${r.samples} samples would have taken longer than the ${cap} s ` +
            `cap, so the first ${r.timedSamples} were timed over all ${r.inputs} inputs and the time scaled ` +
            `×${round(r.samples / r.timedSamples)} (the work is linear in the samples, and every product keeps its ` +
            `real shape); GFLOP/s and peak RSS are as measured`,
        );
    }
    raw.ensemble = rs;
  }

  if (o.sections.has('chains')) {
    const rs: ChainsResult[] = [];
    for (const c of o.chainCounts) {
      log(`chains: mlp-50, C = ${c}`);
      const r = await chainsStep(c, budget);
      log(`  ${round(r.ms)} ms/step, ${round(r.chainStepsPerSecond)} chain-steps/s`);
      rs.push(r);
    }
    raw.chains = rs;
    figures.push(...chainFigures(rs, y));
    const c32 = rs.find((r) => r.chains === 32);
    const c1 = rs.find((r) => r.chains === 1);
    if (c32 && c1) {
      log('chains: mlp-50, C = 32, draws in the main thread');
      const r = await drawsInline(() => chainsStep(32, budget));
      log(`  ${round(r.ms)} ms/step, ${round(r.chainStepsPerSecond)} chain-steps/s`);
      raw.chainsInlineDraws = r;
      figures.push({
        key: 'chains.speedup.C32.inlineDraws',
        section: 'chains',
        label: 'chain-steps/s, C = 32 ÷ C = 1, one thread',
        value: r.chainStepsPerSecond / c1.chainStepsPerSecond,
        unit: '×',
        note: `C = 32: ${round(r.chainStepsPerSecond)} chain-steps/s, ${round(r.ms)} ms per step; ${INLINE_NOTE}`,
      });
    }
  }

  if (o.sections.has('pipelines')) {
    const rs: PipelineResult[] = [];
    for (const p of ['pipelines/boston-quick.json', 'pipelines/mnist-quick.json']) {
      log(`pipelines: bdk run ${p} (child process, temporary data and runs folders)`);
      const r = await runPipeline(root, p, info.name);
      log(
        `  ${r.ok ? 'ok' : `FAILED (exit ${r.exitCode}): ${r.error}`}, ${round(r.wallSeconds)} s, ` +
          `peak RSS ${r.peakRss === null ? '?' : `${round(r.peakRss / MiB)} MiB`}`,
      );
      rs.push(r);
      figures.push(...pipelineFigures(r, y));
    }
    raw.pipelines = rs;
  }

  if (o.sections.has('serve')) {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bdk-bench-serve-'));
    try {
      const rs: ServeModelResult[] = [];
      for (const model of [
        await bostonModel(tmp, o['serve-boston-export']),
        await mnistModel(tmp, o['serve-mnist-export']),
      ]) {
        log(`serve: bdk serve in a child process (${model.what}), autocannon, ${o.serveSeconds} s per case`);
        const r = await serveModel(root, model, info.name, o.serveSeconds, log);
        rs.push(r);
        figures.push(...serveFigures(r));
      }
      raw.serve = rs;
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  notes.push(
    'vs yardstick: GFLOP/s and chain-steps/s rows give useful GFLOP/s ÷ yardstick GFLOP/s (efficiency, higher ' +
      'is better); time rows give time ÷ the time the yardstick would need for the same useful FLOPs (lower is ' +
      'better); pipeline wall times give the number of yardstick matMuls that fit in the same time',
    'useful FLOPs: 2 per multiply-accumulate of the dense and conv layers: forward, every kernel gradient, and ' +
      'the input gradient of layers whose input depends on parameters; bias, activation, pooling, softmax, ' +
      'sampler and optimizer updates are not counted',
  );

  const targets = figures.filter((f) => f.target);
  const machine = {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    totalMemoryBytes: os.totalmem(),
    totalMemoryGiB: round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: loadStart.map((v) => round(v)),
    loadAverageAtEnd: os.loadavg().map((v) => round(v)),
  };
  const backend = { requested: choice, ...(await backendDetails(info)) };
  const results = {
    format: 'bdk-bench',
    version: 1,
    timestamp: started.toISOString(),
    seconds: round((Date.now() - started.getTime()) / 1000),
    machine,
    backend,
    versions: {
      ...tf.version,
      'tfjs-backend-wasm': versionOf('@tensorflow/tfjs-backend-wasm'),
      'tfjs-node': versionOf('@tensorflow/tfjs-node'),
      'tfjs-node-gpu': versionOf('@tensorflow/tfjs-node-gpu'),
    },
    options: {
      sections: [...o.sections],
      quick: o.quick,
      ensembleInputs: o.ensembleInputs,
      ensembleMaxSeconds: Number.isFinite(o.ensembleMaxSeconds) ? o.ensembleMaxSeconds : null,
      ensembleSamples: o.ensembleSamples,
      chains: o.chainCounts,
      serveSeconds: o.serveSeconds,
      timedBudgetMs: budget.budgetMs,
      minRepeats: budget.minRepeats,
    },
    summary: { targets: targets.length, passed: targets.filter((f) => f.pass).length },
    figures: figures.map((f) => ({
      ...f,
      value: round(f.value, 5),
      ratio: f.ratio && { ...f.ratio, value: round(f.ratio.value, 5) },
    })),
    notes,
    raw,
  };
  const out = o.out ? path.resolve(o.out) : path.join(root, 'bench', 'results.json');
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, JSON.stringify(results, null, 2) + '\n');

  const wasm =
    info.name === 'wasm'
      ? ` (SIMD ${backend.simd ? 'on' : 'off'}, threads ${backend.threads ? 'on' : 'off'})`
      : '';
  console.log(
    `bdk bench ${results.timestamp}: backend ${info.name}${wasm}, node ${process.version}, tfjs ${tf.version.tfjs}, ` +
      `${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemoryGiB} GiB, ` +
      `load average ${machine.loadAverageAtStart[0]} → ${machine.loadAverageAtEnd[0]}\n`,
  );
  console.log(table(figures));
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  console.log(`\ntargets met: ${results.summary.passed} of ${results.summary.targets}; results in ${out}`);
}

main().catch((err: unknown) => {
  const e = err as Error;
  process.stderr.write(`bench: ${process.env.BDK_DEBUG ? (e?.stack ?? messageOf(err)) : messageOf(err)}\n`);
  process.exitCode = 1;
});
