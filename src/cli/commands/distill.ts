import { shows } from '../output-level.js';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { UserError } from '../../core/errors.js';
import { distillStudent, type DistillConfig } from '../../stages/distill.js';
import {
  DIRICHLET_START_TEMPERATURE,
  DISTILL_DEFAULTS,
  distillConfigFrom,
} from '../../stages/distill-config.js';
import { STUDENT_HEADS } from '../../distill/heads.js';
import { searchedStudent } from '../../stages/search.js';
import {
  addBackendOption,
  addJsonOption,
  explicitSettings,
  formatMetrics,
  parseInteger,
  parseNonNegative,
  parsePositive,
  printJson,
} from '../options.js';
import { runStage } from '../interrupt.js';
import { AUGMENTATIONS, type Augmentation } from '../../data/augment.js';

type DistillFlags = Omit<DistillConfig, 'mode' | 'temperature' | 'augment'> & {
  augment?: Augmentation;
  temperature?: number;
  mode: 'offline' | 'online';
  archFrom?: string;
  fromScratch?: boolean;
  candidate?: number;
  lrSchedule: 'constant' | 'cosine';
  run: string;
  resume?: boolean;
  force?: boolean;
  allowIncomplete?: boolean;
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
      DISTILL_DEFAULTS.arch,
    )
    .option(
      '--arch-from <run>',
      "take the student architecture from a structure-search run (bdk search), starting from the search's weights",
    )
    .option(
      '--from-scratch',
      'with --arch-from: start from a random initialization instead of the search’s weights',
    )
    .option(
      '--candidate <k>',
      'with --arch-from: take candidate k of a search run made with --candidates (1: the searched architecture)',
      parseInteger(1),
    )
    .requiredOption('--run <name>', 'run name for the student')
    .addOption(
      new Option(
        '--student-head <head>',
        'what the student predicts: softmax (classification default) or gaussian (regression default) match the ensemble’s predictive; dirichlet (classification, EnD²) and two-variance (regression) also keep its epistemic part',
      ).choices([...STUDENT_HEADS]),
    )
    .option(
      '--temperature <T>',
      `softmax temperature on teacher and student; the loss is multiplied by T² (default ${DISTILL_DEFAULTS.temperature}); with --student-head dirichlet the starting temperature, annealed to 1 over the first half of the epochs (default ${DIRICHLET_START_TEMPERATURE})`,
      parsePositive,
    )
    .addOption(
      new Option(
        '--kl-direction <d>',
        'forward = KL(teacher ‖ student) (BDK), reverse = KL(student ‖ teacher)',
      )
        .choices(['forward', 'reverse'])
        .default(DISTILL_DEFAULTS.klDirection),
    )
    .option(
      '--input-noise <sigma>',
      'Gaussian perturbation of the standardized training inputs',
      parseNonNegative,
      DISTILL_DEFAULTS.inputNoise,
    )
    .addOption(
      new Option(
        '--mode <m>',
        'offline: learn from the stored samples; online: rerun the teacher run’s chains, one student step after each teacher step, storing nothing',
      )
        .choices(['offline', 'online'])
        .default(DISTILL_DEFAULTS.mode),
    )
    .option(
      '--unlabeled-inputs <file>',
      'add the inputs of this CSV/Arrow file to D′ (feature columns by name; no labels needed)',
    )
    .option(
      '--box-samples <n>',
      'add n points drawn uniformly from the training inputs’ bounding box to D′, fresh each epoch (tabular data)',
      parseInteger(0),
      DISTILL_DEFAULTS.boxSamples,
    )
    .addOption(
      new Option(
        '--augment <kind>',
        'images: crop-flip pads by 4, crops at a random offset and mirrors half of each minibatch, for teacher and student alike (default none)',
      ).choices(AUGMENTATIONS),
    )
    .option(
      '--samples-per-batch <k>',
      'teacher samples drawn for each minibatch',
      parseInteger(1),
      DISTILL_DEFAULTS.samplesPerBatch,
    )
    .option('--epochs <e>', 'passes over the training inputs', parseInteger(1), DISTILL_DEFAULTS.epochs)
    .option('--batch-size <b>', 'minibatch size', parseInteger(1), DISTILL_DEFAULTS.batchSize)
    .option('--learning-rate <lr>', 'Adam learning rate', parsePositive, DISTILL_DEFAULTS.learningRate)
    .addOption(
      new Option(
        '--lr-schedule <s>',
        'constant, or cosine: the learning rate falls from --learning-rate to 0 over the run',
      )
        .choices(['constant', 'cosine'])
        .default(DISTILL_DEFAULTS.learningRateSchedule),
    )
    .option('--seed <n>', 'random seed', parseInteger(0), DISTILL_DEFAULTS.seed)
    .option('--resume', 'continue an interrupted run from its last finished epoch')
    .option('--force', 'replace an existing run')
    .option(
      '--allow-incomplete',
      'use the teacher run even if it is unfinished, being sampled or damaged, with a warning (recorded in the output)',
    );
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (o: DistillFlags) => {
    const backend = await selectBackend(o.backend);
    if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
    if (o.archFrom && cmd.getOptionValueSource('arch') === 'cli')
      throw new UserError('give either --arch or --arch-from, not both');
    if (o.fromScratch && !o.archFrom) throw new UserError('--from-scratch needs --arch-from RUN');
    if (o.candidate !== undefined && !o.archFrom) throw new UserError('--candidate needs --arch-from RUN');
    if (o.allowIncomplete && o.mode === 'online')
      throw new UserError(
        '--allow-incomplete is for offline distillation (online distillation reruns the chains and reads no samples)',
      );
    const config = distillConfigFrom({
      ...o,
      ...(o.archFrom
        ? await searchedStudent(o.archFrom, undefined, !o.fromScratch, o.candidate ?? 1)
        : { arch: o.arch }),
      unlabeledInputs: o.unlabeledInputs ? path.resolve(o.unlabeledInputs) : undefined,
      // On --resume only an explicit --epochs extends the run (the default must not).
      epochs: o.resume && cmd.getOptionValueSource('epochs') !== 'cli' ? 0 : o.epochs,
      learningRateSchedule: o.lrSchedule,
    });
    const result = await runStage(`distill ${o.run}`, o.json, (hooks) =>
      distillStudent(config, {
        run: o.run,
        resume: o.resume,
        explicit: explicitSettings(cmd, {
          lrSchedule: ['learningRateSchedule'],
          archFrom: ['arch', 'initialWeights'],
          fromScratch: ['initialWeights'],
          candidate: ['arch', 'initialWeights'],
        }),
        force: o.force,
        allowIncomplete: o.allowIncomplete,
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
