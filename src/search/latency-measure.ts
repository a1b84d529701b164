import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { forward, initialWeights, unflatten } from '../model/forward.js';
import type { Analysis } from '../model/spec.js';
import { analyzeSpec } from '../model/spec.js';
import type { LatencyProbe } from './latency-table.js';

/**
 * Per-example latency of a network on the current tfjs backend (docs/design.md §3.9): the wall time of
 * `forward` on `batch` examples (1 unless given) plus reading its output back, divided by the batch,
 * the parameters and the input already on the backend. After five warm-up calls, `blocks` blocks of
 * calls of about `blockMs` (0.5 ms) each are timed (20 blocks, fewer when one call takes over 10 ms,
 * at least 3) and the fastest block's mean is taken: on a shared machine the slower blocks
 * measure the other processes, the fastest one the network. Weights (when not given) and input are
 * drawn from `seed`, so what is measured is the same every time.
 */
export async function measureLatencyUs(
  a: Analysis,
  weights?: Float32Array,
  o: { seed?: number; blockMs?: number; blocks?: number; batch?: number } = {},
): Promise<number> {
  const batch = o.batch ?? 1;
  const rng = new Rng(o.seed ?? 1);
  const w = weights ?? initialWeights(a, rng);
  const params = tf.tidy(() => unflatten(a, tf.tensor2d(w, [1, a.parameterCount])));
  const size = a.spec.input.reduce((s, d) => s * d, 1);
  const xs = new Float32Array(size * batch);
  rng.fillNormal(xs, 0, 1);
  const x = tf.tensor(xs, [1, batch, ...a.spec.input]);
  const once = async () => {
    const out = tf.tidy(() => forward(a, params, x));
    await out.data();
    if (out !== x) out.dispose(); // a network of identities returns its input
  };
  try {
    for (let i = 0; i < 4; i++) await once();
    const t0 = performance.now();
    await once();
    const single = Math.max(performance.now() - t0, 1e-3);
    const reps = Math.max(1, Math.round((o.blockMs ?? 0.5) / single));
    let best = Infinity;
    const blocks = o.blocks ?? Math.min(20, Math.max(3, Math.ceil(200 / single)));
    for (let b = 0; b < blocks; b++) {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await once();
      best = Math.min(best, ((performance.now() - t) / reps) * 1000);
    }
    return best / batch;
  } finally {
    tf.dispose([...params, x]);
  }
}

let warmed = false;

/**
 * The tfjs timer of the table's probe networks (`ProbeTimer`). The first call of a process first runs
 * the probe for about 300 ms, so that the JavaScript engine has compiled tfjs's code paths before
 * anything is timed (the first probes measured otherwise come out several times slower).
 */
export async function timeProbe(probe: LatencyProbe, batch: number): Promise<number> {
  const a = analyzeSpec(probe.spec, 'latency probe');
  if (!warmed) {
    const until = performance.now() + 300;
    while (performance.now() < until) await measureLatencyUs(a, undefined, { blocks: 1, batch });
    warmed = true;
  }
  return measureLatencyUs(a, undefined, { batch });
}
