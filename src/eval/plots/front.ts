/**
 * The plot of a front of students (`front.svg`): a quality metric against the parameter count on a log
 * axis, the searched students joined by a line in order of size, the hand-picked reference students as
 * squares, and the selected student ringed.
 */
import { isGood, linearDomain, logDomain, n2, PALETTE, tag, textTag, TICK_PX } from '../svg.js';
import { chartDocument, frame, makeLayout, noDataNote, plotSize, px, py, type PlotSize } from './axes.js';
import { legend, markerShape, occupySegment, type LegendEntry, type Occupancy } from './legend.js';

/** One student on the plot. */
export interface FrontPoint {
  name: string;
  parameters: number;
  value: number;
  kind: 'searched' | 'reference';
}

export interface FrontPlotOptions extends PlotSize {
  title?: string;
  /** The y axis' label, e.g. "test log-likelihood (nats)". */
  yLabel: string;
  /** The selected student's name, ringed. */
  selected?: string | null;
}

const SEARCHED = PALETTE[0];
const REFERENCE = PALETTE[1];
const SELECTED = PALETTE[3];

/**
 * Quality against size: x the parameter count (log axis), y the metric; searched points joined in order
 * of parameters and labelled with their names, reference points as squares labelled likewise. Points
 * with a non-finite value or no parameters are left out; none left gives a "No data" note.
 */
export function frontSvg(points: FrontPoint[], opts: FrontPlotOptions): string {
  const good = points.filter((p) => isGood(p.value) && p.parameters > 0);
  const searched = good.filter((p) => p.kind === 'searched').sort((a, b) => a.parameters - b.parameters);
  const refs = good.filter((p) => p.kind === 'reference').sort((a, b) => a.parameters - b.parameters);
  const xs = good.map((p) => p.parameters);
  const ys = good.map((p) => p.value);
  const L = makeLayout(
    plotSize(opts),
    logDomain(Math.min(...xs), Math.max(...xs), 0.08),
    linearDomain(Math.min(...ys), Math.max(...ys), 0.12),
    true,
    true,
  );
  const out = frame(L, opts.title ?? 'Front: quality against size', 'parameters (log scale)', opts.yLabel);
  if (!good.length) {
    out.push(noDataNote(L));
    return chartDocument(L, opts.title ?? 'Front', out);
  }
  const occ: Occupancy = [];
  const at = (p: FrontPoint): [number, number] => [px(L, p.parameters), py(L, p.value)];
  const label = (p: FrontPoint, color: string) => {
    const [x, y] = at(p);
    // Right of the point, or left of it in the right third of the plot (so the name stays inside).
    const left = x > L.left + (2 / 3) * (L.right - L.left);
    occ.push(left ? x - 8 : x + 8, y - 8);
    return textTag(
      {
        x: n2(left ? x - 7 : x + 7),
        y: n2(y - 7),
        'font-size': TICK_PX,
        'text-anchor': left ? 'end' : undefined,
        fill: color,
      },
      p.name,
    );
  };
  let d = '';
  searched.forEach((p, i) => {
    const [x, y] = at(p);
    d += `${i === 0 ? 'M' : 'L'}${n2(x)} ${n2(y)}`;
    if (i > 0) occupySegment(occ, ...at(searched[i - 1]), x, y);
    else occ.push(x, y);
  });
  const body = [
    tag(
      'g',
      { class: 'searched' },
      (searched.length > 1
        ? tag('path', { d, fill: 'none', stroke: SEARCHED, 'stroke-width': 2, 'stroke-linejoin': 'round' })
        : '') +
        searched
          .map((p) => tag('circle', { cx: n2(at(p)[0]), cy: n2(at(p)[1]), r: 4, fill: SEARCHED }))
          .join('') +
        searched.map((p) => label(p, SEARCHED)).join(''),
    ),
    tag(
      'g',
      { class: 'references' },
      refs
        .map((p) => {
          occ.push(...at(p));
          return markerShape('square', ...at(p), REFERENCE) + label(p, REFERENCE);
        })
        .join(''),
    ),
  ];
  const chosen = good.find((p) => p.name === opts.selected);
  if (chosen) body.push(tag('g', { class: 'selected' }, markerShape('ring', ...at(chosen), SELECTED)));
  out.push(...body);
  const entries: LegendEntry[] = [
    ...(searched.length
      ? [{ kind: 'line' as const, label: 'searched (one per budget)', color: SEARCHED, marker: true }]
      : []),
    ...(refs.length
      ? [
          {
            kind: 'marker' as const,
            label: 'hand-picked reference',
            color: REFERENCE,
            shape: 'square' as const,
          },
        ]
      : []),
    ...(chosen
      ? [{ kind: 'marker' as const, label: 'selected', color: SELECTED, shape: 'ring' as const }]
      : []),
  ];
  out.push(legend(L, entries, occ, ['br', 'tr', 'bl', 'tl']));
  return chartDocument(L, opts.title ?? 'Front', out);
}
