import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { importTable } from '../../src/stages/prepare.js';
import { mnistContent, defaultMnistFiles } from '../../src/data/sources/mnist.js';
import { tempDir } from '../helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function importCsv(
  name: string,
  text: string,
  target = 'y',
  task: 'regression' | 'classification' = 'regression',
) {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return { file, run: () => importTable({ file, name: 'x', target, task }, {}, { dir }) };
}

async function expectUserError(p: Promise<unknown>, message: string | RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  if (typeof message === 'string') expect(msg).toBe(message);
  else expect(msg).toMatch(message);
}

describe('bad input to data import gives one precise line', () => {
  it('missing file', async () => {
    const file = path.join(dir, 'nope.csv');
    await expectUserError(
      importTable({ file, name: 'x', target: 'y', task: 'regression' }, {}, { dir }),
      `${file}: file not found`,
    );
  });
  it('empty file', async () => {
    const { file, run } = await importCsv('empty.csv', '');
    await expectUserError(run(), `${file}: file is empty`);
  });
  it('ragged rows', async () => {
    const { file, run } = await importCsv('ragged.csv', 'a,b,y\n1,2,3\n4,5\n');
    await expectUserError(run(), `${file}:3: expected 3 fields (as in the header), found 2`);
  });
  it('non-numeric cell', async () => {
    const { file, run } = await importCsv('text.csv', 'a,b,y\n1,2,3\n4,abc,6\n');
    await expectUserError(run(), `${file}:3: column 'b' has non-numeric value 'abc'`);
  });
  it('NaN and Inf cells', async () => {
    const a = await importCsv('nan.csv', 'a,y\n1,2\nNaN,3\n');
    await expectUserError(a.run(), `${a.file}:3: column 'a' has non-finite value 'NaN'`);
    const b = await importCsv('inf.csv', 'a,y\n1,Inf\n');
    await expectUserError(b.run(), `${b.file}:2: column 'y' has non-finite value 'Inf'`);
  });
  it('unknown target column', async () => {
    const { file, run } = await importCsv('target.csv', 'a,b\n1,2\n', 'price');
    await expectUserError(run(), `${file}: unknown target column 'price' (columns: a, b)`);
  });
  it('classification labels that are not integers 0..K-1', async () => {
    const a = await importCsv('frac.csv', 'a,y\n1,0\n2,1.5\n', 'y', 'classification');
    await expectUserError(
      a.run(),
      `${a.file}:3: column 'y' has label 1.5; classification labels must be integers 0..K-1`,
    );
    const b = await importCsv('neg.csv', 'a,y\n1,0\n2,-1\n', 'y', 'classification');
    await expectUserError(
      b.run(),
      `${b.file}:3: column 'y' has label -1; classification labels must be integers 0..K-1`,
    );
    const c = await importCsv('gap.csv', 'a,y\n1,0\n2,2\n3,0\n', 'y', 'classification');
    await expectUserError(
      c.run(),
      /gap\.csv: column 'y' labels must be integers 0\.\.K-1 with every class present; label 1 never occurs/,
    );
  });
  it('a corrupt Arrow file', async () => {
    const file = path.join(dir, 'corrupt.arrow');
    await fs.writeFile(file, Buffer.from('ARROW1\0\0garbage garbage garbage'));
    await expectUserError(
      importTable({ file, name: 'x', target: 'y', task: 'regression' }, {}, { dir }),
      new RegExp(`^${file}: corrupt or unreadable Arrow IPC file`),
    );
  });
  it('truncated and wrong-magic IDX files', async () => {
    const real = defaultMnistFiles();
    const truncated = path.join(dir, 'train-images-truncated');
    const bytes = await fs.readFile(real.trainImages);
    await fs.writeFile(truncated, bytes.subarray(0, 1000));
    await expectUserError(
      mnistContent({ ...real, trainImages: truncated }),
      `${truncated}: truncated IDX data: header promises 47040000 bytes of data, found 984`,
    );
    const wrong = path.join(dir, 'wrong-magic');
    await fs.writeFile(wrong, Buffer.concat([Buffer.from([1, 2, 8, 1]), bytes.subarray(4, 100)]));
    await expectUserError(
      mnistContent({ ...real, trainLabels: wrong }),
      /wrong-magic: not an IDX file: bad magic bytes 0x01 0x02 \(expected 0x00 0x00\)/,
    );
  });
  it('never leaves a half-written dataset behind', async () => {
    const { run } = await importCsv('bad-late.csv', 'a,y\n' + '1,2\n'.repeat(100) + '1,oops\n');
    await expect(run()).rejects.toThrow();
    expect((await fs.readdir(dir)).filter((f) => f.startsWith('x.') || f.endsWith('.tmp'))).toEqual([]);
  });
});
