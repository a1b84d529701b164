import { shows } from '../output-level.js';
import { Option, type Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import type { Quantization } from '../../export/quantize.js';
import { exportStudent } from '../../stages/export.js';
import { predictFile, toCsv, writePredictions } from '../../stages/predict.js';
import { addBackendOption, addJsonOption, printJson } from '../options.js';

export function registerExport(program: Command): void {
  const exp = program
    .command('export')
    .description(
      'export a distilled student as a TensorFlow.js LayersModel (model.json + weights) with a bdk.json manifest',
    )
    .requiredOption('--run <name>', 'student run (from bdk distill)')
    .requiredOption('--out <dir>', 'output folder')
    .addOption(
      new Option('--quantize <q>', 'weight quantization; the manifest records the measured metric change')
        .choices(['none', 'float16', 'uint8'])
        .default('none'),
    )
    .option('--force', 'replace an existing export in the folder');
  addBackendOption(exp);
  addJsonOption(exp);
  exp.action(
    async (o: {
      run: string;
      out: string;
      quantize: Quantization;
      force?: boolean;
      backend: BackendChoice;
      json?: boolean;
    }) => {
      const backend = await selectBackend(o.backend);
      if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
      const { dir, manifest } = await exportStudent({
        run: o.run,
        out: o.out,
        quantize: o.quantize,
        force: o.force,
      });
      if (o.json) return printJson(manifest);
      const fmt = (r: Record<string, number>) =>
        Object.entries(r)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(', ');
      console.log(
        `wrote ${dir} (${manifest.student.parameterCount} parameters, ${manifest.bytes} bytes of ${manifest.quantization === 'none' ? 'float32' : manifest.quantization} weights)`,
      );
      console.log(
        `test metrics: float32 ${fmt(manifest.metrics.float32)}; exported ${fmt(manifest.metrics.exported)}`,
      );
    },
  );

  const pred = program
    .command('predict')
    .description(
      'predict with uncertainty from an exported model: regression mean and sd; classification probabilities and entropy',
    )
    .requiredOption('--model <dir>', 'folder written by bdk export')
    .requiredOption(
      '--input <file>',
      'a .csv with a header row or an Arrow file, holding the feature columns',
    )
    .option('--output <file>', 'write CSV here instead of stdout')
    .option('--force', 'replace an existing output file');
  addBackendOption(pred);
  addJsonOption(pred);
  pred.action(
    async (o: {
      model: string;
      input: string;
      output?: string;
      force?: boolean;
      backend: BackendChoice;
      json?: boolean;
    }) => {
      await selectBackend(o.backend);
      const p = await predictFile(o.model, o.input);
      if (o.output) {
        await writePredictions(o.output, p, o.force);
        if (!o.json) console.log(`wrote ${p.rows.length} predictions to ${o.output}`);
        return;
      }
      if (o.json) return printJson(p.rows.map((r) => Object.fromEntries(p.columns.map((c, j) => [c, r[j]]))));
      process.stdout.write(toCsv(p));
    },
  );
}
