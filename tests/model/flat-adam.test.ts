import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmFusedKernels } from '../../src/backend/wasm-fused.js';
import { Rng } from '../../src/core/rng.js';
import { FlatAdam } from '../../src/model/flat-adam.js';
import { cosineRate } from '../../src/model/lr-schedule.js';
import { readOptimizerState, restoreOptimizerState } from '../../src/core/optimizer-state.js';

beforeAll(async () => {
  // The production set-up: on wasm FlatAdam's step is one fused kernel (tf.train.adam keeps tfjs's).
  registerWasmFusedKernels();
  await tf.setBackend('wasm');
});

const SHAPES = [[5, 3], [3], [3, 2], [1]];
let counter = 0;

/** A small two-layer regression problem with variables of several shapes, from a seeded source. */
function problem(seed: number) {
  const rng = new Rng(seed);
  const normals = (n: number) => {
    const a = new Float32Array(n);
    rng.fillStandardNormal32(a);
    return a;
  };
  const init = SHAPES.map((s) => normals(s.reduce((a, b) => a * b, 1)));
  const x = tf.tensor2d(normals(40 * 5), [40, 5]);
  const y = tf.tensor2d(normals(40 * 2), [40, 2]);
  const make = () => {
    const id = counter++;
    return init.map((v, i) => tf.variable(tf.tensor(v, SHAPES[i]), true, `flat_adam_test_${id}_${i}`));
  };
  const loss = (vars: tf.Variable[]) => () =>
    tf.tidy(() => {
      const h = tf.tanh(tf.add(tf.matMul(x, vars[0]), vars[1]));
      const out = tf.add(tf.matMul(h, vars[2]), vars[3]);
      return tf.mean(tf.square(tf.sub(out, y))) as tf.Scalar;
    });
  return { make, loss, dispose: () => tf.dispose([x, y]) };
}

function run(opt: tf.Optimizer, vars: tf.Variable[], loss: () => tf.Scalar, steps: number): void {
  for (let s = 0; s < steps; s++) tf.dispose(opt.minimize(loss, true, vars)!);
}

const values = (vars: tf.Tensor[]) => vars.map((v) => Array.from(v.dataSync()));

describe('FlatAdam', () => {
  it('takes the learning rate it holds at each update (a schedule can change it)', () => {
    const p = problem(3);
    const w = p.make();
    const before = values(w).flat();
    const opt = new FlatAdam(0.05);
    opt.learningRate = 0.01;
    run(opt, w, p.loss(w), 1);
    // Adam's first step is −lr·g/(|g| + ε): lr per coordinate, whatever the gradient's size.
    const after = values(w).flat();
    after.forEach((v, i) => expect(Math.abs(v - before[i])).toBeCloseTo(0.01, 4));
    opt.learningRate = 0;
    run(opt, w, p.loss(w), 1);
    expect(values(w).flat()).toEqual(after);
    opt.dispose();
    tf.dispose(w);
    p.dispose();
  });

  it('cosine schedule: lr₀ at the start, lr₀/2 half-way, 0 at the end and after', () => {
    expect(cosineRate(0.01, 0, 400)).toBe(0.01);
    expect(cosineRate(0.01, 200, 400)).toBeCloseTo(0.005, 12);
    expect(cosineRate(0.01, 100, 400)).toBeCloseTo(0.005 * (1 + Math.SQRT1_2), 12);
    expect(cosineRate(0.01, 400, 400)).toBeCloseTo(0, 12);
    expect(cosineRate(0.01, 500, 400)).toBeCloseTo(0, 12);
  });

  it('follows tf.train.adam bit for bit, and its saved state is the same', async () => {
    const p = problem(1);
    const a = p.make();
    const b = p.make();
    const ref = tf.train.adam(0.05);
    const flat = new FlatAdam(0.05);
    run(ref, a, p.loss(a), 40);
    run(flat, b, p.loss(b), 40);
    expect(values(b)).toEqual(values(a));
    const fresh = p.make();
    expect(values(a)).not.toEqual(values(fresh)); // the steps did move the weights
    tf.dispose(fresh);
    const sa = await readOptimizerState(ref);
    const sb = await readOptimizerState(flat);
    // tfjs names the moments after the variables; compare the layout and the values.
    expect(sb.map((s) => s.shape)).toEqual(sa.map((s) => s.shape));
    expect(sb.map((s) => s.name.replace(/_\d+_(\d+)\//, '_$1/'))).toEqual(
      sa.map((s) => s.name.replace(/_\d+_(\d+)\//, '_$1/')),
    );
    expect(sb.map((s) => Array.from(s.values))).toEqual(sa.map((s) => Array.from(s.values)));
    ref.dispose();
    flat.dispose();
    tf.dispose([...a, ...b]);
    p.dispose();
  });

  it('resumes from a saved state exactly as an uninterrupted run, before and after its first update', async () => {
    const p = problem(2);
    const whole = p.make();
    const wholeOpt = new FlatAdam(0.02);
    run(wholeOpt, whole, p.loss(whole), 30);

    // Saved after 12 steps, restored into a fresh optimizer (the trainers' resume path), 18 more.
    const a = p.make();
    const first = new FlatAdam(0.02);
    run(first, a, p.loss(a), 12);
    const s12 = await readOptimizerState(first);
    expect(s12[0].values[0]).toBe(12);
    first.dispose();
    const resumed = new FlatAdam(0.02);
    await restoreOptimizerState(resumed, s12);
    run(resumed, a, p.loss(a), 18);
    expect(values(a)).toEqual(values(whole));

    // Saved after 20 steps, 5 steps on, then the weights and the (started) optimizer put back: 10 more.
    const b = p.make();
    const opt = new FlatAdam(0.02);
    run(opt, b, p.loss(b), 20);
    const s20 = await readOptimizerState(opt);
    const w20 = b.map((v) => v.clone());
    run(opt, b, p.loss(b), 5);
    expect(values(b)).not.toEqual(values(w20));
    await restoreOptimizerState(opt, s20);
    b.forEach((v, i) => v.assign(w20[i]));
    run(opt, b, p.loss(b), 10);
    expect(values(b)).toEqual(values(whole));
    [wholeOpt, resumed, opt].forEach((o) => o.dispose());
    tf.dispose([...whole, ...a, ...b, ...w20]);
    p.dispose();
  });

  it('keeps the tensor count flat and rejects a different variable list', () => {
    const p = problem(3);
    const v = p.make();
    const opt = new FlatAdam(0.01);
    run(opt, v, p.loss(v), 2);
    const before = tf.memory().numTensors;
    run(opt, v, p.loss(v), 50);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => tf.dispose(opt.minimize(p.loss(v), true, [v[1], v[0], v[2], v[3]])!)).toThrow(
      /^FlatAdam: updates must name the same variables in the same order/,
    );
    opt.dispose();
    tf.dispose(v);
    p.dispose();
  });
});
