import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { encodeFloat16, encodeUint8, type Quantization } from './quantize.js';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/**
 * Writes a LayersModel as the standard tfjs files (`model.json` with the topology and weights manifest,
 * plus one binary weight shard) that `tf.loadLayersModel` opens from a URL in a browser or from disk
 * with tfjs-node. Weights are optionally quantized to float16 or uint8.
 */
export async function saveLayersModel(
  model: tf.LayersModel,
  dir: string,
  quantization: Quantization,
  convertedBy: string,
): Promise<number> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  const raw = new Float32Array(a.weightData as ArrayBuffer);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const spec of a.weightSpecs!) {
    const n = spec.shape.reduce((p, v) => p * v, 1);
    const values = raw.subarray(offset, offset + n);
    offset += n;
    if (quantization === 'float16') {
      const q = encodeFloat16(values);
      chunks.push(new Uint8Array(q.buffer));
      specs.push({ ...spec, quantization: { dtype: 'float16' } });
    } else if (quantization === 'uint8') {
      const q = encodeUint8(values);
      chunks.push(q.data);
      specs.push({ ...spec, quantization: { dtype: 'uint8', scale: q.scale, min: q.min } });
    } else {
      chunks.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      specs.push(spec);
    }
  }
  const bytes = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const json = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
  };
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, WEIGHTS_FILE), bytes);
  await writeFileAtomic(path.join(dir, MODEL_FILE), JSON.stringify(json) + '\n');
  return bytes.length;
}

/** Bytes of one weight in a shard: its quantized size, else its dtype's. */
function entryBytes(w: tf.io.WeightsManifestEntry): number {
  const count = w.shape.reduce((p, v) => p * v, 1);
  const dtype = w.quantization?.dtype ?? w.dtype;
  return (
    count * (dtype === 'uint8' || dtype === 'bool' ? 1 : dtype === 'uint16' || dtype === 'float16' ? 2 : 4)
  );
}

/** Loads a model written by `saveLayersModel` (or any single-folder tfjs LayersModel) without tfjs-node. */
export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  const file = path.join(dir, MODEL_FILE);
  let json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UserError(`${file}: file not found (not an exported model folder)`);
    throw new UserError(`${file}: not a valid model.json (${(err as Error).message})`);
  }
  if (!Array.isArray(json?.weightsManifest))
    throw new UserError(`${file}: not a TensorFlow.js layers model (no weightsManifest)`);
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    const files = group.paths.map((p) => path.join(dir, p));
    const read = await Promise.all(
      files.map((f) =>
        fs.readFile(f).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ENOENT' ? new UserError(`${f}: file not found (listed in ${file})`) : err;
        }),
      ),
    );
    const expected = group.weights.reduce((s, w) => s + entryBytes(w), 0);
    const found = read.reduce((s, b) => s + b.byteLength, 0);
    if (found !== expected)
      throw new UserError(
        `${files.join(' + ')}: expected ${expected} bytes (the weights ${file} lists), found ${found}; the file is truncated or damaged (export the model again)`,
      );
    buffers.push(...read);
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}
