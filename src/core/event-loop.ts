/**
 * Long synchronous loops (a tfjs step on the wasm or cpu backend never waits for I/O) starve the event
 * loop, so a Ctrl-C handler, which aborts the loop's signal, would run only at the loop's next real
 * I/O. `abortPoller(signal)` returns the check to await once per step: at most every `ms` milliseconds
 * it lets pending events run (one `setImmediate`), then says whether the signal has been aborted. It
 * changes no result, only how soon an interrupt is seen.
 */
export function abortPoller(signal: AbortSignal | undefined, ms = 100): () => Promise<boolean> {
  let last = Date.now();
  return async () => {
    const now = Date.now();
    if (now - last >= ms) {
      last = now;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return signal?.aborted ?? false;
  };
}
