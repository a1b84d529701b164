import * as tf from '@tensorflow/tfjs';
import { inputShape, type LoadedDataset, type PartArrays } from '../data/store.js';
import { effectiveSampleSize, splitRhat } from '../eval/diagnostics.js';
import { CONVERGENCE_THRESHOLDS, convergenceIssues } from '../eval/convergence-check.js';
import { classificationFidelity, regressionFidelity, softmaxRows, studentMoments } from '../eval/fidelity.js';
import { brier, ece, errorRate, nll, rmse } from '../eval/metrics.js';
import type { Analysis } from '../model/spec.js';
import { ensemblePredictive, type Predictive } from '../teacher/predictive.js';
import { readSamples } from '../samples/index.js';
import type { SampleConfig, TeacherSummary } from './sample-config.js';
import { runSampleFiles } from './run-folder.js';

/** Per-chain series from the samples of every shard of a run, keyed by global chain index. */
function byChain(chain: Int32Array, values: ArrayLike<number>): number[][] {
  const m = new Map<number, number[]>();
  for (let i = 0; i < chain.length; i++) {
    const list = m.get(chain[i]) ?? [];
    list.push(values[i]);
    m.set(chain[i], list);
  }
  return [...m.keys()].sort((a, b) => a - b).map((k) => m.get(k)!);
}

/**
 * Chains cut to the shortest one's length, for the convergence diagnostics (which need equal lengths):
 * while one shard of a run is still being sampled, or after one was resumed to more samples, the
 * shards' chains differ in length (readers refuse such a run until the shards are even).
 */
function evenChains(chains: number[][]): number[][] {
  const n = Math.min(...chains.map((c) => c.length));
  return chains.map((c) => c.slice(0, n));
}

/** Metrics of a predictive on the test rows: RMSE and mean log-likelihood, or error, NLL, Brier and ECE. */
export function predictiveMetrics(pred: Predictive, test: PartArrays): Record<string, number> {
  if (pred.task === 'regression') {
    const ll = pred.logDensity.reduce((s, v) => s + v, 0) / pred.logDensity.length;
    return { rmse: rmse(pred.mean, test.yRaw!), ll };
  }
  const labels = test.y as Int32Array;
  return {
    error: errorRate(pred.probs, labels, pred.classes),
    nll: nll(pred.probs, labels, pred.classes),
    brier: brier(pred.probs, labels, pred.classes),
    ece: ece(pred.probs, labels, pred.classes),
  };
}

/** Ensemble predictive on the test split from every shard's samples, with convergence diagnostics. */
export async function evaluateTeacher(
  runDir: string,
  run: string,
  config: SampleConfig,
  ds: LoadedDataset,
  analysis: Analysis,
  test: PartArrays,
  seconds: number,
): Promise<TeacherSummary> {
  const files = await runSampleFiles(runDir);
  const chainIds: number[] = [];
  const lls: number[] = [];
  // One pass over the samples: the predictive consumes the batches, and their chain ids and
  // log-likelihoods are collected on the way for the diagnostics.
  async function* recording() {
    for await (const b of readSamples(files)) {
      chainIds.push(...b.chain);
      lls.push(...b.logLikelihood);
      yield b;
    }
  }
  const x = tf.tensor(test.x, [test.rows, ...inputShape(ds)]);
  let pred: Predictive;
  try {
    pred = await ensemblePredictive(
      {
        analysis,
        task: ds.meta.task,
        x,
        y: test.y,
        target: test.normalization.target,
        trackPoints: Math.min(50, test.rows),
      },
      recording(),
    );
  } finally {
    x.dispose();
  }
  const chainArr = Int32Array.from(chainIds);
  const llChains = evenChains(byChain(chainArr, lls));
  const rhats: number[] = [];
  const esses: number[] = [];
  for (const series of pred.tracked) {
    const perChain = evenChains(byChain(chainArr, series));
    rhats.push(splitRhat(perChain));
    esses.push(effectiveSampleSize(perChain));
  }
  const finite = (xs: number[]) => xs.filter(Number.isFinite).sort((a, b) => a - b);
  const r = finite(rhats);
  const e = finite(esses);
  const diagnostics = {
    logLikelihood: { ess: effectiveSampleSize(llChains), rhat: splitRhat(llChains) },
    testPredictions: {
      points: pred.tracked.length,
      rhatMax: r.at(-1) ?? NaN,
      rhatMedian: r[Math.floor(r.length / 2)] ?? NaN,
      essMin: e[0] ?? NaN,
    },
  };
  return {
    run,
    dataset: config.dataset,
    split: config.split,
    arch: analysis.spec.name,
    sampler: config.sampler,
    parameterCount: analysis.parameterCount,
    samples: pred.samples,
    chains: llChains.length,
    metrics: predictiveMetrics(pred, test),
    diagnostics: {
      ...diagnostics,
      warnings: convergenceIssues(diagnostics),
      thresholds: { ...CONVERGENCE_THRESHOLDS },
    },
    seconds,
  };
}

/**
 * The fidelity of a student's raw outputs to the ensemble's predictive on the same rows of `part`
 * (eval/fidelity.ts): KL, agreement and total variation for classification; KL, RMSE between the
 * means and the correlation of the predictive sds for regression, in the target's original units.
 */
export function studentFidelity(
  p: Predictive,
  out: Float32Array,
  part: PartArrays,
  units: number,
): Record<string, number> {
  if (p.task === 'classification') return classificationFidelity(p.probs, softmaxRows(out, units), units);
  const s = studentMoments(out, part.normalization.target!);
  return regressionFidelity(p.mean, p.variance, s.mean, s.variance);
}
