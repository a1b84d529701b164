/**
 * Writing samples files: `SampleWriter` creates a file or resumes one, and appends groups of samples.
 *
 * Crash safety: the schema is written to a temporary file and hard-linked into place, so a samples
 * file never exists without a complete header. Each append is one `writev` followed by `fdatasync`,
 * so a SIGKILL at any moment leaves at most one torn message at the end of the file. Readers parse the
 * framing themselves and ignore a torn tail; `SampleWriter.openForAppend` cuts the file back to the
 * number of samples the resumed chain state accounts for.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { trackTemporary } from '../core/temp-files.js';
import {
  INT32_MAX,
  makeSchema,
  SAMPLES_FORMAT,
  SAMPLES_VERSION,
  WEIGHT_DTYPES,
  type SampleRecord,
  type SamplesMeta,
  type WeightDtype,
} from './format.js';
import {
  checkRecords,
  encodeBatch,
  encodeSchemaMessage,
  errCode,
  openExisting,
  syncDir,
  writeFully,
  type EncodedBatch,
} from './frames.js';
import { allocRows, readRows, scanFile, withReader, type BatchInfo } from './parse.js';

/**
 * Appends groups of samples to a samples file; each `append` is durable (fdatasync) when it resolves.
 * Appends are serialized, so callers may fire several without awaiting each.
 */
