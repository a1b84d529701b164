import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../core/atomic-write.js';
import { shiftPlotSvg } from '../eval/plots/shift.js';
import { UserError } from '../core/errors.js';
import { describeDataset, loadDataset, type LoadedDataset, type PartArrays } from '../data/store.js';
import { Rng } from '../core/rng.js';
import { classificationFidelity, softmaxRows } from '../eval/fidelity.js';
import { dirichletRows } from '../eval/student-heads.js';
import {
  addGaussianNoise,
  BUILTIN_OOD,
  builtinOodImages,
  pixelScalingOf,
  rotateStoredImages,
  type PixelScaling,
  type ShiftSpec,
} from '../eval/image-shift.js';
import { oodScore, type OodScore } from '../eval/ood-scores.js';
import { rowEntropies } from '../eval/uncertainty-decomposition.js';
import type { Predictive } from '../teacher/predictive.js';
import { metricsFromOutputs } from './distill.js';
import { predictiveMetrics } from './teacher-report.js';
import { predictiveCalibration, studentCalibration } from './uncertainty-report.js';

/**
 * The shift and OOD part of `bdk evaluate` (docs/design.md §4.7): every model run again on rotated or
 * noised test inputs (`--shift`), and its entropy (and the ensemble's mutual information) used to tell
 * the test rows from OOD inputs (`--ood`). These inputs are used only for this evaluation.
 */

export const SHIFT_STATEMENT =
  'Shifted and OOD inputs are used only for this evaluation, never for training or for choosing settings.';

/** What a model predicts for some inputs: a predictive (MAP, one sample, the ensemble) or the student's raw outputs. */
export type ModelOutput =
  | { kind: 'predictive'; p: Predictive }
  /** A student's outputs as the default head's; `head` names the head it was trained with (for `dirichlet`, MI). */
  | { kind: 'raw'; raw: Float32Array; units: number; head?: string };

/**
 * Runs one model on inputs `x` [n, ...shape] (normalized) with targets `y` (labels or standardized
 * targets; zeros for OOD inputs). A predictive must be made with `keepUncertainty`.
 */
export type ModelRunner = (x: tf.Tensor, y: Float32Array | Int32Array) => Promise<ModelOutput>;

export interface ShiftReport {
  kind: ShiftSpec['kind'];
  values: number[];
  /** Per model, per metric, one value per shift value. */
  models: Record<string, Record<string, number[]>>;
}

/** A model's OOD scores: entropy for every model, mutual information where it has an epistemic part. */
export interface OodModelScores {
  entropy: OodScore;
  mutualInformation?: OodScore;
}

export interface OodReport {
  /** Per OOD set, per model. */
  sets: Record<string, Record<string, OodModelScores>>;
  /** Rows: in-distribution test rows (negatives) and each set's (positives). */
  rows: { test: number; sets: Record<string, number> };
}

export interface ShiftInput {
  ds: LoadedDataset;
  test: PartArrays;
  shape: number[];
  /** The models in report order; the ensemble should come before the student (its fidelity needs it). */
  runners: Record<string, ModelRunner>;
  seed: number;
  dataDir?: string;
  log?: (msg: string) => void;
}

/**
 * Refuses, before any work, a shift or OOD setting the dataset cannot take: rotation and the built-in
 * OOD sets need images, noise needs tabular inputs, OOD needs classification, and a named OOD dataset
 * must exist with the same input shape.
 */
export async function checkShiftAndOod(
  ds: LoadedDataset,
  shift: ShiftSpec | undefined,
  ood: string[] | undefined,
  dataDir?: string,
): Promise<void> {
  const name = ds.meta.name;
  const image = ds.meta.imageShape !== null;
  if (shift?.kind === 'rotate' && !image)
    throw new UserError(`--shift rotate needs image data; dataset '${name}' is tabular (use noise:SCALES)`);
  if (shift?.kind === 'noise' && image)
    throw new UserError(
      `--shift noise is for tabular data; dataset '${name}' holds images (use rotate:ANGLES)`,
    );
  if (!ood) return;
  if (ds.meta.task !== 'classification')
    throw new UserError(`--ood needs a classification dataset; '${name}' is ${ds.meta.task}`);
  for (const set of ood) {
    if ((BUILTIN_OOD as readonly string[]).includes(set)) {
      if (!image) throw new UserError(`--ood ${set} needs image data; dataset '${name}' is tabular`);
      continue;
    }
    const other = (await describeDataset(set, dataDir)).meta;
    if (other.featureCount !== ds.meta.featureCount || (other.imageShape && !sameShape(other.imageShape, ds)))
      throw new UserError(
        `--ood dataset '${set}' has input shape [${other.imageShape ?? [other.featureCount]}], the run's dataset '${name}' has [${ds.meta.imageShape ?? [ds.meta.featureCount]}]`,
      );
  }
}

function sameShape(s: number[], ds: LoadedDataset): boolean {
  return JSON.stringify(s) === JSON.stringify(ds.meta.imageShape ?? [ds.meta.featureCount]);
}

