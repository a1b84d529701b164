import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simplexDensitySvg, simplexPanelsSvg } from '../../src/eval/plots/simplex.js';
import { relaxationFigureSvg } from '../../src/eval/plots/relaxation-figure.js';
import { concreteLogDensity, dirichletLogDensity } from '../../src/search/simplex-density.js';
import { ROOT, expectOneLineError, tempDir, type CliResult } from '../helpers.js';
import { S } from './relaxation-helpers.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  expect(tf.getBackend()).toBe('cpu');
  dir = await tempDir('bdk-relax-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

// ---------- plots and CLI ----------

/** The built CLI, asynchronously, so that independent invocations run side by side. */
function bdkAsync(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/bdk.js'), ...args],
      { cwd, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Total area of the heat-map polygons (shoelace), in square pixels. */
function heatmapArea(svg: string): number {
  const heat = svg.match(/<g class="heatmap">(.*?)<\/g>/s);
  if (!heat) throw new Error('no heat map');
  let area = 0;
  for (const [, d] of heat[1].matchAll(/ d="([^"]*)"/g)) {
    for (const poly of d.split('Z').filter(Boolean)) {
      const pts = poly
        .replace(/^M/, '')
        .split('L')
        .map((p) => p.split(' ').map(Number));
      let a = 0;
      for (let i = 0; i < pts.length; i++) {
        const [x1, y1] = pts[i];
        const [x2, y2] = pts[(i + 1) % pts.length];
        a += x1 * y2 - x2 * y1;
      }
      area += Math.abs(a) / 2;
    }
  }
  return area;
}

describe('simplex plots', () => {
  it('tile the triangle exactly with the merged heat-map cells', () => {
    const side = 240;
    const full = (side * side * Math.sqrt(3)) / 4;
    const svg = simplexDensitySvg(
      { logDensity: (x) => concreteLogDensity(x, S, 1), temperature: 1 },
      { side },
    );
    expect(Math.abs(heatmapArea(svg) - full) / full).toBeLessThan(2e-3);
    // A constant density is one colour: each of the 60 strips merges into one polygon.
    const flat = simplexDensitySvg({ logDensity: (x) => dirichletLogDensity(x, [1, 1, 1]) }, { side });
    const heat = flat.match(/<g class="heatmap">(.*?)<\/g>/s)![1];
    expect(heat.match(/M/g)!.length).toBe(60);
    expect(Math.abs(heatmapArea(flat) - full) / full).toBeLessThan(2e-3);
  });

  it('draws one outlined triangle per panel, with captions, valid numbers and escaped text', () => {
    const svg = simplexPanelsSvg(
      [0.5, 2].map((t) => ({
        logDensity: (x: Float64Array) => concreteLogDensity(x, S, t),
        title: `λ = ${t}`,
        temperature: t,
        samples: [[0.2, 0.3, 0.5]],
      })),
      { title: 'a < b & c', caption: 'p(x) = …' },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polygon class="simplex-outline"/g)!.length).toBe(2);
    expect(svg.match(/<g[ >]/g)!.length).toBe(svg.match(/<\/g>/g)!.length);
    expect(svg).toContain('temperature 0.5');
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('p(x) = …');
    expect(svg.match(/<circle /g)!.length).toBe(2);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('relaxation figures are deterministic and carry the formula', () => {
    const a = relaxationFigureSvg({
      dist: 'dirichlet',
      temperatures: [0.5, 1],
      concentration: [1, 2, 3],
      samples: 25,
      seed: 4,
    });
    const b = relaxationFigureSvg({
      dist: 'dirichlet',
      temperatures: [0.5, 1],
      concentration: [1, 2, 3],
      samples: 25,
      seed: 4,
    });
    expect(a).toBe(b);
    expect(a.match(/<circle /g)!.length).toBe(50);
    expect(a).toContain('α/τ = (2, 4, 6)');
    expect(a).toContain('Γ(α₀) / ∏ₖ Γ(αₖ)');
    const ln = relaxationFigureSvg({ dist: 'logit-normal', temperatures: [1], concentration: [1, 1, 1] });
    expect(ln).toContain('σ²(I + 11ᵀ)');
    expect(ln).not.toMatch(/NaN|Infinity/);
  });
});

describe('bdk viz relaxation', () => {
  it('writes an SVG with one triangle per temperature, refuses to overwrite it, rejects bad values', async () => {
    const file = path.join(dir, 'relaxation-gumbel-softmax.svg');
    const out = path.join(dir, 'sub', 'd.svg');
    const viz = (...args: string[]) => bdkAsync(['viz', 'relaxation', ...args], dir);
    const never = ['--out', path.join(dir, 'never.svg')];
    const [r, j, ...bad] = await Promise.all([
      viz('--dist', 'gumbel-softmax', '--temperatures', '0.1,1,5'),
      viz(
        ...['--dist', 'dirichlet', '--temperatures', '2', '--concentration', '1,2,3'],
        ...['--samples', '10', '--seed', '3', '--out', out, '--json'],
      ),
      viz('--dist', 'beta', ...never),
      viz('--temperatures', '1,0', ...never),
      viz('--concentration', '1,2', ...never),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${file} (gumbel-softmax, 3 panels)`);
    const svg = await fs.readFile(file, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polygon class="simplex-outline"/g)!.length).toBe(3);
    expect(svg).toContain('p(x) = 2 λ² ∏ₖ sₖ xₖ^(−λ−1) / (∑ₖ sₖ xₖ^(−λ))³');
    for (const t of ['λ = 0.1', 'λ = 1', 'λ = 5']) expect(svg).toContain(t);

    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      file: out,
      dist: 'dirichlet',
      temperatures: [2],
      samples: 10,
    });
    const d = await fs.readFile(out, 'utf8');
    expect(d.match(/<circle /g)!.length).toBe(10);
    expect(d).toContain('α/τ = (0.5, 1, 1.5)');

    const messages = [
      "bdk: --dist: unknown distribution 'beta'; expected gumbel-softmax, dirichlet, logit-normal",
      "bdk: --temperatures: temperature '0' is not a positive number",
      "bdk: --concentration: expected 3 values (one per vertex of the 2-simplex), got 2 in '1,2'",
    ];
    bad.forEach((b, i) => {
      expect(b.code).toBe(1);
      expect(expectOneLineError(b)).toBe(messages[i]);
    });
    await expect(fs.access(path.join(dir, 'never.svg'))).rejects.toThrow();

    const again = await viz();
    expect(again.code).toBe(1);
    expect(expectOneLineError(again)).toBe(`bdk: ${file} already exists; pass --force to replace it`);
  });
});
