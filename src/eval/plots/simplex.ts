/**
 * SVG heat maps of a density on the 2-simplex (e.g. a relaxation of a 3-way structure choice γ): an
 * equilateral triangle with vertex i at the point γ = e_i, coloured by the log density on a triangular
 * grid (60 subdivisions per side by default, so 3 600 cells evaluated at their centroids), with
 * optional sample points, a colour bar of log p per panel, and a caption for the formula.
 *
 * Drawn with the kit in `../svg.ts`, like every plot: pure and deterministic, a standalone
 * `<svg xmlns="http://www.w3.org/2000/svg">` document without `id` attributes (so several can be
 * inlined in one page), all text XML-escaped, never "NaN" or "Infinity" in the output. To keep the file
 * small (about 200 kB for three panels), neighbouring cells of a grid row that get the same colour (the
 * scale has 64 levels, spanning the panel's top 12 nats of log p) merge into one quadrilateral, and all
 * cells of one colour share one `<path>`. Each panel's outline is one `<polygon class="simplex-outline">`.
 */
import {
  CAPTION_PX,
  LABEL_PX,
  n1,
  n2,
  niceTicks,
  NOTE_PX,
  roughTextWidth,
  sig4,
  stepDecimals,
  svgDocument,
  tag,
  textTag,
  TICK_PX,
  TITLE_PX,
  viridis,
} from '../svg.js';

/** One triangle of the figure. */
export interface SimplexPanel {
  /** log density at x = [x₁, x₂, x₃] (Σ = 1, all > 0); −∞ and +∞ are clamped to the scale's ends. */
  logDensity: (x: Float64Array) => number;
  /** Panel heading, e.g. "λ = 0.5". */
  title?: string;
  /** Temperature shown under the panel ("temperature 0.5") when no `caption` is given. */
  temperature?: number;
  /** Line under the panel; defaults to the temperature. */
  caption?: string;
  /** Points of the simplex (3 coordinates each) drawn as dots, e.g. seeded samples. */
  samples?: ArrayLike<number>[];
}

export interface SimplexPlotOptions {
  /** Figure title. */
  title?: string;
  /** Caption lines under the panels (the density's formula, its parameters). */
  caption?: string | string[];
  /** Vertex labels, for e₁, e₂, e₃ (default γ₁, γ₂, γ₃). */
  labels?: [string, string, string];
  /** Grid subdivisions per side (default 60). */
  subdivisions?: number;
  /** Triangle side in pixels (default 240). */
  side?: number;
}

const LEVELS = 64;
/** Log densities further than this below the panel's maximum share the lowest colour. */
const DYNAMIC_RANGE = 12;

