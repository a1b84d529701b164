/** Settings of a distillation run (`bdk distill`), stored as `distill-config.json`. */
export interface DistillConfig {
  teacher: string;
  /** Student architecture: a built-in name or a spec file (regression students get 2 outputs: mean, log-variance). */
  arch: string;
  temperature: number;
  klDirection: 'forward' | 'reverse';
  /** Standard deviation of the Gaussian perturbation of the (standardized) training inputs, D′ = {x + ε}. */
  inputNoise: number;
  /** `online`: run the teacher's chains again and take one student step after each teacher step, storing no sample (absent = offline). */
  mode?: 'online';
  /** D′ also holds the inputs of this CSV/Arrow file (feature columns by name; labels, if any, unused). */
  unlabeledInputs?: string;
  /** D′ also holds this many points drawn uniformly from the training inputs' bounding box, fresh each epoch (tabular data). */
  boxSamples?: number;
  /** Teacher samples drawn per minibatch (BDK uses one). */
  samplesPerBatch: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /**
   * `cosine`: the learning rate falls from `learningRate` to 0 over the run, ½(1 + cos(π·t/T)) at step t
   * of T (Loshchilov & Hutter 2017); absent means constant.
   */
  learningRateSchedule?: 'cosine';
  seed: number;
}
