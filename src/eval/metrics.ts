/**
 * Predictive metrics, one import for both tasks: regression (Gaussian and Gaussian-mixture densities)
 * in `regression-metrics.ts`, classification (error, NLL, Brier, calibration, entropy) in
 * `classification-metrics.ts`.
 */
export * from './regression-metrics.js';
export * from './classification-metrics.js';
