import path from 'node:path';
import { Option, type Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { UserError } from '../../core/errors.js';
import { distillStudent, learningRateScheduleField, type DistillConfig } from '../../stages/distill.js';
import { searchedArchPath } from '../../stages/search.js';
import {
  addBackendOption,
  addJsonOption,
  formatMetrics,
  parseInteger,
  parseNonNegative,
  parsePositive,
  printJson,
} from '../options.js';
import { runStage } from '../interrupt.js';

type DistillFlags = Omit<DistillConfig, 'mode'> & {
  mode: 'offline' | 'online';
  archFrom?: string;
  lrSchedule: 'constant' | 'cosine';
  run: string;
  resume?: boolean;
  force?: boolean;
  backend: BackendChoice;
  json?: boolean;
};

export function registerDistill(program: Command): void {
  const cmd = program
    .command('distill')
    .description(
      "distill a teacher run's posterior samples into one student network (offline Bayesian dark knowledge)",
    )
    .requiredOption('--teacher <run>', 'teacher run (from bdk sample)')
    .option(
      '--arch <arch>',
      'student architecture: a built-in name or a spec .json file (regression students get mean and log-variance heads)',
      'mlp-50',
    )
    .option('--arch-from <run>', 'take the student architecture from a structure-search run (bdk search)')
    .requiredOption('--run <name>', 'run name for the student')
    .option(
      '--temperature <T>',
      'softmax temperature on teacher and student; the loss is multiplied by T²',
      parsePositive,
      1,
    )
    .addOption(
      new Option(
        '--kl-direction <d>',
        'forward = KL(teacher ‖ student) (BDK), reverse = KL(student ‖ teacher)',
      )
        .choices(['forward', 'reverse'])
        .default('forward'),
    )
    .option(
      '--input-noise <sigma>',
      'Gaussian perturbation of the standardized training inputs',
      parseNonNegative,
      0,
    )
    .addOption(
      new Option(
        '--mode <m>',
        'offline: learn from the stored samples; online: rerun the teacher run’s chains, one student step after each teacher step, storing nothing',
      )
        .choices(['offline', 'online'])
        .default('offline'),
    )
    .option(
      '--unlabeled-inputs <file>',
      'add the inputs of this CSV/Arrow file to D′ (feature columns by name; no labels needed)',
    )
    .option(
      '--box-samples <n>',
      'add n points drawn uniformly from the training inputs’ bounding box to D′, fresh each epoch (tabular data)',
      parseInteger(0),
      0,
    )
    .option('--samples-per-batch <k>', 'teacher samples drawn for each minibatch', parseInteger(1), 1)
    .option('--epochs <e>', 'passes over the training inputs', parseInteger(1), 50)
    .option('--batch-size <b>', 'minibatch size', parseInteger(1), 32)
    .option('--learning-rate <lr>', 'Adam learning rate', parsePositive, 1e-3)
    .addOption(
      new Option(
        '--lr-schedule <s>',
        'constant, or cosine: the learning rate falls from --learning-rate to 0 over the run',
      )
        .choices(['constant', 'cosine'])
        .default('constant'),
    )
    .option('--seed <n>', 'random seed', parseInteger(0), 0)
    .option('--resume', 'continue an interrupted run from its last finished epoch')
    .option('--force', 'replace an existing run');
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (o: DistillFlags) => {
    const backend = await selectBackend(o.backend);
    if (!o.json) console.log(describeBackend(backend, o.backend));
    if (o.archFrom && cmd.getOptionValueSource('arch') === 'cli')
      throw new UserError('give either --arch or --arch-from, not both');
    const config: DistillConfig = {
      teacher: o.teacher,
      arch: o.archFrom ? await searchedArchPath(o.archFrom) : o.arch,
      temperature: o.temperature,
      klDirection: o.klDirection,
      inputNoise: o.inputNoise,
      samplesPerBatch: o.samplesPerBatch,
      ...(o.mode === 'online' ? { mode: 'online' as const } : {}),
      ...(o.unlabeledInputs ? { unlabeledInputs: path.resolve(o.unlabeledInputs) } : {}),
      ...(o.boxSamples ? { boxSamples: o.boxSamples } : {}),
      // On --resume only an explicit --epochs extends the run (the default must not).
      epochs: o.resume && cmd.getOptionValueSource('epochs') !== 'cli' ? 0 : o.epochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      ...learningRateScheduleField(o.lrSchedule),
      seed: o.seed,
    };
    const result = await runStage(`distill ${o.run}`, o.json, (hooks) =>
      distillStudent(config, {
        run: o.run,
        resume: o.resume,
        force: o.force,
        ...hooks,
      }),
    );
    if (!result) return;
    const s = result.summary!;
    if (o.json) return printJson(s);
    const m = formatMetrics(s.metrics);
    console.log(`student ${s.arch} (${s.parameterCount} parameters) on the test split: ${m}`);
    console.log(`wrote ${result.runDir} in ${s.seconds.toFixed(1)} s`);
  });
}
