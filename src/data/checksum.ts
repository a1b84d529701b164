import { createHash, type Hash } from 'node:crypto';

/**
 * Content checksum of a dataset that does not depend on how rows are batched in the file:
 * sha256 of the concatenated per-column sha256 digests, each column hashed as its little-endian
 * values in row order. Columns are fed incrementally, batch by batch.
 */
export class ColumnChecksum {
  private readonly hashes: Hash[];

  constructor(columnCount: number) {
    this.hashes = Array.from({ length: columnCount }, () => createHash('sha256'));
  }

  update(column: number, values: ArrayBufferView): void {
    this.hashes[column].update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  digest(): string {
    const outer = createHash('sha256');
    for (const h of this.hashes) outer.update(h.digest());
    return `sha256:${outer.digest('hex')}`;
  }
}
