/** The figures of `npm run bench`: one builder per section, each relative to the yardstick, and the table. */
import type { ConvKernelResult } from './conv-kernels.js';
import type { EnsembleChildResult } from './ensemble.js';
import { round, withTarget, type Figure } from './measure.js';
import type { PipelineResult } from './pipelines.js';
import type { ChainsResult, TrainStepResult, Yardstick } from './sections.js';

export const MiB = 2 ** 20;

/** Ratio of a wall time to the time the yardstick would take for the same useful FLOPs. */
const timeRatio = (ms: number, flops: number, y: Yardstick) => ({
  value: ms / (flops / (y.gflops * 1e6)),
  meaning: 'time ÷ yardstick time for the same useful FLOPs',
});
/** Useful GFLOP/s relative to the yardstick's. */
export const efficiency = (gflops: number, y: Yardstick) => ({
  value: gflops / y.gflops,
  meaning: 'useful GFLOP/s ÷ yardstick GFLOP/s',
});

const EFFICIENCY_TARGET = { op: '>=', value: 0.6, on: 'ratio', text: 'efficiency ≥ 0.6' } as const;
/** Issue "scale": a convolutional SGLD step at 0.4 of the yardstick on wasm. */
const CONV_EFFICIENCY_TARGET = { op: '>=', value: 0.4, on: 'ratio', text: 'efficiency ≥ 0.4' } as const;

/** The time and GFLOP/s figures of one SGLD or distillation step. */
export function trainFigures(section: 'sgld' | 'distill', r: TrainStepResult, y: Yardstick): Figure[] {
  const what = section === 'sgld' ? 'SGLD step' : 'distill step';
  const key = `${section}.${r.arch}`;
  const note = `median of ${r.steps} steps; ${round(r.flops / 1e6)} MFLOP useful per step`;
  const gf: Figure = {
    key: `${key}.gflops`,
    section,
    label: `${r.arch} ${what} (batch ${r.batch}), useful`,
    value: r.gflops,
    unit: 'GFLOP/s',
    ratio: efficiency(r.gflops, y),
  };
  return [
    {
      key: `${key}.ms`,
      section,
      label: `${r.arch} ${what} (batch ${r.batch})`,
      value: r.ms,
      unit: 'ms/step',
      ratio: timeRatio(r.ms, r.flops, y),
      note,
    },
    r.arch === 'mlp-400-400'
      ? withTarget(gf, EFFICIENCY_TARGET)
      : section === 'sgld' && r.arch === 'lenet5'
        ? withTarget(gf, CONV_EFFICIENCY_TARGET)
        : gf,
  ];
}

/** What the figures with the draws made in the main thread mean. */
export const INLINE_NOTE =
  'random draws (minibatch indices, noise) made in the main thread between steps (BDK_DRAW_WORKER=0), ' +
  'instead of one step ahead by a worker thread on the other core';

/** The SGLD step with its draws made in the main thread. */
export function inlineSgldFigure(r: TrainStepResult, y: Yardstick): Figure {
  return {
    key: `sgld.${r.arch}.inlineDraws.gflops`,
    section: 'sgld',
    label: `${r.arch} SGLD step (batch ${r.batch}), useful, one thread`,
    value: r.gflops,
    unit: 'GFLOP/s',
    ratio: efficiency(r.gflops, y),
    note: `${round(r.ms)} ms/step (median of ${r.steps}); ${INLINE_NOTE}`,
  };
}

/** The SGLD step that records a sample, against the plain step. */
export function sampleStepFigure(rec: TrainStepResult, plain: TrainStepResult, y: Yardstick): Figure {
  return {
    key: `sgld.${rec.arch}.sampleStep.ms`,
    section: 'sgld',
    label: `${rec.arch} SGLD step that records a sample (thin 1)`,
    value: rec.ms,
    unit: 'ms/step',
    ratio: timeRatio(rec.ms, rec.flops, y),
    note:
      `median of ${rec.steps} steps; recording a sample (weights read back and handed to onSamples, no file ` +
      `written) costs ${round(rec.ms - plain.ms)} ms more than a plain step`,
  };
}

/** Time, GFLOP/s and peak RSS of one ensemble prediction (S samples). */
export function ensembleFigures(r: EnsembleChildResult, y: Yardstick): Figure[] {
  const scale = r.samples / r.timedSamples;
  const scaled = scale !== 1;
  const key = `ensemble.S${r.samples}`;
  const label = `mlp-400-400 ensemble, S = ${r.samples}, ${r.requestedInputs} inputs`;
  const timeFig: Figure = {
    key: `${key}.seconds`,
    section: 'ensemble',
    label: scaled ? `${label} (scaled ×${round(scale)} from ${r.timedSamples} samples)` : label,
    value: (r.ms / 1000) * scale,
    unit: scaled ? 's (scaled)' : 's',
    ratio: timeRatio(r.ms, r.flops, y),
    note:
      `${round(r.flops / 1e9)} GFLOP timed: ${r.timedSamples} samples over ${r.inputs} inputs (calibration: ${round(r.calibrationGflops)} ` +
      `GFLOP/s); samples streamed in chunks of ${r.chunkRows} (${round(r.generateMs)} ms spent copying the ` +
      `synthetic weights, excluded)`,
  };
  const gf = withTarget(
    {
      key: `${key}.gflops`,
      section: 'ensemble',
      label: `mlp-400-400 ensemble, S = ${r.samples}, forward`,
      value: r.gflops,
      unit: 'GFLOP/s',
      ratio: efficiency(r.gflops, y),
    },
    EFFICIENCY_TARGET,
  );
  const rssFig: Figure = {
    key: `${key}.peakRss`,
    section: 'ensemble',
    label: `mlp-400-400 ensemble, S = ${r.samples}, peak RSS of the process`,
    value: r.peakRss / MiB,
    unit: 'MiB',
    note:
      `RSS ${round(r.rssBefore / MiB)} MiB before the timed prediction (after the warm-up); all ` +
      `${r.inputs} inputs, ${r.timedSamples} of ${r.samples} samples streamed`,
  };
  return [
    timeFig,
    gf,
    r.samples === 1000 ? withTarget(rssFig, { op: '<', value: 2048, on: 'value', text: '< 2 GiB' }) : rssFig,
  ];
}

