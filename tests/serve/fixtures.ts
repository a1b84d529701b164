import path from 'node:path';
import { predictFile, type Predictions } from '../../src/stages/predict.js';
import type { ExportManifest } from '../../src/stages/export.js';
import { writeCsv } from '../runtime/exports.js';

/** A CSV body with the model's columns (the feature names, or `px0…` for an image's pixels). */
export function csvBody(m: ExportManifest, rows: number[][]): string {
  const columns = m.imageShape ? rows[0].map((_, k) => `px${k}`) : m.features;
  return [columns.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}

/** `bdk predict`'s numbers for rows, through a CSV file as the CLI reads them. */
export async function reference(
  dir: string,
  m: ExportManifest,
  rows: number[][],
  scratch: string,
): Promise<Predictions> {
  const file = path.join(scratch, `input-${Math.random().toString(36).slice(2)}.csv`);
  const columns = m.imageShape ? rows[0].map((_, k) => `px${k}`) : m.features;
  await writeCsv(file, columns, rows);
  return predictFile(dir, file);
}

/** The service's per-row objects as `bdk predict`'s columns, to compare them number by number. */
export function asColumns(m: ExportManifest, out: Record<string, unknown>[]): number[][] {
  return out.map((r) =>
    m.task === 'regression'
      ? [r.mean, r.sd, ...(r.median === undefined ? [] : [r.median])].map(Number)
      : [...(r.probs as number[]), Number(r.label), Number(r.entropy)],
  );
}

/** Within 1e-6, relative to the value's size when above 1. */
export function expectClose(got: number[][], want: number[][]): void {
  if (got.length !== want.length) throw new Error(`${got.length} rows, expected ${want.length}`);
  got.forEach((r, i) => {
    if (r.length !== want[i].length)
      throw new Error(`row ${i}: ${r.length} values, expected ${want[i].length}`);
    r.forEach((v, j) => {
      const w = want[i][j];
      if (!(Math.abs(v - w) <= 1e-6 * Math.max(1, Math.abs(w))))
        throw new Error(`row ${i}, column ${j}: ${v}, bdk predict gives ${w}`);
    });
  });
}

export async function postJson(url: string, body: unknown, contentType = 'application/json') {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
