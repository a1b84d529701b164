import { CommanderError } from 'commander';
import { UserError, messageOf } from '../core/errors.js';
import { removeTemporaryFiles } from '../core/temp-files.js';
import { buildProgram } from './program.js';

/** Runs the CLI; user errors print one line on stderr and set a non-zero exit code, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed its message
    if (err instanceof UserError) {
      // One line, always: a message that quotes a file's text (a JSON parser's, say) is joined up.
      process.stderr.write(`bdk: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return err.exitCode;
    }
    if (process.env.BDK_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.stderr.write(
      `bdk: internal error: ${messageOf(err).split('\n')[0]} (set BDK_DEBUG=1 for the stack trace)\n`,
    );
    return 70;
  }
}

// Output piped into a command that stops reading (`bdk run … | head`): stop quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
// Temporary files never outlive the process, whatever ends it (an error, Ctrl-C, process.exit).
process.on('exit', removeTemporaryFiles);
// Ctrl-C outside a resumable stage (stages handle it themselves, see interrupt.ts): exit 130 at once.
const onSignal = (signal: NodeJS.Signals) => {
  if (process.listenerCount(signal) > 1) return; // a stage's handler saves its state first
  process.stderr.write('\nbdk: interrupted\n');
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await main(process.argv.slice(2));
if (code !== 0 || process.exitCode === undefined) process.exitCode = code; // keep 130 from a command that was interrupted
