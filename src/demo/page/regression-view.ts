/**
 * The regression page: one number field per feature (names from the manifest), prefilled with the
 * training means the export's standardization records (0 without them), and the predictive mean, sd
 * and central interval of a chosen probability, recomputed as the fields change.
 */
import type { RegressionPrediction, RegressionStudent } from '../../runtime/index.js';
import { DEFAULT_INTERVAL, defaultInputs, INTERVAL_CHOICES } from './defaults.js';
import { el, fmt } from './dom.js';
import { liveUpdater } from './live.js';
import type { View } from './view.js';

export function mountRegression(root: HTMLElement, student: RegressionStudent): View {
  const defaults = defaultInputs(student.manifest);
  const fields = student.features.map((name, k) =>
    el('input', { type: 'number', step: 'any', name, id: `f-${k}`, value: String(defaults[k]) }),
  );
  const choice = el(
    'select',
    { id: 'interval-p' },
    ...INTERVAL_CHOICES.map((p) => {
      const o = el('option', { value: String(p) }, `${Math.round(p * 100)} %`);
      o.selected = p === DEFAULT_INTERVAL;
      return o;
    }),
  );
  const reset = el('button', { type: 'button' }, 'reset to the training means');
  const result = el('dl', { id: 'result' });
  const error = el('p', { class: 'error', id: 'input-error' });
  root.append(
    el(
      'form',
      { id: 'features' },
      ...student.features.map((name, k) => el('label', { for: `f-${k}` }, el('span', {}, name), fields[k])),
    ),
    el('p', {}, reset),
    el('p', {}, el('label', { for: 'interval-p' }, 'central interval: '), choice),
    result,
    error,
  );

  let state: { row: number[]; shown: Record<string, unknown> } | null = null;
  const live = liveUpdater(async () => {
    const row = fields.map((f) => f.valueAsNumber);
    const p = Number(choice.value);
    try {
      const pred = (await student.predict([row])) as RegressionPrediction;
      const { lower, upper } = pred.interval(p);
      show(result, student.manifest.target, pred, p, lower[0], upper[0]);
      error.textContent = '';
      state = {
        row,
        shown: { mean: pred.mean[0], sd: pred.sd[0], p, lower: lower[0], upper: upper[0] },
      };
    } catch (err) {
      error.textContent = (err as Error).message;
      state = { row, shown: { error: (err as Error).message } };
    }
  });
  for (const f of fields) f.addEventListener('input', live.schedule);
  choice.addEventListener('change', live.schedule);
  reset.addEventListener('click', () => {
    fields.forEach((f, k) => (f.value = String(defaults[k])));
    live.schedule();
  });
  live.schedule();
  return { live, state: () => state };
}

function show(
  dl: HTMLElement,
  target: string,
  pred: RegressionPrediction,
  p: number,
  lower: number,
  upper: number,
): void {
  const rows: [string, string][] = [
    [`predicted ${target} (mean)`, fmt(pred.mean[0])],
    ['standard deviation', fmt(pred.sd[0])],
    [`${Math.round(p * 100)} % central interval`, `${fmt(lower)} to ${fmt(upper)}`],
  ];
  if (pred.median) rows.splice(1, 0, ['median', fmt(pred.median[0])]);
  if (pred.aleatoricVariance && pred.epistemicVariance) {
    const a = pred.aleatoricVariance[0];
    const e = pred.epistemicVariance[0];
    rows.push(
      ['aleatoric variance (noise)', fmt(a)],
      ['epistemic variance (model)', `${fmt(e)} (${fmt((100 * e) / (a + e), 3)} % of the total)`],
    );
  }
  dl.replaceChildren(...rows.flatMap(([k, v], i) => [el('dt', {}, k), el('dd', { id: `r-${i}` }, v)]));
  dl.dataset.mean = String(pred.mean[0]);
}
