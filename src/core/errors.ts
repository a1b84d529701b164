/**
 * An error caused by the user's input or environment (bad file, unknown column, missing package).
 * The CLI prints its message as one line and exits non-zero, without a stack trace;
 * any other error is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    /** Process exit code the CLI uses for this error. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Message of any thrown value, for one-line reporting. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
