import type { Command } from 'commander';
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { UserError } from '../../core/errors.js';
import { pathExists } from '../../core/json-file.js';
import { Rng } from '../../core/rng.js';
import { simplexPanelsSvg, type SimplexPanel } from '../../eval/simplex-plot.js';
import { sampleDirichlet, sampleGumbelSoftmax, sampleLogitNormal } from '../../search/relaxations.js';
import {
  concreteLogDensity,
  dirichletLogDensity,
  logitNormalLogDensity,
} from '../../search/simplex-density.js';
import { addJsonOption, parseList, printJson } from '../options.js';

/** The relaxations `bdk viz relaxation` can draw (the stochastic ones, which have a density). */
export type VizDistribution = 'gumbel-softmax' | 'dirichlet' | 'logit-normal';

const DISTRIBUTIONS: readonly VizDistribution[] = ['gumbel-softmax', 'dirichlet', 'logit-normal'];

export interface RelaxationFigure {
  dist: VizDistribution;
  /** One panel per temperature (each > 0). */
  temperatures: number[];
  /** s (Gumbel-softmax, logit-normal μ = log s) or α (Dirichlet); 3 positive values. */
  concentration: number[];
  /** Seeded sample points drawn on each panel (0: none). */
  samples?: number;
  seed?: number;
}

function fmt(v: number): string {
  return String(Number(v.toPrecision(4)));
}

function vec(v: number[]): string {
  return `(${v.map(fmt).join(', ')})`;
}

/**
 * The SVG of `bdk viz relaxation`: the density of one relaxation on the 2-simplex at several
 * temperatures. Gumbel-softmax GS(s, λ) with λ = temperature; Dirichlet Dir(α/τ); logit-normal
 * softmax(N(log s, τ²I)). Sample points use a fresh Rng(seed) in every panel, so each dot is the same
 * noise seen at every temperature.
 */
export function relaxationFigureSvg(fig: RelaxationFigure): string {
  const { dist, temperatures, concentration: c } = fig;
  const samples = fig.samples ?? 0;
  const seed = fig.seed ?? 0;
  const logS = c.map(Math.log);
  const draw = (t: number): Float64Array[] => {
    const rng = new Rng(seed);
    return Array.from({ length: samples }, () => {
      if (dist === 'gumbel-softmax') return sampleGumbelSoftmax(logS, t, rng);
      if (dist === 'dirichlet')
        return sampleDirichlet(
          c.map((a) => a / t),
          rng,
        );
      return sampleLogitNormal(logS, t, rng);
    });
  };
  const panels: SimplexPanel[] = temperatures.map((t) => {
    const pts = samples > 0 ? draw(t) : undefined;
    if (dist === 'gumbel-softmax')
      return {
        title: `λ = ${fmt(t)}`,
        caption: `temperature λ = ${fmt(t)}`,
        logDensity: (x) => concreteLogDensity(x, c, t),
        samples: pts,
      };
    if (dist === 'dirichlet') {
      const alpha = c.map((a) => a / t);
      return {
        title: `τ = ${fmt(t)}`,
        caption: `temperature τ = ${fmt(t)}, α/τ = ${vec(alpha)}`,
        logDensity: (x) => dirichletLogDensity(x, alpha),
        samples: pts,
      };
    }
    return {
      title: `τ = ${fmt(t)}`,
      caption: `temperature τ = ${fmt(t)} (σ = ${fmt(t)})`,
      logDensity: (x) => logitNormalLogDensity(x, logS, t),
      samples: pts,
    };
  });
  const sampleNote = samples > 0 ? `; ${samples} samples per panel, seed ${seed}` : '';
  if (dist === 'gumbel-softmax')
    return simplexPanelsSvg(panels, {
      title: `Gumbel-softmax / concrete GS(s, λ), s = ${vec(c)}`,
      caption: [
        'p(x) = 2 λ² ∏ₖ sₖ xₖ^(−λ−1) / (∑ₖ sₖ xₖ^(−λ))³   (Maddison et al. 2016, K = 3)',
        `x = softmax((log s + g)/λ), g = −log(−log U)${sampleNote}`,
      ],
    });
  if (dist === 'dirichlet')
    return simplexPanelsSvg(panels, {
      title: `Dirichlet Dir(α/τ), α = ${vec(c)}`,
      caption: [
        'p(x) = Γ(α₀) / ∏ₖ Γ(αₖ) · ∏ₖ xₖ^(αₖ−1),  α₀ = ∑ₖ αₖ,  with α replaced by α/τ',
        `exact samples by normalized Gamma(αₖ/τ) draws${sampleNote}`,
      ],
    });
  return simplexPanelsSvg(panels, {
    title: `Logit-normal softmax(N(μ, τ²I)), μ = log s, s = ${vec(c)}`,
    caption: [
      'p(x) = N(y; μ₁₂ − μ₃, σ²(I + 11ᵀ)) / (x₁x₂x₃),  yₖ = log(xₖ/x₃),  σ = τ',
      `x = softmax(μ + σε), ε ~ N(0, I)${sampleNote}`,
    ],
  });
}

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
