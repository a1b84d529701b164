import { describeDataset } from '../data/store.js';

/** The teacher run name of split k of a pipeline (k may be a shell variable, as in an emitted script). */
export const teacherRun = (pipeline: string, split: number | string) => `${pipeline}-s${split}-teacher`;

/** The structure-search run name of split k of a pipeline. */
export const searchRun = (pipeline: string, split: number) => `${pipeline}-s${split}-search`;

/** The student run name of split k of a pipeline. */
export const studentRun = (pipeline: string, split: number) => `${pipeline}-s${split}-student`;

/** The split indices a pipeline uses: every split of the dataset, or the listed ones. */
export async function pipelineSplits(
  dataset: string,
  use: 'all' | number[],
  dataDir?: string,
): Promise<number[]> {
  if (use !== 'all') return use;
  return (await describeDataset(dataset, dataDir)).splits.splits.map((s) => s.index);
}

export {
  checkFinishedRun as checkSplitRun,
  type FinishedRunCheck as SplitRunCheck,
  type FinishedRunAction as SplitRunAction,
} from '../stages/finished-run.js';
