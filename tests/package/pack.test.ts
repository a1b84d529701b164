import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
  .version;

describe('the package as published', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bdk-pack-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('packs dist/ (built by prepare), installs from the tarball into an empty folder, and runs', () => {
    // `npm pack` runs the `prepare` script (the build) exactly as `npm publish` would.
    const packed = JSON.parse(
      execFileSync(npm, ['pack', '--json', '--pack-destination', tmp], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const files = packed[0].files.map((f) => f.path);
    expect(files).toContain('bin/bdk.js');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/runtime/index.js');
    expect(files).toContain('dist/runtime/index.d.ts');
    expect(files).toContain('pipelines/boston.json');
    // `bdk demo`'s page bundle and wasm files, built by `npm run build` (scripts/build-demo.mjs).
    expect(files).toContain('dist/demo/assets/bdk-demo.js');
    expect(files).toContain('dist/demo/assets/wasm/tfjs-backend-wasm.wasm');
    expect(files).toContain('dist/demo/write-site.js');
    expect(
      files.filter((f) => /^(tests|bench|src|native|scripts)\//.test(f) || f.startsWith('dist/bench/')),
    ).toEqual([]);

    const app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    // The optional tfjs-node packages download libtensorflow while installing; the wasm default needs neither.
    execFileSync(
      npm,
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--omit=optional',
        path.join(tmp, packed[0].filename),
      ],
      { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const bdk = path.join(app, 'node_modules', '.bin', 'bdk');
    const env: NodeJS.ProcessEnv = { ...process.env, BDK_BACKEND: 'wasm' };
    delete env.BDK_DATA_DIR;
    delete env.BDK_RUNS_DIR;
    const run = (...args: string[]) => execFileSync(bdk, args, { cwd: app, encoding: 'utf8', env });

    const help = run('--help');
    expect(help).toMatch(/^Usage: bdk \[options\] \[command\]/);
    for (const command of ['info', 'data', 'sample', 'search', 'distill', 'evaluate', 'export', 'run'])
      expect(help).toMatch(new RegExp(`^  ${command}\\b`, 'm'));

    const info = run('info');
    expect(info).toContain('backend: wasm');
    expect(info).toContain(`versions: bdk ${version}, `);
    expect(info).toContain(`data: ${path.join(app, 'datasets')}`);

    // It computes, not only starts: the bundled Boston data prepares into the user's folder.
    run('data', 'prepare', 'boston');
    expect(existsSync(path.join(app, 'datasets', 'boston.arrow'))).toBe(true);

    // The library entry resolves through `exports`, and the README's example runs (with a short chain).
    const script = [
      "import { selectBackend, sampleConfigFrom, sampleTeacher } from 'bdk';",
      "await selectBackend('wasm');",
      "const config = await sampleConfigFrom({ dataset: 'boston', arch: 'mlp-50', samples: 3, burnIn: 20, thin: 2, chains: 2 });",
      "const { summary } = await sampleTeacher(config, { run: 'boston-s0' });",
      'console.log(JSON.stringify({ samples: summary.samples, rmse: summary.metrics.rmse }));',
    ].join('\n');
    const api = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: app,
      encoding: 'utf8',
      env,
    });
    const result = JSON.parse(api.trim().split('\n').at(-1)!) as { samples: number; rmse: number };
    expect(result.samples).toBe(6);
    expect(result.rmse).toBeGreaterThan(0);
    expect(existsSync(path.join(app, 'checkpoints', 'boston-s0', 'config.json'))).toBe(true);

    // The `bdk/runtime` entry resolves through `exports`: a missing export is a one-line error, and an
    // export made by the installed CLI predicts what `bdk predict` prints.
    run('distill', '--teacher', 'boston-s0', '--run', 'student-s0', '--arch', 'mlp-20', '--epochs', '2');
    run('export', '--run', 'student-s0', '--out', 'exported');
    const csv = path.join(app, 'two-rows.csv');
    writeFileSync(
      csv,
      'CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT\n' +
        '0.00632,18,2.31,0,0.538,6.575,65.2,4.09,1,296,15.3,396.9,4.98\n' +
        '0.02731,0,7.07,0,0.469,6.421,78.9,4.9671,2,242,17.8,396.9,9.14\n',
    );
    const predicted = run('predict', '--model', 'exported', '--input', csv).trim().split('\n');
    expect(predicted[0]).toBe('mean,sd');
    const runtime = [
      "import '@tensorflow/tfjs-backend-cpu';",
      "import { loadStudent } from 'bdk/runtime';",
      "await loadStudent('no-export').catch((e) => console.log(e.message));",
      "const student = await loadStudent('exported');",
      'const p = await student.predict([[0.00632,18,2.31,0,0.538,6.575,65.2,4.09,1,296,15.3,396.9,4.98],[0.02731,0,7.07,0,0.469,6.421,78.9,4.9671,2,242,17.8,396.9,9.14]]);',
      'console.log(JSON.stringify({ mean: Array.from(p.mean), sd: Array.from(p.sd) }));',
    ].join('\n');
    const lines = execFileSync(process.execPath, ['--input-type=module', '-e', runtime], {
      cwd: app,
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    expect(lines[0]).toContain('no-export/bdk.json: file not found');
    const fromRuntime = JSON.parse(lines.at(-1)!) as { mean: number[]; sd: number[] };
    for (const r of [0, 1]) {
      const [mean, sd] = predicted[r + 1].split(',').map(Number);
      // bdk predict prints 7 significant digits and ran on wasm; the runtime runs on tfjs's cpu backend here.
      expect(Math.abs(fromRuntime.mean[r] - mean)).toBeLessThan(1e-5 * Math.max(1, Math.abs(mean)));
      expect(Math.abs(fromRuntime.sd[r] - sd)).toBeLessThan(1e-5 * Math.max(1, sd));
    }
  }, 600_000);
});
