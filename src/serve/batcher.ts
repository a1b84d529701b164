import type { RowOutput } from './row-outputs.js';

/** Predicts `count` rows of raw inputs (rows × featureCount values) in one tensor call. */
export type PredictRows = (values: Float64Array, count: number) => Promise<RowOutput[]>;

export interface BatcherOptions {
  /** Most rows per tensor call; a request with more rows is a call of its own. */
  maxBatch: number;
  /** How long a request waits for others to join it when no call is running (0: the next turn of the event loop). */
  waitMs: number;
}

interface Pending {
  values: Float64Array;
  count: number;
  resolve: (rows: RowOutput[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Joins the rows of concurrent requests into one tensor call. A request waits at most `waitMs` for
 * others while the model is idle; requests that arrive while a call runs are joined into the next
 * call, which starts on the event loop's next turn after that one ends (or at once when `maxBatch`
 * rows are queued and no call runs). When a
 * joined call fails, each of its requests is retried alone, so one bad request never fails the others.
 */
export class Batcher {
  /** Tensor calls made so far (each call of `predict`), for tests and the bench. */
  calls = 0;
  /** Rows predicted so far. */
  rows = 0;
  private queue: Pending[] = [];
  private queuedRows = 0;
  private running = false;
  private timer: { timeout: NodeJS.Timeout } | { immediate: NodeJS.Immediate } | null = null;

  constructor(
    private readonly predict: PredictRows,
    private readonly o: BatcherOptions,
  ) {}

  /** The predictions for one request's rows, in order. */
  run(values: Float64Array, count: number): Promise<RowOutput[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ values, count, resolve, reject });
      this.queuedRows += count;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running) return; // the running call's end starts the next one
    if (this.queuedRows >= this.o.maxBatch) {
      this.cancelTimer();
      void this.flush();
    } else if (!this.timer) this.flushLater(this.o.waitMs);
  }

  /** Flushes after `ms`, or on the next turn of the event loop for 0. */
  private flushLater(ms: number): void {
    const fire = () => {
      this.timer = null;
      void this.flush();
    };
    this.timer = ms > 0 ? { timeout: setTimeout(fire, ms) } : { immediate: setImmediate(fire) };
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    if ('timeout' in this.timer) clearTimeout(this.timer.timeout);
    else clearImmediate(this.timer.immediate);
    this.timer = null;
  }

  /** Runs the queued requests, up to `maxBatch` rows (at least one request), as one call. */
  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    let n = 1;
    let rows = this.queue[0].count;
    while (n < this.queue.length && rows + this.queue[n].count <= this.o.maxBatch)
      rows += this.queue[n++].count;
    const batch = this.queue.splice(0, n);
    this.queuedRows -= rows;
    this.running = true;
    try {
      await this.runJoined(batch, rows);
    } finally {
      this.running = false;
      if (this.queue.length > 0) {
        // They waited for the call that just ended: run them on the next turn of the event loop, not
        // at once, so sockets are read and answers written between calls (bodies still arriving
        // would otherwise wait for the whole queue to drain).
        this.cancelTimer();
        this.flushLater(0);
      }
    }
  }

  private async runJoined(batch: Pending[], rows: number): Promise<void> {
    const d = batch[0].values.length / batch[0].count;
    let values = batch[0].values;
    if (batch.length > 1) {
      values = new Float64Array(rows * d);
      let at = 0;
      for (const p of batch) {
        values.set(p.values, at);
        at += p.values.length;
      }
    }
    let out: RowOutput[];
    try {
      this.calls++;
      out = await this.predict(values, rows);
      this.rows += rows;
    } catch (err) {
      if (batch.length === 1) return batch[0].reject(err);
      // One of them made the call fail: each alone, so only that one gets the error.
      for (const p of batch) await this.runJoined([p], p.count);
      return;
    }
    let at = 0;
    for (const p of batch) {
      p.resolve(out.slice(at, at + p.count));
      at += p.count;
    }
  }
}
