/**
 * `bdk/runtime`: loads a student exported by `bdk export` in a browser or in Node and predicts with
 * it, depending on `@tensorflow/tfjs-core` and whichever tfjs backend the host registered. See
 * docs/runtime.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../core/errors.js';
import { exportLocation, type ExportLocation } from './files.js';
import { buildGraph, type Graph, type Topology } from './graph.js';
import { expectedInputs, standardizeRows, type Rows } from './inputs.js';
import { parseManifest, type StudentManifest } from './manifest.js';
import { headPrediction, type ClassificationPrediction, type RegressionPrediction } from './outputs.js';
import { sha256Hex } from './sha256.js';

export type { ClassificationPrediction, RegressionPrediction, Rows, StudentManifest };
export { UserError };
export const MANIFEST_FILE = 'bdk.json';
export const MODEL_FILE = 'model.json';

interface StudentBase<T extends StudentManifest['task'], P> {
  readonly manifest: StudentManifest;
  /** Narrows the student: `if (student.task === 'regression')` types `predict`'s result. */
  readonly task: T;
  /** Input feature names in order (one name for an image's pixels). */
  readonly features: string[];
  readonly classNames: string[] | null;
  /** Standardizes the rows, runs the student and returns its predictive distribution per row. */
  predict(rows: Rows): Promise<P>;
  /** Frees the weight tensors. */
  dispose(): void;
}

export type RegressionStudent = StudentBase<'regression', RegressionPrediction>;
export type ClassificationStudent = StudentBase<'classification', ClassificationPrediction>;
export type Student = RegressionStudent | ClassificationStudent;

interface ModelJson {
  modelTopology: Topology;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * Reads an export (`bdk.json`, `model.json`, the weight shards) from a URL or a folder, checks each
 * file's size and SHA-256 against the manifest, and returns the student. Every problem is a one-line
 * `UserError` naming the file.
 */
export async function loadStudent(urlOrDir: string | URL): Promise<Student> {
  const loc = exportLocation(urlOrDir);
  const manifest = parseManifest(
    new TextDecoder().decode(await loc.read(MANIFEST_FILE)),
    loc.nameOf(MANIFEST_FILE),
  );
  const read = (file: string) => readVerified(loc, file, manifest);
  const modelName = loc.nameOf(MODEL_FILE);
  let json: ModelJson;
  try {
    json = JSON.parse(new TextDecoder().decode(await read(MODEL_FILE)));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${modelName}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(json?.weightsManifest))
    throw new UserError(`${modelName}: not a TensorFlow.js layers model (no weightsManifest)`);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const shards = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map(read));
  const data = new Uint8Array(shards.reduce((n, b) => n + b.byteLength, 0));
  shards.reduce((at, b) => (data.set(b, at), at + b.byteLength), 0);
  const expected = specs.reduce((n, w) => n + entryBytes(w), 0);
  if (expected !== data.byteLength)
    throw new UserError(
      `${modelName}: its weights need ${expected} bytes, the shards hold ${data.byteLength}; export the model again`,
    );
  await tf.ready();
  const weights = tf.io.decodeWeights(data.buffer, specs);
  let graph: Graph;
  try {
    graph = buildGraph(json.modelTopology, weights, modelName);
    checkInputShape(json.modelTopology, manifest, modelName);
  } catch (err) {
    tf.dispose(weights);
    throw err;
  }
  const shape = manifest.imageShape ?? [manifest.featureCount];
  const student = {
    manifest,
    task: manifest.task,
    features: manifest.features,
    classNames: manifest.classNames,
    async predict(rows: Rows) {
      const { x, count } = standardizeRows(rows, manifest);
      const out = tf.tidy(() => graph(tf.tensor(x, [count, ...shape])));
      const v = (await out.data()) as Float32Array;
      out.dispose();
      const bad = v.findIndex((u) => !Number.isFinite(u));
      if (bad >= 0)
        throw new UserError(
          `predict: the model's output for row ${Math.floor(bad / (v.length / count)) + 1} is ${v[bad]}; check that row`,
        );
      const m = manifest;
      return headPrediction(v, count, m.outputs, m.standardization.target, m.classNames, m.temperature);
    },
    dispose: () => tf.dispose(weights),
  };
  // The task and predict's result agree by construction: the result follows `manifest.task`.
  return student as Student;
}

/** A file of the export, checked against the size and SHA-256 the manifest records for it. */
async function readVerified(loc: ExportLocation, file: string, m: StudentManifest): Promise<Uint8Array> {
  const data = await loc.read(file);
  if (!m.files) return data;
  const want = m.files[file];
  const name = loc.nameOf(file);
  if (!want)
    throw new UserError(
      `${name}: not listed among the files of the export's manifest; export the model again`,
    );
  if (data.byteLength !== want.bytes)
    throw new UserError(
      `${name}: ${data.byteLength} bytes, the export's manifest records ${want.bytes} (truncated or damaged); export the model again`,
    );
  const got = await sha256Hex(data);
  if (got !== want.sha256)
    throw new UserError(
      `${name}: SHA-256 ${got.slice(0, 12)}… differs from the manifest's ${want.sha256.slice(0, 12)}… (the file was changed after export); export the model again`,
    );
  return data;
}

/** Bytes of one weight in a shard: its quantized size, else its dtype's. */
function entryBytes(w: tf.io.WeightsManifestEntry): number {
  const count = w.shape.reduce((p, v) => p * v, 1);
  const dtype = w.quantization?.dtype ?? w.dtype;
  return (
    count * (dtype === 'uint8' || dtype === 'bool' ? 1 : dtype === 'uint16' || dtype === 'float16' ? 2 : 4)
  );
}

/** The model's input layer must take what the manifest describes (features, or the image shape). */
function checkInputShape(t: Topology, m: StudentManifest, where: string): void {
  const input = t.config.layers.find((l) => l.name === t.config.input_layers[0][0]);
  const got = (input?.config.batch_input_shape as (number | null)[] | undefined)?.slice(1);
  const want = m.imageShape ?? [m.featureCount];
  if (got && got.join(',') !== want.join(','))
    throw new UserError(
      `${where}: the model's input shape [${got.join(', ')}] differs from the manifest's [${want.join(', ')}] (${expectedInputs(m)})`,
    );
}
