import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.js';
import type { PartArrays } from '../data/store.js';
import type { IntervalCalibration } from '../eval/interval-calibration.js';
import { coveragePlotSvg } from '../eval/plots/coverage.js';
import { predictionPlots, trainingPlots, type PlotFile } from '../eval/plots/evaluation.js';
import type { Predictive } from '../teacher/predictive.js';

/**
 * SVG plots beside an evaluation report: reliability diagrams (classification) or predicted mean ± 2 sd
 * against the targets (regression) for the ensemble and the student, the coverage of the regression
 * models' central intervals against their nominal level (`coverage.svg`), the distillation loss per
 * epoch, and the teacher's minibatch log-likelihood trace per chain. `eval/plots/` draws them; this
 * reads the traces and writes the files.
 */
export async function writeEvaluationPlots(
  runDir: string,
  teacherDir: string,
  task: 'regression' | 'classification',
  test: PartArrays,
  ensemble: Predictive,
  student: Float32Array,
  units: number,
  calibration: Record<string, IntervalCalibration>,
): Promise<void> {
  const write = async (plots: PlotFile[]) => {
    for (const { file, svg } of plots) await writeFileAtomic(path.join(runDir, file), svg);
  };
  await write(predictionPlots(task, test, ensemble, student, units));
  if (Object.keys(calibration).length)
    await write([{ file: 'coverage.svg', svg: coveragePlotSvg(calibration) }]);
  const readCsv = async (file: string) =>
    (await fs.readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const loss = (await readCsv(path.join(runDir, 'distill-trace.csv'))).map((l) => l.split(',').map(Number));
  const traces = (await fs.readdir(teacherDir)).filter((f) => /^trace-c\d+\.csv$/.test(f));
  const byChain = new Map<number, { x: number[]; y: number[] }>();
  for (const f of traces) {
    for (const line of (await readCsv(path.join(teacherDir, f))).slice(1)) {
      const [step, chain, ll] = line.split(',').map(Number);
      const c = byChain.get(chain) ?? { x: [], y: [] };
      c.x.push(step);
      c.y.push(ll);
      byChain.set(chain, c);
    }
  }
  await write(trainingPlots(loss, byChain));
}