/** Colour-bar tick label: the decimals of the tick step (at most 10), never "-0". */
function tickLabel(v: number, step: number): string {
  const s = v.toFixed(Math.min(10, stepDecimals(step)));
  return s === '-0' || /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

interface PanelGeometry {
  /** Pixel positions of the vertices e₁ (bottom left), e₂ (bottom right), e₃ (top). */
  v: [number, number][];
  barX: number;
  barTop: number;
  barBottom: number;
}

const PANEL_LEFT = 34;
const BAR_GAP = 28;
const BAR_W = 12;
const BAR_LABELS = 44;
const PANEL_RIGHT = 12;
const PANEL_TITLE_H = 26;
const VERTEX_LABEL_H = 20;

function panelWidth(side: number): number {
  return PANEL_LEFT + side + BAR_GAP + BAR_W + BAR_LABELS + PANEL_RIGHT;
}

/**
 * Several densities on the 2-simplex side by side in one SVG (e.g. one relaxation at several
 * temperatures), each with its own colour bar of log p, vertex labels, heading and caption line, and
 * the figure's caption (the formula) underneath.
 */
export function simplexPanelsSvg(panels: SimplexPanel[], opts: SimplexPlotOptions = {}): string {
  const side =
    opts.side !== undefined && Number.isFinite(opts.side) ? Math.min(2000, Math.max(80, opts.side)) : 240;
  const n = opts.subdivisions ?? 60;
  const labels = opts.labels ?? ['γ₁', 'γ₂', 'γ₃'];
  const caption =
    opts.caption === undefined ? [] : Array.isArray(opts.caption) ? opts.caption : [opts.caption];
  const h = (side * Math.sqrt(3)) / 2;
  const pw = panelWidth(side);
  const titleH = opts.title ? 40 : 12;
  const panelH = PANEL_TITLE_H + VERTEX_LABEL_H + h + VERTEX_LABEL_H + 22;
  const captionW = caption.reduce((m, s) => Math.max(m, roughTextWidth(s, CAPTION_PX)), 0) + 32;
  const titleW = opts.title ? roughTextWidth(opts.title, TITLE_PX * 1.1) + 32 : 0;
  const width = Math.ceil(Math.max(pw * Math.max(1, panels.length), captionW, titleW));
  const height = Math.ceil(titleH + panelH + caption.length * (CAPTION_PX + 6) + 12);
  const x0 = (width - pw * panels.length) / 2;

  const out: string[] = [];
  if (opts.title) {
    out.push(
      textTag(
        {
          class: 'title',
          x: n2(width / 2),
          y: 26,
          'text-anchor': 'middle',
          'font-size': TITLE_PX,
          'font-weight': 'bold',
          fill: '#222222',
        },
        opts.title,
      ),
    );
  }
  panels.forEach((panel, i) => {
    const left = x0 + i * pw;
    const top = titleH;
    const triTop = top + PANEL_TITLE_H + VERTEX_LABEL_H;
    const g: PanelGeometry = {
      v: [
        [left + PANEL_LEFT, triTop + h],
        [left + PANEL_LEFT + side, triTop + h],
        [left + PANEL_LEFT + side / 2, triTop],
      ],
      barX: left + PANEL_LEFT + side + BAR_GAP,
      barTop: triTop,
      barBottom: triTop + h,
    };
    out.push(drawPanel(panel, g, n, labels, left, top, pw));
  });
  caption.forEach((line, i) => {
    const y = titleH + panelH + (i + 1) * (CAPTION_PX + 6) - 2;
    out.push(
      textTag(
        {
          class: 'caption',
          x: n2(width / 2),
          y: n2(y),
          'text-anchor': 'middle',
          'font-size': CAPTION_PX,
          fill: '#222222',
        },
        line,
      ),
    );
  });
  return svgDocument(width, height, opts.title || 'Density on the simplex', out);
}

/** One density on the 2-simplex; {@link simplexPanelsSvg} with a single panel. */
export function simplexDensitySvg(panel: SimplexPanel, opts: SimplexPlotOptions = {}): string {
  return simplexPanelsSvg([panel], opts);
}

/**
 * Centroids (x₁, x₂) of the cells in strip r of an n-subdivision grid, the cells between the lines
 * x₃ = r/n and x₃ = (r+1)/n, from left (x₂ = 0) to right: up₀, down₀, up₁, …, up_{m−1} with m = n − r.
 * With P_j = (m−j, j, r)/n on the lower line and Q_j = (m−1−j, j, r+1)/n on the upper one, up_j has
 * corners P_j, P_{j+1}, Q_j and down_j has Q_j, Q_{j+1}, P_{j+1}. Together the n strips are the n²
 * cells of `simplexCells` in `simplex-density.ts`.
 */
function strip(n: number, r: number): [number, number][] {
  const m = n - r;
  const out: [number, number][] = [];
  for (let j = 0; j < m; j++) {
    out.push([(m - j - 2 / 3) / n, (j + 1 / 3) / n]);
    if (j < m - 1) out.push([(m - j - 4 / 3) / n, (j + 2 / 3) / n]);
  }
  return out;
}

function drawPanel(
  panel: SimplexPanel,
  g: PanelGeometry,
  n: number,
  labels: [string, string, string],
  left: number,
  top: number,
  pw: number,
): string {
  const [v1, v2, v3] = g.v;
  const toPx = (b: ArrayLike<number>): [number, number] => [
    b[0] * v1[0] + b[1] * v2[0] + b[2] * v3[0],
    b[0] * v1[1] + b[1] * v2[1] + b[2] * v3[1],
  ];
  // Log density at every cell centroid, strip by strip (see `strip`), then the colour range.
  const strips = Array.from({ length: n }, (_, r) => strip(n, r));
  const x = new Float64Array(3);
  let hi = -Infinity;
  let lo = Infinity;
  const values = strips.map((cells) =>
    cells.map((c) => {
      x[0] = c[0];
      x[1] = c[1];
      x[2] = 1 - c[0] - c[1];
      const v = panel.logDensity(x);
      if (Number.isFinite(v)) {
        hi = Math.max(hi, v);
        lo = Math.min(lo, v);
      }
      return v;
    }),
  );
  const hasData = hi >= lo;
  if (!hasData) {
    lo = 0;
    hi = 1;
  }
  lo = Math.max(lo, hi - DYNAMIC_RANGE);
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const level = (v: number): number => {
    if (Number.isNaN(v) || v === -Infinity) return 0;
    if (v === Infinity) return LEVELS - 1;
    return Math.min(LEVELS - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * LEVELS)));
  };
  // Consecutive cells of a strip with the same colour merge into one quadrilateral.
  const paths: string[][] = Array.from({ length: LEVELS }, () => []);
  const pt = (b: number[]) => {
    const [a, c] = toPx(b);
    return `${n1(a)} ${n1(c)}`;
  };
  values.forEach((vs, r) => {
    const levels = vs.map(level);
    const m = n - r;
    const P = (j: number) => [(m - j) / n, j / n, r / n];
    const Q = (j: number) => [(m - 1 - j) / n, j / n, (r + 1) / n];
    for (let a = 0; a < levels.length;) {
      let b = a;
      while (b + 1 < levels.length && levels[b + 1] === levels[a]) b++;
      const bl = a % 2 === 0 ? P(a / 2) : P((a + 1) / 2);
      const br = P(Math.floor(b / 2) + 1);
      const tr = b % 2 === 0 ? Q(b / 2) : Q((b + 1) / 2);
      const tl = Q(Math.floor(a / 2));
      const corners = [pt(bl), pt(br), pt(tr), pt(tl)].filter((c, i, all) => i === 0 || c !== all[i - 1]);
      paths[levels[a]].push(`M${corners.join('L')}Z`);
      a = b + 1;
    }
  });
  const out: string[] = [];
  if (panel.title) {
    out.push(
      textTag(
        {
          class: 'panel-title',
          x: n2(left + PANEL_LEFT + (v2[0] - v1[0]) / 2),
          y: n2(top + 18),
          'text-anchor': 'middle',
          'font-size': LABEL_PX + 1,
          'font-weight': 'bold',
          fill: '#222222',
        },
        panel.title,
      ),
    );
  }
  // Each level is filled and stroked in its colour, hiding the hairline seams between cells.
  const heat = paths
    .map((d, k) => {
      if (d.length === 0) return '';
      const c = viridis((k + 0.5) / LEVELS);
      return tag('path', {
        fill: c,
        stroke: c,
        'stroke-width': 0.6,
        'stroke-linejoin': 'round',
        d: d.join(''),
      });
    })
    .filter(Boolean);
  out.push(tag('g', { class: 'heatmap' }, heat.join('')));
  const pts = [v1, v2, v3].map(([a, b]) => `${n2(a)},${n2(b)}`).join(' ');
  out.push(
    tag('polygon', {
      class: 'simplex-outline',
      points: pts,
      fill: 'none',
      stroke: '#333333',
      'stroke-width': 1.2,
    }),
  );
  if (panel.samples && panel.samples.length > 0) {
    const r = panel.samples.length <= 300 ? 2 : 1.4;
    const dots: string[] = [];
    for (const s of panel.samples) {
      if (s.length < 3 || ![0, 1, 2].every((k) => Number.isFinite(s[k]))) continue;
      const [px, py] = toPx(s);
      dots.push(tag('circle', { cx: n2(px), cy: n2(py), r }));
    }
    out.push(
      tag(
        'g',
        {
          class: 'samples',
          fill: '#ffffff',
          'fill-opacity': 0.85,
          stroke: '#222222',
          'stroke-width': 0.5,
        },
        dots.join(''),
      ),
    );
  }
  // Vertex labels: e₁ bottom left, e₂ bottom right, e₃ on top.
  out.push(
    tag(
      'g',
      { class: 'vertex-labels', 'font-size': LABEL_PX, fill: '#222222' },
      textTag({ x: n2(v1[0] - 4), y: n2(v1[1] + 16), 'text-anchor': 'middle' }, labels[0]) +
        textTag({ x: n2(v2[0] + 4), y: n2(v2[1] + 16), 'text-anchor': 'middle' }, labels[1]) +
        textTag({ x: n2(v3[0]), y: n2(v3[1] - 7), 'text-anchor': 'middle' }, labels[2]),
    ),
  );
  out.push(colourBar(g, lo, hi, hasData));
  const caption =
    panel.caption ?? (panel.temperature !== undefined ? `temperature ${sig4(panel.temperature)}` : '');
  if (caption) {
    out.push(
      textTag(
        {
          class: 'panel-caption',
          x: n2(left + pw / 2),
          y: n2(v1[1] + VERTEX_LABEL_H + 18),
          'text-anchor': 'middle',
          'font-size': CAPTION_PX,
          fill: '#222222',
        },
        caption,
      ),
    );
  }
  if (!hasData) {
    out.push(
      textTag(
        {
          class: 'no-data',
          x: n2(v3[0]),
          y: n2((v1[1] + v3[1]) / 2 + 20),
          'text-anchor': 'middle',
          'font-size': NOTE_PX,
          fill: '#ffffff',
        },
        'No finite density',
      ),
    );
  }
  return tag('g', { class: 'simplex-panel' }, out.join(''));
}

