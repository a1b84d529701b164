import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  crossEntropyToTeacher,
  gaussianStudentLoss,
  gaussianStudentOptimum,
  temperedKl,
} from '../../src/distill/losses.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  expect(tf.getBackend()).toBe('wasm');
});

// ---------- float64 references ----------

function softmax64(z: number[], T: number): number[] {
  const u = z.map((v) => v / T);
  const m = Math.max(...u);
  const e = u.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function kl64(p: number[], q: number[]): number {
  let s = 0;
  for (let k = 0; k < p.length; k++) s += p[k] * (Math.log(p[k]) - Math.log(q[k]));
  return s;
}

/** T² · mean_{s,b} KL in the requested direction, from [S][B][K] and [B][K] logits. */
function temperedKl64(
  teacher: number[][][],
  student: number[][],
  T: number,
  direction: 'forward' | 'reverse',
): number {
  let total = 0;
  let n = 0;
  for (const sample of teacher) {
    sample.forEach((zt, b) => {
      const pt = softmax64(zt, T);
      const ps = softmax64(student[b], T);
      total += direction === 'forward' ? kl64(pt, ps) : kl64(ps, pt);
      n++;
    });
  }
  return (T * T * total) / n;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol)) {
      throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]} (|err| ${err} > ${tol})`);
    }
  }
}

function scalarOf(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** Central finite differences of f (evaluated in tfjs) w.r.t. every entry of x. */
function centralDiff(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, eps: number): number[] {
  const base = Array.from(x.dataSync());
  const out: number[] = [];
  for (let i = 0; i < base.length; i++) {
    const eval1 = (d: number): number => {
      const v = base.slice();
      v[i] += d;
      const xt = tf.tensor(v, x.shape);
      const r = scalarOf(f(xt));
      xt.dispose();
      return r;
    };
    out.push((eval1(eps) - eval1(-eps)) / (2 * eps));
  }
  return out;
}

// ---------- temperedKl ----------

describe('temperedKl', () => {
  const teacher3 = [
    [
      [1.0, -0.5, 0.3],
      [0.2, 2.0, -1.0],
    ],
    [
      [-0.7, 0.1, 1.5],
      [0.0, 0.4, 0.9],
    ],
  ]; // [S=2, B=2, K=3]
  const student2 = [
    [0.5, 0.5, -0.2],
    [1.2, -0.3, 0.8],
  ]; // [B=2, K=3]

  for (const direction of ['forward', 'reverse'] as const) {
    for (const T of [1, 2.5]) {
      it(`${direction} KL at T=${T} matches a float64 hand computation`, () => {
        const got = scalarOf(
          temperedKl(tf.tensor3d(teacher3), tf.tensor2d(student2), { temperature: T, direction }),
        );
        const want = temperedKl64(teacher3, student2, T, direction);
        expect(want).toBeGreaterThan(1e-3); // non-trivial
        expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, want));
      });
    }
  }

  it('forward and reverse differ on an asymmetric pair', () => {
    const t = tf.tensor3d([[[3, 0, 0]]]);
    const s = tf.tensor2d([[0, 0, 0]]);
    const f = scalarOf(temperedKl(t, s, { temperature: 1, direction: 'forward' }));
    const r = scalarOf(temperedKl(t, s, { temperature: 1, direction: 'reverse' }));
    expect(Math.abs(f - temperedKl64([[[3, 0, 0]]], [[0, 0, 0]], 1, 'forward'))).toBeLessThan(1e-6);
    expect(Math.abs(r - temperedKl64([[[3, 0, 0]]], [[0, 0, 0]], 1, 'reverse'))).toBeLessThan(1e-6);
    expect(Math.abs(f - r)).toBeGreaterThan(0.05);
  });

  it('accepts [1, B, K] student logits with the same result as [B, K]', () => {
    const t = tf.tensor3d(teacher3);
    for (const direction of ['forward', 'reverse'] as const) {
      const a = scalarOf(temperedKl(t, tf.tensor2d(student2), { temperature: 1.7, direction }));
      const b = scalarOf(temperedKl(t, tf.tensor3d([student2]), { temperature: 1.7, direction }));
      expect(a).toBeCloseTo(b, 6);
    }
  });

  it('is zero when the student logits equal the (single) teacher sample', () => {
    const z = tf.randomNormal([1, 6, 5], 0, 3, 'float32', 11);
    for (const direction of ['forward', 'reverse'] as const) {
      for (const T of [0.5, 1, 4]) {
        const v = scalarOf(temperedKl(z, z.squeeze([0]), { temperature: T, direction }));
        expect(Math.abs(v)).toBeLessThan(1e-6);
      }
    }
  });

  it('is positive for mismatched logits and stable for huge logits', () => {
    const t = tf.tensor3d([[[1000, 0, -1000]]]);
    const s = tf.tensor2d([[0, 1000, -1000]]);
    for (const direction of ['forward', 'reverse'] as const) {
      const v = scalarOf(temperedKl(t, s, { temperature: 1, direction }));
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeCloseTo(1000, 2); // KL of near point masses = 1000 nats
    }
  });

  it('scales by T² when softmax(z/T) is held fixed', () => {
    const u = tf.randomNormal([3, 4, 6], 0, 1, 'float32', 21);
    const v = tf.randomNormal([4, 6], 0, 1, 'float32', 22);
    for (const direction of ['forward', 'reverse'] as const) {
      const base = scalarOf(temperedKl(u, v, { temperature: 1, direction }));
      expect(base).toBeGreaterThan(1e-2);
      for (const T of [2, 5, 0.5]) {
        const val = scalarOf(temperedKl(tf.mul(u, T), tf.mul(v, T), { temperature: T, direction }));
        expect(Math.abs(val / base - T * T)).toBeLessThan(1e-4 * T * T);
      }
    }
  });

  it('forward-KL gradient w.r.t. the student equals T·(p_s − mean_s p_t)/B', () => {
    const S = 3;
    const B = 4;
    const K = 5;
    const T = 2.5;
    const zt = tf.randomNormal([S, B, K], 0, 2, 'float32', 31);
    const zs = tf.randomNormal([B, K], 0, 2, 'float32', 32);
    const g = tf.grad((x: tf.Tensor) => temperedKl(zt, x, { temperature: T, direction: 'forward' }))(zs);
    expect(g.shape).toEqual([B, K]);

    const ztA = zt.arraySync() as number[][][];
    const zsA = zs.arraySync() as number[][];
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      const ps = softmax64(zsA[b], T);
      const ptBar = new Array<number>(K).fill(0);
      for (let s = 0; s < S; s++) {
        softmax64(ztA[s][b], T).forEach((p, k) => (ptBar[k] += p / S));
      }
      // ∂/∂z_s of T²·KL(p_t‖p_s) = T·(p_s − p_t) per (s, b); the mean divides by S·B.
      for (let k = 0; k < K; k++) want.push((T * (ps[k] - ptBar[k])) / B);
    }
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(1e-2);
    expectClose(g.dataSync(), want, 1e-5);
  });

  it('reverse-KL gradient w.r.t. the student matches its closed form and finite differences', () => {
    const S = 2;
    const B = 3;
    const K = 4;
    const T = 1.5;
    const zt = tf.randomNormal([S, B, K], 0, 1.5, 'float32', 41);
    const zs = tf.randomNormal([B, K], 0, 1.5, 'float32', 42);
    const f = (x: tf.Tensor): tf.Scalar => temperedKl(zt, x, { temperature: T, direction: 'reverse' });
    const g = Array.from(tf.grad(f)(zs).dataSync());

    // Closed form: ∂/∂z_j of T²·KL(q‖p), q = softmax(z/T), is T·q_j·(log(q_j/p_j) − KL(q‖p)).
    const ztA = zt.arraySync() as number[][][];
    const zsA = zs.arraySync() as number[][];
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      const q = softmax64(zsA[b], T);
      const acc = new Array<number>(K).fill(0);
      for (let s = 0; s < S; s++) {
        const p = softmax64(ztA[s][b], T);
        const kl = kl64(q, p);
        for (let k = 0; k < K; k++) acc[k] += T * q[k] * (Math.log(q[k] / p[k]) - kl);
      }
      for (let k = 0; k < K; k++) want.push(acc[k] / (S * B));
    }
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(1e-2);
    expectClose(g, want, 1e-5);

    // Central finite differences in float32: truncation O(eps²), round-off O(1e-7/eps).
    expectClose(g, centralDiff(f, zs, 1e-2), 2e-3);
  });

  it('rejects bad shapes and temperatures', () => {
    const t = tf.zeros([2, 3, 4]);
    expect(() => temperedKl(t, tf.zeros([3, 5]), { temperature: 1, direction: 'forward' })).toThrow(
      /do not match/,
    );
    expect(() => temperedKl(t, tf.zeros([2, 3]), { temperature: 1, direction: 'forward' })).toThrow();
    expect(() =>
      temperedKl(tf.zeros([3, 4]), tf.zeros([3, 4]), { temperature: 1, direction: 'forward' }),
    ).toThrow(/\[S, B, K\]/);
    expect(() => temperedKl(t, tf.zeros([3, 4]), { temperature: 0, direction: 'forward' })).toThrow(
      /temperature/,
    );
  });

  it('leaves no intermediate tensors behind', () => {
    const t = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 51);
    const s = tf.randomNormal([3, 4], 0, 1, 'float32', 52);
    const before = tf.memory().numTensors;
    const v = temperedKl(t, s, { temperature: 2, direction: 'reverse' });
    expect(tf.memory().numTensors).toBe(before + 1);
    v.dispose();
  });
});

// ---------- crossEntropyToTeacher ----------

describe('crossEntropyToTeacher', () => {
  it('minus T²·entropy of the target equals forward tempered KL for S = 1', () => {
    const B = 5;
    const K = 4;
    for (const T of [1, 3]) {
      const zt = tf.randomNormal([1, B, K], 0, 2, 'float32', 61);
      const zs = tf.randomNormal([B, K], 0, 2, 'float32', 62);
      const probs = tf.softmax(tf.div(zt.squeeze([0]), T)); // [B, K]
      const ce = scalarOf(crossEntropyToTeacher(probs, zs, T));
      const pA = probs.arraySync() as number[][];
      let entropy = 0;
      for (const row of pA) for (const p of row) entropy -= p * Math.log(p);
      entropy /= B;
      const kl = scalarOf(temperedKl(zt, zs, { temperature: T, direction: 'forward' }));
      expect(kl).toBeGreaterThan(1e-2);
      expect(Math.abs(ce - T * T * entropy - kl)).toBeLessThan(1e-4 * T * T);
    }
  });

  it('matches a float64 computation on an ensemble-averaged target', () => {
    const probs = [
      [0.7, 0.2, 0.1],
      [0.1, 0.1, 0.8],
    ];
    const logits = [
      [0.3, -1.0, 2.0],
      [1.0, 0.0, -0.5],
    ];
    const T = 2;
    let want = 0;
    probs.forEach((p, b) => {
      const q = softmax64(logits[b], T);
      p.forEach((pk, k) => (want -= pk * Math.log(q[k])));
    });
    want = (T * T * want) / probs.length;
    const got = scalarOf(crossEntropyToTeacher(tf.tensor2d(probs), tf.tensor3d([logits]), T));
    expect(Math.abs(got - want)).toBeLessThan(1e-5 * want);
  });
});

// ---------- Gaussian student ----------

describe('gaussianStudentLoss / gaussianStudentOptimum', () => {
  const S = 6;
  const B = 5;
  let means: tf.Tensor;
  let mu: tf.Tensor;
  let logVar: tf.Tensor;
  let varsSB: tf.Tensor;
  const variances: Record<'[S, B]' | '[S, 1]', tf.Tensor> = {} as Record<'[S, B]' | '[S, 1]', tf.Tensor>;

  beforeAll(() => {
    means = tf.randomNormal([S, B], 0.5, 1.5, 'float32', 71);
    varsSB = tf.randomUniform([S, B], 0.1, 2, 'float32', 72);
    variances['[S, B]'] = varsSB;
    variances['[S, 1]'] = tf.randomUniform([S, 1], 0.1, 2, 'float32', 73);
    mu = tf.randomNormal([B], 0, 1, 'float32', 74);
    logVar = tf.randomNormal([B], 0, 0.5, 'float32', 75);
  });

  function nll64(m: number[][], v: number[][], muA: number[], aA: number[]): number {
    let total = 0;
    for (let s = 0; s < m.length; s++) {
      for (let b = 0; b < muA.length; b++) {
        const sig2 = v[s].length === 1 ? v[s][0] : v[s][b];
        const d = muA[b] - m[s][b];
        total += 0.5 * Math.log(2 * Math.PI) + 0.5 * aA[b] + 0.5 * Math.exp(-aA[b]) * (d * d + sig2);
      }
    }
    return total / (m.length * muA.length);
  }

  for (const label of ['[S, B]', '[S, 1]'] as const) {
    it(`equals the closed-form expected NLL (variances ${label})`, () => {
      const vars = variances[label];
      const got = scalarOf(gaussianStudentLoss(means, vars, mu, logVar));
      const want = nll64(
        means.arraySync() as number[][],
        vars.arraySync() as number[][],
        mu.arraySync() as number[],
        logVar.arraySync() as number[],
      );
      expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
    });

    it(`the optimum is the teacher mixture's mean and variance (variances ${label})`, () => {
      const vars = variances[label];
      const { mean, variance } = gaussianStudentOptimum(means, vars);
      expect(mean.shape).toEqual([B]);
      expect(variance.shape).toEqual([B]);
      const m = means.arraySync() as number[][];
      const v = vars.arraySync() as number[][];
      const wantMean: number[] = [];
      const wantVar: number[] = [];
      for (let b = 0; b < B; b++) {
        let mb = 0;
        for (let s = 0; s < S; s++) mb += m[s][b] / S;
        // Mixture variance via E[y²] − E[y]², a different route from the implementation's.
        let ey2 = 0;
        for (let s = 0; s < S; s++) ey2 += ((v[s].length === 1 ? v[s][0] : v[s][b]) + m[s][b] ** 2) / S;
        wantMean.push(mb);
        wantVar.push(ey2 - mb * mb);
      }
      expectClose(mean.dataSync(), wantMean, 1e-5);
      expectClose(variance.dataSync(), wantVar, 1e-5);
    });

    it(`has zero gradient at the optimum and is lower there than nearby (variances ${label})`, () => {
      const vars = variances[label];
      const { mean, variance } = gaussianStudentOptimum(means, vars);
      const aStar = tf.log(variance);
      const [gMu, gA] = tf.grads((m: tf.Tensor, a: tf.Tensor) => gaussianStudentLoss(means, vars, m, a))([
        mean,
        aStar,
      ]);
      for (const x of [...gMu.dataSync(), ...gA.dataSync()]) expect(Math.abs(x)).toBeLessThan(1e-6);

      // Sanity: the gradient is clearly non-zero away from the optimum.
      const [gMu2] = tf.grads((m: tf.Tensor, a: tf.Tensor) => gaussianStudentLoss(means, vars, m, a))([
        tf.add(mean, 0.3),
        aStar,
      ]);
      expect(Math.max(...Array.from(gMu2.dataSync(), Math.abs))).toBeGreaterThan(1e-3);

      const best = scalarOf(gaussianStudentLoss(means, vars, mean, aStar));
      for (let i = 0; i < 8; i++) {
        const dMu = tf.randomNormal([B], 0, 0.2, 'float32', 100 + i);
        const dA = tf.randomNormal([B], 0, 0.2, 'float32', 200 + i);
        const other = scalarOf(gaussianStudentLoss(means, vars, tf.add(mean, dMu), tf.add(aStar, dA)));
        expect(other).toBeGreaterThan(best);
      }
      for (const [dm, da] of [
        [0.05, 0],
        [-0.05, 0],
        [0, 0.05],
        [0, -0.05],
      ]) {
        const other = scalarOf(gaussianStudentLoss(means, vars, tf.add(mean, dm), tf.add(aStar, da)));
        expect(other).toBeGreaterThan(best);
      }
    });
  }

  it('matches its analytic gradient and central finite differences', () => {
    const f = (m: tf.Tensor, a: tf.Tensor): tf.Scalar => gaussianStudentLoss(means, varsSB, m, a);
    const [gMu, gA] = tf.grads(f)([mu, logVar]);
    const m = means.arraySync() as number[][];
    const v = varsSB.arraySync() as number[][];
    const muA = mu.arraySync() as number[];
    const aA = logVar.arraySync() as number[];
    const wantMu: number[] = [];
    const wantA: number[] = [];
    for (let b = 0; b < B; b++) {
      let dm = 0;
      let da = 0;
      for (let s = 0; s < S; s++) {
        const d = muA[b] - m[s][b];
        dm += Math.exp(-aA[b]) * d;
        da += 0.5 - 0.5 * Math.exp(-aA[b]) * (d * d + v[s][b]);
      }
      wantMu.push(dm / (S * B));
      wantA.push(da / (S * B));
    }
    expectClose(gMu.dataSync(), wantMu, 1e-5);
    expectClose(gA.dataSync(), wantA, 1e-5);

    const eps = 1e-2;
    expectClose(
      gMu.dataSync(),
      centralDiff((x) => f(x, logVar), mu, eps),
      1e-3,
    );
    expectClose(
      gA.dataSync(),
      centralDiff((x) => f(mu, x), logVar, eps),
      1e-3,
    );
  });

  it('rejects mismatched shapes', () => {
    expect(() => gaussianStudentLoss(means, tf.zeros([S, 2]), mu, logVar)).toThrow(/variances/);
    expect(() => gaussianStudentLoss(means, varsSB, tf.zeros([B + 1]), logVar)).toThrow(/mean/);
    expect(() => gaussianStudentOptimum(tf.zeros([B]), varsSB)).toThrow(/\[S, B\]/);
  });
});
