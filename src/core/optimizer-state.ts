import * as tf from '@tensorflow/tfjs';

/** One optimizer slot (iteration count or a moment) read back to the host. */
export interface SavedOptimizerSlot {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * The optimizer's state (iteration count and moments) as host arrays. `getWeights` returns the moment
 * variables themselves but a fresh tensor for the iteration count; that one is freed here, so saving every
 * epoch does not leak a tensor per epoch.
 */
export async function readOptimizerState(optimizer: tf.Optimizer): Promise<SavedOptimizerSlot[]> {
  const named = await optimizer.getWeights();
  try {
    return await Promise.all(
      named.map(async (nt) => ({
        name: nt.name,
        shape: nt.tensor.shape,
        values: Float32Array.from(await nt.tensor.data()),
      })),
    );
  } finally {
    tf.dispose(named.filter((nt) => !(nt.tensor instanceof tf.Variable)).map((nt) => nt.tensor));
  }
}

/** Restores what `readOptimizerState` saved; the optimizer keeps its own references, the uploads are freed. */
export async function restoreOptimizerState(
  optimizer: tf.Optimizer,
  saved: readonly SavedOptimizerSlot[],
): Promise<void> {
  const named = saved.map((w) => ({ name: w.name, tensor: tf.tensor(w.values, w.shape) }));
  try {
    await optimizer.setWeights(named);
  } finally {
    tf.dispose(named.map((nt) => nt.tensor));
  }
}

/** Slots as the `opt<i>` arrays and `{ name, shape }` list the chain-state files store. */
export function optimizerStateFiles(slots: readonly SavedOptimizerSlot[]): {
  meta: { name: string; shape: number[] }[];
  arrays: Record<string, Float32Array>;
} {
  const arrays: Record<string, Float32Array> = {};
  slots.forEach((s, i) => (arrays[`opt${i}`] = s.values));
  return { meta: slots.map(({ name, shape }) => ({ name, shape })), arrays };
}

/** The inverse of `optimizerStateFiles`. */
export function optimizerStateFromFiles(
  meta: readonly { name: string; shape: number[] }[],
  arrays: Record<string, Float32Array>,
): SavedOptimizerSlot[] {
  return meta.map(({ name, shape }, i) => ({ name, shape, values: arrays[`opt${i}`] }));
}