/** Chain-steps per second per chain count, and the speed-ups over one chain. */
export function chainFigures(rs: ChainsResult[], y: Yardstick): Figure[] {
  const figs: Figure[] = rs.map((r) => ({
    key: `chains.C${r.chains}.chainStepsPerSecond`,
    section: 'chains',
    label: `mlp-50 Boston-shaped (batch 32), C = ${r.chains} chains`,
    value: r.chainStepsPerSecond,
    unit: 'chain-steps/s',
    ratio: efficiency(r.gflops, y),
    note:
      `${round(r.ms)} ms per vectorized step (median of ${r.steps}); ` +
      `${round(r.flopsPerChainStep / 1e3)} kFLOP useful per chain-step`,
  }));
  const one = rs.find((r) => r.chains === 1);
  if (one) {
    for (const r of rs) {
      if (r.chains === 1) continue;
      const f: Figure = {
        key: `chains.speedup.C${r.chains}`,
        section: 'chains',
        label: `chain-steps/s, C = ${r.chains} ÷ C = 1`,
        value: r.chainStepsPerSecond / one.chainStepsPerSecond,
        unit: '×',
      };
      figs.push(r.chains === 32 ? withTarget(f, { op: '>=', value: 10, on: 'value', text: '≥ 10×' }) : f);
    }
  }
  return figs;
}

/** Wall time and peak RSS of one `bdk run` pipeline. */
export function pipelineFigures(r: PipelineResult, y: Yardstick): Figure[] {
  const figs: Figure[] = [
    {
      key: `pipelines.${r.pipeline}.wallSeconds`,
      section: 'pipelines',
      label: `bdk run pipelines/${r.pipeline}.json, wall time${r.ok ? '' : ` (FAILED, exit ${r.exitCode})`}`,
      value: r.wallSeconds,
      unit: 's',
      ratio: {
        value: (r.wallSeconds * 1000) / y.ms,
        meaning: 'wall time in yardstick matMuls (wall ÷ yardstick ms)',
      },
      note: r.ok ? 'fresh BDK_DATA_DIR / BDK_RUNS_DIR: every stage from prepare to export' : r.error,
    },
  ];
  if (r.peakRss !== null)
    figs.push({
      key: `pipelines.${r.pipeline}.peakRss`,
      section: 'pipelines',
      label: `bdk run pipelines/${r.pipeline}.json, peak RSS`,
      value: r.peakRss / MiB,
      unit: 'MiB',
      note: r.rssMethod,
    });
  return figs;
}

const fmt = (x: number) =>
  Number.isFinite(x) ? round(x).toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(x);

/** The figures as a Markdown table (value and ratio columns right-aligned). */
export function table(figs: Figure[]): string {
  const rows = [
    ['figure', 'value', 'unit', 'vs yardstick', 'target', 'pass'],
    ...figs.map((f) => [
      f.label,
      fmt(f.value),
      f.unit,
      f.ratio ? fmt(f.ratio.value) : '–',
      f.target?.text ?? '',
      f.pass === undefined ? '' : f.pass ? 'yes' : 'NO',
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => [...r[i]].length)));
  const pad = (c: string, i: number) => {
    const fill = ' '.repeat(widths[i] - [...c].length);
    return i === 1 || i === 3 ? fill + c : c + fill;
  };
  const line = (r: string[]) => `| ${r.map(pad).join(' | ')} |`;
  return [
    line(rows[0]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

/** One figure per conv kernel of section `conv`: GFLOP/s against the yardstick, or ms for the pooling gradient. */
export function convKernelFigures(rs: ConvKernelResult[], y: Yardstick): Figure[] {
  return rs.map((r) => {
    // The `student …` cases are the searched MNIST student's first layers; the others lenet5's.
    const model = r.name.startsWith('student') ? 'searched MNIST' : 'lenet5';
    const base = {
      key: `conv.${r.name.split(' (')[0].replace(/ /g, '-')}`,
      section: 'conv',
      note: `${r.kernel}, ${model} shapes (2×2 max pooling for the pool), batch 64; median of ${r.repeats} repeats`,
    };
    return r.flops > 0
      ? {
          ...base,
          key: `${base.key}.gflops`,
          label: `${model} ${r.name} (${r.kernel})`,
          value: r.gflops,
          unit: 'GFLOP/s',
          ratio: efficiency(r.gflops, y),
        }
      : {
          ...base,
          key: `${base.key}.ms`,
          label: `${model} ${r.name} (${r.kernel})`,
          value: r.ms,
          unit: 'ms',
        };
  });
}
