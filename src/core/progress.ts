/**
 * Progress of a long stage. In a terminal (stderr a TTY, CI unset): a one-line bar on stderr, redrawn
 * in place. Anywhere else (a log file, a pipe, a batch engine, CI): one plain status line every
 * `intervalMs` (30 s) at most, and at each tenth of the total when the last line is at least a third of
 * that old, so a log shows signs of life with a rate and an ETA while loops of under 10 s print nothing.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  /** `bar` (terminal), `lines` (logs) or `off`; default: `bar` on a TTY without CI, else `lines`. */
  mode?: 'bar' | 'lines' | 'off';
  unit?: string;
  /** `lines`: the longest wait between two lines, ms (default 30 000). */
  intervalMs?: number;
  /** The status text instead of the default one (label, count, rate, ETA), e.g. across processes. */
  describe?: () => string;
  /** The clock (ms) and where lines go; injectable for tests. */
  now?: () => number;
  write?: (line: string) => void;
}

/** A duration for people: `45 s`, `3 min 20 s`, `1 h 05 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export class Progress {
  readonly mode: 'bar' | 'lines' | 'off';
  private readonly now: () => number;
  private start: number;
  private lastDraw = 0;
  private lastLine: number;
  private lastTenth = 0;
  private current = 0;
  private extra = '';

  constructor(private readonly opts: ProgressOptions) {
    this.mode = opts.mode ?? (process.stderr.isTTY && !process.env.CI ? 'bar' : 'lines');
    this.now = opts.now ?? Date.now;
    this.start = this.now();
    this.lastLine = this.start;
  }

  /** Changes the total (e.g. once a stage knows its step count). */
  setTotal(total: number): this {
    this.opts.total = total;
    return this;
  }

  /** Starts timing again (a new stage or split), with a new label if given. */
  restart(label?: string): this {
    if (label !== undefined) this.opts.label = label;
    this.start = this.now();
    this.lastLine = this.start;
    this.lastTenth = 0;
    this.current = 0;
    return this;
  }

  /** Advances to `value` (absolute), with an optional status text such as the current loss. */
  update(value: number, extra = ''): void {
    if (value < this.current) this.restart(); // a new loop (the next split or stage) began
    this.current = value;
    this.extra = extra;
    const now = this.now();
    const total = this.opts.total;
    if (this.mode === 'bar' && (now - this.lastDraw > 100 || value >= total)) {
      this.lastDraw = now;
      this.draw();
    } else if (this.mode === 'lines') {
      const tenth = total > 0 ? Math.floor((10 * Math.min(value, total)) / total) : 0;
      const interval = this.opts.intervalMs ?? 30_000;
      // Each tenth, unless the last line is under a third of the interval old (short loops stay quiet).
      const since = now - this.lastLine;
      if ((tenth > this.lastTenth && since >= interval / 3) || since >= interval) {
        this.lastTenth = Math.max(this.lastTenth, tenth);
        this.lastLine = now;
        (this.opts.write ?? ((l: string) => console.log(l)))(this.statusLine());
      }
    }
  }

  /** Prints the status line now (`lines` mode), whatever the interval: for a caller that keeps its own. */
  printNow(): void {
    if (this.mode !== 'lines') return;
    this.lastLine = this.now();
    (this.opts.write ?? ((l: string) => console.log(l)))(this.statusLine());
  }

  tick(by = 1, extra = ''): void {
    this.update(this.current + by, extra);
  }

  /** `label: 120/400 epochs (30 %), 4.1 epochs/s, 29 s elapsed, ETA 1 min 08 s, loss 0.21`. */
  statusLine(): string {
    if (this.opts.describe) return this.opts.describe();
    const { total, label } = this.opts;
    const unit = this.opts.unit ? ` ${this.opts.unit}` : '';
    const elapsed = (this.now() - this.start) / 1000;
    const frac = total > 0 ? Math.min(1, this.current / total) : 1;
    const rate = elapsed > 0 ? this.current / elapsed : NaN;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : NaN;
    const rateText = Number.isFinite(rate)
      ? `${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)}${unit}/s, `
      : '';
    return (
      `${label}: ${this.current}/${total}${unit} (${Math.floor(frac * 100)} %), ${rateText}` +
      `${formatDuration(elapsed)} elapsed, ETA ${formatDuration(eta)}${this.extra ? `, ${this.extra}` : ''}`
    );
  }

  private draw(): void {
    const { total, label } = this.opts;
    const frac = total > 0 ? Math.min(1, this.current / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (this.now() - this.start) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : 0;
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const unit = this.opts.unit ? ` ${this.opts.unit}` : '';
    const line = this.opts.describe
      ? this.opts.describe()
      : `${label} [${bar}] ${this.current}/${total}${unit} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s ${this.extra}`;
    process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}\x1b[K`);
  }

  /** Clears the bar. */
  done(): void {
    if (this.mode === 'bar') process.stderr.write('\r\x1b[K');
  }
}
