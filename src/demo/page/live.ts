/**
 * Live updates without races: `schedule()` queues at most one run behind the one in progress, and that
 * run reads the inputs as they are when it starts, so the page always ends on the latest inputs;
 * `settled()` resolves once no run is queued or running (the test hook waits on it).
 */
export interface Live {
  schedule(): void;
  settled(): Promise<void>;
}

export function liveUpdater(run: () => Promise<void>): Live {
  let latest: Promise<void> = Promise.resolve();
  let queued = false;
  return {
    schedule() {
      if (queued) return;
      queued = true;
      latest = latest.then(() => {
        queued = false;
        return run();
      });
    },
    async settled() {
      let seen: Promise<void>;
      do {
        seen = latest;
        await seen;
      } while (seen !== latest);
    },
  };
}
