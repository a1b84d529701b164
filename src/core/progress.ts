/**
 * A one-line progress bar on stderr. It draws only when stderr is a terminal (and not under CI),
 * so logs and pipes stay clean; `done()` always prints one summary line unless quiet.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  /** Force drawing on or off; default: stderr is a TTY and CI is not set. */
  enabled?: boolean;
  unit?: string;
}

export class Progress {
  private readonly enabled: boolean;
  private readonly start = Date.now();
  private lastDraw = 0;
  private current = 0;
  private extra = '';

  constructor(private readonly opts: ProgressOptions) {
    this.enabled = opts.enabled ?? (Boolean(process.stderr.isTTY) && !process.env.CI);
  }

  /** Changes the total (e.g. once a stage knows its step count). */
  setTotal(total: number): this {
    this.opts.total = total;
    return this;
  }

  /** Advances to `value` (absolute), with an optional status text such as the current loss. */
  update(value: number, extra = ''): void {
    this.current = value;
    this.extra = extra;
    const now = Date.now();
    if (this.enabled && (now - this.lastDraw > 100 || value >= this.opts.total)) {
      this.lastDraw = now;
      this.draw();
    }
  }

  tick(by = 1, extra = ''): void {
    this.update(this.current + by, extra);
  }

  private draw(): void {
    const { total, label } = this.opts;
    const frac = total > 0 ? Math.min(1, this.current / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : 0;
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const unit = this.opts.unit ? ` ${this.opts.unit}` : '';
    const line = `${label} [${bar}] ${this.current}/${total}${unit} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s ${this.extra}`;
    process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}\x1b[K`);
  }

  /** Clears the bar. */
  done(): void {
    if (this.enabled) process.stderr.write('\r\x1b[K');
  }
}
