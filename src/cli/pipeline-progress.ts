import { formatDuration, Progress } from '../core/progress.js';
import type { SplitStage, UnitEvent } from '../pipeline/split-scope.js';

const ORDER: readonly SplitStage[] = ['sample', 'search', 'distill', 'evaluate'];

interface Unit {
  stage: SplitStage;
  split: number;
  started: number;
  ended?: number;
  cached?: boolean;
  step: number;
  total: number;
  info: string;
}

export interface PipelineProgressOptions {
  pipeline: string;
  /** The splits of each process, in the order `bdk run --jobs` dealt them (one group without children). */
  groups: number[][];
  /** As `Progress`: `bar` in a terminal, `lines` in a log, `off`. */
  mode?: 'bar' | 'lines' | 'off';
  /** `lines`: the longest wait between two status lines, ms (default 30 000). */
  intervalMs?: number;
  now?: () => number;
  write?: (line: string) => void;
}

/**
 * The one overall progress line of a pipeline's per-split stages, across the processes that share out
 * the splits: `[boston 7/20] distill ETA 2 min 10 s · s6 step 1200/4000, loss 0.0213; s7 step 800/4000 ·
 * 5 min 02 s elapsed`. 7/20 counts the current stage's splits (the earliest stage still running);
 * the ETA is that stage's: each process's running split projected from its rate, plus its splits still
 * to come at the mean time of the stage's finished splits (docs/cli.md, "Output").
 */
export class PipelineProgress {
  private readonly units = new Map<string, Unit>();
  /** The running unit of each process (group index). */
  private readonly running = new Map<number, Unit>();
  private readonly progress: Progress;
  private readonly now: () => number;
  private readonly started: number;
  private readonly splitCount: number;
  private timer: NodeJS.Timeout | null = null;
  /** When the last status line was written (ms): a new stage restarts the loop's clock, not this one. */
  private lastWritten: number;

  constructor(private readonly o: PipelineProgressOptions) {
    this.now = o.now ?? Date.now;
    this.started = this.now();
    this.lastWritten = this.started;
    this.splitCount = o.groups.reduce((n, g) => n + g.length, 0);
    this.progress = new Progress({
      label: o.pipeline,
      total: 1000,
      ...(o.mode ? { mode: o.mode } : {}),
      ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
      now: this.now,
      write: (line) => {
        this.lastWritten = this.now();
        (o.write ?? ((l: string) => console.log(l)))(line);
      },
      describe: () => this.statusLine(),
    });
    // A loop without progress calls (a MAP baseline, a plot) still gets its line every interval.
    if (this.progress.mode === 'lines') this.timer = setInterval(() => this.refresh(), 1000).unref();
  }

  get mode(): 'bar' | 'lines' | 'off' {
    return this.progress.mode;
  }

  /** A split's run starts or ends in the process of group `group`. */
  unit(e: UnitEvent, group = 0): void {
    const key = `${e.stage}:${e.split}`;
    if (e.phase === 'start') {
      const u: Unit = { stage: e.stage, split: e.split, started: this.now(), step: 0, total: 0, info: '' };
      this.units.set(key, u);
      this.running.set(group, u);
    } else {
      const u = this.units.get(key);
      if (u) {
        u.ended = this.now();
        u.cached = e.cached === true;
      }
      if (this.running.get(group) === u) this.running.delete(group);
    }
    this.refresh();
  }

  /** The running split of group `group` reached `step` of `total` (`info`: its loss or likelihood). */
  step(step: number, total: number, info: string, group = 0): void {
    const u = this.running.get(group);
    if (!u) return;
    u.step = step;
    u.total = total;
    u.info = info;
    this.refresh();
  }

  /** Clears a terminal's bar (before a log line). */
  clear(): void {
    this.progress.done();
  }

  done(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.progress.done();
  }

  /** The earliest stage with a running split, or null between stages. */
  private stage(): SplitStage | null {
    const running = [...this.running.values()].map((u) => ORDER.indexOf(u.stage));
    return running.length ? ORDER[Math.min(...running)] : null;
  }

  private refresh(): void {
    const stage = this.stage();
    if (!stage) return;
    const units = [...this.units.values()].filter((u) => u.stage === stage);
    const sum = units.reduce((s, u) => s + (u.ended !== undefined ? 1 : fraction(u)), 0);
    this.progress.update(Math.round((1000 * sum) / Math.max(1, this.splitCount)));
    // A log shows a sign of life every interval, across stages too (each stage's loop restarts the
    // progress clock, and a stage's first steps can take long: the search's teacher targets).
    if (this.now() - this.lastWritten >= (this.o.intervalMs ?? 30_000)) this.progress.printNow();
  }

  /** The status line (see the class comment). */
  statusLine(): string {
    const stage = this.stage();
    const elapsed = `${formatDuration((this.now() - this.started) / 1000)} elapsed`;
    if (!stage) return `[${this.o.pipeline}] ${elapsed}`;
    const units = [...this.units.values()].filter((u) => u.stage === stage);
    const ended = units.filter((u) => u.ended !== undefined).length;
    const running = [...this.running.values()]
      .filter((u) => u.stage === stage)
      .sort((a, b) => a.split - b.split);
    const what = running
      .map((u, i) => {
        const at = u.total > 0 ? `step ${u.step}/${u.total}` : 'starting';
        return `s${u.split} ${at}${i === 0 && u.info ? `, ${u.info}` : ''}`;
      })
      .join('; ');
    const eta = this.stageEta(stage);
    const position = Math.min(this.splitCount, ended + 1);
    // The ETA first: a terminal too narrow for the line cuts its end.
    const head = `[${this.o.pipeline} ${position}/${this.splitCount}] ${stage}`;
    return `${head}${eta === null ? '' : ` ETA ${formatDuration(eta)}`} · ${what} · ${elapsed}`;
  }

  /**
   * Seconds until every process has finished `stage`: its running split's rest at the rate so far,
   * plus its splits still to come at the stage's mean time per split (from the finished ones that ran,
   * or else the running ones' projections); null while no split has a rate yet.
   */
  stageEta(stage: SplitStage): number | null {
    const now = this.now();
    const of = (split: number) => this.units.get(`${stage}:${split}`);
    const done = [...this.units.values()].filter(
      (u) => u.stage === stage && u.ended !== undefined && !u.cached,
    );
    const projected = [...this.running.values()]
      .filter((u) => u.stage === stage && fraction(u) >= 0.02)
      .map((u) => (now - u.started) / fraction(u));
    const perSplit = done.length
      ? done.reduce((s, u) => s + (u.ended! - u.started), 0) / done.length
      : projected.length
        ? projected.reduce((s, v) => s + v, 0) / projected.length
        : null;
    if (perSplit === null) return null;
    let longest = 0;
    this.o.groups.forEach((group) => {
      let ms = 0;
      for (const k of group) {
        const u = of(k);
        if (u?.ended !== undefined) continue;
        if (!u) ms += perSplit;
        else {
          const f = fraction(u);
          const total = f >= 0.02 ? (now - u.started) / f : perSplit;
          ms += Math.max(0, total - (now - u.started));
        }
      }
      longest = Math.max(longest, ms);
    });
    return longest / 1000;
  }
}

const fraction = (u: Unit) => (u.total > 0 ? Math.min(1, u.step / u.total) : 0);
