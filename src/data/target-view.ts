import { fitTargetScaling, fromRanges, type Split, type SplitsFile } from './splits.js';
import type { LoadedDataset } from './store.js';
import { checkTargetTransform, type TargetTransform } from './target-transform.js';

/**
 * A regression target's transform is a modelling choice of the teacher (`bdk sample
 * --target-transform`, a pipeline's `teacher.targetTransform`), not part of the dataset: a dataset
 * stores its rows and splits, and the teacher's transform is applied when the data is loaded.
 */

/**
 * The transform a teacher models: its own setting when it has one, else the default its dataset
 * recorded (the deprecated `bdk data prepare --target-transform`), else the identity.
 */
export function resolveTargetTransform(
  own: TargetTransform | undefined,
  splits: Pick<SplitsFile, 'targetTransform'>,
): TargetTransform {
  return own ?? splits.targetTransform ?? 'none';
}

/**
 * The dataset as a teacher with target transform `transform` sees it: every split's target scaling
 * fitted on T(y) over the split's train rows by `fitTargetScaling` (the arithmetic of preparing, so
 * the numbers equal those a dataset prepared with the transform stores). A stored scaling that
 * already has the transform is used as it is. Classification data and the identity on an identity
 * dataset come back unchanged. `setting` names where the transform was asked for, in the one-line
 * error for a log of class labels or of a non-positive target.
 */
export function withTargetTransform(
  ds: LoadedDataset,
  transform: TargetTransform,
  setting = '--target-transform',
): LoadedDataset {
  checkTargetTransform(ds.meta, ds.targets, transform, setting);
  if (ds.meta.task !== 'regression') return ds;
  const t = transform === 'log' ? 'log' : undefined;
  let changed = false;
  const splits = ds.splits.splits.map((split): Split => {
    const stored = split.normalization.target;
    if (stored && stored.transform === t) return split;
    changed = true;
    const target = fitTargetScaling(ds.targets, fromRanges(split.train), t);
    return { ...split, normalization: { ...split.normalization, target } };
  });
  return changed ? { ...ds, splits: { ...ds.splits, splits } } : ds;
}
