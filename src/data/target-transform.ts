import { UserError } from '../core/errors.js';

/**
 * A regression target's transform before standardization: models see z = (T(y) − mean)/std, with
 * T = identity (`none`) or T = log (`log`, for positive targets such as prices). A model's Gaussian
 * N(μ, σ²) over z is then a Gaussian (`none`) or a log-normal (`log`) over y: a log target gives
 * multiplicative noise, whose spread grows with the predicted value.
 */
export const TARGET_TRANSFORMS = ['none', 'log'] as const;
export type TargetTransform = (typeof TARGET_TRANSFORMS)[number];

/** A split's target standardization; `transform` is absent for the identity (older splits files). */
export interface TargetScaling {
  mean: number;
  std: number;
  transform?: 'log';
}

/** T(y): y, or log y. */
export function transformTarget(transform: 'log' | undefined, y: number): number {
  return transform === 'log' ? Math.log(y) : y;
}

/** z = (T(y) − mean)/std. */
export function standardizeTarget(t: TargetScaling, y: number): number {
  return (transformTarget(t.transform, y) - t.mean) / t.std;
}

/**
 * Checks that every target can be a log target (positive and finite), naming the first that cannot
 * and the setting that asked for it (`--target-transform`, `teacher.targetTransform`).
 */
export function checkLogTransformable(
  targets: ArrayLike<number>,
  where: { dataset: string; column: string },
  setting = '--target-transform',
): void {
  for (let i = 0; i < targets.length; i++) {
    const v = targets[i];
    if (!(v > 0 && Number.isFinite(v))) {
      throw new UserError(
        `${where.dataset}: target '${where.column}' must be positive for ${setting} log; row ${i + 1} has ${v}`,
      );
    }
  }
}

/**
 * Checks that a dataset's targets can take `transform`: the identity always; `log` only a regression
 * target whose values are all positive. The one-line error names the dataset and `setting`.
 */
export function checkTargetTransform(
  meta: { name: string; task: 'regression' | 'classification'; target: string },
  targets: ArrayLike<number>,
  transform: TargetTransform | undefined,
  setting = '--target-transform',
): void {
  if (transform !== 'log') return;
  if (meta.task !== 'regression')
    throw new UserError(
      `${meta.name}: ${setting} ${transform} applies to regression targets; this dataset is ${meta.task}`,
    );
  checkLogTransformable(targets, { dataset: meta.name, column: meta.target }, setting);
}

/**
 * Mean and variance in the target's original units of a model's Gaussian N(μ, σ²) over the
 * standardized z: for `none` mean + std·μ and std²·σ²; for `log` the log-normal's
 * e^(m + v/2) and (e^v − 1)·e^(2m + v), with m = mean + std·μ and v = std²·σ².
 */
export function originalMoments(
  t: TargetScaling,
  mu: number,
  variance: number,
): { mean: number; variance: number } {
  const m = t.mean + t.std * mu;
  const v = variance * t.std * t.std;
  if (t.transform !== 'log') return { mean: m, variance: v };
  return { mean: Math.exp(m + v / 2), variance: Math.expm1(v) * Math.exp(2 * m + v) };
}

/** The value of y whose transform is mean + std·μ (for `log` the log-normal's median e^m). */
export function originalLocation(t: TargetScaling, mu: number): number {
  const m = t.mean + t.std * mu;
  return t.transform === 'log' ? Math.exp(m) : m;
}

/**
 * log p(y) in the target's original units from log p(z) at its standardized value z: the change of
 * variables y → z subtracts log std and, for `log`, log y = mean + std·z (the Jacobian of T).
 */
export function originalLogDensity(t: TargetScaling, z: number, logDensityZ: number): number {
  const jacobian = t.transform === 'log' ? t.mean + t.std * z : 0;
  return logDensityZ - Math.log(t.std) - jacobian;
}

/** log N(z; μ, σ²) in the target's original units: the model's Gaussian over z, at y's z. */
export function originalGaussianLogDensity(
  t: TargetScaling,
  z: number,
  mu: number,
  variance: number,
): number {
  return originalLogDensity(t, z, -0.5 * Math.log(2 * Math.PI * variance) - (z - mu) ** 2 / (2 * variance));
}
