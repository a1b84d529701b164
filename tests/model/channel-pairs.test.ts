import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { channelPair, joinChannelPair } from '../../src/model/channel-pairs.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function values(shape: number[], seed: number): tf.Tensor {
  const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
  new Rng(seed).fillStandardNormal32(a);
  return tf.tensor(a, shape);
}

describe('channelPair', () => {
  for (const shape of [
    [5, 2],
    [3, 7, 2],
    [2, 3, 4, 2],
  ]) {
    it(`splits [${shape}] into the same values as tf.split, and joinChannelPair inverts it`, () => {
      const x = values(shape, shape.length);
      const [a, b] = channelPair(x);
      const [sa, sb] = tf.split(x, 2, shape.length - 1).map((t) => tf.squeeze(t, [shape.length - 1]));
      expect(a.shape).toEqual(shape.slice(0, -1));
      expect(Array.from(a.dataSync())).toEqual(Array.from(sa.dataSync()));
      expect(Array.from(b.dataSync())).toEqual(Array.from(sb.dataSync()));
      const back = joinChannelPair(a, b);
      expect(back.shape).toEqual(shape);
      expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
      tf.dispose([x, a, b, sa, sb, back]);
    });
  }

  it('passes gradients: d/dx of Σ w₀·x₀ + w₁·x₁² is [w₀, 2·w₁·x₁] per row', () => {
    const x = values([4, 2], 7);
    const w = [0.5, -1.5];
    const g = tf.grad((t: tf.Tensor) => {
      const [a, b] = channelPair(t);
      return tf.add(tf.sum(tf.mul(a, w[0])), tf.sum(tf.mul(tf.square(b), w[1])));
    })(x);
    const xv = x.dataSync();
    const expected = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? w[0] : 2 * w[1] * xv[i]));
    Array.from(g.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    tf.dispose([x, g]);
  });

  it('refuses a last axis other than 2', () => {
    const x = tf.zeros([3, 3]);
    expect(() => channelPair(x)).toThrow('channelPair: last axis of 3,3 is not 2');
    x.dispose();
  });
});
