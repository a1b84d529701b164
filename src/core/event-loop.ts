/**
 * Long synchronous loops (a tfjs step on the wasm or cpu backend never waits for I/O) starve the event
 * loop, so a Ctrl-C handler would run only at the loop's next real I/O. `eventLoopYielder(ms)` returns a
 * function to await once per step: at most every `ms` milliseconds it lets pending events run (one
 * `setImmediate`), otherwise it returns at once. It changes no result, only when signals are seen.
 */
export function eventLoopYielder(ms = 100): () => Promise<void> | undefined {
  let last = Date.now();
  return () => {
    const now = Date.now();
    if (now - last < ms) return undefined;
    last = now;
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
}
