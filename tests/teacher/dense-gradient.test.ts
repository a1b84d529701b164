import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { BUILTIN_ARCHS } from '../../src/model/builtins.js';
import { forward } from '../../src/model/forward.js';
import { analyzeSpec, type Analysis, type ArchSpec } from '../../src/model/spec.js';
import { denseStack } from '../../src/teacher/dense-gradient.js';
import { dropoutLikelihoodGradient, maskedKernels } from '../../src/teacher/mc-dropout.js';
import {
  batchLogLikelihood,
  disposeGradient,
  estimateGradient,
  priorGradient,
  type PosteriorModel,
} from '../../src/teacher/posterior.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

const C = 3;
const M = 7;

function stack(input: number[], layers: { units: number; activation?: string }[], flatten = false): ArchSpec {
  const nodes = layers.map((_, i) => ({ id: `h${i}` }));
  const edges = layers.map((l, i) => ({
    from: i === 0 ? (flatten ? 'x' : 'input') : `h${i - 1}`,
    to: `h${i}`,
    op: { type: 'dense', units: l.units, ...(l.activation ? { activation: l.activation } : {}) },
  }));
  return {
    format: 'bdk-arch',
    version: 1,
    name: 'stack',
    input,
    nodes: flatten ? [{ id: 'x' }, ...nodes] : nodes,
    edges: flatten ? [{ from: 'input', to: 'x', op: { type: 'flatten' } }, ...edges] : edges,
    output: `h${layers.length - 1}`,
  } as ArchSpec;
}

/** The reference: tfjs's own tape through `forward` and `batchLogLikelihood`, plus the prior. */
function tapeGradient(m: PosteriorModel, positions: tf.Tensor[], x: tf.Tensor, y: tf.Tensor): Float32Array[] {
  const nNet = m.analysis.params.length;
  return tf.tidy(() => {
    const f = (...ps: tf.Tensor[]) =>
      tf.mul(
        tf.sum(batchLogLikelihood(m, forward(m.analysis, ps.slice(0, nNet), x), y, ps[nNet] ?? null)),
        m.dataSize / M,
      ) as tf.Scalar;
    const g = tf.grads(f)(positions);
    const prior = priorGradient(m, positions);
    return g.map((gi, i) => tf.add(gi, prior[i]).dataSync() as Float32Array);
  });
}

function setup(analysis: Analysis, task: 'regression' | 'classification', noise: PosteriorModel['noise']) {
  const rng = new Rng(11);
  const model: PosteriorModel = { analysis, task, dataSize: 120, priorPrecision: 2, noise };
  const positions = analysis.params.map((p) =>
    tf.tensor(
      rng.fillNormal(new Float32Array(C * p.size)).map((v) => v * 0.6),
      [C, ...p.shape],
    ),
  );
  if (task === 'regression' && typeof noise === 'object' && !('fixed' in noise))
    positions.push(
      tf.tensor2d(
        Float32Array.from({ length: C }, () => rng.normal() * 0.3),
        [C, 1],
      ),
    );
  const d = analysis.spec.input.reduce((a, b) => a * b, 1);
  const x = tf.tensor(rng.fillNormal(new Float32Array(C * M * d)), [C, M, ...analysis.spec.input]);
  const y =
    task === 'regression'
      ? tf.tensor2d(rng.fillNormal(new Float32Array(C * M)), [C, M])
      : tf.tensor2d(
          Int32Array.from({ length: C * M }, () => rng.int(analysis.outputShape[0])),
          [C, M],
          'int32',
        );
  return { model, positions, x, y };
}

const cases: [string, () => ReturnType<typeof setup>][] = [
  [
    'mlp-50 regression, sampled noise precision',
    () =>
      setup(analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [5], outputUnits: 1 })), 'regression', {
        shape: 6,
        rate: 6,
      }),
  ],
  [
    'mlp-50 heteroscedastic regression (mean and log-variance outputs)',
    () =>
      setup(
        analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [5], outputUnits: 2 })),
        'regression',
        'heteroscedastic',
      ),
  ],
  [
    'mlp-50 heteroscedastic regression with its own prior precision on the log-variance weights',
    () => {
      const s = setup(
        analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [5], outputUnits: 2 })),
        'regression',
        'heteroscedastic',
      );
      s.model.variancePriorPrecision = 40;
      return s;
    },
  ],
  [
    'tanh/sigmoid stack, regression with fixed noise precision',
    () =>
      setup(
        analyzeSpec(
          stack([4], [{ units: 6, activation: 'tanh' }, { units: 5, activation: 'sigmoid' }, { units: 1 }]),
        ),
        'regression',
        { fixed: 3 },
      ),
  ],
  [
    'flattened image input, relu/tanh, classification',
    () =>
      setup(
        analyzeSpec(
          stack(
            [3, 3, 1],
            [{ units: 8, activation: 'relu' }, { units: 6, activation: 'tanh' }, { units: 4 }],
            true,
          ),
        ),
        'classification',
        undefined,
      ),
  ],
];

