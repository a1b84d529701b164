/**
 * Strict reader for numeric CSV files: a header line of column names followed by rows of finite numbers.
 *
 * Every problem with the input is reported as a one-line {@link UserError} naming the file and, where it
 * applies, the 1-based file line (the header is line 1), the column and the offending value.
 */
import { readFile } from 'node:fs/promises';

import { UserError } from '../core/errors.js';

export interface NumericTable {
  /** Column names from the header, trimmed and unquoted, in file order. */
  columns: string[];
  /** Number of data rows. */
  rows: number;
  /** One array per column, each of length `rows`. */
  data: Float64Array[];
}

/** Longest cell value quoted verbatim in an error message; longer ones are shortened. */
const MAX_SHOWN_VALUE = 60;

/** Reads and parses a numeric CSV file; see {@link parseNumericCsv}. */
export async function readNumericCsv(file: string): Promise<NumericTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw readError(file, err);
  }
  return parseNumericCsv(text, file);
}

/**
 * Parses CSV text whose first line is a header of column names and whose other lines hold one finite number
 * per column. Accepts a UTF-8 byte-order mark, CRLF line endings, double quotes around fields, whitespace
 * around fields and blank lines at the end. `file` is used only in error messages.
 */
export function parseNumericCsv(text: string, file: string): NumericTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Blank lines (and whitespace) at the end are ignored: the data ends at the last non-blank character.
  const end = text.trimEnd().length;
  if (end === 0) throw new UserError(`${file}: file is empty`);

  let headerEnd = text.indexOf('\n');
  if (headerEnd === -1 || headerEnd > end) headerEnd = end;
  const columns = parseHeader(stripCr(text.slice(0, headerEnd)), file);
  const n = columns.length;

  let rows = 0;
  if (headerEnd < end) {
    rows = 1;
    for (let i = text.indexOf('\n', headerEnd + 1); i !== -1 && i < end; i = text.indexOf('\n', i + 1))
      rows++;
  }
  if (rows === 0) throw new UserError(`${file}: no data rows after the header`);

  const data: Float64Array[] = [];
  for (let c = 0; c < n; c++) data.push(new Float64Array(rows));

  // The text is scanned in place with indexOf, without splitting it into line and cell arrays. The next comma
  // and quote positions are cached so that lines without them never cause a scan to the end of the text.
  let nextComma = -1;
  let nextQuote = -1;
  let pos = headerEnd + 1;
  for (let r = 0; r < rows; r++) {
    const lineNo = r + 2;
    let eol = text.indexOf('\n', pos);
    if (eol === -1 || eol > end) eol = end;
    const lineEnd = eol > pos && text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;

    if (nextQuote < pos && nextQuote !== Infinity) nextQuote = indexOrInfinity(text, '"', pos);
    if (nextQuote < lineEnd) {
      // Rare: quoted cells. Split this line the careful way.
      const cells = splitQuoted(text.slice(pos, lineEnd));
      if (typeof cells === 'string') throw new UserError(`${file}:${lineNo}: ${cells}`);
      if (cells.length !== n) throw raggedError(file, lineNo, n, cells);
      for (let c = 0; c < n; c++) data[c][r] = parseNumber(cells[c], file, lineNo, columns[c]);
    } else {
      let start = pos;
      for (let c = 0; c < n; c++) {
        if (nextComma < start && nextComma !== Infinity) nextComma = indexOrInfinity(text, ',', start);
        let cellEnd: number;
        if (nextComma < lineEnd) {
          if (c === n - 1) throw raggedError(file, lineNo, n, text.slice(pos, lineEnd).split(','));
          cellEnd = nextComma;
        } else {
          if (c !== n - 1) throw raggedError(file, lineNo, n, text.slice(pos, lineEnd).split(','));
          cellEnd = lineEnd;
        }
        data[c][r] = parseNumber(text.slice(start, cellEnd), file, lineNo, columns[c]);
        start = cellEnd + 1;
      }
    }
    pos = eol + 1;
  }

  return { columns, rows, data };
}

function indexOrInfinity(text: string, search: string, from: number): number {
  const i = text.indexOf(search, from);
  return i === -1 ? Infinity : i;
}

function raggedError(file: string, lineNo: number, n: number, cells: string[]): UserError {
  // A blank line in the middle of the data has no fields at all (with one column it is a missing value).
  const found = cells.length === 1 && cells[0].trim() === '' ? 0 : cells.length;
  return new UserError(`${file}:${lineNo}: expected ${n} fields (as in the header), found ${found}`);
}

/** Parses one cell, throwing the matching one-line error unless it is a finite decimal number. */
function parseNumber(raw: string, file: string, lineNo: number, column: string): number {
  const v = Number(raw);
  // Fast path: a plain decimal number. `Number` also accepts '' / whitespace (as 0) and 0x/0b/0o
  // literals; those fail `isPlainStart` and go to the careful path below, as do padded cells.
  if (v === v && v !== Infinity && v !== -Infinity && isPlainStart(raw)) return v;
  return parseCell(raw, file, lineNo, column);
}

