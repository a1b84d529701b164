import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../core/errors.js';
import { checkFolderTarget } from '../core/user-paths.js';
import { loadStudent, MANIFEST_FILE, MODEL_FILE, type Student } from '../runtime/index.js';
import { INDEX_HTML, PAGE_SCRIPT } from './index-html.js';

/**
 * `bdk demo`: a static, self-contained demo site for an export. The page bundle (the page script,
 * bdk/runtime, tfjs-core and the cpu, webgl and wasm backends) and the wasm backend's `.wasm` files are
 * built once by `npm run build` (scripts/build-demo.mjs) into ASSETS_DIR; this copies them, writes
 * `index.html` and copies the export into `model/`. Nothing is fetched from elsewhere at run time.
 */

/** The built assets: `<package>/dist/demo/assets/`, the same path from src/ (tests) as from dist/. */
export const ASSETS_DIR = fileURLToPath(new URL('../../dist/demo/assets/', import.meta.url));
/** The folders of the site that `--force` replaces whole (the other files are overwritten one by one). */
export const SITE_FOLDERS = ['model', 'wasm'];

export interface DemoSite {
  out: string;
  task: Student['task'];
  /** The files written, relative to `out`, with their sizes. */
  files: { file: string; bytes: number }[];
}

/**
 * Checks the export by loading it with bdk/runtime (the caller registers a tfjs backend first), then
 * writes the site into `out`. An existing folder that is not empty is refused unless `force`.
 */
export async function writeDemoSite(opts: {
  model: string;
  out: string;
  force?: boolean;
}): Promise<DemoSite> {
  const { model, out } = opts;
  const student = await loadStudent(model);
  const task = student.task;
  student.dispose();
  // The export's files, read before anything is written: `out` may hold the export itself.
  const exportFiles = await readExport(model);
  const bundle = path.join(ASSETS_DIR, PAGE_SCRIPT);
  if (!existsSync(bundle))
    throw new UserError(`the demo page bundle ${bundle} is missing; run \`npm run build\` in the bdk folder`);
  await checkFolderTarget(out, '--out');
  const present = await fs.readdir(out).catch(() => [] as string[]);
  if (present.length > 0 && !opts.force)
    throw new UserError(
      `${out} is not empty; pass --force to write the demo into it (replacing its index.html, ${PAGE_SCRIPT}, model/ and wasm/)`,
    );
  for (const dir of SITE_FOLDERS) await fs.rm(path.join(out, dir), { recursive: true, force: true });
  await fs.mkdir(path.join(out, 'model'), { recursive: true });
  await fs.cp(ASSETS_DIR, out, { recursive: true });
  await fs.writeFile(path.join(out, 'index.html'), INDEX_HTML);
  for (const [file, data] of exportFiles) {
    const target = path.join(out, 'model', file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, data);
  }
  return { out, task, files: await listFiles(out, ['index.html', PAGE_SCRIPT, ...SITE_FOLDERS]) };
}

/** bdk.json, model.json and the weight shards model.json lists, as bytes. */
async function readExport(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const f of [MANIFEST_FILE, MODEL_FILE]) files.set(f, await fs.readFile(path.join(dir, f)));
  const json = JSON.parse(files.get(MODEL_FILE)!.toString('utf8')) as {
    weightsManifest: { paths: string[] }[];
  };
  for (const p of json.weightsManifest.flatMap((g) => g.paths)) {
    if (path.isAbsolute(p) || p.split(/[\\/]/).includes('..'))
      throw new UserError(
        `${path.join(dir, MODEL_FILE)}: weight path ${JSON.stringify(p)} leaves the export folder`,
      );
    files.set(p, await fs.readFile(path.join(dir, p)));
  }
  return files;
}

async function listFiles(root: string, names: string[]): Promise<DemoSite['files']> {
  const out: DemoSite['files'] = [];
  for (const name of names) {
    const full = path.join(root, name);
    const stat = await fs.stat(full);
    if (stat.isDirectory()) {
      for (const f of (await fs.readdir(full)).sort())
        out.push({ file: `${name}/${f}`, bytes: (await fs.stat(path.join(full, f))).size });
    } else out.push({ file: name, bytes: stat.size });
  }
  return out;
}
