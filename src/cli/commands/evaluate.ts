import { shows } from '../output-level.js';
import type { Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { evaluateRun, reportMarkdown } from '../../stages/evaluate.js';
import { addBackendOption, addJsonOption, parseInteger, printJson, progressReporter } from '../options.js';
import { withInterrupt } from '../interrupt.js';
import { parseOod, parseShift, type ShiftSpec } from '../../eval/image-shift.js';

export function registerEvaluate(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description(
      'compare MAP network, one posterior sample, the ensemble and the student on the test split; writes report.json and report.md',
    )
    .requiredOption('--run <name>', 'student run (from bdk distill)')
    .option(
      '--map-epochs <n>',
      'epochs of the single SGD/MAP baseline network (0 skips it)',
      parseInteger(0),
      100,
    )
    .option('--latency-runs <n>', 'repetitions of each latency measurement', parseInteger(1), 20)
    .option('--no-plots', 'do not write the SVG plots')
    .option(
      '--shift <kind:values>',
      'also evaluate under shift: rotate:ANGLES (images, degrees) or noise:SCALES (tabular, standard deviations), comma-separated',
      parseShift,
    )
    .option(
      '--ood <sets>',
      'also score OOD detection against these sets: permute, invert, noise (images) or prepared dataset names, comma-separated',
      parseOod,
    )
    .option(
      '--allow-incomplete',
      'use the teacher run even if it is unfinished, being sampled or damaged, with a warning (recorded in the output)',
    );
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(
    async (o: {
      run: string;
      mapEpochs: number;
      latencyRuns: number;
      plots: boolean;
      allowIncomplete?: boolean;
      shift?: ShiftSpec;
      ood?: string[];
      backend: BackendChoice;
      json?: boolean;
    }) => {
      const backend = await selectBackend(o.backend);
      if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
      const progress = progressReporter(`evaluate ${o.run}`, o.json);
      const report = await withInterrupt((signal) =>
        evaluateRun({
          run: o.run,
          mapEpochs: o.mapEpochs,
          latencyRuns: o.latencyRuns,
          plots: o.plots,
          allowIncomplete: o.allowIncomplete,
          shift: o.shift,
          ood: o.ood,
          signal,
          log: progress.log,
          onProgress: progress.onProgress,
        }),
      );
      progress.done();
      if (o.json) return printJson(report);
      process.stdout.write(reportMarkdown(report));
    },
  );
}