/** True when `s` begins with a digit, sign or '.' and is not a 0x / 0b / 0o literal. */
function isPlainStart(s: string): boolean {
  const c0 = s.charCodeAt(0);
  if (c0 === 48 /* 0 */ && s.length > 1) return !isRadixLetter(s.charCodeAt(1));
  return (c0 >= 48 && c0 <= 57) || c0 === 45 /* - */ || c0 === 43 /* + */ || c0 === 46; /* . */
}

function isRadixLetter(code: number): boolean {
  const lower = code | 0x20;
  return lower === 120 /* x */ || lower === 98 /* b */ || lower === 111; /* o */
}

/** Careful parse of one cell, throwing the matching error for anything that is not a finite decimal number. */
function parseCell(raw: string, file: string, lineNo: number, column: string): number {
  const t = raw.trim();
  if (t === '') throw new UserError(`${file}:${lineNo}: column '${column}' has a missing value`);
  const v = Number(t);
  if (Number.isFinite(v)) {
    if (t.length > 1 && t.charCodeAt(0) === 48 && isRadixLetter(t.charCodeAt(1))) {
      throw new UserError(`${file}:${lineNo}: column '${column}' has non-numeric value '${shown(t)}'`);
    }
    return v;
  }
  if (Number.isNaN(v)) {
    const word = t.replace(/^[+-]/, '').toLowerCase();
    if (word !== 'nan' && word !== 'inf' && word !== 'infinity') {
      throw new UserError(`${file}:${lineNo}: column '${column}' has non-numeric value '${shown(t)}'`);
    }
  }
  // 'Infinity', 'NaN', 'inf' and numbers too large for a double (e.g. '1e999').
  throw new UserError(`${file}:${lineNo}: column '${column}' has non-finite value '${shown(t)}'`);
}

function parseHeader(line: string, file: string): string[] {
  if (line.trim() === '') throw new UserError(`${file}:1: the header line is empty (expected column names)`);
  const fields = splitQuoted(line);
  if (typeof fields === 'string') throw new UserError(`${file}:1: ${fields} in the header`);
  const columns = fields.map((f) => f.trim());
  const seen = new Map<string, number>();
  for (let k = 0; k < columns.length; k++) {
    const name = columns[k];
    if (name === '') throw new UserError(`${file}: column ${k + 1} has an empty name`);
    const first = seen.get(name);
    if (first !== undefined) {
      throw new UserError(
        `${file}: duplicate column name '${shown(name)}' (columns ${first + 1} and ${k + 1})`,
      );
    }
    seen.set(name, k);
  }
  return columns;
}

/**
 * Splits a line on commas, honouring double-quoted fields ('""' inside quotes is a literal quote). Quoted
 * fields are returned without their quotes; unquoted ones as they are. Returns a description of the problem
 * for malformed quoting.
 */
function splitQuoted(line: string): string[] | string {
  const out: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    let j = i;
    while (j < n && (line.charCodeAt(j) === 32 || line.charCodeAt(j) === 9)) j++;
    if (j < n && line.charCodeAt(j) === 34 /* " */) {
      let value = '';
      let k = j + 1;
      for (;;) {
        const q = line.indexOf('"', k);
        if (q === -1) return `unterminated quoted field (field ${out.length + 1})`;
        value += line.slice(k, q);
        if (line.charCodeAt(q + 1) === 34) {
          value += '"';
          k = q + 2;
        } else {
          k = q + 1;
          break;
        }
      }
      while (k < n && (line.charCodeAt(k) === 32 || line.charCodeAt(k) === 9)) k++;
      if (k < n && line.charCodeAt(k) !== 44 /* , */) {
        return `unexpected text after the closing quote of field ${out.length + 1}`;
      }
      out.push(value);
      if (k >= n) return out;
      i = k + 1;
    } else {
      const comma = line.indexOf(',', i);
      if (comma === -1) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

function stripCr(line: string): string {
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

function shown(value: string): string {
  return value.length > MAX_SHOWN_VALUE ? `${value.slice(0, MAX_SHOWN_VALUE)}...` : value;
}

/** Turns a file-system error from reading `file` into a one-line UserError. */
function readError(file: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new UserError(`${file}: file not found`);
    case 'EISDIR':
      return new UserError(`${file}: is a directory, expected a CSV file`);
    case 'EACCES':
    case 'EPERM':
      return new UserError(`${file}: permission denied`);
    case 'ERR_STRING_TOO_LONG':
      return new UserError(`${file}: file is too large to read as text (the limit is about 512 MB)`);
    default:
      return new UserError(
        `${file}: cannot read file (${code ?? (err instanceof Error ? err.message : err)})`,
      );
  }
}
