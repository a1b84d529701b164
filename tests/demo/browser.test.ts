import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_INTERVAL } from '../../src/demo/page/defaults.js';
import { loadStudent, type RegressionPrediction } from '../../src/runtime/index.js';
import type { ExportManifest } from '../../src/stages/export.js';
import { predictFile } from '../../src/stages/predict.js';
import { bdk, tempDir } from '../helpers.js';
import { DIGITS, inputRows, MNIST_SPEC, TABULAR_SPEC, writeCsv, writeExport } from '../runtime/exports.js';
import { serveStatic, type StaticServer } from './static-server.js';

/**
 * The demo page in a real browser (headless Chromium driven by playwright-core): `bdk demo` writes a
 * site for a Boston-like regression export and an MNIST-shaped classifier, a static server serves it
 * on 127.0.0.1, and the page's numbers must equal `bdk predict`'s (predictFile) within 1e-5 on every
 * backend that starts headless (wasm must). A digit drawn with mouse events must get the class that
 * predictFile gives for the pixels the page read. Screenshots go to the printed temp folder.
 */
/** The page's test hook (src/demo/page/main.ts), as the test sees it. */
declare const document: {
  createElement(tag: 'canvas'): {
    getContext(kind: 'webgl2'): {
      getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null;
      getParameter(p: number): unknown;
    } | null;
  };
};
declare const window: {
  bdkDemo: {
    ready: Promise<{ backend: string; task: string }>;
    predict(rows: number[][]): Promise<Record<string, unknown>>;
    settled(): Promise<{ row: number[]; shown: Record<string, unknown> } | null>;
  };
};

const chromiumPath = ['chromium', 'chromium-browser']
  .map((c) => spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim())
  .find(Boolean);
const CI = process.env.CI === 'true';
const BACKENDS = ['wasm', 'webgl', 'cpu'] as const;
const TOL = 1e-5;

if (!chromiumPath && !CI)
  console.log(
    'skipping the demo browser tests: no chromium (tried `which chromium`, `which chromium-browser`)',
  );

it.runIf(!chromiumPath && CI)('finds chromium (CI)', () => {
  throw new Error(
    'chromium not found (`which chromium`, `which chromium-browser`): the demo browser tests need it under CI; .ci/run installs it with apt-get',
  );
});

interface Site {
  dir: string;
  model: string;
  m: ExportManifest;
  server: StaticServer;
}

