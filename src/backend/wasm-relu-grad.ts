/**
 * The gradient of a ReLU in one pass on the wasm backend. tfjs's gradient of Relu is dy · cast(step(x)):
 * a Step, a Cast and a Multiply, each a pass over the activation (for LeNet-5's first layer on 64 images,
 * 301 056 floats). `BdkReluGrad` (`native/elementwise.c`: relu_grad) computes the same product, float32
 * multiplication by 1, 0 or NaN as Step gives it, so the result is bit-identical. The Relu gradient is
 * registered again with the kernel where it can run (wasm, bdk's module loaded, at the outermost
 * gradient, whose operations no other tape records) and tfjs's own formula everywhere else, so a
 * gradient of a gradient, and every other backend, differentiate exactly what tfjs does.
 */
import * as tf from '@tensorflow/tfjs';
import { bdkWasm, heapOffset, type WasmBackend } from './bdk-wasm.js';

export const RELU_GRAD = 'BdkReluGrad';

type KernelArgs = Parameters<tf.KernelFunc>[0];

function reluGradWasm({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const wasm = backend as unknown as WasmBackend;
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = wasm.makeOutput(x.shape, 'float32');
  const n = tf.util.sizeFromShape(x.shape);
  if (n > 0) bdkWasm(wasm)!.relu_grad(heapOffset(wasm, dy), heapOffset(wasm, x), heapOffset(wasm, out), n);
  return out;
}

interface EngineState {
  state: { gradientDepth: number };
}

/** Whether the Relu gradient may run as one kernel here: on wasm with bdk's module, outside any tape. */
function fusedHere(dy: tf.Tensor, x: tf.Tensor): boolean {
  return (
    tf.getBackend() === 'wasm' &&
    (tf.engine() as unknown as EngineState).state.gradientDepth === 0 &&
    dy.dtype === 'float32' &&
    x.dtype === 'float32' &&
    tf.util.arraysEqual(dy.shape, x.shape) &&
    bdkWasm(tf.backend() as unknown as WasmBackend) !== null
  );
}

const reluGrad: tf.GradConfig = {
  kernelName: 'Relu',
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    const g = dy as tf.Tensor;
    return {
      x: () =>
        fusedHere(g, x)
          ? (tf.engine().runKernel(RELU_GRAD, { dy: g, x }) as tf.Tensor)
          : tf.mul(g, tf.cast(tf.step(x), 'float32')),
    };
  },
};

/** Registers the kernel for wasm and the Relu gradient that uses it (idempotent). */
export function registerWasmReluGrad(): void {
  if (!tf.getKernel(RELU_GRAD, 'wasm'))
    tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradWasm });
  tf.registerGradient(reluGrad);
}
