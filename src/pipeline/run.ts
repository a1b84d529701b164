import { UserError } from '../core/errors.js';
import type { SaveResult } from '../data/store.js';
import { importTable, prepareBuiltin, resolveRelative } from '../stages/prepare.js';
import { pipelineTeacher, sampleSplits } from './teacher-splits.js';
import { pipelineSplits } from './split-run.js';
import { formatNumber, formatSummary, type MetricSummary, type SplitStageOptions } from './summary.js';
import { distillSplits } from './distill-splits.js';
import { searchSplits } from './search-splits.js';
import { frontSplits, isFrontPipeline } from './front-splits.js';
import { evaluateSplits, exportFirstSplit } from './evaluate-splits.js';
import type { PipelineConfig } from './schema.js';

/** Stages in execution order; a stage runs when its section is present in the pipeline. */
export const STAGES = ['prepare', 'sample', 'search', 'distill', 'evaluate', 'export'] as const;
export type StageName = (typeof STAGES)[number];

/** Which pipeline section configures each stage (prepare always runs). */
const SECTION: Record<StageName, keyof PipelineConfig | null> = {
  prepare: null,
  sample: 'teacher',
  search: 'search',
  distill: 'distillation',
  evaluate: 'evaluation',
  export: 'export',
};

export interface RunOptions extends SplitStageOptions {
  /** The pipeline file's path, for resolving relative paths and for messages. */
  file: string;
  /** Run only these stages (default: every stage the pipeline configures). */
  stages?: StageName[];
}

export interface StageResult {
  stage: StageName;
  status: 'done' | 'unchanged' | 'interrupted';
  summary: string;
  details?: unknown;
  /** The file the stage wrote its result to (evaluate: the report), when it wrote one. */
  file?: string | null;
}

/** The stages a pipeline configures, in order, restricted to `only` when given. */
export function plannedStages(config: PipelineConfig, only?: StageName[]): StageName[] {
  return STAGES.filter((s) => {
    const section = SECTION[s];
    const configured = section === null || config[section] !== undefined;
    return configured && (!only || only.includes(s));
  });
}

/** Runs the pipeline's stages in order; each stage is idempotent, so re-running resumes. */
export async function runPipeline(config: PipelineConfig, opts: RunOptions): Promise<StageResult[]> {
  const log = opts.log ?? (() => {});
  // A child of `bdk run --jobs` runs part of the splits: its stage lines are detail, its parent's count.
  const kind = opts.summaries === false ? 'detail' : 'info';
  const results: StageResult[] = [];
  for (const stage of plannedStages(config, opts.stages)) {
    log(`stage ${stage}: start`, kind);
    const result = await STAGE_RUNNERS[stage](config, opts);
    results.push(result);
    log(`stage ${stage}: ${result.summary}`, kind);
    if (result.status === 'interrupted') break;
  }
  return results;
}

async function runPrepare(config: PipelineConfig, opts: RunOptions): Promise<StageResult> {
  const { dataset } = config;
  const overrides = dataset.splits ?? {};
  const storeOpts = { dir: opts.dataDir, force: opts.force };
  let saved: SaveResult;
  if (dataset.import && dataset.from !== undefined)
    throw new UserError(
      `${opts.file}: dataset.from is the folder of a built-in dataset's files (cifar10); an imported dataset names its file in dataset.import.file`,
    );
  if (dataset.import) {
    const imp = dataset.import;
    saved = await importTable(
      {
        ...imp,
        file: resolveRelative(imp.file, opts.file),
        ...(imp.labels ? { labels: resolveRelative(imp.labels, opts.file) } : {}),
        name: dataset.name,
      },
      overrides,
      storeOpts,
    );
  } else {
    const from = dataset.from === undefined ? undefined : resolveRelative(dataset.from, opts.file);
    saved = await prepareBuiltin(dataset.name, overrides, storeOpts, { from });
  }
  return {
    stage: 'prepare',
    status: saved.status === 'unchanged' ? 'unchanged' : 'done',
    summary: `${saved.status === 'unchanged' ? 'up to date' : 'wrote'} ${saved.file} (${saved.meta.rows} rows, ${saved.splits.count} splits)`,
  };
}

