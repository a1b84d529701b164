import { describe, expect, it } from 'vitest';
import { parseSchedule, stepSizeAt } from '../../src/teacher/schedule.js';

describe('step-size schedules', () => {
  it('constant, polynomial and step schedules follow their formulas', () => {
    expect(stepSizeAt(0.1, parseSchedule('constant'), 1234)).toBe(0.1);
    expect(stepSizeAt(2, parseSchedule('polynomial:10:0.55'), 90)).toBeCloseTo(2 * 100 ** -0.55, 12);
    const step = parseSchedule('step:100:0.5');
    expect([0, 99, 100, 250].map((t) => stepSizeAt(4, step, t))).toEqual([4, 4, 2, 1]);
  });

  it('cyclical: cosine cycles from a towards 0, restarting every STEPS steps', () => {
    const s = parseSchedule('cyclical:1000');
    expect(s).toEqual({ kind: 'cyclical', cycle: 1000 });
    const a = 3e-5;
    expect(stepSizeAt(a, s, 0)).toBe(a);
    expect(stepSizeAt(a, s, 500)).toBeCloseTo(a / 2, 15);
    expect(stepSizeAt(a, s, 250)).toBeCloseTo((a / 2) * (1 + Math.SQRT1_2), 15);
    // The last step of a cycle is its smallest; the next cycle starts over at a.
    const last = stepSizeAt(a, s, 999);
    expect(last).toBeCloseTo((a / 2) * (1 + Math.cos((Math.PI * 999) / 1000)), 18);
    expect(last).toBeLessThan(a * 1e-5);
    expect(stepSizeAt(a, s, 1000)).toBe(a);
    expect(stepSizeAt(a, s, 2999)).toBe(last);
    for (let t = 1; t < 1000; t++) expect(stepSizeAt(a, s, t)).toBeLessThan(stepSizeAt(a, s, t - 1));
  });

  it('bad schedules are errors that name the text', () => {
    expect(() => parseSchedule('cyclical')).toThrow("schedule 'cyclical': cycle must be a number");
    expect(() => parseSchedule('cyclical:0')).toThrow(
      "schedule 'cyclical:0': expected cyclical:STEPS with a positive integer STEPS",
    );
    expect(() => parseSchedule('cyclical:2.5')).toThrow(
      "schedule 'cyclical:2.5': expected cyclical:STEPS with a positive integer STEPS",
    );
    expect(() => parseSchedule('cosine:10')).toThrow(
      "unknown schedule 'cosine:10': expected constant, polynomial:B:GAMMA, step:EVERY:FACTOR or cyclical:STEPS",
    );
  });
});
