import type { Command } from 'commander';
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { UserError } from '../../core/errors.js';
import { pathExists } from '../../core/json-file.js';
import { relaxationFigureSvg, type VizDistribution } from '../../eval/plots/relaxation-figure.js';
import { addJsonOption, parseList, printJson } from '../options.js';

const DISTRIBUTIONS: readonly VizDistribution[] = ['gumbel-softmax', 'dirichlet', 'logit-normal'];

function parseTemperatures(text: string): number[] {
  const parts = parseList(text);
  if (parts.length === 0)
    throw new UserError(`--temperatures: expected a comma-separated list, got '${text}'`);
  return parts.map((p) => {
    const v = Number(p);
    if (!(Number.isFinite(v) && v > 0))
      throw new UserError(`--temperatures: temperature '${p}' is not a positive number`);
    return v;
  });
}

function parseConcentration(text: string | undefined): number[] {
  if (text === undefined) return [1, 1, 1];
  const parts = parseList(text);
  if (parts.length !== 3)
    throw new UserError(
      `--concentration: expected 3 values (one per vertex of the 2-simplex), got ${parts.length} in '${text}'`,
    );
  return parts.map((p) => {
    const v = Number(p);
    if (!(Number.isFinite(v) && v > 0))
      throw new UserError(`--concentration: value '${p}' is not a positive number`);
    return v;
  });
}

function parseCount(text: string | undefined, flag: string, def: number, max: number): number {
  if (text === undefined) return def;
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !(v <= max))
    throw new UserError(`${flag}: expected an integer from 0 to ${max}, got '${text}'`);
  return v;
}

export function registerViz(program: Command): void {
  const viz = program.command('viz').description('draw figures that explain the methods (SVG)');
  const rel = viz
    .command('relaxation')
    .description(
      'draw the density of a relaxation of a 3-way categorical γ on the 2-simplex at several temperatures',
    )
    .option(
      '--dist <name>',
      'gumbel-softmax (GS(s, λ), λ = temperature), dirichlet (Dir(α/τ): the temperature τ divides the concentration) ' +
        'or logit-normal (softmax(N(log s, σ²I)) with σ = τ)',
      'gumbel-softmax',
    )
    .option('--temperatures <list>', 'comma-separated positive temperatures, one panel each', '0.1,1,5')
    .option(
      '--concentration <list>',
      '3 positive values: s for gumbel-softmax and logit-normal, α for dirichlet (default 1,1,1)',
    )
    .option('--samples <n>', 'overlay this many seeded sample points on each panel (default 0)')
    .option('--seed <n>', 'seed of the sample points (default 0)')
    .option('--out <file>', 'SVG file to write (default relaxation-<dist>.svg in the current folder)')
    .option('--force', 'replace an existing output file');
  addJsonOption(rel);
  rel.action(
    async (o: {
      dist: string;
      temperatures: string;
      concentration?: string;
      samples?: string;
      seed?: string;
      out?: string;
      force?: boolean;
      json?: boolean;
    }) => {
      if (!DISTRIBUTIONS.includes(o.dist as VizDistribution))
        throw new UserError(`--dist: unknown distribution '${o.dist}'; expected ${DISTRIBUTIONS.join(', ')}`);
      const dist = o.dist as VizDistribution;
      const temperatures = parseTemperatures(o.temperatures);
      const concentration = parseConcentration(o.concentration);
      const samples = parseCount(o.samples, '--samples', 0, 100_000);
      const seed = parseCount(o.seed, '--seed', 0, 4294967295);
      const file = path.resolve(o.out ?? `relaxation-${dist}.svg`);
      if (!o.force && (await pathExists(file)))
        throw new UserError(`${file} already exists; pass --force to replace it`);
      const svg = relaxationFigureSvg({ dist, temperatures, concentration, samples, seed });
      await writeFileAtomic(file, svg);
      if (o.json)
        return printJson({
          file,
          dist,
          temperatures,
          concentration,
          samples,
          seed,
          bytes: Buffer.byteLength(svg),
        });
      console.log(
        `wrote ${file} (${dist}, ${temperatures.length} panel${temperatures.length > 1 ? 's' : ''})`,
      );
    },
  );
}