/** Vertical colour bar of log p from lo (bottom; lower values share its colour) to hi (top), with nice ticks. */
function colourBar(g: PanelGeometry, lo: number, hi: number, hasData: boolean): string {
  const { barX, barTop, barBottom } = g;
  const hPx = barBottom - barTop;
  const rects: string[] = [];
  for (let k = 0; k < LEVELS; k++) {
    const y0 = barBottom - ((k + 1) / LEVELS) * hPx;
    rects.push(
      tag('rect', {
        x: n2(barX),
        y: n2(y0),
        width: BAR_W,
        height: n2(hPx / LEVELS + 0.4),
        fill: viridis((k + 0.5) / LEVELS),
      }),
    );
  }
  const out = [tag('g', { class: 'colour-bar-levels' }, rects.join(''))];
  out.push(
    tag('rect', {
      x: n2(barX),
      y: n2(barTop),
      width: BAR_W,
      height: n2(hPx),
      fill: 'none',
      stroke: '#555555',
      'stroke-width': 0.8,
    }),
  );
  out.push(
    textTag(
      {
        x: n2(barX + BAR_W / 2),
        y: n2(barTop - 8),
        'text-anchor': 'middle',
        'font-size': TICK_PX,
        fill: '#222222',
      },
      'log p',
    ),
  );
  if (hasData) {
    const { values, step } = niceTicks(lo, hi, 5);
    const ticks = values.map((v) => {
      const y = barBottom - ((v - lo) / (hi - lo)) * hPx;
      return (
        tag('line', {
          x1: n2(barX + BAR_W),
          y1: n2(y),
          x2: n2(barX + BAR_W + 4),
          y2: n2(y),
          stroke: '#555555',
        }) +
        textTag(
          { x: n2(barX + BAR_W + 7), y: n2(y + 4), 'font-size': TICK_PX, fill: '#333333' },
          tickLabel(v, step),
        )
      );
    });
    out.push(tag('g', { class: 'colour-bar-ticks' }, ticks.join('')));
  }
  return tag('g', { class: 'colour-bar' }, out.join(''));
}
