/**
 * What a teacher's completion check needs from one samples file: its SHA-256 and how many complete
 * samples each chain has (read from the chain column only; the weights are not read).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { bytesOf, scanFile, withReader } from './parse.js';

/** A samples file's complete samples per chain, its size and where its complete records end. */
export interface ShardScan {
  /** Complete samples per global chain index. */
  perChain: Map<number, number>;
  records: number;
  /** Bytes up to the end of the last complete record batch; less than `fileBytes` for a torn tail. */
  completeBytes: number;
  fileBytes: number;
}

/** Counts the complete samples of each chain in `file` (a torn tail is ignored). */
export async function scanShard(file: string): Promise<ShardScan> {
  const scan = await scanFile(file);
  const perChain = new Map<number, number>();
  await withReader(file, async (r) => {
    for (const b of scan.batches) {
      const chain = new Int32Array(b.rows);
      await r.readInto(bytesOf(chain, 0, b.rows), b.chain);
      for (const c of chain) perChain.set(c, (perChain.get(c) ?? 0) + 1);
    }
  });
  return { perChain, records: scan.records, completeBytes: scan.completeBytes, fileBytes: scan.fileBytes };
}

/** The SHA-256 of a file's bytes, as lowercase hex, read as a stream. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
