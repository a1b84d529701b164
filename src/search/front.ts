import { UserError } from '../core/errors.js';

/**
 * A front of students (docs/design.md §3.11): one searched student per parameter budget (and per value
 * of a swept λ), and hand-picked reference students distilled the same way, each with its size, latency,
 * task metrics and fidelity to the teacher ensemble. This module holds the pure parts: the member
 * records, the selection rule `student.select`, averaging fronts over splits, the JSON file and the
 * markdown table.
 */

/** Which part of the split a metric was measured on. */
export type FrontPart = 'validation' | 'test';

/** One student of a front (over splits: the mean of each number, the runs of every split). */
export interface FrontMember {
  /** `b400`, `b400-kl-weight-0.1`, `kl-weight-0.1` (searched) or `ref-mlp-10` (reference). */
  name: string;
  kind: 'searched' | 'reference';
  /** The parameter budget of the search (null: none, or a reference student). */
  budget: number | null;
  /** The swept λ and its value (null when not swept, or a reference student). */
  lambda: { name: string; value: number } | null;
  /** The architecture: a reference's name; a searched student's edges (`archDescription`). */
  arch: string;
  parameters: number;
  /** Bytes of the float32 weights. */
  bytes: number;
  /** Wall time per test example, milliseconds. */
  latencyMs: number;
  /**
   * Metrics of the student on each part: the task's (`rmse`, `ll` or `error`, `nll`, `brier`, `ece`)
   * and its fidelity to the ensemble (`klToEnsemble`, and `meanRmseToEnsemble` or `agreement`).
   * `validation` is empty when the split has no validation rows.
   */
  test: Record<string, number>;
  validation: Record<string, number>;
  /** Searched with candidates (docs/design.md §3.12): the rank kept on the validation rows (one split). */
  candidate?: number;
  /** Each candidate's architecture, parameters and validation value of the selection metric (one split). */
  candidates?: { rank: number; arch: string; parameters: number; validation: number | null }[];
  /** The student run of each split. */
  runs: string[];
}

/** The selection rule `student.select` (object form; `parseSelectionRule` reads the string form). */
export type SelectionRule =
  | { rule: 'best'; metric?: string; part?: FrontPart }
  | { rule: 'smallest-within'; metric?: string; tolerance: number; relative?: boolean; part?: FrontPart }
  | { rule: 'member'; name: string };

/** The rule when none is given: the smallest searched student within 0.01 of the best validation metric. */
export const DEFAULT_SELECTION: SelectionRule = { rule: 'smallest-within', tolerance: 0.01 };

export interface Front {
  format: 'bdk-front';
  version: 1;
  dataset: string;
  task: 'regression' | 'classification';
  splits: number[];
  /** The rule as given and the member it selected (null when no searched member was finished). */
  select: SelectionRule;
  selected: string | null;
  /** The teacher ensemble on the test rows: its metrics, parameters, bytes and latency (means over splits). */
  ensemble: { parameters: number; bytes: number; latencyMs: number; test: Record<string, number> };
  /** Searched members by parameters, then the reference students by parameters. */
  members: FrontMember[];
}

export const FRONT_FORMAT = 'bdk-front';

/** Metrics where larger is better; every other metric (error, nll, rmse, kl…) is better smaller. */
const HIGHER_IS_BETTER = new Set(['ll', 'agreement']);

export const metricHigherIsBetter = (metric: string): boolean => HIGHER_IS_BETTER.has(metric);

/** The metric a rule without one uses: `ll` for regression, `nll` for classification. */
export const defaultMetric = (task: 'regression' | 'classification'): string =>
  task === 'regression' ? 'll' : 'nll';

/** The metric a rule reads, or the task's default for `member` and rules without one. */
export const ruleMetric = (rule: SelectionRule, task: 'regression' | 'classification'): string =>
  rule.rule === 'member' ? defaultMetric(task) : (rule.metric ?? defaultMetric(task));

