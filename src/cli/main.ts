import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { UserError, messageOf } from '../core/errors.js';
import { registerData } from './commands/data.js';
import { registerInfo } from './commands/info.js';
import { registerRun } from './commands/run.js';
import { registerSample } from './commands/sample.js';
import { registerDistill } from './commands/distill.js';
import { registerExport } from './commands/export.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerViz } from './commands/viz.js';
import { registerSearch } from './commands/search.js';
import { registerConvertSamples } from './commands/convert-samples.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Builds the `bdk` command tree. Commands only parse and validate, then call stage functions. */
export function buildProgram(): Command {
  const program = new Command('bdk')
    .description(
      'Bayesian ensemble distillation: SG-MCMC teachers, structure search, compact calibrated students for TensorFlow.js',
    )
    .version(version)
    .exitOverride();
  registerInfo(program);
  registerData(program);
  registerSample(program);
  registerConvertSamples(program);
  registerSearch(program);
  registerDistill(program);
  registerEvaluate(program);
  registerExport(program);
  registerViz(program);
  registerRun(program);
  return program;
}

/** Runs the CLI; user errors print one line on stderr and set a non-zero exit code, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed its message
    if (err instanceof UserError) {
      process.stderr.write(`bdk: ${err.message}\n`);
      return err.exitCode;
    }
    if (process.env.BDK_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.stderr.write(
      `bdk: internal error: ${messageOf(err).split('\n')[0]} (set BDK_DEBUG=1 for the stack trace)\n`,
    );
    return 70;
  }
}

const code = await main(process.argv.slice(2));
if (code !== 0 || process.exitCode === undefined) process.exitCode = code; // keep 130 from a command that was interrupted
