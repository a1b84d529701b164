import { UserError } from '../core/errors.js';
import { parseNumericCsv } from '../data/csv.js';
import { inputColumns } from '../data/input-table.js';
import { featureValues, type Rows } from '../runtime/inputs.js';
import type { StudentManifest } from '../runtime/manifest.js';

/** A request the service refuses: its HTTP status and a one-line message for the client. */
export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** The checked raw inputs of one request: rows × featureCount values in the manifest's feature order. */
export interface Inputs {
  values: Float64Array;
  count: number;
}

/** How the error messages name the body. */
export const BODY = 'request body';

/**
 * The JSON body's schema (fastify validates it before the handler runs): an object with one key,
 * `rows`, a non-empty list of rows, each a list of numbers or an object keyed by feature name. The
 * values themselves are checked by the runtime (`featureValues`), with its one-line messages.
 */
export const JSON_BODY_SCHEMA = {
  type: 'object',
  required: ['rows'],
  additionalProperties: false,
  properties: {
    rows: { type: 'array', minItems: 1, items: { anyOf: [{ type: 'array' }, { type: 'object' }] } },
  },
} as const;

/** One line for the first of ajv's errors on a body that does not fit {@link JSON_BODY_SCHEMA}. */
export function schemaMessage(
  e: { keyword: string; instancePath: string; params: Record<string, unknown> } | undefined,
): string {
  const expected = 'expected a JSON object {"rows": [...]}';
  if (!e) return `${BODY}: ${expected}`;
  const row = /^\/rows\/(\d+)$/.exec(e.instancePath);
  if (row)
    return `${BODY}: row ${Number(row[1]) + 1} is neither a list of numbers nor an object keyed by feature name`;
  if (e.instancePath === '/rows')
    return e.keyword === 'minItems'
      ? `${BODY}: "rows" is empty; send at least one row`
      : `${BODY}: "rows" must be a list of rows`;
  if (e.keyword === 'required') return `${BODY}: no "rows"; ${expected}`;
  if (e.keyword === 'additionalProperties')
    return `${BODY}: unknown key '${String(e.params.additionalProperty)}'; ${expected}`;
  return `${BODY}: ${expected}`;
}

/**
 * A JSON body that failed to parse, handed on by the content-type parser and refused by the route's
 * preValidation hook: an error from the parser itself would make fastify close the connection, though
 * the body was read to its end.
 */
export class InvalidBody {
  constructor(readonly error: RequestError) {}
}

/** The JSON body's text parsed; a syntax error is a 400 with JSON.parse's message on one line. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '')
    throw new RequestError(400, `${BODY}: empty; expected a JSON object {"rows": [...]}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, `${BODY}: not valid JSON (${oneLine((err as Error).message)})`);
  }
}

/** The rows of a JSON body (already of the schema's shape), checked by the runtime. */
export function jsonInputs(body: { rows: unknown[] }, m: StudentManifest): Inputs {
  const { values, count } = asRequestError(() => featureValues(body.rows as Rows, m));
  return { values, count };
}

/**
 * The rows of a CSV body with a header row, read as `bdk predict` reads an input file: tabular
 * features by name (exactly, else one case-insensitive match; other columns ignored), image pixels
 * by position (a column named as the target left out).
 */
export function csvInputs(text: string, m: StudentManifest): Inputs {
  if (text.trim() === '')
    throw new RequestError(400, `${BODY}: empty; expected a CSV header row and data rows`);
  return asRequestError(() => {
    const table = parseNumericCsv(text, BODY);
    const cols = inputColumns(table, m, BODY);
    const d = m.featureCount;
    const values = new Float64Array(table.rows * d);
    for (let k = 0; k < d; k++) {
      const column = table.data[cols[k]];
      for (let i = 0; i < table.rows; i++) values[i * d + k] = column[i];
    }
    return { values, count: table.rows };
  });
}

function asRequestError<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof UserError) throw new RequestError(400, oneLine(err.message));
    throw err;
  }
}

/** A message on one line: line breaks (from a quoted body, say) joined up. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ');
}