/**
 * The string form of a rule: `best[:METRIC]`, `smallest-within:METRIC:TOL` (TOL a number in the
 * metric's units, or `P%` for a fraction of the best value's magnitude) or `member:NAME`. Read on the
 * validation part; the object form can name `"part": "test"`.
 */
export function parseSelectionRule(text: string, where = '--select'): SelectionRule {
  const [rule, ...args] = text.split(':').map((t) => t.trim());
  const bad = () =>
    new UserError(
      `${where}: expected best[:METRIC], smallest-within:METRIC:TOLERANCE[%] or member:NAME, got '${text}'`,
    );
  if (rule === 'best' && args.length <= 1 && args.every(Boolean))
    return args.length ? { rule, metric: args[0] } : { rule };
  if (rule === 'member' && args.length === 1 && args[0]) return { rule, name: args[0] };
  if (rule === 'smallest-within' && args.length === 2 && args[0]) {
    const relative = args[1].endsWith('%');
    const t = Number(relative ? args[1].slice(0, -1) : args[1]);
    if (args[1] === '' || args[1] === '%' || !(t >= 0) || !Number.isFinite(t)) throw bad();
    return relative
      ? { rule, metric: args[0], tolerance: t / 100, relative: true }
      : { rule, metric: args[0], tolerance: t };
  }
  throw bad();
}

/** The rule in its string form (the part, when not validation, as ` on test`). */
export function describeSelectionRule(r: SelectionRule, task: 'regression' | 'classification'): string {
  if (r.rule === 'member') return `member ${r.name}`;
  const metric = r.metric ?? defaultMetric(task);
  const on = ` on ${r.part ?? 'validation'}`;
  if (r.rule === 'best') return `best ${metric}${on}`;
  const tol = r.relative ? `${+(r.tolerance * 100).toPrecision(6)}%` : `${r.tolerance}`;
  return `smallest within ${tol} of the best ${metric}${on}`;
}

/**
 * The member a rule selects among the searched members: `member` by name; `best` the best value of the
 * metric; `smallest-within` the fewest parameters among those whose metric is at most `tolerance` worse
 * than the best (`relative`: tolerance × |best|). Ties go to the better metric, then the fewer
 * parameters, then the first listed. Null when there is no searched member.
 */
export function selectMember(
  members: FrontMember[],
  rule: SelectionRule,
  task: 'regression' | 'classification',
): FrontMember | null {
  const searched = members.filter((m) => m.kind === 'searched');
  if (rule.rule === 'member') {
    const m = members.find((x) => x.name === rule.name);
    if (!m)
      throw new UserError(
        `student.select: no front member '${rule.name}' (members: ${members.map((x) => x.name).join(', ')})`,
      );
    return m;
  }
  if (!searched.length) return null;
  const metric = rule.metric ?? defaultMetric(task);
  const part = rule.part ?? 'validation';
  const value = (m: FrontMember): number => {
    const v = m[part][metric];
    if (v === undefined)
      throw new UserError(
        Object.keys(m[part]).length
          ? `student.select: unknown metric '${metric}' on ${part} (expected one of ${Object.keys(m[part]).join(', ')})`
          : `student.select: member ${m.name} has no ${part} metrics (no ${part} rows); select on "part": "test"`,
      );
    return v;
  };
  const sign = metricHigherIsBetter(metric) ? -1 : 1;
  // loss: smaller is better, whatever the metric's direction.
  const loss = (m: FrontMember) => sign * value(m);
  const byLoss = (a: FrontMember, b: FrontMember) => loss(a) - loss(b) || a.parameters - b.parameters;
  const best = [...searched].sort(byLoss)[0];
  if (rule.rule === 'best') return best;
  const slack = rule.relative ? rule.tolerance * Math.abs(value(best)) : rule.tolerance;
  const within = searched.filter((m) => loss(m) <= loss(best) + slack);
  return within.sort((a, b) => a.parameters - b.parameters || byLoss(a, b))[0];
}

