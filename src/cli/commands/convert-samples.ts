import { shows } from '../output-level.js';
import { Option, type Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { convertSamples } from '../../stages/convert-samples.js';
import type { WeightDtype } from '../../samples/index.js';
import { addBackendOption, addJsonOption, formatMetrics, printJson } from '../options.js';

export function registerConvertSamples(program: Command): void {
  const cmd = program
    .command('convert-samples')
    .description(
      "copy a teacher run with its samples stored as float16 (or float32), reporting the ensemble's test metric change",
    )
    .requiredOption('--run <name>', 'teacher run to convert (left as it is)')
    .requiredOption('--out-run <name>', 'new teacher run to write')
    .addOption(
      new Option('--sample-dtype <dtype>', 'how the new run stores the weights')
        .choices(['float16', 'float32'])
        .default('float16'),
    )
    .option('--force', 'replace an existing run named by --out-run')
    .option(
      '--allow-incomplete',
      'use the teacher run even if it is unfinished, being sampled or damaged, with a warning (recorded in the output)',
    );
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(
    async (o: {
      run: string;
      outRun: string;
      sampleDtype: WeightDtype;
      force?: boolean;
      allowIncomplete?: boolean;
      backend: BackendChoice;
      json?: boolean;
    }) => {
      const backend = await selectBackend(o.backend);
      if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
      const s = await convertSamples({
        run: o.run,
        outRun: o.outRun,
        sampleDtype: o.sampleDtype,
        force: o.force,
        allowIncomplete: o.allowIncomplete,
        log: o.json ? undefined : (line) => console.log(line),
      });
      if (o.json) return printJson(s);
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      console.log(
        `wrote run '${s.to}': ${s.samples} samples, weights ${mib(s.bytes.before)} → ${mib(s.bytes.after)} (${s.sampleDtype})`,
      );
      console.log(
        `ensemble test metrics: before ${formatMetrics(s.metrics.before)}; after ${formatMetrics(s.metrics.after)}`,
      );
      console.log(
        `change: ${Object.entries(s.metrics.change)
          .map(([k, v]) => `${k} ${v >= 0 ? '+' : ''}${v.toExponential(2)}`)
          .join(', ')}`,
      );
    },
  );
}
