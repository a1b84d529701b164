/**
 * Runs a long job with Ctrl-C wired to an AbortSignal: the first SIGINT asks the job to stop after
 * its current step and save its state; a second one exits at once.
 */
export async function withInterrupt<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nbdk: interrupted; saving state (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    return await job(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
