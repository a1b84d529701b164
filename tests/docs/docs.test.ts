/**
 * Checks that the documentation stays true to the repository: relative links and anchors resolve,
 * source comments cite sections of docs/design.md that exist, every command and option of the CLI is
 * in docs/cli.md, every pipeline key is in docs/pipelines.md, and the paths the reference pages name
 * exist. Markdown files are found by listing, so the checks cover whichever of README.md, CHANGELOG.md
 * and docs/*.md exist.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { pipelineSchema } from '../../src/pipeline/schema.js';
import { ROOT } from '../helpers.js';

const DOCS = path.join(ROOT, 'docs');
const read = (file: string) => readFileSync(file, 'utf8');

/** README.md, CHANGELOG.md and docs/*.md, those that exist. */
function markdownFiles(): string[] {
  const top = ['README.md', 'CHANGELOG.md'].map((f) => path.join(ROOT, f)).filter((f) => existsSync(f));
  const docs = existsSync(DOCS)
    ? readdirSync(DOCS)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => path.join(DOCS, f))
    : [];
  return [...top, ...docs];
}

/** The lines of a Markdown file outside fenced code blocks, with their 0-based line numbers. */
function proseLines(text: string): { line: string; at: number }[] {
  const out: { line: string; at: number }[] = [];
  let fence: string | null = null;
  text.split('\n').forEach((line, at) => {
    const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1][0];
      else if (m[1][0] === fence) fence = null;
      return;
    }
    if (fence === null) out.push({ line, at });
  });
  return out;
}

interface Heading {
  level: number;
  text: string;
  slug: string;
  at: number;
}

/** The text a heading renders as: code spans, links and emphasis marks removed. */
function headingText(raw: string): string {
  return raw
    .replace(/\s+#+\s*$/, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\*\*?([^*]+)\*\*?/g, '$1')
    .trim();
}

/** GitHub's anchor for a heading: lower case, punctuation dropped (but `-` and `_`), spaces → `-`. */
function slugOf(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The headings of a Markdown file, with GitHub's anchors (`-1`, `-2`, … on repeats). */
function headings(text: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  for (const { line, at } of proseLines(text)) {
    const m = /^\s{0,3}(#{1,6})\s+(.*)$/.exec(line);
    if (!m) continue;
    const t = headingText(m[2]);
    const base = slugOf(t);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1].length, text: t, slug: n === 0 ? base : `${base}-${n}`, at });
  }
  return out;
}

/** Link targets of a Markdown file (inline links, images and reference definitions), outside code. */
function linkTargets(text: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  for (const { line, at } of proseLines(text)) {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ target: m[1], line: at + 1 });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose);
    if (def) out.push({ target: def[1], line: at + 1 });
  }
  return out;
}