describe('hand-written gradient of dense stacks', () => {
  it.each(cases)('%s: equals the tape gradient and the same log-likelihood', (_, make) => {
    const { model, positions, x, y } = make();
    expect(denseStack(model.analysis)).not.toBeNull();
    const reference = tapeGradient(model, positions, x, y);
    const fast = estimateGradient(model, positions, x, y);
    const got = fast.grad.logPosterior.map((g) => g.dataSync() as Float32Array);
    expect(got.map((g) => g.length)).toEqual(reference.map((r) => r.length));
    got.forEach((g, i) => {
      const scale = Math.max(...reference[i].map(Math.abs));
      for (let j = 0; j < g.length; j++)
        expect(Math.abs(g[j] - reference[i][j])).toBeLessThan(1e-5 * scale + 1e-6);
    });
    const ll = tf.tidy(() =>
      tf
        .div(
          batchLogLikelihood(
            model,
            forward(model.analysis, positions.slice(0, model.analysis.params.length), x),
            y,
            positions[model.analysis.params.length] ?? null,
          ),
          M,
        )
        .dataSync(),
    );
    expect(Array.from(fast.logLikelihood.dataSync())).toEqual(Array.from(ll));
    disposeGradient(fast);
    tf.dispose([...positions, x, y]);
  });

  it.each(cases)('%s: the MC-dropout gradient through row masks equals the tape one', (_, make) => {
    const { model, positions, x, y } = make();
    const kernels = maskedKernels(model);
    const rng = new Rng(5);
    // Keep-masks at rate 0.5: entries 0 or 2 per chain and row.
    const masks = kernels.map((k) =>
      Float32Array.from({ length: C * k.rows }, () => (rng.uniform() < 0.5 ? 0 : 2)),
    );
    expect(masks.some((m) => m.includes(0) && m.includes(2))).toBe(true);
    const [dense, tape] = (['dense', 'tape'] as const).map((method) =>
      tf.tidy(() =>
        dropoutLikelihoodGradient(model, positions, kernels, masks, x, y, method).map(
          (g) => g.dataSync() as Float32Array,
        ),
      ),
    );
    expect(dense.map((g) => g.length)).toEqual(tape.map((g) => g.length));
    dense.forEach((g, i) => {
      const scale = Math.max(...tape[i].map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let j = 0; j < g.length; j++)
        expect(Math.abs(g[j] - tape[i][j])).toBeLessThan(1e-5 * scale + 1e-6);
    });
    tf.dispose([...positions, x, y]);
  });

  it('heteroscedastic log-likelihood: Σ −½a − ½log 2π − ½e^(−a)(y − μ)² over the batch, per chain', () => {
    const { model, positions, x, y } = setup(
      analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [5], outputUnits: 2 })),
      'regression',
      'heteroscedastic',
    );
    const out = forward(model.analysis, positions, x);
    const o = out.dataSync();
    const yv = y.dataSync();
    const got = batchLogLikelihood(model, out, y, null).dataSync();
    for (let c = 0; c < C; c++) {
      let want = 0;
      for (let i = 0; i < M; i++) {
        const [mu, a] = [o[(c * M + i) * 2], o[(c * M + i) * 2 + 1]];
        want += -a / 2 - Math.log(2 * Math.PI) / 2 - (Math.exp(-a) * (yv[c * M + i] - mu) ** 2) / 2;
      }
      expect(got[c]).toBeCloseTo(want, 3);
    }
    tf.dispose([...positions, x, y, out]);
  });

  it('variance prior precision: −α_v·θ on the output kernel column into the log-variance, −α·θ elsewhere', () => {
    const { model, positions, x, y } = setup(
      analyzeSpec(BUILTIN_ARCHS['mlp-50'].build({ input: [5], outputUnits: 2 })),
      'regression',
      'heteroscedastic',
    );
    model.variancePriorPrecision = 40;
    const prior = priorGradient(model, positions).map((g) => g.dataSync());
    const params = model.analysis.params;
    expect(params.map((p) => p.shape)).toEqual([[5, 50], [50], [50, 2], [2]]);
    positions.forEach((p, i) => {
      const v = p.dataSync();
      for (let j = 0; j < v.length; j++) {
        // Only the output kernel's second column (the log-variance head) has α_v; its bias keeps α.
        const alpha = i === 2 && j % 2 === 1 ? 40 : 2;
        expect(prior[i][j]).toBeCloseTo(-alpha * v[j], 5);
      }
    });
    // α_v = α is the plain model.
    model.variancePriorPrecision = 2;
    const same = priorGradient(model, positions).map((g) => g.dataSync());
    delete model.variancePriorPrecision;
    const plain = priorGradient(model, positions).map((g) => g.dataSync());
    expect(same).toEqual(plain);
    tf.dispose([...positions, x, y]);
  });

  it('is used only for plain dense stacks', () => {
    expect(
      denseStack(analyzeSpec(BUILTIN_ARCHS['mlp-400-400'].build({ input: [28, 28, 1], outputUnits: 10 }))),
    ).toHaveLength(3);
    expect(
      denseStack(analyzeSpec(BUILTIN_ARCHS.lenet5.build({ input: [28, 28, 1], outputUnits: 10 }))),
    ).toBeNull();
    const skip = stack([4], [{ units: 3, activation: 'relu' }, { units: 1 }]);
    skip.edges.push({
      from: 'input',
      to: 'h1',
      op: { type: 'dense', units: 1 },
    } as ArchSpec['edges'][number]);
    expect(denseStack(analyzeSpec(skip))).toBeNull();
    expect(denseStack(analyzeSpec(stack([4], [{ units: 3, activation: 'elu' }, { units: 1 }])))).toBeNull();
  });
});