/** Members in front order: searched by parameters (then name), then references by parameters. */
export function frontOrder(members: FrontMember[]): FrontMember[] {
  const rank = (m: FrontMember) => (m.kind === 'searched' ? 0 : 1);
  return [...members].sort(
    (a, b) => rank(a) - rank(b) || a.parameters - b.parameters || a.name.localeCompare(b.name),
  );
}

const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

/** Each key's mean over the records (keys of the first record; all records must have them). */
function meanRecord(records: Record<string, number>[]): Record<string, number> {
  if (!records.length || !Object.keys(records[0]).length) return {};
  return Object.fromEntries(Object.keys(records[0]).map((k) => [k, mean(records.map((r) => r[k]))]));
}

/**
 * The front over splits: each member (matched by name) with the mean of its numbers over the splits that
 * have it, and the runs of all; the ensemble likewise. Members missing from some split are kept.
 */
export function averageFronts(fronts: Front[], select: SelectionRule): Front {
  if (!fronts.length) throw new Error('averageFronts: no fronts');
  const names = [...new Set(fronts.flatMap((f) => f.members.map((m) => m.name)))];
  const members = names.map((name) => {
    const all = fronts.flatMap((f) => f.members.filter((m) => m.name === name));
    const archs = [...new Set(all.map((m) => m.arch))];
    return {
      ...all[0],
      arch: archs.length === 1 ? archs[0] : `${archs.length} architectures`,
      parameters: mean(all.map((m) => m.parameters)),
      bytes: mean(all.map((m) => m.bytes)),
      latencyMs: mean(all.map((m) => m.latencyMs)),
      test: meanRecord(all.map((m) => m.test)),
      validation: meanRecord(all.map((m) => m.validation)),
      runs: all.flatMap((m) => m.runs),
      // Candidates are per split: kept only when there is one.
      candidate: all.length === 1 ? all[0].candidate : undefined,
      candidates: all.length === 1 ? all[0].candidates : undefined,
    };
  });
  const e = fronts.map((f) => f.ensemble);
  return withSelection(
    {
      ...fronts[0],
      splits: fronts.flatMap((f) => f.splits),
      ensemble: {
        parameters: mean(e.map((x) => x.parameters)),
        bytes: mean(e.map((x) => x.bytes)),
        latencyMs: mean(e.map((x) => x.latencyMs)),
        test: meanRecord(e.map((x) => x.test)),
      },
      members: frontOrder(members),
    },
    select,
  );
}

/** The front with `select` and the member it selects. */
export function withSelection(front: Omit<Front, 'select' | 'selected'>, select: SelectionRule): Front {
  const chosen = selectMember(front.members, select, front.task);
  return { ...front, select, selected: chosen?.name ?? null };
}

/** `front.json`'s text. */
export function frontJson(front: Front): string {
  return JSON.stringify(front, null, 2) + '\n';
}

