import path from 'node:path';
import { UserError } from '../../core/errors.js';
import { readIdx } from '../idx.js';
import type { DatasetContent } from '../dataset-meta.js';
import { importedMeta, tableTargets, type ImportOptions } from './user-table.js';

/** An IDX file by its name: `.idx` (or `.idx3`, …) or MNIST's `…-idx3-ubyte`. */
export function isIdxFile(file: string): boolean {
  return /(\.idx\d?|idx\d-ubyte)$/i.test(path.basename(file));
}

/**
 * Imports IDX image data: `file` holds uint8 examples [n, …] (MNIST's images file is [n, 28, 28]) and
 * `labels` the targets [n]. The image shape is `imageShape`, whose product must equal the values per
 * example, or else read from the header: [n, h, w] is [h, w, 1], [n, h, w, c] is [h, w, c].
 */
export async function idxTableContent(
  opts: ImportOptions,
): Promise<Omit<DatasetContent, 'meta'> & { meta: Omit<DatasetContent['meta'], 'checksum'> }> {
  if (!opts.labels)
    throw new UserError(
      `${opts.file}: an IDX image file needs its labels: give --labels <IDX file of [n] labels>`,
    );
  if (opts.features)
    throw new UserError(`${opts.file}: --features selects columns of a table; an IDX file has none`);
  const [images, labels] = await Promise.all([readIdx(opts.file), readIdx(opts.labels)]);
  const [n, ...example] = images.shape;
  const d = example.reduce((a, b) => a * b, 1);
  if (labels.shape.length !== 1 || labels.shape[0] !== n)
    throw new UserError(
      `${opts.labels}: expected labels of IDX shape [${n}] for the ${n} examples of ${opts.file}, found [${labels.shape.join(', ')}]`,
    );
  let shape = opts.imageShape;
  if (shape && shape[0] * shape[1] * shape[2] !== d)
    throw new UserError(
      `--image-shape ${shape.join(',')} has ${shape[0] * shape[1] * shape[2]} values per example, but the examples of ${opts.file} have shape [${example.join(', ')}] (${d} values)`,
    );
  if (!shape) {
    if (example.length === 2) shape = [example[0], example[1], 1];
    else if (example.length === 3) shape = [example[0], example[1], example[2]];
    else
      throw new UserError(
        `${opts.file}: examples of IDX shape [${example.join(', ')}] are not images [height, width] or [height, width, channels]; give --image-shape H,W,C`,
      );
  }
  const { targets, classCount } = tableTargets(labels.data, opts, (i) => `${opts.labels}: item ${i}`);
  return {
    meta: importedMeta(opts, {
      features: ['pixels'],
      featureCount: d,
      classCount,
      imageShape: shape,
      rows: n,
      source: `${path.resolve(opts.file)} (labels ${path.resolve(opts.labels)})`,
    }),
    features: Uint8Array.from(images.data),
    targets,
  };
}
