/**
 * bdk as a library: the same stage functions the CLI calls, one per command, and the pipeline runner.
 * Each stage takes a config (built with the `*ConfigFrom` helpers, which apply the CLI's defaults) and
 * writes a run folder under the runs folder (`checkpoints/`, or `BDK_RUNS_DIR`). Select a backend with
 * `selectBackend()` before calling a stage that computes.
 */
export { selectBackend, describeBackend, type BackendChoice, type BackendInfo } from './backend/select.js';
export { UserError } from './core/errors.js';
export { loadDataset, describeDataset, type LoadedDataset } from './data/store.js';
export { analyzeSpec, type Analysis, type ArchSpec } from './model/spec.js';

export { prepareBuiltin, importTable } from './stages/prepare.js';
export {
  sampleConfigFrom,
  SAMPLE_DEFAULTS,
  type SampleConfig,
  type SampleInput,
  type TeacherSummary,
} from './stages/sample-config.js';
export { sampleTeacher, type SampleOptions, type SampleResult } from './stages/sample.js';
export { convertSamples, type ConvertSamplesOptions, type ConvertSummary } from './stages/convert-samples.js';
export { searchConfigFrom, SEARCH_DEFAULTS, type SearchInput } from './stages/search-config.js';
export {
  searchStructure,
  type SearchConfig,
  type SearchOptions,
  type SearchSummary,
} from './stages/search.js';
export { distillConfigFrom, DISTILL_DEFAULTS, type DistillInput } from './stages/distill-config.js';
export {
  distillStudent,
  type DistillConfig,
  type DistillOptions,
  type StudentSummary,
} from './stages/distill.js';
export { evaluateRun, type EvaluateOptions, type EvaluationReport } from './stages/evaluate.js';
export { exportStudent, type ExportManifest, type ExportOptions } from './stages/export.js';
export { predictFile, type Predictions } from './stages/predict.js';

export { loadPipeline, parsePipeline } from './pipeline/load.js';
export type { PipelineConfig, PipelineInput } from './pipeline/schema.js';
export { runPipeline, type RunOptions, type StageResult } from './pipeline/run.js';
