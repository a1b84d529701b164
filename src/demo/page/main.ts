/**
 * The demo page's entry (bundled with bdk/runtime and tfjs into `bdk-demo.js` by
 * scripts/build-demo.mjs): starts the backend named by `?backend=`, loads the export from `model/`
 * next to the page, and mounts the classifier or the regression view. `window.bdkDemo` is a small hook
 * for tests and the console: `ready`, `predict(rows)` and `settled()`/`state()` of the live view.
 */
import { loadStudent, type Rows, type Student } from '../../runtime/index.js';
import { backendRequest, PAGE_BACKENDS, type PageBackend } from './backend-choice.js';
import { startBackend } from './backends.js';
import { mountClassifier } from './classifier-view.js';
import { el } from './dom.js';
import { mountRegression } from './regression-view.js';
import type { View } from './view.js';

export interface DemoHook {
  /** Resolves once the page shows its first prediction; rejects with the page's error. */
  ready: Promise<{ backend: PageBackend; task: Student['task'] }>;
  /** Plain numbers per row (a regression's interval at probability p, 0.9 by default). */
  predict(rows: Rows, p?: number): Promise<Record<string, unknown>>;
  /** Waits for the live view's pending prediction, then returns its input row and shown numbers. */
  settled(): Promise<ReturnType<View['state']>>;
}

declare global {
  interface Window {
    bdkDemo: DemoHook;
  }
}

const status = document.getElementById('status')!;
const app = document.getElementById('app')!;
let student: Student | null = null;
let view: View | null = null;

async function start(): Promise<{ backend: PageBackend; task: Student['task'] }> {
  const req = backendRequest(location.search);
  const backend = await startBackend(req, new URL('wasm/', location.href).href);
  showBackend(backend.name, backend.skipped);
  student = await loadStudent(new URL('model/', location.href).href);
  describeModel(student);
  view = student.task === 'regression' ? mountRegression(app, student) : mountClassifier(app, student);
  await view.live.settled();
  return { backend: backend.name, task: student.task };
}

function showBackend(name: PageBackend, skipped: { name: string; reason: string }[]): void {
  const links = PAGE_BACKENDS.filter((b) => b !== name).flatMap((b, i) => [
    i ? ' · ' : '',
    el('a', { href: `?backend=${b}` }, b),
  ]);
  const notes = skipped.map((s) => ` (${s.name} skipped: ${s.reason})`).join('');
  status.replaceChildren(
    'backend: ',
    el('strong', { id: 'backend' }, name),
    notes,
    ' — switch to ',
    ...links,
  );
}

function describeModel(s: Student): void {
  const m = s.manifest as Student['manifest'] & {
    student?: { run?: string; parameterCount?: number };
    dataset?: { name?: string };
  };
  const what =
    s.task === 'regression'
      ? `predicts ${m.target} from ${s.features.length} features`
      : `classifies ${m.imageShape ? `${m.imageShape.join('×')} images` : `${s.features.length} features`} into ${s.classNames!.length} classes`;
  const from = [
    m.student?.run && `student ${m.student.run}`,
    m.student?.parameterCount && `${m.student.parameterCount} parameters`,
    m.dataset?.name && `dataset ${m.dataset.name}`,
  ].filter(Boolean);
  document.title = `bdk demo: ${m.student?.run ?? m.target}`;
  document
    .getElementById('model')!
    .replaceChildren(`This model ${what}${from.length ? ` (${from.join(', ')})` : ''}.`);
}

async function predict(rows: Rows, p = 0.9): Promise<Record<string, unknown>> {
  await hook.ready;
  const pred = await student!.predict(rows);
  if (!('interval' in pred)) return { ...pred };
  const { interval, ...rest } = pred;
  return { ...rest, p, ...interval(p) };
}

const ready = start();
ready.catch((err: Error) => {
  status.replaceChildren(el('span', { class: 'error', id: 'page-error' }, err.message));
});
const hook: DemoHook = {
  ready,
  predict,
  async settled() {
    await ready;
    await view!.live.settled();
    return view!.state();
  },
};
window.bdkDemo = hook;
