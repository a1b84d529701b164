/**
 * Fused elementwise kernels for the wasm backend (`native/elementwise.c`): the SG-MCMC update as one
 * linear combination, and one Adam update of a variable. On wasm each tfjs kernel is a pass over memory, and an
 * `mlp-400-400` SGLD update (four kernels) or Adam step (about a dozen) over 478 410 parameters spent
 * more time in those passes than in arithmetic. Same float32 operations in the same order as the
 * unfused kernels, so the results are bit-identical (tests compare them). `src/model/fused-ops.ts`
 * calls them where they are registered and composes tfjs kernels elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import { bdkWasm, heapOffset, type WasmBackend } from './bdk-wasm.js';

export const LINEAR_COMBINATION = 'BdkLinearCombination';
export const ADAM_UPDATE = 'BdkAdamUpdate';

interface LinearCombinationAttrs {
  coefficients: number[];
}

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  maximize: boolean;
  /** Where the variable's moments start in the flat moment vectors m and v (elements). */
  offset: number;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function float32Input(t: tf.TensorInfo | undefined, what: string, kernel: string): tf.TensorInfo {
  if (t === undefined) throw new Error(`${kernel}: missing input '${what}'`);
  if (t.dtype !== 'float32') throw new Error(`${kernel}: ${what} must be float32, got ${t.dtype}`);
  return t;
}

function linearCombinationWasm({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as unknown as WasmBackend;
  const { coefficients } = attrs as unknown as LinearCombinationAttrs;
  const terms = coefficients.length;
  if (terms !== 2 && terms !== 3) throw new Error(`${LINEAR_COMBINATION}: 2 or 3 terms, got ${terms}`);
  const xs = Array.from({ length: terms }, (_, i) =>
    float32Input(inputs[`x${i}`], `x${i}`, LINEAR_COMBINATION),
  );
  const n = tf.util.sizeFromShape(xs[0].shape);
  for (const x of xs)
    if (!tf.util.arraysEqual(x.shape, xs[0].shape))
      throw new Error(`${LINEAR_COMBINATION}: shapes differ ([${x.shape}] and [${xs[0].shape}])`);
  const out = wasm.makeOutput(xs[0].shape, 'float32');
  if (n === 0) return out;
  const p = xs.map((x) => heapOffset(wasm, x));
  const [c0, c1, c2 = 0] = coefficients;
  bdkWasm(wasm)!.linear_combination(p[0], p[1], p[2] ?? 0, heapOffset(wasm, out), n, terms, c0, c1, c2);
  return out;
}

/**
 * Inputs g and value (one variable and its gradient), m and v (the optimizer's flat moment vectors,
 * updated in place from `offset`: they belong to the optimizer alone), acc1 and acc2 (β₁ᵗ, β₂ᵗ);
 * output the variable's new value.
 */
function adamUpdateWasm({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as unknown as WasmBackend;
  const a = attrs as unknown as AdamUpdateAttrs;
  const [g, value, m, v, acc1, acc2] = ['g', 'value', 'm', 'v', 'acc1', 'acc2'].map((k) =>
    float32Input(inputs[k], k, ADAM_UPDATE),
  );
  const n = tf.util.sizeFromShape(value.shape);
  if (tf.util.sizeFromShape(g.shape) !== n) throw new Error(`${ADAM_UPDATE}: g and value differ in size`);
  if (a.offset < 0 || a.offset + n > tf.util.sizeFromShape(m.shape) || m.shape.join() !== v.shape.join())
    throw new Error(
      `${ADAM_UPDATE}: moments [${m.shape}], [${v.shape}] do not hold ${n} elements at ${a.offset}`,
    );
  const out = wasm.makeOutput(value.shape, 'float32');
  if (n === 0) return out;
  const f = Math.fround;
  bdkWasm(wasm)!.adam_update(
    heapOffset(wasm, g),
    heapOffset(wasm, value),
    heapOffset(wasm, m) + 4 * a.offset,
    heapOffset(wasm, v) + 4 * a.offset,
    heapOffset(wasm, acc1),
    heapOffset(wasm, acc2),
    heapOffset(wasm, out),
    n,
    a.maximize ? 1 : 0,
    // The scalars tfjs would make: each JavaScript number rounded to float32 once.
    f(a.beta1),
    f(1 - a.beta1),
    f(a.beta2),
    f(1 - a.beta2),
    f(a.epsilon),
    f(-a.learningRate),
  );
  return out;
}

/** Registers both kernels for the wasm backend (idempotent). They have no gradients: updates only. */
export function registerWasmFusedKernels(): void {
  if (!tf.getKernel(LINEAR_COMBINATION, 'wasm'))
    tf.registerKernel({
      kernelName: LINEAR_COMBINATION,
      backendName: 'wasm',
      kernelFunc: linearCombinationWasm,
    });
  if (!tf.getKernel(ADAM_UPDATE, 'wasm'))
    tf.registerKernel({ kernelName: ADAM_UPDATE, backendName: 'wasm', kernelFunc: adamUpdateWasm });
}
