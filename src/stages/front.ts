import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../core/atomic-write.js';
import { lockRunFolder } from '../core/run-lock.js';
import { inputShape, partArrays, type PartArrays } from '../data/store.js';
import { frontSvg } from '../eval/plots/front.js';
import { resolveArch } from '../model/builtins.js';
import { analyzeSpec } from '../model/spec.js';
import { checkBudget } from '../search/budget.js';
import { resolveSpace } from '../search/space-file.js';
import { forward, unflatten } from '../model/forward.js';
import { readSamples } from '../samples/index.js';
import {
  archDescription,
  metricHigherIsBetter,
  ruleMetric,
  frontJson,
  frontMarkdown,
  frontOrder,
  withSelection,
  type Front,
  type FrontMember,
} from '../search/front.js';
import { ensemblePredictive, type Predictive } from '../teacher/predictive.js';
import type { StageContext } from './context.js';
import { predictiveOutputs } from '../eval/student-heads.js';
import { distillStudent, metricsFromOutputs, STUDENT_RUN_FILES, type StudentSummary } from './distill.js';
import { distillConfigFrom, type DistillConfig } from './distill-config.js';
import { evaluateRun, upToDateReport, type EvaluationReport } from './evaluate.js';
import { checkFinishedRun } from './finished-run.js';
import { referenceName, searchedMembers, type FrontConfig } from './front-config.js';
import { loadTeacherDataset, runPath } from './run-folder.js';
import { openCompleteTeacher } from './teacher-check.js';
import { studentFidelity } from './teacher-report.js';
import { SEARCH_RUN_FILES, searchStructure, type SearchConfig, type SearchSummary } from './search.js';
import { searchCandidates, searchedStudent } from './search-files.js';
import { openStudentRun } from './student-run.js';

export interface FrontOptions extends StageContext {
  /** The front's own run folder (front.json, front.md, front.svg, front-config.json). */
  run: string;
  /** Members' runs are `<prefix>-<member>-search` and `<prefix>-<member>-student`. */
  prefix: string;
  /** The split, for log lines. */
  split?: number;
}

/** The report of a front member's evaluation, beside the `report.json` a pipeline may write. */
const FRONT_REPORT = 'front-report';

/**
 * A front of students (docs/design.md §3.11): for each searched member (a budget, a λ value, or both)
 * a structure search with that budget and λ, a student distilled from its architecture and evaluated;
 * for each reference architecture a student distilled the same way and evaluated; then every student's
 * test and validation metrics and fidelity to the ensemble, the selection rule's choice, and
 * `front.json`, `front.md` and `front.svg` in the front's run folder. Finished members (same settings)
 * are taken as they are and interrupted ones resumed, so running again continues the front.
 */
export async function runFront(config: FrontConfig, opts: FrontOptions): Promise<FrontResult> {
  const runDir = runPath(opts.run, opts.runsDir);
  const lock = await lockRunFolder(runDir, `run '${opts.run}'`); // the front's own folder, while it runs
  try {
    return await frontLocked(config, opts, runDir);
  } finally {
    await lock.release();
  }
}

type FrontResult = { runDir: string; completed: boolean; front: Front | null };