async function onInputs<T>(
  x: Float32Array,
  input: ShiftInput,
  use: (t: tf.Tensor) => Promise<T>,
): Promise<T> {
  const t = tf.tensor(x, [x.length / input.shape.reduce((a, b) => a * b, 1), ...input.shape]);
  try {
    return await use(t);
  } finally {
    t.dispose();
  }
}

/** Each model's metrics on the shifted test inputs, one shift value at a time. */
export async function shiftEvaluation(input: ShiftInput, spec: ShiftSpec): Promise<ShiftReport> {
  const { test, ds } = input;
  const task = ds.meta.task;
  const models: ShiftReport['models'] = {};
  const pixels = pixelScaling(test, input.shape);
  for (const [k, v] of spec.values.entries()) {
    input.log?.(`shift ${spec.kind} ${v}`);
    const x =
      spec.kind === 'rotate'
        ? rotateStoredImages(test.x, input.shape, v, pixels)
        : addGaussianNoise(test.x, v, new Rng(input.seed).seed() + k);
    const part: PartArrays = { ...test, x };
    await onInputs(x, input, async (t) => {
      let ensemble: Predictive | undefined;
      for (const [name, run] of Object.entries(input.runners)) {
        const out = await run(t, test.y);
        if (name === 'ensemble' && out.kind === 'predictive') ensemble = out.p;
        const m = shiftMetrics(out, part, task, ensemble);
        const row = (models[name] ??= {});
        for (const [metric, value] of Object.entries(m)) (row[metric] ??= []).push(value);
      }
    });
  }
  return { kind: spec.kind, values: spec.values, models };
}

function shiftMetrics(
  out: ModelOutput,
  part: PartArrays,
  task: 'regression' | 'classification',
  ensemble: Predictive | undefined,
): Record<string, number> {
  if (out.kind === 'predictive') {
    const m = predictiveMetrics(out.p, part);
    const c = predictiveCalibration(out.p, part);
    return c ? { ...m, coverage90: c.coverage['0.9'], width90: c.width['0.9'] } : m;
  }
  const m = metricsFromOutputs(out.raw, part, task, out.units);
  if (task === 'regression') {
    const c = studentCalibration(out.raw, part, task)!;
    return { ...m, coverage90: c.coverage['0.9'], width90: c.width['0.9'] };
  }
  if (ensemble?.task !== 'classification') return m;
  const kl = classificationFidelity(ensemble.probs, softmaxRows(out.raw, out.units), out.units).klToEnsemble;
  return { ...m, klToEnsemble: kl };
}

/** The split's pixel normalization per image position (divided by 255, or a per-channel z-score). */
function pixelScaling(test: PartArrays, shape: readonly number[]): PixelScaling {
  return pixelScalingOf(
    test.normalization.features,
    shape.reduce((a, b) => a * b, 1),
  );
}

/** Per row: the entropy of the predictive, and the mutual information where the model has an epistemic part. */
function uncertaintyScores(out: ModelOutput): { entropy: Float64Array; mutualInformation?: Float64Array } {
  if (out.kind === 'raw') {
    const entropy = rowEntropies(softmaxRows(out.raw, out.units), out.units);
    // A Dirichlet student's outputs are its log-concentrations: it has an epistemic part of its own.
    if (out.head !== 'dirichlet') return { entropy };
    return { entropy, mutualInformation: dirichletRows(out.raw, out.units).mutualInformation };
  }
  const p = out.p;
  if (p.task !== 'classification') throw new Error('uncertaintyScores: a classification predictive');
  const entropy = rowEntropies(p.probs, p.classes);
  if (p.samples < 2 || !p.expectedEntropy) return { entropy };
  const e = p.expectedEntropy;
  return { entropy, mutualInformation: entropy.map((h, i) => Math.max(0, h - e[i])) };
}

/** The inputs of one OOD set, normalized as the run's training inputs. */
async function oodInputs(input: ShiftInput, set: string, k: number): Promise<Float32Array> {
  const { test } = input;
  const seed = new Rng(input.seed).seed() + 1000 + k;
  if ((BUILTIN_OOD as readonly string[]).includes(set))
    return builtinOodImages(
      set as (typeof BUILTIN_OOD)[number],
      test.x,
      input.shape,
      pixelScaling(test, input.shape),
      seed,
    );
  // A prepared dataset: its rows (a seeded subset as large as the test part when it has more).
  const other = await loadDataset(set, input.dataDir);
  const d = other.meta.featureCount;
  let rows = Int32Array.from({ length: other.meta.rows }, (_, i) => i);
  if (rows.length > test.rows) rows = new Rng(seed).permutation(rows.length).slice(0, test.rows).sort();
  const f = test.normalization.features;
  const x = new Float32Array(rows.length * d);
  for (const [r, i] of rows.entries())
    for (let j = 0; j < d; j++) {
      const v = other.features[i * d + j];
      x[r * d + j] = f.kind === 'zscore' ? (v - f.mean![j]) / f.std![j] : (v - f.offset!) / f.scale!;
    }
  return x;
}

/**
 * AUROC and AUPR of each model's entropy (and the ensemble's mutual information) for telling each
 * OOD set (positives) from the test rows (negatives).
 */
