/**
 * The plots `bdk evaluate` writes beside its report: reliability diagrams (classification) or predicted
 * mean ± 2 sd against the targets (regression) for the ensemble and the student, the distillation loss
 * per epoch, and the teacher's minibatch log-likelihood trace per chain. The stage reads the traces and
 * writes the files; these functions only turn data into SVG documents.
 */
import type { PartArrays } from '../../data/store.js';
import { originalMoments } from '../../data/target-transform.js';
import type { Predictive } from '../../teacher/predictive.js';
import { ece, reliabilityBins } from '../metrics.js';
import { lineChartSvg } from './line-chart.js';
import { predictiveIntervalSvg } from './predictive-interval.js';
import { reliabilityDiagramSvg } from './reliability.js';

/** One SVG document and the file name (in the run folder) it is written to. */
export interface PlotFile {
  file: string;
  svg: string;
}

/**
 * The test-split plots of the ensemble and the student: `reliability-{ensemble,student}.svg` for
 * classification, `predictive-{ensemble,student}.svg` (original target units) for regression, none
 * when the task and the ensemble's predictive disagree. `student` holds the student's raw outputs on
 * the test rows: `units` logits per row, or (μ, log σ) of the standardized target per row.
 */
export function predictionPlots(
  task: 'regression' | 'classification',
  test: PartArrays,
  ensemble: Predictive,
  student: Float32Array,
  units: number,
): PlotFile[] {
  const out: PlotFile[] = [];
  if (task === 'classification' && ensemble.task === 'classification') {
    const labels = test.y as Int32Array;
    const probs = new Float64Array(student.length);
    for (let i = 0; i < test.rows; i++) {
      const z = student.subarray(i * units, (i + 1) * units);
      const m = Math.max(...z);
      let sum = 0;
      for (let k = 0; k < units; k++) sum += probs[i * units + k] = Math.exp(z[k] - m);
      for (let k = 0; k < units; k++) probs[i * units + k] /= sum;
    }
    for (const [name, p] of [
      ['ensemble', ensemble.probs],
      ['student', probs],
    ] as const) {
      out.push({
        file: `reliability-${name}.svg`,
        svg: reliabilityDiagramSvg(reliabilityBins(p, labels, units), {
          title: `Reliability: ${name}`,
          ece: ece(p, labels, units),
        }),
      });
    }
  } else if (ensemble.task === 'regression') {
    const t = test.normalization.target!;
    const y = test.yRaw!;
    const moments = Array.from({ length: test.rows }, (_, i) =>
      originalMoments(t, student[2 * i], Math.exp(student[2 * i + 1])),
    );
    const sMean = Float64Array.from(moments, (o) => o.mean);
    const sSd = Float64Array.from(moments, (o) => Math.sqrt(o.variance));
    out.push({
      file: 'predictive-ensemble.svg',
      svg: predictiveIntervalSvg(y, ensemble.mean, ensemble.variance.map(Math.sqrt), {
        title: 'Ensemble: predictive mean ± 2 sd',
        xLabel: 'target',
        yLabel: 'prediction',
      }),
    });
    out.push({
      file: 'predictive-student.svg',
      svg: predictiveIntervalSvg(y, sMean, sSd, {
        title: 'Student: predictive mean ± 2 sd',
        xLabel: 'target',
        yLabel: 'prediction',
      }),
    });
  }
  return out;
}

/**
 * The training-curve plots: `distill-loss.svg` from the rows [epoch, loss, …] of `distill-trace.csv`,
 * and `teacher-trace.svg` with one line per chain (in chain order) of the minibatch log-likelihood per
 * example against the step; each only when it has rows.
 */
export function trainingPlots(
  distillLoss: number[][],
  chains: Map<number, { x: number[]; y: number[] }>,
): PlotFile[] {
  const out: PlotFile[] = [];
  if (distillLoss.length) {
    out.push({
      file: 'distill-loss.svg',
      svg: lineChartSvg(
        [
          {
            name: 'distillation loss',
            x: distillLoss.map((r) => r[0]),
            y: distillLoss.map((r) => r[1]),
          },
        ],
        {
          title: 'Distillation loss per epoch',
          xLabel: 'epoch',
          yLabel: 'loss',
        },
      ),
    });
  }
  if (chains.size) {
    const series = [...chains.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([c, v]) => ({ name: `chain ${c}`, ...v }));
    out.push({
      file: 'teacher-trace.svg',
      svg: lineChartSvg(series, {
        title: 'Teacher: minibatch log-likelihood per example',
        xLabel: 'step',
        yLabel: 'log-likelihood',
      }),
    });
  }
  return out;
}
