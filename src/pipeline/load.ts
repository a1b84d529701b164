import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { pipelineSchema, type PipelineConfig } from './schema.js';

/** Reads and validates a pipeline JSON file; every problem is named with its key path. */
export async function loadPipeline(file: string): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${file}: file not found`);
    throw new UserError(`${file}: cannot read (${(err as Error).message})`);
  }
  if (text.trim() === '') throw new UserError(`${file}: file is empty`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: invalid JSON (${(err as Error).message})`);
  }
  return parsePipeline(raw, file);
}

export function parsePipeline(raw: unknown, file: string): PipelineConfig {
  const result = pipelineSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => describeIssue(issue, raw));
  throw new UserError(`${file}: ${problems.join('; ')}`);
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path)
    v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/** The keys an object schema allows at `path`, unwrapping optional/default wrappers. */
function allowedKeys(path: PropertyKey[]): string[] {
  let schema: z.ZodType = pipelineSchema;
  const unwrap = (s: z.ZodType): z.ZodType => {
    let cur = s as z.ZodType & { unwrap?: () => z.ZodType; def?: { innerType?: z.ZodType } };
    while (cur.def?.innerType || (cur instanceof z.ZodOptional && cur.unwrap)) {
      cur = (cur.def?.innerType ?? cur.unwrap!()) as typeof cur;
    }
    return cur;
  };
  for (const key of path) {
    const obj = unwrap(schema);
    if (!(obj instanceof z.ZodObject)) return [];
    schema = obj.shape[key as string] as z.ZodType;
    if (!schema) return [];
  }
  const obj = unwrap(schema);
  return obj instanceof z.ZodObject ? Object.keys(obj.shape) : [];
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  const found = JSON.stringify(valueAt(raw, issue.path));
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(issue.path);
      const keys = issue.keys.map((k) => `'${k}'`).join(', ');
      return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
    }
    case 'invalid_type':
      if (found === undefined) return `${where}: required ${issue.expected} is missing`;
      return `${where}: expected ${issue.expected}, found ${found}`;
    case 'invalid_value':
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${found}`;
    case 'too_small':
    case 'too_big':
      return `${where}: ${issue.message.replace(/^Too (small|big): expected \w+ to (have |be )?/, 'expected ')}, found ${found}`;
    default:
      return `${where}: ${issue.message}${found !== undefined ? `, found ${found}` : ''}`;
  }
}