describe('documentation links', () => {
  const files = markdownFiles();

  it('finds the reference pages', () => {
    for (const f of ['design.md', 'cli.md', 'pipelines.md'])
      expect(files, `docs/${f}`).toContain(path.join(DOCS, f));
  });

  it('every relative link points to an existing file, and every #anchor to a heading', () => {
    const problems: string[] = [];
    for (const file of files) {
      const rel = path.relative(ROOT, file);
      for (const { target, line } of linkTargets(read(file))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http(s), mailto, …
        const hash = target.indexOf('#');
        const filePart = hash < 0 ? target : target.slice(0, hash);
        const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
        const dest = filePart ? path.resolve(path.dirname(file), decodeURIComponent(filePart)) : file;
        if (!existsSync(dest)) {
          problems.push(`${rel}:${line}: ${target}: no such file`);
          continue;
        }
        if (anchor === null || anchor === '') continue;
        if (!dest.endsWith('.md') || statSync(dest).isDirectory()) {
          problems.push(`${rel}:${line}: ${target}: an anchor into a file that is not Markdown`);
          continue;
        }
        if (!headings(read(dest)).some((h) => h.slug === anchor))
          problems.push(`${rel}:${line}: ${target}: no heading with the anchor #${anchor}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('computes GitHub anchors', () => {
    expect(slugOf('§1 Teacher: stochastic-gradient MCMC')).toBe('1-teacher-stochastic-gradient-mcmc');
    expect(slugOf('3.2 Relaxations of γ')).toBe('32-relaxations-of-γ');
    expect(slugOf(headingText('Parallel splits: `--jobs`'))).toBe('parallel-splits---jobs');
    expect(headings('# A\n```\n# not a heading\n```\n## A\n').map((h) => h.slug)).toEqual(['a', 'a-1']);
  });
});

/** Every file under a folder, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

describe('design citations', () => {
  const design = path.join(DOCS, 'design.md');

  it('every `docs/design.md §N` in the sources names a `## §N ` section', () => {
    const sections = new Set(
      headings(read(design))
        .filter((h) => h.level === 2)
        .flatMap((h) => {
          const m = /^§(\d+) /.exec(h.text);
          return m ? [Number(m[1])] : [];
        }),
    );
    for (let n = 1; n <= 6; n++) expect(sections, `## §${n}`).toContain(n);
    const cited: string[] = [];
    const missing: string[] = [];
    for (const file of filesUnder(path.join(ROOT, 'src')).filter((f) => f.endsWith('.ts'))) {
      for (const m of read(file).matchAll(/docs\/design\.md §(\d+)/g)) {
        cited.push(m[1]);
        if (!sections.has(Number(m[1]))) missing.push(`${path.relative(ROOT, file)}: §${m[1]}`);
      }
    }
    expect(cited.length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('nothing cites the design notes outside the repository (`../shared`, `DESIGN §`)', () => {
    const files = [
      ...filesUnder(path.join(ROOT, 'src')),
      ...markdownFiles().filter((f) => f.startsWith(DOCS + path.sep) || f === path.join(ROOT, 'README.md')),
    ];
    const found: string[] = [];
    for (const file of files) {
      read(file)
        .split('\n')
        .forEach((line, i) => {
          if (line.includes('../shared') || line.includes('DESIGN §'))
            found.push(`${path.relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});

/** Every command of the tree below `cmd`, with its path of names (`data prepare`). */
function commands(cmd: Command, prefix: string[] = []): { path: string; cmd: Command }[] {
  return cmd.commands.flatMap((c) => {
    const p = [...prefix, c.name()];
    return [{ path: p.join(' '), cmd: c }, ...commands(c, p)];
  });
}

/** The lines of the section under a heading, up to the next heading of the same or a higher level. */
function section(text: string, h: Heading, all: Heading[]): string {
  const next = all.find((o) => o.at > h.at && o.level <= h.level);
  return text
    .split('\n')
    .slice(h.at, next ? next.at : undefined)
    .join('\n');
}

/** Whether `text` names the flag in a code span: `--flag`, `--flag <value>` or `--flag=…`. */
function mentions(text: string, flag: string): boolean {
  return new RegExp('`' + flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '[` =<]').test(text);
}

describe('docs/cli.md', () => {
  const text = read(path.join(DOCS, 'cli.md'));
  const heads = headings(text);
  const program = buildProgram();

  it('documents every command, and every long option in its command’s section', () => {
    const missing: string[] = [];
    const tree = commands(program);
    expect(tree.length).toBeGreaterThan(10);
    for (const { path: p, cmd } of tree) {
      const heading = heads.find((h) => h.text === `bdk ${p}`);
      if (!heading && !text.includes(`bdk ${p}`)) missing.push(`command 'bdk ${p}'`);
      const where = heading ? section(text, heading, heads) : text;
      for (const o of cmd.options) if (o.long && !mentions(where, o.long)) missing.push(`bdk ${p} ${o.long}`);
    }
    for (const o of program.options) if (o.long && !mentions(text, o.long)) missing.push(o.long);
    expect(missing).toEqual([]);
  });

  it('keeps a section for the defaults of the CLI and the pipelines', () => {
    expect(heads.map((h) => h.text)).toContain('Defaults: CLI and pipelines');
  });

  it('lists the exit codes and the environment variables the sources read', () => {
    for (const code of ['0', '1', '70', '130']) expect(text).toMatch(new RegExp(`^\\| ${code} +\\|`, 'm'));
    const vars = new Set<string>();
    for (const file of filesUnder(path.join(ROOT, 'src')).filter((f) => f.endsWith('.ts')))
      for (const m of read(file).matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g)) vars.add(m[1]);
    expect(vars.size).toBeGreaterThan(3);
    for (const v of vars) expect(text, v).toContain(`\`${v}\``);
  });
});

/** The keys of every object in a zod schema, through optional, default, union and array wrappers. */
function schemaKeys(schema: z.ZodType, out = new Set<string>()): Set<string> {
  const def = (schema as unknown as { def: Record<string, unknown> & { type: string } }).def;
  switch (def.type) {
    case 'object':
      for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        out.add(k);
        schemaKeys(v, out);
      }
      break;
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      schemaKeys(def.innerType as z.ZodType, out);
      break;
    case 'union':
      for (const o of def.options as z.ZodType[]) schemaKeys(o, out);
      break;
    case 'array':
      schemaKeys(def.element as z.ZodType, out);
      break;
  }
  return out;
}

describe('docs/pipelines.md', () => {
  it('documents every key of the pipeline schema, outside the examples', () => {
    // Outside code blocks: the example pipeline does not document a key.
    const text = proseLines(read(path.join(DOCS, 'pipelines.md')))
      .map((l) => l.line)
      .join('\n');
    const keys = schemaKeys(pipelineSchema);
    expect(keys.size).toBeGreaterThan(50);
    const missing = [...keys].filter((k) => !text.includes(`\`${k}\``) && !text.includes(`"${k}"`));
    expect(missing).toEqual([]);
  });
});

describe('reference pages', () => {
  it('name only repository paths that exist (and so does the README\'s "Where things live")', () => {
    const missing: string[] = [];
    for (const name of ['design.md', 'cli.md', 'pipelines.md', '../README.md']) {
      const text = read(path.join(DOCS, name));
      for (const m of text.matchAll(/`((?:src|native|tests|pipelines|scripts|bench|bin)\/[^`\s]*)`/g)) {
        if (/[*<>]/.test(m[1])) continue; // a pattern, not a path
        if (!existsSync(path.join(ROOT, m[1]))) missing.push(`docs/${name}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
