import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { requireFinite } from '../core/finite.js';
import { pathExists, readJsonOrNull } from '../core/json-file.js';
import { checkFileTarget } from '../core/user-paths.js';
import { readInputTable, standardizedInputs } from '../data/input-table.js';
import { verifyFiles } from '../export/checksums.js';
import { loadLayersModelFromDir } from '../export/model-files.js';
import { MANIFEST_FILE, type ExportManifest } from './export.js';
import { originalLocation, originalMoments } from '../data/target-transform.js';
import { dirichletRows, predictiveOutputs } from '../eval/student-heads.js';

export interface Predictions {
  columns: string[];
  rows: number[][];
}

/** The extra columns of a `dirichlet` student (docs/design.md §2.6), in nats but α₀. */
export const DIRICHLET_COLUMNS = ['alpha0', 'totalEntropy', 'expectedEntropy', 'mutualInformation'];
/** The extra columns of a `two-variance` student (docs/design.md §2.7). */
export const TWO_VARIANCE_COLUMNS = ['aleatoricVariance', 'epistemicVariance'];

/**
 * Predictions with uncertainty from an exported model: regression mean and standard deviation in the
 * target's units (for a log target the log-normal's, and its median); classification probabilities
 * (softmax at the export's temperature), the predicted class and the predictive entropy in nats. A
 * `dirichlet` or `two-variance` student adds its own uncertainties (DIRICHLET_COLUMNS,
 * TWO_VARIANCE_COLUMNS).
 */
export async function predictFile(modelDir: string, inputFile: string): Promise<Predictions> {
  const m = await readJsonOrNull<ExportManifest>(path.join(modelDir, MANIFEST_FILE));
  if (!m || m.format !== 'bdk-export')
    throw new UserError(`${path.join(modelDir, MANIFEST_FILE)}: not found or not a bdk export manifest`);
  if (m.files) await verifyFiles(modelDir, m.files);
  const table = await readInputTable(inputFile);
  const x = standardizedInputs(table, m, m.standardization.features, inputFile);
  const model = await loadLayersModelFromDir(modelDir);
  const shape = m.imageShape ?? [m.featureCount];
  const out = tf.tidy(() => model.predict(tf.tensor(x, [table.rows, ...shape])) as tf.Tensor);
  const own = (await out.data()) as Float32Array;
  out.dispose();
  model.dispose();
  requireFinite(
    own,
    (i) =>
      `${modelDir}: the model's output for row ${Math.floor(i / (own.length / table.rows)) + 1} is ${own[i]}`,
    'check that row of the input, or export the model again',
  );
  const rows: number[][] = [];
  if (m.task === 'regression') {
    const t = m.standardization.target!;
    const log = t.transform === 'log';
    const twoVariance = m.head === 'two-variance';
    const v = predictiveOutputs(own, 'regression', twoVariance ? 3 : 2).values;
    for (let i = 0; i < table.rows; i++) {
      if (log) {
        // A log-normal: its mean and sd, and its median e^m, which a heavy right tail does not move.
        const o = originalMoments(t, v[2 * i], Math.exp(v[2 * i + 1]));
        rows.push([o.mean, Math.sqrt(o.variance), originalLocation(t, v[2 * i])]);
      } else rows.push([t.mean + t.std * v[2 * i], t.std * Math.exp(v[2 * i + 1] / 2)]);
      // The two variances of the standardized target × std²: the target's units squared, or of log y.
      if (twoVariance) rows[i].push(...[1, 2].map((c) => Math.exp(own[3 * i + c]) * t.std * t.std));
    }
    const columns = log ? ['mean', 'sd', 'median'] : ['mean', 'sd'];
    return { columns: twoVariance ? [...columns, ...TWO_VARIANCE_COLUMNS] : columns, rows };
  }
  const K = m.classNames!.length;
  for (let i = 0; i < table.rows; i++) {
    const z = Array.from(own.subarray(i * K, (i + 1) * K), (u) => u / m.temperature);
    const mx = Math.max(...z);
    const e = z.map((u) => Math.exp(u - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((u) => u / sum);
    const entropy = -p.reduce((s, q) => s + (q > 0 ? q * Math.log(q) : 0), 0);
    rows.push([...p, p.indexOf(Math.max(...p)), entropy]);
  }
  const columns = [...m.classNames!.map((c) => `p_${c}`), 'predicted', 'entropy'];
  if (m.head !== 'dirichlet') return { columns, rows };
  const d = dirichletRows(own, K);
  rows.forEach((r, i) =>
    r.push(d.alpha0[i], d.totalEntropy[i], d.expectedEntropy[i], d.mutualInformation[i]),
  );
  return { columns: [...columns, ...DIRICHLET_COLUMNS], rows };
}

export function toCsv(p: Predictions): string {
  return (
    [
      p.columns.join(','),
      ...p.rows.map((r) => r.map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(7))).join(',')),
    ].join('\n') + '\n'
  );
}

/** Writes predictions to a new file (atomically); an existing file is replaced only with `force`. */
export async function writePredictions(file: string, p: Predictions, force = false): Promise<void> {
  await checkFileTarget(file, '--output');
  if (!force && (await pathExists(file)))
    throw new UserError(`${file} already exists; pass --force to replace it`);
  await writeFileAtomic(file, toCsv(p));
}