async function frontLocked(config: FrontConfig, opts: FrontOptions, runDir: string): Promise<FrontResult> {
  const log = opts.log ?? (() => {});
  const split = opts.split ?? 0;
  const teacher = await openCompleteTeacher(config.teacher, { runsDir: opts.runsDir });
  const { teacherDir, teacherConfig: tc } = teacher;
  const ds = await loadTeacherDataset(config.teacher, tc, opts.dataDir);
  const task = ds.meta.task;
  const shape = inputShape(ds);
  const units = task === 'classification' ? ds.meta.classCount! : 2;
  // Reference architectures and the smallest budget are checked before any search runs.
  for (const arch of config.references) await resolveArch(arch, { input: shape, outputUnits: units });
  if (config.budgets.length) {
    const s = config.search;
    const sa = await resolveSpace(
      s.space,
      { input: shape, outputUnits: units },
      { ...(s.widths ? { widths: s.widths } : {}), ...(s.activations ? { activations: s.activations } : {}) },
    );
    checkBudget(sa, Math.min(...config.budgets), s.space);
  }
  await fs.mkdir(runDir, { recursive: true });
  await writeFileAtomic(path.join(runDir, 'front-config.json'), JSON.stringify(config, null, 2) + '\n');
  const distill = (student: { arch: string; initialWeights?: string }) =>
    distillConfigFrom({ ...config.distillation, teacher: config.teacher, ...student });
  const students: {
    name: string;
    run: string;
    kind: FrontMember['kind'];
    member: Partial<FrontMember>;
    /** A search's candidate architectures (docs/design.md §3.12), each distilled; the best on validation is kept. */
    candidates?: { rank: number; run: string }[];
  }[] = [];
  for (const m of searchedMembers(config)) {
    const searchRun = `${opts.prefix}-${m.name}-search`;
    // Dataset and split are the teacher's, as the search itself would set them.
    const sc = { ...m.search, dataset: tc.dataset, split: tc.split, teacher: config.teacher };
    const searched = await finishedSearch(sc, searchRun, split, opts);
    if (!searched) return { runDir, completed: false, front: null };
    log(`front ${m.name}: searched ${searched.parameterCount} parameters (${searched.arch})`);
    // The students of a search run: each candidate's architecture (and warm start), distilled like every other student.
    const candidates: { rank: number; run: string }[] = [];
    for (const rank of await searchCandidates(searchRun, opts.runsDir)) {
      const run = `${opts.prefix}-${m.name}${rank === 1 ? '' : `-c${rank}`}-student`;
      const dc = distill(await searchedStudent(searchRun, opts.runsDir, config.warmStart ?? true, rank));
      if (!(await finishedStudent(dc, run, split, opts))) return { runDir, completed: false, front: null };
      candidates.push({ rank, run });
    }
    students.push({
      name: m.name,
      run: candidates[0].run,
      kind: 'searched',
      member: { budget: m.budget, lambda: m.lambda },
      ...(candidates.length > 1 ? { candidates } : {}),
    });
  }
  for (const arch of config.references) {
    const name = referenceName(arch);
    const run = `${opts.prefix}-${name}-student`;
    if (!(await finishedStudent(distill({ arch }), run, split, opts)))
      return { runDir, completed: false, front: null };
    students.push({ name, run, kind: 'reference', member: { budget: null, lambda: null } });
  }
  const parts = {
    test: partArrays(ds, tc.split, tc.evaluateOn ?? 'test'),
    validation: partArrays(ds, tc.split, 'validation'),
  };
  const teacherA = analyzeSpec(JSON.parse(await fs.readFile(path.join(teacherDir, 'spec.json'), 'utf8')));
  const files = teacher.files;
  const ensemble = async (part: PartArrays): Promise<Predictive | null> => {
    if (part.rows === 0) return null;
    const x = tf.tensor(part.x, [part.rows, ...shape]);
    try {
      return await ensemblePredictive(
        { analysis: teacherA, task, x, y: part.y, target: part.normalization.target },
        readSamples(files),
      );
    } finally {
      x.dispose();
    }
  };
  const pred = { test: await ensemble(parts.test), validation: await ensemble(parts.validation) };
  const metricsOn = (student: OpenStudent, part: 'test' | 'validation'): Record<string, number> => {
    const p = pred[part];
    if (!p) return {};
    const own = studentOutputs(student.analysis, student.weights, parts[part], shape);
    const { values: out, units: u } = predictiveOutputs(own, task, student.analysis.outputShape[0]);
    return { ...metricsFromOutputs(out, parts[part], task, u), ...studentFidelity(p, out, parts[part], u) };
  };
  const metric = ruleMetric(config.select, task);
  const members: FrontMember[] = [];
  let report: EvaluationReport | null = null;
  for (const s of students) {
    if (s.candidates) {
      const chosen = await bestCandidate(
        s.candidates,
        metric,
        (run) => openStudentRun(run, opts.runsDir),
        metricsOn,
      );
      s.run = chosen.run;
      s.member = { ...s.member, candidate: chosen.rank, candidates: chosen.table };
      log(
        `front ${s.name}: candidate ${chosen.rank} of ${s.candidates.length} on validation ${metric} (${chosen.table.find((c) => c.rank === chosen.rank)!.arch})`,
      );
    }
    const evalOpts = {
      ...opts,
      run: s.run,
      mapEpochs: 0,
      plots: false,
      latencyRuns: config.latencyRuns,
      reportName: FRONT_REPORT,
    };
    report = (opts.force ? null : await upToDateReport(evalOpts)) ?? (await evaluateRun(evalOpts));
    const student = await openStudentRun(s.run, opts.runsDir);
    const r = report.models.student;
    members.push({
      name: s.name,
      kind: s.kind,
      budget: null,
      lambda: null,
      ...s.member,
      arch:
        s.kind === 'reference' ? student.analysis.spec.name : archDescription(student.analysis.spec.edges),
      parameters: r.parameters,
      bytes: r.bytes,
      latencyMs: r.latencyMs,
      test: metricsOn(student, 'test'),
      validation: metricsOn(student, 'validation'),
      runs: [s.run],
    });
  }
  const e = report!.models.ensemble;
  const front = withSelection(
    {
      format: 'bdk-front',
      version: 1,
      dataset: tc.dataset,
      task,
      splits: [tc.split],
      ensemble: { parameters: e.parameters, bytes: e.bytes, latencyMs: e.latencyMs, test: e.metrics },
      members: frontOrder(members),
    },
    config.select,
  );
  await writeFront(runDir, front);
  log(`front: ${members.length} students; selected ${front.selected ?? 'none'}; wrote ${runDir}/front.json`);
  return { runDir, completed: true, front };
}

