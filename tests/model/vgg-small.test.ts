import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { resolveArch, VGG_SMALL_DENSE, VGG_SMALL_FILTERS } from '../../src/model/builtins.js';
import { forward, initialWeights, unflatten } from '../../src/model/forward.js';
import type { Analysis } from '../../src/model/spec.js';

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
});

const INPUT = [32, 32, 3];
const B = 4;

/** Closed form: per 3×3 conv 9·c_in·c_out + c_out, two per block; the flattened [s/8, s/8, 128] into the dense layer. */
function closedForm(side: number, channels: number, classes: number): number {
  let count = 0;
  let cin = channels;
  for (const f of VGG_SMALL_FILTERS) {
    count += 9 * cin * f + f + 9 * f * f + f;
    cin = f;
  }
  const flat = (side / 8) * (side / 8) * cin;
  return count + flat * VGG_SMALL_DENSE + VGG_SMALL_DENSE + VGG_SMALL_DENSE * classes + classes;
}

function batch(seed: number, shape = INPUT, rows = B): { x: tf.Tensor; y: tf.Tensor } {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * shape[0] * shape[1] * shape[2]);
  rng.fillNormal(x);
  return {
    x: tf.tensor(x, [1, rows, ...shape]),
    y: tf.oneHot(
      tf.tensor1d(
        Int32Array.from({ length: rows }, (_, i) => (3 * i + 1) % 10),
        'int32',
      ),
      10,
    ),
  };
}

/** Summed cross-entropy of the batch (one chain). */
function loss(a: Analysis, params: tf.Tensor[], x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  const logits = tf.squeeze(forward(a, params, x), [0]);
  return tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)))) as tf.Scalar;
}

describe('vgg-small', () => {
  it('builds for [32, 32, 3] → 10 with the closed-form parameter count', async () => {
    const a = await resolveArch('vgg-small', { input: INPUT, outputUnits: 10 });
    expect(a.parameterCount).toBe(closedForm(32, 3, 10));
    expect(a.parameterCount).toBe(1_341_226);
    expect(a.shapes.get('out')).toEqual([10]);
    const convs = a.spec.edges.filter((e) => e.op.type === 'conv2d').length;
    expect(convs).toBe(6);
    await expect(resolveArch('vgg-small', { input: [13], outputUnits: 2 })).rejects.toThrow(
      'vgg-small needs image input [height, width, channels], the data has shape [13]',
    );
  });

  it('its conv gradients match central finite differences', async () => {
    // On 8×8×3 inputs (the smallest vgg-small takes), so that a step of h crosses few ReLU and
    // max-pool kinks (with h = 1e-2 the quotient still moves by 25% as h shrinks; at 1e-3 it has settled).
    const a = await resolveArch('vgg-small', { input: [8, 8, 3], outputUnits: 10 });
    expect(a.parameterCount).toBe(closedForm(8, 3, 10));
    const w = initialWeights(a, new Rng(1));
    const { x, y } = batch(2, [8, 8, 3], 2);
    const params = tf.tidy(() => unflatten(a, tf.tensor2d(w, [1, a.parameterCount])));
    const grads = tf.grads((...ps: tf.Tensor[]) => loss(a, ps, x, y))(params);
    const kernels = a.params
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => p.role === 'kernel' && p.shape.length === 4);
    // The first, a middle and the last conv kernel; a few coordinates of each.
    for (const { p, i } of [kernels[0], kernels[3], kernels[5]]) {
      const g = grads[i].dataSync();
      for (const k of [0, Math.floor(p.size / 3), p.size - 1]) {
        const h = 1e-3;
        const at = (delta: number) => {
          const wp = w.slice();
          wp[p.offset + k] += delta;
          return tf.tidy(
            () => loss(a, unflatten(a, tf.tensor2d(wp, [1, a.parameterCount])), x, y).dataSync()[0],
          );
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(g[k] - fd), `${p.name}[${k}]: tape ${g[k]}, finite difference ${fd}`).toBeLessThan(
          3e-3 + 0.05 * Math.abs(fd),
        );
      }
    }
    tf.dispose([...params, ...grads, x, y]);
  });

  it('Adam lowers the loss on a batch of 4 generated images over 50 steps', async () => {
    const a = await resolveArch('vgg-small', { input: INPUT, outputUnits: 10 });
    const w = initialWeights(a, new Rng(3));
    const params = tf
      .tidy(() => unflatten(a, tf.tensor2d(w, [1, a.parameterCount])))
      .map((t) => tf.variable(t));
    const { x, y } = batch(4);
    const opt = tf.train.adam(1e-3);
    const losses: number[] = [];
    for (let s = 0; s < 50; s++) {
      const l = opt.minimize(() => loss(a, params, x, y) as tf.Scalar, true, params as tf.Variable[])!;
      losses.push(l.dataSync()[0] / B);
      l.dispose();
    }
    const first = losses[0];
    const last = losses.slice(-5).reduce((s, v) => s + v, 0) / 5;
    expect(first).toBeGreaterThan(1); // about log 10 at initialization
    expect(last).toBeLessThan(0.25 * first);
    tf.dispose([...params, x, y]);
    opt.dispose();
  });
});
