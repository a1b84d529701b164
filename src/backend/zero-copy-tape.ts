import * as tf from '@tensorflow/tfjs';

/**
 * While tfjs records a gradient tape, every op that its gradient needs saves its inputs or outputs, and
 * tfjs saves each one as `clone(t)`: an Identity kernel plus a tape node for the copy. On the wasm
 * backend Identity copies the buffer, and either way it is one more dispatch per saved tensor, about a
 * third of the kernels of a structure-search step. A saved tensor only has to outlive the forward pass
 * (the caller may dispose intermediates), and tensors are immutable, so an alias of the same buffer with
 * its own reference count does the same job: the buffer is freed when the last of the original and the
 * alias is disposed. This is what the cpu backend's own Identity does (it shares the buffer).
 *
 * Only the outermost tape takes the alias. Under nested gradients (a gradient of a gradient) the copy's
 * tape node links a saved tensor back to its source for the outer tape, so there tfjs's clone is kept.
 * The clone's node is never on a path from the inputs to the output of a single tape (only gradient
 * closures hold it), so dropping it there changes no gradient: results are bit-identical.
 */
interface EngineInternals {
  state: { gradientDepth: number };
  backend: tf.KernelBackend;
  saveTensorsForBackwardMode: (tensors: tf.Tensor[]) => tf.Tensor[];
  nextTensorId: () => number;
  incRef: (t: tf.Tensor, backend: tf.KernelBackend) => void;
  keep: <T extends tf.Tensor>(t: T) => T;
}

const ORIGINAL = Symbol('bdk.originalSaveTensors');

/** Installs the aliasing on tfjs's engine once; a tfjs without the expected internals is left alone. */
export function installZeroCopyTape(): boolean {
  const proto = Object.getPrototypeOf(tf.engine()) as EngineInternals & { [ORIGINAL]?: unknown };
  if (proto[ORIGINAL]) return true;
  const original = proto.saveTensorsForBackwardMode;
  if (
    typeof original !== 'function' ||
    typeof proto.nextTensorId !== 'function' ||
    typeof proto.incRef !== 'function' ||
    typeof proto.keep !== 'function'
  )
    return false;
  proto[ORIGINAL] = original;
  proto.saveTensorsForBackwardMode = function (this: EngineInternals, tensors: tf.Tensor[]) {
    if (this.state.gradientDepth !== 1) return original.call(this, tensors);
    return tensors.map((t) => {
      const alias = new tf.Tensor(t.shape, t.dtype, t.dataId, this.nextTensorId());
      this.incRef(alias, this.backend);
      return this.keep(alias);
    });
  };
  return true;
}

/** Puts tfjs's own saving back (tests compare the two). */
export function uninstallZeroCopyTape(): void {
  const proto = Object.getPrototypeOf(tf.engine()) as EngineInternals & {
    [ORIGINAL]?: EngineInternals['saveTensorsForBackwardMode'];
  };
  if (!proto[ORIGINAL]) return;
  proto.saveTensorsForBackwardMode = proto[ORIGINAL];
  delete proto[ORIGINAL];
}
