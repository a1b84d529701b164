import { describe, expect, it } from 'vitest';
import { formatDuration, Progress } from '../../src/core/progress.js';

/** A Progress in `lines` mode on a fake clock, collecting what it prints. */
function fake(total: number, intervalMs = 30_000) {
  let t = 1_000_000;
  const lines: string[] = [];
  const p = new Progress({
    label: 'boston sample',
    total,
    unit: 'steps',
    mode: 'lines',
    intervalMs,
    now: () => t,
    write: (l) => lines.push(l),
  });
  return { p, lines, advance: (ms: number) => (t += ms) };
}

describe('progress without a terminal', () => {
  it('prints a status line at each tenth of the total, with rate, elapsed time and ETA', () => {
    const { p, lines, advance } = fake(1000);
    for (let step = 1; step <= 1000; step++) {
      advance(100); // 10 steps/s: a tenth takes 10 s
      p.update(step, `ll ${(-step / 1000).toFixed(3)}`);
    }
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe(
      'boston sample: 100/1000 steps (10 %), 10 steps/s, 10 s elapsed, ETA 1 min 30 s, ll -0.100',
    );
    expect(lines[9]).toBe(
      'boston sample: 1000/1000 steps (100 %), 10 steps/s, 1 min 40 s elapsed, ETA 0 s, ll -1.000',
    );
  });

  it('keeps a loop of under 10 s quiet, and tenths closer than 10 s apart to one line per 10 s', () => {
    const quiet = fake(1000);
    for (let step = 1; step <= 1000; step++) {
      quiet.advance(9); // the whole loop takes 9 s
      quiet.p.update(step);
    }
    expect(quiet.lines).toEqual([]);
    const fast = fake(1000);
    for (let step = 1; step <= 1000; step++) {
      fast.advance(40); // a tenth every 4 s: a line at the first tenth 10 s after the last
      fast.p.update(step);
    }
    expect(fast.lines.map((l) => l.split(': ')[1].split(' (')[0])).toEqual([
      '250/1000 steps',
      '500/1000 steps',
      '750/1000 steps',
      '1000/1000 steps',
    ]);
  });

  it('prints at least every 30 s when a tenth takes longer, and not more often', () => {
    const { p, lines, advance } = fake(1000); // a tenth is 100 steps
    for (let step = 1; step <= 16; step++) {
      advance(7_000); // one step every 7 s: a tenth would take 700 s
      p.update(step);
    }
    // Lines at 35 s, 70 s and 105 s (steps 5, 10, 15): 30 s apart at least, never more often.
    expect(lines.map((l) => l.split(': ')[1].split(' (')[0])).toEqual([
      '5/1000 steps',
      '10/1000 steps',
      '15/1000 steps',
    ]);
    expect(lines[0]).toBe('boston sample: 5/1000 steps (0 %), 0.14 steps/s, 35 s elapsed, ETA 1 h 56 min');
  });

  it('starts timing again when a new loop begins (the next split), and after restart(label)', () => {
    const { p, lines, advance } = fake(10);
    for (let s = 1; s <= 10; s++) {
      advance(1000);
      p.update(s);
    }
    expect(lines).toEqual(['boston sample: 10/10 steps (100 %), 1.0 steps/s, 10 s elapsed, ETA 0 s']);
    advance(60_000); // a long pause between splits
    p.update(1); // the next split's first step: its own clock, not 70 s since the last line
    expect(lines).toHaveLength(1);
    p.restart('boston distill');
    advance(12_000);
    p.update(5);
    expect(lines.at(-1)).toBe('boston distill: 5/10 steps (50 %), 0.42 steps/s, 12 s elapsed, ETA 12 s');
  });

  it('formats durations for people', () => {
    expect(formatDuration(44.6)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3 * 3600 + 5 * 60)).toBe('3 h 05 min');
    expect(formatDuration(NaN)).toBe('?');
  });
});
