import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate, hasFusedAdamUpdate } from './fused-ops.js';

type NamedTensor = { name: string; tensor: tf.Tensor };

/**
 * Adam (Kingma & Ba 2015) with the same arithmetic as `tf.train.adam`, but one update for all variables
 * at once: the gradients are flattened into one vector, the moments are two flat vectors, and the new
 * values are split back. tfjs's Adam runs about 13 kernels per variable per step; on the wasm backend a
 * kernel costs microseconds of dispatch whatever its size, so for a model with many small tensors (the
 * structure-search supernet has 64) the optimizer was a fifth of a step. Here it is a fixed dozen kernels
 * plus one reshape and one assign per variable; on wasm, one fused kernel and one assign per variable.
 *
 * Every operation is elementwise and in the same order as tfjs's, so the trajectory is bit-identical to
 * `tf.train.adam(learningRate)` (a test checks this). `getWeights`/`setWeights` use tfjs's layout
 * (`iter`, then `<name>/m` for every variable, then `<name>/v`), so saved optimizer states are
 * interchangeable with tfjs's; a restored run continues bit-identically to an uninterrupted one.
 *
 * Every call must update the same variables in the same order (what a training loop does); a different
 * list is an error.
 */
export class FlatAdam extends tf.Optimizer {
  static get className(): string {
    return 'FlatAdam';
  }

  private readonly accBeta1: tf.Variable;
  private readonly accBeta2: tf.Variable;
  private readonly epsilon: number;
  private names: string[] | null = null;
  private shapes: number[][] = [];
  private sizes: number[] = [];
  private m: tf.Variable | null = null;
  private v: tf.Variable | null = null;
  /** Moments from `setWeights` before the first update, by slot name. */
  private restored: Map<string, tf.Tensor> | null = null;

