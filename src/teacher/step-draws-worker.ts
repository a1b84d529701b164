/**
 * The worker thread of `prefetchedDraws` (step-draws.ts): draws step after step into two shared
 * slots in turn, each as soon as the main thread hands it back, until told to stop.
 */
import { workerData } from 'node:worker_threads';
import { Rng } from '../core/rng.js';
import { drawStep, EMPTY, FULL, slotViews, type WorkerData } from './step-draws.js';

const { control: controlBuffer, slots, layout, states } = workerData as WorkerData;
const control = new Int32Array(controlBuffer);
const rngs = states.map((s) => Rng.fromState(s));
const views = [slotViews(slots, layout, 0), slotViews(slots, layout, 1)];

try {
  for (let slot = 0; Atomics.load(control, 2) === 0; slot ^= 1) {
    while (Atomics.load(control, slot) !== EMPTY) {
      Atomics.wait(control, slot, FULL);
      if (Atomics.load(control, 2) !== 0) process.exit(0);
    }
    const v = views[slot];
    drawStep(rngs, layout, v.idx, v.noise);
    rngs.forEach((r, c) => v.states.set(r.state(), 5 * c));
    Atomics.store(control, slot, FULL);
    Atomics.notify(control, slot);
  }
} catch (e) {
  Atomics.store(control, 2, 2);
  Atomics.notify(control, 0);
  Atomics.notify(control, 1);
  throw e;
}
