import { promises as fs } from 'node:fs';
import { UserError } from '../core/errors.js';
import type { ArchContext } from '../model/builtins.js';
import { ACTIVATIONS, type ArchNode } from '../model/spec.js';
import {
  BUILTIN_SPACES,
  SPACE_FORMAT,
  SPACE_VERSION,
  analyzeSpace,
  opLabel,
  type BuiltinSpaceOptions,
  type ChoiceOp,
  type SearchSpace,
  type SpaceAnalysis,
} from './space.js';

/** `--space`: a built-in space or a user's space file (docs/design.md §3.1). */

function fail(where: string, message: string): never {
  throw new UserError(`${where}: ${message}`);
}

/**
 * Parses a user space file: like an architecture spec, but each edge has `choices` (labelled ops,
 * `{"type": "zero"}` allowed) instead of one `op`, and dense `units` may be `"output"` for the
 * network's output width. `input` may be omitted (the data's shape is used).
 */
export async function loadSpace(file: string, ctx: ArchContext): Promise<SearchSpace> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new UserError(
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? `${file}: file not found`
        : `${file}: invalid JSON (${(err as Error).message})`,
    );
  }
  if (!raw || typeof raw !== 'object') fail(file, 'expected a JSON object');
  const s = raw as Record<string, unknown>;
  for (const k of Object.keys(s))
    if (!['format', 'version', 'name', 'input', 'nodes', 'edges', 'output'].includes(k))
      fail(file, `unknown key '${k}'`);
  if (!Array.isArray(s.nodes) || !Array.isArray(s.edges)) fail(file, 'expected arrays "nodes" and "edges"');
  if (s.input !== undefined && JSON.stringify(s.input) !== JSON.stringify(ctx.input))
    fail(`${file}.input`, `[${String(s.input)}] does not match the data's example shape [${ctx.input}]`);
  const edges = (s.edges as Record<string, unknown>[]).map((e, i) => {
    const w = `${file}.edges[${i}]`;
    if (!e || typeof e !== 'object' || !Array.isArray(e.choices))
      fail(w, 'expected {from, to, choices: [...]}');
    const choices = (e.choices as Record<string, unknown>[]).map((c, j) => {
      const cw = `${w}.choices[${j}]`;
      const op = (c && typeof c === 'object' && 'op' in c ? c.op : c) as Record<string, unknown>;
      if (!op || typeof op !== 'object') fail(cw, 'expected an op or {label, op}');
      if (op.type === 'dense' && op.units === 'output') op.units = ctx.outputUnits;
      if ('activation' in op && !(ACTIVATIONS as readonly string[]).includes(op.activation as string))
        fail(
          `${cw}.activation`,
          `expected one of ${ACTIVATIONS.join(', ')}, found ${JSON.stringify(op.activation)}`,
        );
      if (
        !['dense', 'conv2d', 'maxPool', 'flatten', 'dropout', 'identity', 'zero'].includes(op.type as string)
      )
        fail(
          `${cw}.type`,
          `expected dense, conv2d, maxPool, flatten, dropout, identity or zero, found ${JSON.stringify(op.type)}`,
        );
      const label = typeof c.label === 'string' ? c.label : opLabel(op as unknown as ChoiceOp);
      return { label, op: op as unknown as ChoiceOp };
    });
    return { from: String(e.from), to: String(e.to), choices };
  });
  return {
    format: s.format as typeof SPACE_FORMAT,
    version: s.version as typeof SPACE_VERSION,
    name: typeof s.name === 'string' ? s.name : 'custom',
    input: ctx.input,
    nodes: s.nodes as ArchNode[],
    edges,
    output: String(s.output),
  };
}

/** `--space`: a built-in name or a JSON file. */
export async function resolveSpace(
  space: string,
  ctx: ArchContext,
  o?: BuiltinSpaceOptions,
): Promise<SpaceAnalysis> {
  const builtin = BUILTIN_SPACES[space];
  if (builtin) return analyzeSpace(builtin.build(ctx, o), `space '${space}'`);
  if (!space.endsWith('.json'))
    throw new UserError(
      `unknown search space '${space}': expected one of ${Object.keys(BUILTIN_SPACES).join(', ')} or a space .json file`,
    );
  return analyzeSpace(await loadSpace(space, ctx), space);
}
