/** Sample store: missing, foreign, damaged and mismatched files give one-line UserErrors. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

import * as A from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import { UserError } from '../../src/core/errors.js';
import { readAllSamples, SampleWriter, scanSamples } from '../../src/samples/index.js';
import { useTempDir, writeSamples } from './fixtures.js';

const { dir, fresh } = useTempDir();

describe('sample store: errors', () => {
  it('reports a missing file', async () => {
    const file = path.join(dir(), 'nope.arrows');
    await expect(scanSamples(file)).rejects.toThrow(new UserError(`${file}: file not found`));
    await expect(readAllSamples([file])).rejects.toThrow(`${file}: file not found`);
    await expect(SampleWriter.openForAppend(file, 0)).rejects.toThrow(`${file}: file not found`);
  });

  it('refuses to create over an existing file', async () => {
    const file = fresh();
    await writeSamples(file, 3, [1]);
    await expect(SampleWriter.create(file, 3, {})).rejects.toThrow(
      new UserError(`${file}: already exists; refusing to overwrite samples`),
    );
    expect((await scanSamples(file)).records).toBe(1);
  });

  it('rejects files that are not bdk samples', async () => {
    const text = fresh('text.csv');
    await fs.writeFile(text, 'a,b\n1,2\n');
    await expect(scanSamples(text)).rejects.toThrow(
      `${text}: not a bdk samples file (not an Arrow IPC stream)`,
    );
    const plain = fresh('plain.arrows');
    await fs.writeFile(plain, A.tableToIPC(A.tableFromArrays({ a: new Int32Array([1, 2]) }), 'stream'));
    await expect(scanSamples(plain)).rejects.toThrow(
      `${plain}: not a bdk samples file (no 'bdk' schema metadata)`,
    );
    const fileFormat = fresh('file.arrow');
    await fs.writeFile(fileFormat, A.tableToIPC(A.tableFromArrays({ a: new Int32Array([1, 2]) }), 'file'));
    await expect(readAllSamples([fileFormat])).rejects.toThrow(
      /not a bdk samples file \(Arrow IPC file format/,
    );
  });

  it('reports a torn or damaged header as corrupt, at every truncation', async () => {
    const src = fresh();
    const ends = await writeSamples(src, 3, []);
    const whole = await fs.readFile(src);
    const copy = fresh();
    for (let len = 0; len < ends[0]; len++) {
      await fs.writeFile(copy, whole.subarray(0, len));
      const err = await scanSamples(copy).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `length ${len}`).toBeInstanceOf(UserError);
      expect((err as Error).message, `length ${len}`).toMatch(
        new RegExp(`^${copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt samples file header \\(`),
      );
    }
  });

  it('names both files when shards disagree on the parameter count', async () => {
    const a = fresh();
    const b = fresh();
    await writeSamples(a, 4, [1]);
    await writeSamples(b, 5, [1]);
    const err = await readAllSamples([a, b]).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(UserError);
    expect(err!.message).toContain(a);
    expect(err!.message).toContain(b);
    expect(err!.message.split('\n')).toHaveLength(1);
  });
});