function describeAggregate(
  what: string,
  aggregate: MetricSummary,
  splits: number,
  file: string | null,
): string {
  const text = Object.entries(aggregate)
    .map(([k, v]) => `${k} ${formatSummary(v)}`)
    .join(', ');
  const spread = splits > 1 ? ' (mean ± standard error)' : '';
  return `${what} over ${splits} split${splits > 1 ? 's' : ''}: ${text}${spread}${file ? `; wrote ${file}` : ''}`;
}

async function runSample(config: PipelineConfig, opts: RunOptions): Promise<StageResult> {
  const r = await sampleSplits(
    config.name,
    config.dataset.name,
    config.dataset.use,
    pipelineTeacher(config),
    config.seed,
    opts,
  );
  if (!r.completed)
    return {
      stage: 'sample',
      status: 'interrupted',
      summary: 'interrupted; run the same command again to resume',
    };
  return {
    stage: 'sample',
    status: 'done',
    summary: describeAggregate('ensemble', r.aggregate, r.summaries.length, r.file),
    details: r.aggregate,
  };
}

async function runSearch(config: PipelineConfig, opts: RunOptions): Promise<StageResult> {
  const splits = await pipelineSplits(config.dataset.name, config.dataset.use, opts.dataDir);
  if (isFrontPipeline(config)) {
    const f = await frontSplits(config, splits, opts);
    if (!f.completed)
      return {
        stage: 'search',
        status: 'interrupted',
        summary: 'interrupted; run the same command again to resume',
      };
    const n = f.front!.members.length;
    return {
      stage: 'search',
      status: 'done',
      summary: `front of ${n} students over ${splits.length} split${splits.length > 1 ? 's' : ''}: selected ${f.front!.selected}; wrote ${f.file}`,
      details: f.front,
    };
  }
  const r = await searchSplits(config, splits, opts);
  if (!r.completed)
    return {
      stage: 'search',
      status: 'interrupted',
      summary: 'interrupted; run the same command again to resume',
    };
  return {
    stage: 'search',
    status: 'done',
    summary: describeAggregate('searched student', r.aggregate, r.summaries.length, r.file),
    details: r.aggregate,
  };
}

async function runDistill(config: PipelineConfig, opts: RunOptions): Promise<StageResult> {
  const splits = await pipelineSplits(config.dataset.name, config.dataset.use, opts.dataDir);
  const r = await distillSplits(config, splits, opts);
  if (!r.completed)
    return {
      stage: 'distill',
      status: 'interrupted',
      summary: 'interrupted; run the same command again to resume',
    };
  return {
    stage: 'distill',
    status: 'done',
    summary: describeAggregate('student', r.aggregate, r.summaries.length, r.file),
    details: r.aggregate,
  };
}

async function runEvaluate(config: PipelineConfig, opts: RunOptions): Promise<StageResult> {
  const splits = await pipelineSplits(config.dataset.name, config.dataset.use, opts.dataDir);
  const { report, file } = await evaluateSplits(config, splits, opts);
  const s = report.models.student!;
  const en = report.models.ensemble!;
  const text = (m: MetricSummary) =>
    Object.entries(m)
      .filter(([k]) => !['parameters', 'bytes', 'latencyMs'].includes(k))
      .map(([k, v]) => `${k} ${formatNumber(v.mean)}`)
      .join(', ');
  return {
    stage: 'evaluate',
    status: 'done',
    summary: `student ${text(s)}; ensemble ${text(en)}; student ${(en.parameters.mean / s.parameters.mean).toFixed(0)}× smaller, ${(en.latencyMs.mean / s.latencyMs.mean).toFixed(0)}× faster${file ? `; wrote ${file}` : ''}`,
    details: report,
    file,
  };
}

async function runExport(config: PipelineConfig, opts: RunOptions): Promise<StageResult> {
  const splits = await pipelineSplits(config.dataset.name, config.dataset.use, opts.dataDir);
  const { dir, manifest } = await exportFirstSplit(config, splits, opts);
  return {
    stage: 'export',
    status: 'done',
    summary: `wrote ${dir} (split ${splits[0]} student, ${manifest.bytes} bytes of ${manifest.quantization === 'none' ? 'float32' : manifest.quantization} weights)`,
    details: manifest,
  };
}

const STAGE_RUNNERS: Record<StageName, (config: PipelineConfig, opts: RunOptions) => Promise<StageResult>> = {
  prepare: runPrepare,
  sample: runSample,
  search: runSearch,
  distill: runDistill,
  evaluate: runEvaluate,
  export: runExport,
};