/** A front from `front.json`'s text; a `UserError` naming `where` when it is not one. */
export function parseFront(text: string, where: string): Front {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${where}: invalid JSON (${(err as Error).message})`);
  }
  const f = raw as Partial<Front> | null;
  if (!f || f.format !== FRONT_FORMAT || f.version !== 1 || !Array.isArray(f.members))
    throw new UserError(`${where}: not a bdk front (expected "format": "${FRONT_FORMAT}", "version": 1)`);
  return f as Front;
}

const num = (v: number | undefined, digits = 4) => (v === undefined ? '' : v.toFixed(digits));

/**
 * The front as a markdown table: one row per member (the selected one marked) and the ensemble, with
 * parameters, bytes, latency, the test metrics and the fidelity to the ensemble; the validation value of
 * the selection metric too when the rule reads validation.
 */
export function frontMarkdown(front: Front, heading = '#'): string {
  const task = metricsOf(front, (k) => !k.endsWith('ToEnsemble') && k !== 'agreement');
  const fidelity = metricsOf(front, (k) => k.endsWith('ToEnsemble') || k === 'agreement');
  const rule = front.select;
  const selMetric = rule.rule === 'member' ? null : (rule.metric ?? defaultMetric(front.task));
  const onValidation = selMetric !== null && (rule.rule === 'member' ? false : rule.part !== 'test');
  const head = [
    'student',
    'architecture',
    'parameters',
    'bytes',
    'latency per example (ms)',
    ...task.map((k) => `test ${k}`),
    ...fidelity.map((k) => `test ${k}`),
    ...(onValidation ? [`validation ${selMetric}`] : []),
  ];
  const row = (m: FrontMember) => [
    `${m.name === front.selected ? '**' : ''}\`${m.name}\`${m.name === front.selected ? '** (selected)' : ''}${m.kind === 'reference' ? ' (reference)' : ''}`,
    `\`${m.arch}\``,
    m.parameters.toFixed(0),
    m.bytes.toFixed(0),
    m.latencyMs.toPrecision(3),
    ...task.map((k) => num(m.test[k])),
    ...fidelity.map((k) => num(m.test[k])),
    ...(onValidation ? [num(m.validation[selMetric!])] : []),
  ];
  const e = front.ensemble;
  const ensembleRow = [
    'teacher ensemble',
    '',
    e.parameters.toFixed(0),
    e.bytes.toFixed(0),
    e.latencyMs.toPrecision(3),
    ...task.map((k) => num(e.test[k])),
    ...fidelity.map(() => ''),
    ...(onValidation ? [''] : []),
  ];
  const n = front.splits.length;
  return [
    `${heading} Front: ${front.dataset}, ${n} split${n > 1 ? 's' : ''}${n > 1 ? ' (means)' : ''}`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...front.members.map((m) => `| ${row(m).join(' | ')} |`),
    `| ${ensembleRow.join(' | ')} |`,
    '',
    `Selected by ${describeSelectionRule(rule, front.task)}: ${front.selected ? `\`${front.selected}\`` : 'none'}.`,
    '',
    ...front.members.flatMap((m) => (m.candidates ? candidateLines(m, ruleMetric(rule, front.task)) : [])),
  ].join('\n');
}

/** A searched member's candidates (one split): which was kept, and each one's validation value. */
function candidateLines(m: FrontMember, metric: string): string[] {
  return [
    `\`${m.name}\`: candidate ${m.candidate} of ${m.candidates!.length} kept on validation ${metric}:`,
    '',
    ...m.candidates!.map(
      (c) =>
        `- ${c.rank === m.candidate ? '**' : ''}${c.rank}. \`${c.arch}\`, ${c.parameters} parameters, validation ${metric} ${c.validation === null ? 'n/a' : c.validation.toFixed(4)}${c.rank === m.candidate ? '**' : ''}`,
    ),
    '',
  ];
}

/** The test-metric keys of the members, in first-seen order, that `keep` accepts. */
function metricsOf(front: Front, keep: (k: string) => boolean): string[] {
  return [...new Set(front.members.flatMap((m) => Object.keys(m.test)))].filter(keep);
}

/**
 * A searched architecture in a few words, edge by edge: `input→h1 dense 10 tanh, h1→h2 dense 10 tanh,
 * h2→out dense 2, input→out dense 2` (a convolution's filters and kernel, other ops by their type).
 */
export function archDescription(edges: { from: string; to: string; op: { type: string } }[]): string {
  return edges
    .map(({ from, to, op }) => {
      const o = op as {
        type: string;
        units?: number;
        filters?: number;
        kernelSize?: number;
        activation?: string;
      };
      const size =
        o.type === 'dense' ? ` ${o.units}` : o.type === 'conv2d' ? ` ${o.filters}×${o.kernelSize}²` : '';
      return `${from}→${to} ${o.type}${size}${o.activation && o.activation !== 'linear' ? ` ${o.activation}` : ''}`;
    })
    .join(', ');
}
