import { shows } from '../output-level.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { parseSchedule } from '../../teacher/schedule.js';
import { UserError } from '../../core/errors.js';
import { sampleTeacher } from '../../stages/sample.js';
import { SAMPLE_DEFAULTS, sampleConfigFrom, type SampleConfig } from '../../stages/sample-config.js';
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
import { TARGET_TRANSFORMS, type TargetTransform } from '../../data/target-transform.js';

function parseGammaPrior(value: string): { shape: number; rate: number } {
  const [a, b] = value.split(',').map(Number);
  if (!(a > 0 && b > 0))
    throw new InvalidArgumentError(`expected SHAPE,RATE of two positive numbers, got '${value}'`);
  return { shape: a, rate: b };
}

function parseScheduleOption(value: string) {
  try {
    return parseSchedule(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Parsed flags: the config's fields (step size and τ optional) plus the run's options. */
type SampleFlags = Omit<SampleConfig, 'stepSize' | 'noisePrecision' | 'augment' | 'targetTransform'> & {
  augment?: Augmentation;
  targetTransform?: TargetTransform;
  stepSize?: number;
  noisePrecision?: number;
  chainOffset: number;
  run: string;
  resume?: boolean;
  force?: boolean;
  strictDiagnostics?: boolean;
  backend: BackendChoice;
  json?: boolean;
};

export function registerSample(program: Command): void {
  const cmd = program
    .command('sample')
    .description(
      'sample a teacher posterior with SG-MCMC (SGLD, pSGLD, SGHMC) or MC dropout into checkpoints/RUN/',
    )
    .option('--dataset <name>', 'prepared dataset', SAMPLE_DEFAULTS.dataset)
    .option('--split <k>', 'which split of the dataset', parseInteger(0), SAMPLE_DEFAULTS.split)
    .addOption(
      new Option(
        '--train-on <part>',
        'learn from the whole training part, or only its train rows (without the validation carve-out)',
      )
        .choices(['trainval', 'train'])
        .default(SAMPLE_DEFAULTS.trainOn),
    )
    .option(
      '--arch <arch>',
      'architecture: linear, mlp-50, mlp-400-400, lenet5, or a spec .json file',
      SAMPLE_DEFAULTS.arch,
    )
    .addOption(
      new Option(
        '--evaluate-on <part>',
        'rows the final report scores; validation (with --train-on train) is for choosing hyperparameters',
      )
        .choices(['test', 'validation'])
        // A bdk sample option only: pipelines leave `evaluateOn` out of their teacher configs.
        .default('test'),
    )
    .addOption(
      new Option(
        '--sampler <name>',
        'SG-MCMC kernel, or MC dropout (--burn-in Adam steps at learning rate --step-size, then --samples masks)',
      )
        .choices(['sgld', 'psgld', 'sghmc', 'dropout'])
        .default(SAMPLE_DEFAULTS.sampler),
    )
    .option(
      '--dropout-rate <p>',
      'MC dropout: drop rate of the hidden units',
      parseNonNegative,
      SAMPLE_DEFAULTS.dropoutRate,
    )
    .option('--samples <s>', 'samples to draw per chain', parseInteger(1), SAMPLE_DEFAULTS.samples)
    .option(
      '--burn-in <b>',
      'steps discarded before the first sample',
      parseInteger(0),
      SAMPLE_DEFAULTS.burnIn,
    )
    .option('--thin <k>', 'steps between samples', parseInteger(1), SAMPLE_DEFAULTS.thin)
    .option(
      '--step-size <a>',
      'step size a (η_t = a for the constant schedule); default: 0.005/N for sgld, 1e-4/N for sghmc, 0.001/N for psgld, 0.001 (Adam) for dropout',
      parsePositive,
    )
    .addOption(
      new Option(
        '--schedule <s>',
        'constant | polynomial:B:GAMMA (η_t = a·(B+t)^−GAMMA) | step:EVERY:FACTOR | cyclical:STEPS (cosine cycles from a to 0)',
      )
        .argParser(parseScheduleOption)
        .default(SAMPLE_DEFAULTS.schedule, SAMPLE_DEFAULTS.schedule.kind),
    )
    .option(
      '--batch-size <m>',
      'minibatch size M, drawn with replacement; M ≥ the training rows uses every row each step (the exact gradient)',
      parseInteger(1),
      SAMPLE_DEFAULTS.batchSize,
    )
    .option(
      '--chains <c>',
      'chains run as one vectorized computation',
      parseInteger(1),
      SAMPLE_DEFAULTS.chains,
    )
    .option(
      '--chain-offset <k>',
      'index of this process’s first chain, to shard a run over processes or machines',
      parseInteger(0),
      0,
    )
    .option('--seed <n>', 'random seed', parseInteger(0), SAMPLE_DEFAULTS.seed)
    .option(
      '--prior-precision <alpha>',
      'precision α of the Gaussian prior on every weight',
      parsePositive,
      SAMPLE_DEFAULTS.priorPrecision,
    )
    .option(
      '--temperature <T>',
      'posterior temperature (1 = the true posterior)',
      parseNonNegative,
      SAMPLE_DEFAULTS.temperature,
    )
    .option(
      '--noise-precision <tau>',
      'regression: fix the noise precision τ (standardized units) instead of sampling it',
      parsePositive,
    )
    .addOption(
      new Option('--noise-prior <a,b>', 'regression: Gamma(shape, rate) prior on τ')
        .argParser(parseGammaPrior)
        .default(
          SAMPLE_DEFAULTS.noisePrior,
          `${SAMPLE_DEFAULTS.noisePrior.shape},${SAMPLE_DEFAULTS.noisePrior.rate}`,
        ),
    )
    .option(
      '--heteroscedastic',
      'regression: the network predicts a mean and a log-variance, so the noise depends on the input (τ is not sampled)',
    )
    .option(
      '--variance-prior-precision <alpha>',
      'heteroscedastic: prior precision of the output weights into the log-variance (default: --prior-precision); larger pulls towards one noise level',
      parsePositive,
    )
    .option('--friction <alpha>', 'SGHMC friction α', parsePositive, SAMPLE_DEFAULTS.friction)
    .option('--rms-decay <rho>', 'pSGLD RMSProp decay ρ', parsePositive, SAMPLE_DEFAULTS.rmsDecay)
    .option('--rms-epsilon <lambda>', 'pSGLD damping λ', parsePositive, SAMPLE_DEFAULTS.rmsEpsilon)
    .addOption(
      new Option(
        '--sample-dtype <dtype>',
        'how the samples file stores the weights: float16 halves the file (chains still run in float32; the stored samples are rounded)',
      )
        .choices(['float32', 'float16'])
        .default(SAMPLE_DEFAULTS.sampleDtype),
    )
    .addOption(
      new Option(
        '--augment <kind>',
        'MC dropout on images: crop-flip pads by 4, crops at a random offset and mirrors half the training examples (default none)',
      ).choices(AUGMENTATIONS),
    )
    .addOption(
      new Option(
        '--target-transform <kind>',
        "regression: log models log y (a log-normal likelihood for positive targets), applied when the data is loaded (default: the dataset's recorded default, else none)",
      ).choices(TARGET_TRANSFORMS),
    )
    .requiredOption('--run <name>', 'run name (folder under the runs folder)')
    .option('--resume', 'continue an interrupted run from its last saved state')
    .option('--force', 'replace an existing run')
    .option(
      '--strict-diagnostics',
      'exit 1 when a convergence check fails (split R-hat > 1.1 or ESS < 50; the run is still written)',
    );
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (o: SampleFlags) => {
    if (!(o.dropoutRate >= 0 && o.dropoutRate < 1))
      throw new UserError(`--dropout-rate must be in [0, 1), got ${o.dropoutRate}`);
    const backend = await selectBackend(o.backend);
    if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
    const config = await sampleConfigFrom({
      ...o,
      // On --resume only an explicit --samples extends the run (the default must not).
      samples: o.resume && cmd.getOptionValueSource('samples') !== 'cli' ? 0 : o.samples,
    });
    const result = await runStage(`sample ${o.run}`, o.json, (hooks) =>
      sampleTeacher(config, {
        run: o.run,
        chainOffset: o.chainOffset,
        resume: o.resume,
        explicit: explicitSettings(cmd),
        force: o.force,
        strictDiagnostics: o.strictDiagnostics,
        ...hooks,
      }),
    );
    if (!result) return;
    const s = result.summary!;
    if (o.json) return printJson(s);
    const m = formatMetrics(s.metrics);
    const d = s.diagnostics;
    console.log(`ensemble of ${s.samples} samples (${s.chains} chains) on the test split: ${m}`);
    console.log(
      `diagnostics: log-likelihood ESS ${d.logLikelihood.ess.toFixed(1)}, split R-hat ${d.logLikelihood.rhat.toFixed(3)}; ` +
        `test predictions (${d.testPredictions.points} points) R-hat median ${d.testPredictions.rhatMedian.toFixed(3)}, max ${d.testPredictions.rhatMax.toFixed(3)}, min ESS ${d.testPredictions.essMin.toFixed(1)}`,
    );
    console.log(`wrote ${result.runDir} in ${s.seconds.toFixed(1)} s`);
  });
}