describe.runIf(chromiumPath)('bdk demo in headless Chromium', () => {
  let out: string;
  let browser: Browser;
  const sites: Record<string, Site> = {};
  const ran: Record<string, string[]> = { regression: [], classification: [] };

  beforeAll(async () => {
    await tf.setBackend('cpu');
    // The cpu backend's "install tfjs-node" banner, as bdk's own backend selection marks it shown.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
    out = await tempDir('bdk-demo-browser-');
    console.log(`demo browser test output (sites, screenshots): ${out}`);
    const setups = {
      regression: { spec: TABULAR_SPEC, task: 'regression', seed: 11 },
      classification: {
        spec: MNIST_SPEC,
        task: 'classification',
        head: 'dirichlet',
        classNames: DIGITS,
        seed: 12,
      },
    } as const;
    for (const [name, s] of Object.entries(setups)) {
      const model = path.join(out, `${name}-export`);
      const m = await writeExport(model, s);
      const dir = path.join(out, `${name}-site`);
      const r = bdk(['demo', '--model', model, '--out', dir, '--backend', 'cpu']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      sites[name] = { dir, model, m, server: await serveStatic(dir) };
    }
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox'],
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of Object.values(sites)) await s.server.close();
    console.log(
      `demo browser test: backends verified: ${Object.entries(ran)
        .map(([k, v]) => `${k} ${v.join(', ') || 'none'}`)
        .join('; ')}; largest relative difference from predictFile: ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toExponential(1)}`)
        .join(', ')}; webgl renderer: ${renderer || 'none'}`,
    );
  });

  /** predictFile's numbers for rows, through a CSV as `bdk predict` reads them. */
  async function reference(site: Site, rows: number[][], tag: string) {
    const columns = site.m.imageShape ? rows[0].map((_, k) => `px${k}`) : site.m.features;
    const file = path.join(out, `${tag}.csv`);
    await writeCsv(file, columns, rows);
    return predictFile(site.model, file);
  }

  /** The largest difference seen per page and backend, relative to max(1, |want|), for the log. */
  const worst: Record<string, number> = {};
  let current = '';
  let renderer = '';
  const close = (got: number, want: number) => {
    const d = Math.abs(got - want) / Math.max(1, Math.abs(want));
    worst[current] = Math.max(worst[current] ?? 0, d);
    expect(d).toBeLessThanOrEqual(TOL);
  };

  /** Opens the page on a backend; null when that backend does not start in this browser. */
  async function open(site: Site, backend: string): Promise<Page | null> {
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    page.setDefaultTimeout(20_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${site.server.url}?backend=${backend}`);
    const started = await page.evaluate(() =>
      window.bdkDemo.ready.then(
        (r) => r,
        (e: Error) => ({ error: e.message }),
      ),
    );
    if ('error' in started) {
      await page.close();
      if (backend === 'wasm' || !/is not available here/.test(started.error)) throw new Error(started.error);
      console.log(`demo browser test: ${backend} did not start headless: ${started.error}`);
      return null;
    }
    expect(started.backend).toBe(backend);
    expect(await page.textContent('#backend')).toBe(backend);
    expect(errors).toEqual([]);
    if (backend === 'webgl' && !renderer)
      renderer = await page.evaluate(() => {
        const gl = document.createElement('canvas').getContext('webgl2');
        const info = gl?.getExtension('WEBGL_debug_renderer_info');
        return info ? String(gl!.getParameter(info.UNMASKED_RENDERER_WEBGL)) : 'unknown';
      });
    return page;
  }

  for (const backend of BACKENDS)
    it(`regression page on ${backend}: predictions, form defaults and a live edit equal predictFile's`, async () => {
      const site = sites.regression;
      current = `regression/${backend}`;
      const page = await open(site, backend);
      if (!page) return;
      try {
        const rows = inputRows(site.m, 6, 3);
        const ref = await reference(site, rows, `regression-${backend}`);
        const got = (await page.evaluate((r) => window.bdkDemo.predict(r), rows)) as {
          mean: number[];
          sd: number[];
        };
        expect(ref.columns).toEqual(['mean', 'sd']);
        ref.rows.forEach((r, i) => [got.mean[i], got.sd[i]].forEach((v, j) => close(v, r[j])));

        // The form starts at the training means (4 significant digits) and shows their prediction.
        const mean = site.m.standardization.features.mean!;
        let state = (await page.evaluate(() => window.bdkDemo.settled()))!;
        expect(state.row).toEqual(mean.map((v) => Number(v.toPrecision(4))));
        const node = await loadStudent(site.model);
        const check = async (row: number[], tag: string) => {
          const [want] = (await reference(site, [row], tag)).rows;
          close(state!.shown.mean as number, want[0]);
          close(state!.shown.sd as number, want[1]);
          const iv = ((await node.predict([row])) as RegressionPrediction).interval(DEFAULT_INTERVAL);
          expect(state!.shown.p).toBe(DEFAULT_INTERVAL);
          close(state!.shown.lower as number, iv.lower[0]);
          close(state!.shown.upper as number, iv.upper[0]);
        };
        await check(state.row, `regression-form-${backend}`);
        await page.fill('#f-5', '7.25');
        state = (await page.evaluate(() => window.bdkDemo.settled()))!;
        expect(state.row[5]).toBe(7.25);
        await check(state.row, `regression-edit-${backend}`);
        node.dispose();
        expect(await page.getAttribute('#result', 'data-mean')).toBe(String(state.shown.mean));
        await page.screenshot({ path: path.join(out, `regression-${backend}.png`), fullPage: true });
        ran.regression.push(backend);
      } finally {
        await page.close();
      }
    });

  for (const backend of BACKENDS)
    it(`digit page on ${backend}: predictions and a drawn digit's class equal predictFile's`, async () => {
      const site = sites.classification;
      current = `digits/${backend}`;
      const page = await open(site, backend);
      if (!page) return;
      try {
        const rows = inputRows(site.m, 4, 5);
        const ref = await reference(site, rows, `digits-${backend}`);
        const got = (await page.evaluate((r) => window.bdkDemo.predict(r), rows)) as {
          probs: number[][];
          entropy: number[];
          mutualInformation: number[];
          label: number[];
        };
        const col = (name: string) => ref.columns.indexOf(name);
        ref.rows.forEach((r, i) => {
          got.probs[i].forEach((p, k) => close(p, r[k]));
          expect(got.label[i]).toBe(r[col('predicted')]);
          close(got.entropy[i], r[col('entropy')]);
          close(got.mutualInformation[i], r[col('mutualInformation')]);
        });

        // A "7" drawn with the mouse: the page's class for the pixels it read is predictFile's.
        const box = (await page.locator('#draw').boundingBox())!;
        const to = (x: number, y: number) =>
          page.mouse.move(box.x + x * box.width, box.y + y * box.height, { steps: 6 });
        await to(0.25, 0.2);
        await page.mouse.down();
        await to(0.75, 0.2);
        await to(0.45, 0.85);
        await page.mouse.up();
        const state = (await page.evaluate(() => window.bdkDemo.settled()))!;
        expect(state.row).toHaveLength(28 * 28);
        expect(Math.min(...state.row)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...state.row)).toBeGreaterThan(200);
        expect(Math.max(...state.row)).toBeLessThanOrEqual(255);
        const [want] = (await reference(site, [state.row], `digit-drawn-${backend}`)).rows;
        expect(state.shown.label).toBe(want[col('predicted')]);
        expect(await page.textContent('#top-class')).toBe(DIGITS[want[col('predicted')]]);
        (state.shown.probs as number[]).forEach((p, k) => close(p, want[k]));
        close((state.shown.mutualInformation as number[])[0], want[col('mutualInformation')]);
        await page.screenshot({ path: path.join(out, `digits-${backend}.png`), fullPage: true });
        ran.classification.push(backend);
      } finally {
        await page.close();
      }
    });
});
