import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerData } from './commands/data.js';
import { registerInfo } from './commands/info.js';
import { registerRun } from './commands/run.js';
import { registerSample } from './commands/sample.js';
import { registerDistill } from './commands/distill.js';
import { registerExport } from './commands/export.js';
import { registerDemo } from './commands/demo.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerViz } from './commands/viz.js';
import { registerSearch } from './commands/search.js';
import { registerConvertSamples } from './commands/convert-samples.js';
import { registerGather } from './commands/gather.js';
import { registerServe } from './commands/serve.js';
import { UserError } from '../core/errors.js';
import { setOutputLevel } from './output-level.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * Builds the `bdk` command tree without running it: commands only parse and validate, then call
 * stage functions. Kept apart from `main.ts` (which runs the CLI when imported) so tests and docs
 * checks can walk every command and option.
 */
export function buildProgram(): Command {
  const program = new Command('bdk')
    .description(
      'Bayesian ensemble distillation: SG-MCMC teachers, structure search, compact calibrated students for TensorFlow.js',
    )
    .version(version)
    .option('--verbose', 'also print the detail lines: each epoch of a loop, each split of a pipeline')
    .option('--quiet', 'print only errors and the final result (no progress, stage lines or warnings)')
    .hook('preAction', (self) => {
      const o = self.opts<{ verbose?: boolean; quiet?: boolean }>();
      if (o.verbose && o.quiet) throw new UserError('--verbose and --quiet cannot be given together');
      setOutputLevel(o.quiet ? 'quiet' : o.verbose ? 'verbose' : 'normal');
    })
    .exitOverride();
  registerInfo(program);
  registerData(program);
  registerSample(program);
  registerConvertSamples(program);
  registerGather(program);
  registerSearch(program);
  registerDistill(program);
  registerEvaluate(program);
  registerExport(program);
  registerDemo(program);
  registerServe(program);
  registerViz(program);
  registerRun(program);
  return program;
}
