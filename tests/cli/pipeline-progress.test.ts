import { describe, expect, it } from 'vitest';
import { PipelineProgress } from '../../src/cli/pipeline-progress.js';
import { childReporter, EVENT_PREFIX, parseChildLine } from '../../src/cli/child-events.js';
import { shows } from '../../src/cli/output-level.js';

/** A pipeline's progress over 4 splits in 2 processes, on a fake clock, collecting its lines. */
function fake(
  groups = [
    [0, 2],
    [1, 3],
  ],
) {
  let t = 0;
  const lines: { at: number; line: string }[] = [];
  const p = new PipelineProgress({
    pipeline: 'boston',
    groups,
    mode: 'lines',
    now: () => t * 1000,
    write: (line) => lines.push({ at: t, line }),
  });
  return { p, lines, at: (s: number) => (t = s) };
}

describe('the overall progress line of bdk run', () => {
  it('counts the stage over splits and processes, with the stage ETA from the rates and finished splits', () => {
    const { p, at } = fake();
    at(0);
    p.unit({ stage: 'sample', split: 0, phase: 'start' }, 0);
    p.unit({ stage: 'sample', split: 1, phase: 'start' }, 1);
    at(50); // 1 step/s in both processes
    p.step(50, 100, 'll -1.000', 0);
    p.step(50, 100, 'll -2.000', 1);
    // No split finished: 100 s per split projected; process 0 has 50 s of s0 and then s2 left.
    expect(p.statusLine()).toBe(
      '[boston 1/4] sample ETA 2 min 30 s · s0 step 50/100, ll -1.000; s1 step 50/100 · 50 s elapsed',
    );
    at(100);
    p.unit({ stage: 'sample', split: 0, phase: 'end', cached: false }, 0);
    p.unit({ stage: 'sample', split: 2, phase: 'start' }, 0);
    at(120);
    p.unit({ stage: 'sample', split: 1, phase: 'end', cached: false }, 1);
    p.unit({ stage: 'sample', split: 3, phase: 'start' }, 1);
    at(150);
    p.step(25, 100, 'll -0.500', 0); // s2 slowed down: 200 s projected, 150 s left
    p.step(30, 100, 'll -0.400', 1); // s3: 30 s for 30 %, 70 s left
    expect(p.stageEta('sample')).toBeCloseTo(150, 9);
    expect(p.statusLine()).toBe(
      '[boston 3/4] sample ETA 2 min 30 s · s2 step 25/100, ll -0.500; s3 step 30/100 · 2 min 30 s elapsed',
    );
    p.done();
  });

  it('shows the earliest stage still running, and leaves splits that were up to date out of the time per split', () => {
    const { p, at } = fake([[0, 1, 2]]);
    at(0);
    p.unit({ stage: 'sample', split: 0, phase: 'start' });
    at(1);
    p.unit({ stage: 'sample', split: 0, phase: 'end', cached: true });
    p.unit({ stage: 'sample', split: 1, phase: 'start' });
    at(41);
    p.step(40, 100, '');
    // The cached split took 1 s; the running one projects to 100 s: 60 s for it and 100 s for split 2.
    expect(p.statusLine()).toBe('[boston 2/3] sample ETA 2 min 40 s · s1 step 40/100 · 41 s elapsed');
    p.done();

    const two = fake([[0], [1]]);
    two.at(0);
    two.p.unit({ stage: 'search', split: 0, phase: 'start' }, 0);
    two.p.unit({ stage: 'sample', split: 1, phase: 'start' }, 1);
    expect(two.p.statusLine()).toBe('[boston 1/2] sample · s1 starting · 0 s elapsed');
    two.p.done();
  });

  it('prints a line at most every 30 s and at each tenth at least 10 s after the last one', () => {
    const { p, lines, at } = fake();
    let t = 0;
    for (const [a, b] of [
      [0, 1],
      [2, 3],
    ]) {
      p.unit({ stage: 'distill', split: a, phase: 'start' }, 0);
      p.unit({ stage: 'distill', split: b, phase: 'start' }, 1);
      for (let step = 1; step <= 100; step++) {
        at(++t);
        p.step(step, 100, '', 0);
        p.step(step, 100, '', 1);
      }
      p.unit({ stage: 'distill', split: a, phase: 'end' }, 0);
      p.unit({ stage: 'distill', split: b, phase: 'end' }, 1);
    }
    p.done();
    // The stage's 200 s: a tenth every 20 s, so a line every 20 s.
    expect(lines.map((l) => l.at)).toEqual([20, 40, 60, 80, 100, 120, 140, 160, 180, 200]);
    expect(lines[0].line).toBe(
      '[boston 1/4] distill ETA 3 min 00 s · s0 step 20/100; s1 step 20/100 · 20 s elapsed',
    );
  });
});

describe('a log across stages', () => {
  it('gets a line every 30 s even when a new stage restarts the loop and its first step is slow', () => {
    const { p, lines, at } = fake([[0]]);
    at(0);
    p.unit({ stage: 'sample', split: 0, phase: 'start' });
    for (let t = 1; t <= 100; t++) {
      at(t);
      p.step(t, 100, '');
    }
    p.unit({ stage: 'sample', split: 0, phase: 'end' });
    const before = lines.at(-1)!.at;
    at(101);
    p.unit({ stage: 'search', split: 0, phase: 'start' }); // the search computes its targets: no steps
    at(before + 30);
    p.step(0, 1000, ''); // what the 1 s timer's refresh does
    expect(before).toBe(100);
    expect(lines.at(-1)).toEqual({
      at: 130,
      line: '[boston 1/1] search · s0 step 0/1000 · 2 min 10 s elapsed',
    });
    p.done();
  });
});

describe('events from the children of bdk run --jobs', () => {
  it('round-trip lines, split starts and ends, and progress at most every 200 ms', () => {
    const out: string[] = [];
    const r = childReporter((l) => out.push(l));
    r.log('warning: look', 'warning');
    r.onUnit({ stage: 'sample', split: 7, phase: 'start' });
    r.onProgress(1, 10, 'll 1');
    r.onProgress(2, 10, 'll 2'); // within 200 ms of the last: dropped
    r.onProgress(10, 10, 'll 3'); // the last step always goes
    expect(out.every((l) => l.startsWith(EVENT_PREFIX))).toBe(true);
    expect(out.map(parseChildLine)).toEqual([
      { t: 'log', kind: 'warning', text: 'warning: look' },
      { t: 'unit', stage: 'sample', split: 7, phase: 'start' },
      { t: 'step', step: 1, total: 10, info: 'll 1' },
      { t: 'step', step: 10, total: 10, info: 'll 3' },
    ]);
    expect(parseChildLine('backend: wasm')).toBeNull();
    expect(parseChildLine(`${EVENT_PREFIX}{not json`)).toBeNull();
  });
});

describe('output levels', () => {
  it('quiet shows no line, normal all but detail, verbose all', () => {
    const kinds = ['info', 'detail', 'warning'] as const;
    expect(kinds.map((k) => shows(k, 'quiet'))).toEqual([false, false, false]);
    expect(kinds.map((k) => shows(k, 'normal'))).toEqual([true, false, true]);
    expect(kinds.map((k) => shows(k, 'verbose'))).toEqual([true, true, true]);
  });
});
