import { UserError } from '../core/errors.js';
import type { TargetScaling } from '../data/target-transform.js';

/**
 * The parts of an export's `bdk.json` the runtime reads (the manifest `bdk export` writes; see
 * docs/cli.md, `export`). Declared here rather than imported from the export stage, so the runtime
 * stays free of Node-only modules.
 */
export interface StudentManifest {
  format: 'bdk-export';
  version: 1;
  task: 'regression' | 'classification';
  /** Input columns in order (tabular data), or one name for an image's pixels. */
  features: string[];
  featureCount: number;
  imageShape: [number, number, number] | null;
  target: string;
  classNames: string[] | null;
  standardization: {
    /** x' = (x − mean)/std per feature (`zscore`), or (x − offset)/scale for every input (`scale`). */
    features: { kind: 'zscore' | 'scale'; mean?: number[]; std?: number[]; offset?: number; scale?: number };
    target: TargetScaling | null;
  };
  /**
   * What the network outputs: classification logits, or a Dirichlet student's log-concentrations;
   * regression standardized mean and log-variance, or a two-variance student's mean, log aleatoric and
   * log epistemic variance (docs/design.md §2.6, §2.7).
   */
  outputs: 'logits' | 'mean-logvar' | 'log-concentrations' | 'mean-logvar-aleatoric-logvar-epistemic';
  temperature: number;
  quantization: string;
  /** Size and SHA-256 (hex) of every other file of the export; absent in exports made before them. */
  files?: Record<string, { bytes: number; sha256: string }>;
}

const OUTPUTS = {
  regression: ['mean-logvar', 'mean-logvar-aleatoric-logvar-epistemic'],
  classification: ['logits', 'log-concentrations'],
} as const;

/** Parses and checks `bdk.json`: a field the runtime needs that is missing or wrong is a one-line error. */
export function parseManifest(text: string, where: string): StudentManifest {
  let m: StudentManifest;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const bad = (what: string) => new UserError(`${where}: ${what}; not a bdk export manifest`);
  if (!m || m.format !== 'bdk-export') throw bad(`format is ${JSON.stringify(m?.format)}, not "bdk-export"`);
  if (m.version !== 1) throw bad(`unsupported version ${JSON.stringify(m.version)}`);
  if (m.task !== 'regression' && m.task !== 'classification')
    throw bad(`unknown task ${JSON.stringify(m.task)}`);
  if (!(OUTPUTS[m.task] as readonly string[]).includes(m.outputs))
    throw new UserError(
      `${where}: outputs ${JSON.stringify(m.outputs)} are not supported for ${m.task} (expected ${OUTPUTS[m.task].map((o) => `"${o}"`).join(' or ')})`,
    );
  if (!Number.isInteger(m.featureCount) || m.featureCount <= 0)
    throw bad('featureCount is not a positive integer');
  if (!Array.isArray(m.features)) throw bad('features is not a list');
  if (!m.imageShape && m.features.length !== m.featureCount)
    throw bad(`${m.features.length} feature names for featureCount ${m.featureCount}`);
  const s = m.standardization?.features;
  if (s?.kind === 'zscore') {
    if (s.mean?.length !== m.featureCount || s.std?.length !== m.featureCount)
      throw bad(`standardization.features needs ${m.featureCount} means and stds`);
  } else if (s?.kind !== 'scale' || !Number.isFinite(s.offset) || !Number.isFinite(s.scale))
    throw bad('standardization.features is missing or unknown');
  if (m.task === 'regression' && !m.standardization.target) throw bad('standardization.target is missing');
  if (m.task === 'classification' && (!Array.isArray(m.classNames) || m.classNames.length < 2))
    throw bad('classNames is missing');
  if (!(m.temperature > 0)) throw bad(`temperature ${m.temperature} is not positive`);
  return m;
}
