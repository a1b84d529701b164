/** Step-size schedules η_t for t = 0, 1, 2, … (DESIGN §1). */
export type Schedule =
  | { kind: 'constant' }
  /** η_t = a·(b + t)^(−γ), γ ∈ (0.5, 1] (Welling & Teh 2011). */
  | { kind: 'polynomial'; b: number; gamma: number }
  /** η_t = a·factor^⌊t / every⌋. */
  | { kind: 'step'; every: number; factor: number };

export function stepSizeAt(a: number, schedule: Schedule, t: number): number {
  switch (schedule.kind) {
    case 'constant':
      return a;
    case 'polynomial':
      return a * Math.pow(schedule.b + t, -schedule.gamma);
    case 'step':
      return a * Math.pow(schedule.factor, Math.floor(t / schedule.every));
  }
}

/** Parses `constant`, `polynomial:B:GAMMA` or `step:EVERY:FACTOR`. */
export function parseSchedule(text: string): Schedule {
  const [kind, p1, p2] = text.split(':');
  const num = (v: string | undefined, what: string) => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n))
      throw new Error(`schedule '${text}': ${what} must be a number`);
    return n;
  };
  if (kind === 'constant' && p1 === undefined) return { kind };
  if (kind === 'polynomial') {
    const gamma = num(p2, 'gamma');
    if (!(gamma > 0.5 && gamma <= 1)) throw new Error(`schedule '${text}': gamma must be in (0.5, 1]`);
    return { kind, b: num(p1, 'b'), gamma };
  }
  if (kind === 'step') {
    const every = num(p1, 'every');
    const factor = num(p2, 'factor');
    if (!(Number.isInteger(every) && every > 0) || !(factor > 0 && factor <= 1)) {
      throw new Error(
        `schedule '${text}': expected step:EVERY:FACTOR with a positive integer EVERY and 0 < FACTOR <= 1`,
      );
    }
    return { kind, every, factor };
  }
  throw new Error(`unknown schedule '${text}': expected constant, polynomial:B:GAMMA or step:EVERY:FACTOR`);
}