export async function oodEvaluation(input: ShiftInput, sets: string[]): Promise<OodReport> {
  const scores = async (x: Float32Array) =>
    onInputs(x, input, async (t) => {
      const y = new Int32Array(t.shape[0]);
      const out: Record<string, ReturnType<typeof uncertaintyScores>> = {};
      for (const [name, run] of Object.entries(input.runners)) out[name] = uncertaintyScores(await run(t, y));
      return out;
    });
  input.log?.('OOD: in-distribution test rows');
  const inDist = await scores(input.test.x);
  const report: OodReport = { sets: {}, rows: { test: input.test.rows, sets: {} } };
  for (const [k, set] of sets.entries()) {
    input.log?.(`OOD: ${set}`);
    const x = await oodInputs(input, set, k);
    const outDist = await scores(x);
    report.rows.sets[set] = x.length / input.shape.reduce((a, b) => a * b, 1);
    const bySet: Record<string, OodModelScores> = {};
    for (const [name, s] of Object.entries(outDist)) {
      const neg = inDist[name];
      bySet[name] = {
        entropy: oodScore(neg.entropy, s.entropy),
        ...(s.mutualInformation && neg.mutualInformation
          ? { mutualInformation: oodScore(neg.mutualInformation, s.mutualInformation) }
          : {}),
      };
    }
    report.sets[set] = bySet;
  }
  return report;
}

/**
 * The shift and OOD evaluations asked for (none: both undefined), and `shift.svg` in `plotDir` when
 * given and there is a shift.
 */
export async function shiftAndOod(
  input: ShiftInput,
  opts: { shift?: ShiftSpec; ood?: string[] },
  plotDir?: string,
): Promise<{ shift?: ShiftReport; ood?: OodReport }> {
  const shift = opts.shift ? await shiftEvaluation(input, opts.shift) : undefined;
  const ood = opts.ood ? await oodEvaluation(input, opts.ood) : undefined;
  if (shift && plotDir) await writeFileAtomic(path.join(plotDir, 'shift.svg'), shiftPlotSvg(shift));
  return { shift, ood };
}

const f4 = (v: number) => v.toFixed(4);

const METRIC_LABELS: Record<string, string> = {
  error: 'error',
  nll: 'NLL',
  brier: 'Brier',
  ece: 'ECE',
  klToEnsemble: 'KL(ensemble ‖ student)',
  rmse: 'RMSE',
  ll: 'LL',
  coverage90: '90 % coverage',
  width90: '90 % width',
};

/** The report's Markdown for the shift table and the OOD table (none when absent), and the statement. */
export function shiftMarkdown(
  shift: ShiftReport | undefined,
  ood: OodReport | undefined,
  labels: Record<string, string>,
): string[] {
  const out: string[] = [];
  const label = (n: string) => (labels[n] ? `${labels[n]} (\`${n}\`)` : `\`${n}\``);
  if (shift) {
    const unit = shift.kind === 'rotate' ? '°' : ' sd';
    const what =
      shift.kind === 'rotate'
        ? 'the test images rotated by each angle (bilinear, about the centre, black outside)'
        : 'the test inputs plus Gaussian noise of each scale (standardized units)';
    out.push(
      `Under shift: each model on ${what}; mean over the values in the last column.`,
      '',
      `| model | metric | ${shift.values.map((v) => `${v}${unit}`).join(' | ')} | mean |`,
      `| --- | --- | ${shift.values.map(() => '---').join(' | ')} | --- |`,
    );
    for (const [name, metrics] of Object.entries(shift.models))
      for (const [metric, vs] of Object.entries(metrics))
        out.push(
          `| ${label(name)} | ${METRIC_LABELS[metric] ?? metric} | ${vs.map(f4).join(' | ')} | ${f4(vs.reduce((a, b) => a + b, 0) / vs.length)} |`,
        );
    out.push('');
  }
  if (ood) {
    const sets = Object.keys(ood.sets);
    out.push(
      `Out-of-distribution detection: AUROC / AUPR of each score for telling the OOD inputs (positives) from the ${ood.rows.test} test rows (negatives); entropy of the predictive, and the mutual information where the model has an epistemic part.`,
      '',
      `| model | score | ${sets.map((s) => `${s} (${ood.rows.sets[s]} rows)`).join(' | ')} |`,
      `| --- | --- | ${sets.map(() => '---').join(' | ')} |`,
    );
    const models = Object.keys(ood.sets[sets[0]]);
    for (const name of models)
      for (const score of ['entropy', 'mutualInformation'] as const) {
        if (!ood.sets[sets[0]][name][score]) continue;
        const cells = sets.map((s) => {
          const v = ood.sets[s][name][score]!;
          return `${f4(v.auroc)} / ${f4(v.aupr)}`;
        });
        out.push(
          `| ${label(name)} | ${score === 'entropy' ? 'entropy' : 'mutual information'} | ${cells.join(' | ')} |`,
        );
      }
    out.push('');
  }
  if (shift || ood) out.push(SHIFT_STATEMENT, '');
  return out;
}
