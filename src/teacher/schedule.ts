/** Step-size schedules η_t for t = 0, 1, 2, … (docs/design.md §1). */
export type Schedule =
  | { kind: 'constant' }
  /** η_t = a·(b + t)^(−γ), γ ∈ (0.5, 1] (Welling & Teh 2011). */
  | { kind: 'polynomial'; b: number; gamma: number }
  /** η_t = a·factor^⌊t / every⌋. */
  | { kind: 'step'; every: number; factor: number }
  /**
   * η_t = (a/2)·(cos(π·(t mod L)/L) + 1): cosine cycles of L steps (cyclical SG-MCMC, Zhang et al. 2020).
   * Each cycle starts at a and anneals towards 0; with burn-in and thin multiples of L, every sample is
   * taken at the last (smallest) step of a cycle.
   */
  | { kind: 'cyclical'; cycle: number };

export function stepSizeAt(a: number, schedule: Schedule, t: number): number {
  switch (schedule.kind) {
    case 'constant':
      return a;
    case 'polynomial':
      return a * Math.pow(schedule.b + t, -schedule.gamma);
    case 'step':
      return a * Math.pow(schedule.factor, Math.floor(t / schedule.every));
    case 'cyclical':
      return (a / 2) * (Math.cos((Math.PI * (t % schedule.cycle)) / schedule.cycle) + 1);
  }
}

/** Parses `constant`, `polynomial:B:GAMMA`, `step:EVERY:FACTOR` or `cyclical:STEPS`. */
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
  if (kind === 'cyclical' && p2 === undefined) {
    const cycle = num(p1, 'cycle');
    if (!(Number.isInteger(cycle) && cycle > 0)) {
      throw new Error(`schedule '${text}': expected cyclical:STEPS with a positive integer STEPS`);
    }
    return { kind, cycle };
  }
  throw new Error(
    `unknown schedule '${text}': expected constant, polynomial:B:GAMMA, step:EVERY:FACTOR or cyclical:STEPS`,
  );
}
