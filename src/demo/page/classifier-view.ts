/**
 * The image classifier page: a canvas to draw on (white ink on black, as MNIST stores digits), the
 * image the model reads (shown enlarged), the class probabilities as bars, and the uncertainty: the
 * predictive entropy, and for a Dirichlet student its split into expected entropy (aleatoric) and
 * mutual information (epistemic), recomputed while drawing.
 */
import type { ClassificationPrediction, ClassificationStudent } from '../../runtime/index.js';
import { el, fmt } from './dom.js';
import { liveUpdater } from './live.js';
import { modelPixels, rgbaToGray } from './pixels.js';
import type { View } from './view.js';

const SIZE = 280;
const INK = 20;

export function mountClassifier(root: HTMLElement, student: ClassificationStudent): View {
  const shape = student.manifest.imageShape!;
  const [h, w] = shape;
  const names = student.classNames!;
  const canvas = el('canvas', { id: 'draw', width: String(SIZE), height: String(SIZE) });
  const preview = el('canvas', { id: 'seen', width: String(w), height: String(h) });
  const clear = el('button', { type: 'button', id: 'clear' }, 'clear');
  const frame = el('input', { type: 'checkbox', id: 'frame' });
  frame.checked = shape[2] === 1;
  const top = el('output', { id: 'top-class' });
  const bars = names.map(() => el('span', { class: 'bar' }));
  const values = names.map(() => el('span', { class: 'value' }));
  const uncertainty = el('dl', { id: 'uncertainty' });
  const error = el('p', { class: 'error', id: 'input-error' });
  root.append(
    el(
      'div',
      { class: 'pad' },
      el('div', {}, canvas, el('p', {}, clear, ' ', el('label', {}, frame, ' centre and scale like MNIST'))),
      el('div', {}, el('p', {}, `what the model reads (${h}×${w}):`), preview),
    ),
    el('p', { class: 'top' }, 'predicted class: ', top),
    el(
      'div',
      { id: 'probs' },
      ...names.flatMap((n, k) => [
        el('span', { class: 'name' }, n),
        el('span', { class: 'track' }, bars[k]),
        values[k],
      ]),
    ),
    uncertainty,
    error,
  );

  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const blank = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, SIZE, SIZE);
  };
  blank();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = INK;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';

  let state: ReturnType<View['state']> = null;
  const live = liveUpdater(async () => {
    const gray = rgbaToGray(ctx.getImageData(0, 0, SIZE, SIZE).data, SIZE, SIZE);
    const row = modelPixels(gray, shape, frame.checked);
    drawPreview(preview, row, shape);
    try {
      const pred = (await student.predict(row)) as ClassificationPrediction;
      show(pred);
      error.textContent = '';
      state = { row: Array.from(row), shown: { ...pick(pred), label: pred.label[0] } };
    } catch (err) {
      error.textContent = (err as Error).message;
      state = { row: Array.from(row), shown: { error: (err as Error).message } };
    }
  });

  const show = (pred: ClassificationPrediction) => {
    top.textContent = pred.className[0];
    top.dataset.label = String(pred.label[0]);
    pred.probs[0].forEach((p, k) => {
      bars[k].style.width = `${(100 * p).toFixed(1)}%`;
      bars[k].classList.toggle('best', k === pred.label[0]);
      values[k].textContent = p.toFixed(3);
    });
    const rows: [string, string][] = [
      ['predictive entropy', `${fmt(pred.entropy[0])} nats (max ${fmt(Math.log(names.length))})`],
    ];
    if (pred.mutualInformation && pred.expectedEntropy && pred.alpha0)
      rows.push(
        ['expected entropy (aleatoric)', `${fmt(pred.expectedEntropy[0])} nats`],
        ['mutual information (epistemic)', `${fmt(pred.mutualInformation[0])} nats`],
        ['Dirichlet concentration α₀', fmt(pred.alpha0[0])],
      );
    uncertainty.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  };

  let last: { x: number; y: number } | null = null;
  const at = (e: PointerEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * SIZE) / r.width, y: ((e.clientY - r.top) * SIZE) / r.height };
  };
  const stroke = (to: { x: number; y: number }) => {
    ctx.beginPath();
    ctx.moveTo(last!.x, last!.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    last = to;
    live.schedule();
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    stroke(last);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (last) stroke(at(e));
  });
  const end = () => {
    last = null;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  clear.addEventListener('click', () => {
    blank();
    live.schedule();
  });
  frame.addEventListener('change', live.schedule);
  live.schedule();
  return { live, state: () => state };
}

/** Every per-row number of a prediction, as plain arrays (the hook's result). */
function pick(pred: ClassificationPrediction): Record<string, number[]> {
  const out: Record<string, number[]> = { probs: pred.probs[0] };
  for (const k of ['entropy', 'alpha0', 'totalEntropy', 'expectedEntropy', 'mutualInformation'] as const)
    if (pred[k]) out[k] = pred[k]!;
  return out;
}

function drawPreview(c: HTMLCanvasElement, row: Float32Array, [h, w, ch]: readonly number[]): void {
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = row[i * ch];
    img.data.set([v, v, v, 255], 4 * i);
  }
  c.getContext('2d')!.putImageData(img, 0, 0);
}