/** Writes `front.json`, `front.md` and `front.svg` (the selection metric on test against parameters). */
export async function writeFront(dir: string, front: Front): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, 'front.json'), frontJson(front));
  await writeFileAtomic(path.join(dir, 'front.md'), frontMarkdown(front));
  const metric = ruleMetric(front.select, front.task);
  await writeFileAtomic(
    path.join(dir, 'front.svg'),
    frontSvg(
      front.members.map((m) => ({
        name: m.name,
        parameters: m.parameters,
        value: m.test[metric] ?? NaN,
        kind: m.kind,
      })),
      {
        title: `Front on ${front.dataset}: test ${metric} against size`,
        yLabel: `test ${metric}`,
        selected: front.selected,
      },
    ),
  );
}

/** The search run's summary: as stored when finished with these settings, else searched (resumed). */
async function finishedSearch(
  sc: SearchConfig,
  run: string,
  split: number,
  opts: FrontOptions,
): Promise<SearchSummary | null> {
  const action = await checkFinishedRun<SearchConfig, SearchSummary>(
    {
      split,
      run,
      ...SEARCH_RUN_FILES,
      config: sc,
    },
    opts,
  );
  if (action.summary) return action.summary;
  return (await searchStructure(sc, { ...opts, run, resume: action.resume })).summary;
}

/** The student run's summary: as stored when finished with these settings, else distilled (resumed). */
async function finishedStudent(
  dc: DistillConfig,
  run: string,
  split: number,
  opts: FrontOptions,
): Promise<StudentSummary | null> {
  const action = await checkFinishedRun<DistillConfig, StudentSummary>(
    {
      split,
      run,
      ...STUDENT_RUN_FILES,
      config: dc,
    },
    opts,
  );
  if (action.summary) return action.summary;
  const r = await distillStudent(dc, { ...opts, run, resume: action.resume });
  if (r.summary)
    opts.log?.(
      `front: student ${run} (${r.summary.parameterCount} parameters) ${Object.entries(r.summary.metrics)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(', ')}`,
    );
  return r.summary;
}

type OpenStudent = Awaited<ReturnType<typeof openStudentRun>>;

/**
 * The candidate whose student scores best on the validation rows by `metric` (the selection rule's),
 * the first (the searched architecture) on ties or without validation rows; with each candidate's
 * architecture, size and validation value.
 */
async function bestCandidate(
  candidates: { rank: number; run: string }[],
  metric: string,
  open: (run: string) => Promise<OpenStudent>,
  metricsOn: (student: OpenStudent, part: 'validation') => Record<string, number>,
): Promise<{ rank: number; run: string; table: NonNullable<FrontMember['candidates']> }> {
  const table: NonNullable<FrontMember['candidates']> = [];
  let best: { rank: number; run: string; value: number } | null = null;
  const sign = metricHigherIsBetter(metric) ? 1 : -1;
  for (const c of candidates) {
    const student = await open(c.run);
    const value = metricsOn(student, 'validation')[metric];
    table.push({
      rank: c.rank,
      arch: archDescription(student.analysis.spec.edges),
      parameters: student.analysis.parameterCount,
      validation: value ?? null,
    });
    if (value !== undefined && Number.isFinite(value) && (!best || sign * (value - best.value) > 0))
      best = { ...c, value };
  }
  return { ...(best ?? candidates[0]), table };
}

/** A student's raw outputs [n, units] on a part's rows. */
function studentOutputs(
  a: ReturnType<typeof analyzeSpec>,
  weights: Float32Array,
  part: PartArrays,
  shape: number[],
): Float32Array {
  return tf.tidy(
    () =>
      tf
        .squeeze(
          forward(
            a,
            unflatten(a, tf.tensor2d(weights, [1, a.parameterCount])),
            tf.tensor(part.x, [1, part.rows, ...shape]),
          ),
          [0],
        )
        .dataSync() as Float32Array,
  );
}