export class SampleWriter {
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown = undefined;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    readonly parameterCount: number,
    readonly weightDtype: WeightDtype,
    readonly meta: SamplesMeta,
    private offset: number,
    private count: number,
  ) {}

  /** Number of samples in the file, counting appends that have resolved. */
  get records(): number {
    return this.count;
  }

  /**
   * Creates a new samples file holding only the schema. Fails with a UserError if `file` exists.
   * `weightDtype: 'float16'` stores the weights at half precision (rounded to nearest even).
   */
  static async create(
    file: string,
    parameterCount: number,
    meta: Record<string, unknown> = {},
    opts: { weightDtype?: WeightDtype } = {},
  ): Promise<SampleWriter> {
    const weightDtype = opts.weightDtype ?? 'float32';
    if (!WEIGHT_DTYPES.includes(weightDtype)) {
      throw new RangeError(`weightDtype must be float32 or float16, got ${String(weightDtype)}`);
    }
    if (!Number.isSafeInteger(parameterCount) || parameterCount <= 0 || parameterCount > INT32_MAX) {
      throw new RangeError(`parameterCount must be a positive 32-bit integer, got ${parameterCount}`);
    }
    const fullMeta: SamplesMeta = {
      ...meta,
      format: SAMPLES_FORMAT,
      version: SAMPLES_VERSION,
      parameterCount,
    };
    const schemaBytes = encodeSchemaMessage(makeSchema(parameterCount, fullMeta, weightDtype));
    const exists = () => new UserError(`${file}: already exists; refusing to overwrite samples`);
    if (
      await fs.lstat(file).then(
        () => true,
        () => false,
      )
    ) {
      throw exists();
    }
    const dir = path.dirname(file);
    await fs.mkdir(dir, { recursive: true });

    // Write the header to a temporary file and hard-link it into place: the samples file never
    // exists without its complete schema, and linking fails atomically if the file appeared meanwhile.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    const untrack = trackTemporary(tmp);
    try {
      const t = await fs.open(tmp, 'wx');
      try {
        await writeFully(t, [schemaBytes], 0);
        await t.datasync();
      } finally {
        await t.close();
      }
      try {
        await fs.link(tmp, file);
      } catch (err) {
        const code = errCode(err);
        if (code === 'EEXIST') throw exists();
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
        // File systems without hard links: exclusive create, then write in place.
        const f = await fs.open(file, 'wx').catch((e: unknown) => {
          throw errCode(e) === 'EEXIST' ? exists() : e;
        });
        try {
          await writeFully(f, [schemaBytes], 0);
          await f.datasync();
        } finally {
          await f.close();
        }
      }
    } finally {
      await fs.rm(tmp, { force: true });
      untrack();
    }
    await syncDir(dir);
    const fh = await openExisting(file, 'r+');
    return new SampleWriter(file, fh, parameterCount, weightDtype, fullMeta, schemaBytes.length, 0);
  }

  /**
   * Opens an existing samples file to continue a run: validates it, cuts it back to exactly its first
   * `keepRecords` complete samples (dropping samples drawn after the last saved chain state, and any
   * torn tail), and positions the writer after them. Fails with a UserError if fewer exist.
   */
  static async openForAppend(file: string, keepRecords: number): Promise<SampleWriter> {
    if (!Number.isSafeInteger(keepRecords) || keepRecords < 0) {
      throw new RangeError(`keepRecords must be a non-negative integer, got ${keepRecords}`);
    }
    const scan = await scanFile(file);
    const { header } = scan;
    const p = header.parameterCount;
    if (scan.records < keepRecords) {
      throw new UserError(
        `${file}: holds ${scan.records} complete samples, but the chain state accounts for ${keepRecords}; the samples file does not belong to this state`,
      );
    }
    // Find where the first keepRecords samples end.
    let cut = header.schemaEnd;
    let counted = 0;
    let split: { batch: BatchInfo; rows: number } | undefined;
    for (const b of scan.batches) {
      if (counted === keepRecords) break;
      if (counted + b.rows <= keepRecords) {
        counted += b.rows;
        cut = b.end;
      } else {
        split = { batch: b, rows: keepRecords - counted };
        break;
      }
    }

    if (split) {
      // The cut falls inside a record batch: rebuild the file as a copy holding the kept prefix plus
      // the kept rows of that batch, then rename it over the original, so a crash here loses nothing.
      const { batch, rows } = split;
      const kept = allocRows(rows, p);
      await withReader(file, (r) => readRows(r, batch, p, header.weightDtype, 0, rows, kept, 0));
      const records: SampleRecord[] = [];
      for (let i = 0; i < rows; i++) {
        records.push({
          chain: kept.chain[i],
          step: kept.step[i],
          logLikelihood: kept.logLikelihood[i],
          noisePrecision: kept.noisePrecision[i],
          weights: kept.weights.subarray(i * p, (i + 1) * p),
        });
      }
      const enc = encodeBatch(records, p, header.weightDtype); // half → float32 → half is exact
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      const untrack = trackTemporary(tmp);
      try {
        await fs.copyFile(file, tmp);
        const t = await fs.open(tmp, 'r+');
        try {
          await t.truncate(batch.start);
          await writeFully(t, [enc.header, enc.body], batch.start);
          await t.sync();
        } finally {
          await t.close();
        }
        await fs.rename(tmp, file);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      } finally {
        untrack();
      }
      await syncDir(path.dirname(file));
      cut = batch.start + enc.header.length + enc.body.length;
    }

    const fh = await openExisting(file, 'r+');
    try {
      const { size } = await fh.stat();
      if (size !== cut) {
        await fh.truncate(cut);
        await fh.sync();
      }
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new SampleWriter(file, fh, p, header.weightDtype, header.meta, cut, keepRecords);
  }

  /**
   * Appends the records as one record batch, durable (written and fdatasync'ed) when the promise
   * resolves. The records are copied synchronously, so their arrays may be reused right away.
   */
  append(records: SampleRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file}: sample writer is closed`));
    if (records.length === 0) return this.queue;
    checkRecords(records, this.parameterCount);
    const enc = encodeBatch(records, this.parameterCount, this.weightDtype);
    const run = this.queue.then(() => this.write(enc));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(enc: EncodedBatch): Promise<void> {
    if (this.failure !== undefined) {
      throw new Error(`${this.file}: an earlier append failed, refusing to append more`, {
        cause: this.failure,
      });
    }
    const start = this.offset;
    try {
      await writeFully(this.fh, [enc.header, enc.body], start);
      await this.fh.datasync();
    } catch (err) {
      this.failure = err;
      // Drop the partial message so the file stays clean; readers would ignore it anyway.
      await this.fh.truncate(start).catch(() => undefined);
      throw err;
    }
    this.offset = start + enc.header.length + enc.body.length;
    this.count += enc.rows;
  }

  /** Waits for pending appends, then closes the file. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.queue;
    } finally {
      await this.fh.close();
    }
  }
}
