/**
 * The figure of `bdk viz relaxation`: the density of one relaxation of a 3-way categorical on the
 * 2-simplex at several temperatures, with the density's formula as the caption, drawn by `simplex.ts`.
 */
import { Rng } from '../../core/rng.js';
import { sampleDirichlet, sampleGumbelSoftmax, sampleLogitNormal } from '../../search/relaxations.js';
import {
  concreteLogDensity,
  dirichletLogDensity,
  logitNormalLogDensity,
} from '../../search/simplex-density.js';
import { sig4 } from '../svg.js';
import { simplexPanelsSvg, type SimplexPanel } from './simplex.js';

/** The relaxations `bdk viz relaxation` can draw (the stochastic ones, which have a density). */
export type VizDistribution = 'gumbel-softmax' | 'dirichlet' | 'logit-normal';

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

/** A vector as "(a, b, c)", each to 4 significant digits. */
function vec(v: number[]): string {
  return `(${v.map(sig4).join(', ')})`;
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
        title: `λ = ${sig4(t)}`,
        caption: `temperature λ = ${sig4(t)}`,
        logDensity: (x) => concreteLogDensity(x, c, t),
        samples: pts,
      };
    if (dist === 'dirichlet') {
      const alpha = c.map((a) => a / t);
      return {
        title: `τ = ${sig4(t)}`,
        caption: `temperature τ = ${sig4(t)}, α/τ = ${vec(alpha)}`,
        logDensity: (x) => dirichletLogDensity(x, alpha),
        samples: pts,
      };
    }
    return {
      title: `τ = ${sig4(t)}`,
      caption: `temperature τ = ${sig4(t)} (σ = ${sig4(t)})`,
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