  constructor(
    /** The step size; a training loop may change it between updates (a learning-rate schedule). */
    public learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    epsilon: number | null = null,
    /** Ascend instead: the update uses the negated gradients (one kernel, not one per variable). */
    private readonly maximize = false,
  ) {
    super();
    this.accBeta1 = tf.tidy(() => tf.scalar(beta1).variable(false));
    this.accBeta2 = tf.tidy(() => tf.scalar(beta2).variable(false));
    this.epsilon = epsilon ?? tf.backend().epsilon();
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
    const missing = list.find((g) => g.tensor == null);
    if (missing) throw new Error(`FlatAdam: no gradient for variable '${missing.name}'`);
    if (this.names === null) this.start(list);
    else if (list.length !== this.names.length || list.some((g, i) => g.name !== this.names![i]))
      throw new Error(
        `FlatAdam: updates must name the same variables in the same order (got ${list.map((g) => g.name).join(', ')})`,
      );
    tf.tidy(() => {
      if (hasFusedAdamUpdate()) this.fusedUpdate(list);
      else this.update(list);
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  /** The update by tfjs kernels: a dozen over the flattened gradients, then one add per variable. */
  private update(list: readonly NamedTensor[]): void {
    const flat = tf.concat(list.map((x) => tf.reshape(x.tensor, [-1])));
    const g = this.maximize ? tf.neg(flat) : flat;
    const oneMinusAccBeta1 = tf.sub(1, this.accBeta1);
    const oneMinusAccBeta2 = tf.sub(1, this.accBeta2);
    const newM = tf.add(tf.mul(this.m!, this.beta1), tf.mul(g, 1 - this.beta1));
    const newV = tf.add(tf.mul(this.v!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    const mHat = tf.div(newM, oneMinusAccBeta1);
    const vHat = tf.div(newV, oneMinusAccBeta2);
    this.m!.assign(newM);
    this.v!.assign(newV);
    const step = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -this.learningRate);
    const parts = list.length === 1 ? [step] : tf.split(step, this.sizes);
    list.forEach((x, i) => {
      const value = tf.engine().registeredVariables[x.name];
      value.assign(tf.add(tf.reshape(parts[i], this.shapes[i]), value));
    });
  }

  /**
   * The same arithmetic as one fused kernel per variable (wasm): no flattening, and the moments,
   * which only this optimizer holds, updated in place.
   */
  private fusedUpdate(list: readonly NamedTensor[]): void {
    let offset = 0;
    list.forEach((x, i) => {
      const value = tf.engine().registeredVariables[x.name];
      value.assign(
        fusedAdamUpdate(x.tensor, value, this.m!, this.v!, this.accBeta1, this.accBeta2, {
          beta1: this.beta1,
          beta2: this.beta2,
          epsilon: this.epsilon,
          learningRate: this.learningRate,
          maximize: this.maximize,
          offset,
        }),
      );
      offset += this.sizes[i];
    });
  }

  /** Fixes the variable order and builds the flat moments (zeros, or what `setWeights` restored). */
  private start(list: readonly NamedTensor[]): void {
    this.names = list.map((g) => g.name);
    this.shapes = list.map((g) => {
      const variable = tf.engine().registeredVariables[g.name];
      if (!variable) throw new Error(`FlatAdam: '${g.name}' is not a variable`);
      return variable.shape;
    });
    this.sizes = this.shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const moment = (suffix: 'm' | 'v') =>
      tf.tidy(() =>
        tf
          .concat(
            this.names!.map((name, i) => {
              const saved = this.restored?.get(`${name}/${suffix}`);
              return saved ? tf.reshape(saved, [-1]) : tf.zeros([this.sizes[i]]);
            }),
          )
          .variable(false),
      );
    this.m = moment('m');
    this.v = moment('v');
    if (this.restored) tf.dispose([...this.restored.values()]);
    this.restored = null;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const iterations = { name: 'iter', tensor: tf.scalar(this.iterations, 'int32') };
    if (this.names === null) {
      const restored = [...(this.restored ?? new Map<string, tf.Tensor>())];
      return [iterations, ...restored.map(([name, t]) => ({ name, tensor: t.clone() }))];
    }
    const slots = (flat: tf.Tensor, suffix: string) => {
      // split copies (a reshape of the whole vector would share its buffer, which the fused update
      // writes in place).
      const tensors = tf.tidy(() => tf.split(flat, this.sizes).map((p, i) => tf.reshape(p, this.shapes[i])));
      return tensors.map((tensor, i) => ({ name: `${this.names![i]}/${suffix}`, tensor }));
    };
    const m = slots(this.m!, 'm');
    const v = slots(this.v!, 'v');
    return [iterations, ...m, ...v];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    // β^(t+1) as the updates build it, one float32 product per step (tfjs's Adam uses pow here, which
    // can differ in the last bit, so its resumed runs drift from uninterrupted ones).
    const accumulated = (beta: number) => {
      const b = Math.fround(beta);
      let acc = b;
      for (let t = 0; t < this.iterations; t++) acc = Math.fround(acc * b);
      return acc;
    };
    this.accBeta1.assign(tf.scalar(accumulated(this.beta1)));
    this.accBeta2.assign(tf.scalar(accumulated(this.beta2)));
    if (this.names !== null) {
      const byName = new Map(rest.map((w) => [w.name, w.tensor]));
      const flat = (suffix: string) =>
        tf.tidy(() =>
          tf.concat(
            this.names!.map((name, i) => {
              const t = byName.get(`${name}/${suffix}`);
              if (!t) throw new Error(`FlatAdam: the saved state has no '${name}/${suffix}'`);
              return tf.reshape(t, [this.sizes[i]]);
            }),
          ),
        );
      const m = flat('m');
      const v = flat('v');
      this.m!.assign(m);
      this.v!.assign(v);
      tf.dispose([m, v]);
      return;
    }
    if (this.restored) tf.dispose([...this.restored.values()]);
    this.restored = new Map(rest.map((w) => [w.name, w.tensor.clone()]));
  }

  getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
    };
  }

  override dispose(): void {
    super.dispose();
    tf.dispose([this.accBeta1, this.accBeta2]);
    if (this.m) tf.dispose([this.m, this.v!]);
    if (this.restored) tf.dispose([...this.restored.values()]);
  }
}
