import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bdk, type CliResult } from '../helpers.js';
import { bostonFolder, TINY_TEACHER } from './fixture.js';
import { treeHashes } from './tree-hash.js';

/**
 * The CLI's robustness table (issue: nothing silently wrong): bad input and faults across every
 * command. Each case asserts the exit code, one line on standard error that names the culprit (flag,
 * value, file or run), no stack trace, and that every existing dataset, run and export is
 * byte-identical afterwards. Concurrency (two writers) is in writers.test.ts, with real processes.
 */

let dir: string;
let env: Record<string, string>;
const p = (...parts: string[]) => path.join(dir, ...parts);

/** SHA-256 of every file under the test's folder (datasets, runs, exports, inputs). */
const snapshot = () => treeHashes(dir);

/** One line on stderr, `bdk:` (or commander's `error:` for a flag it rejects), no stack trace. */
function oneLine(r: CliResult): string {
  const text = r.stderr.trimEnd();
  expect(text.split('\n'), r.stderr).toHaveLength(1);
  expect(text).toMatch(/^(bdk|error): /);
  expect(text).not.toMatch(/\n\s+at |internal error/);
  return text;
}

let remove: () => Promise<void>;
beforeAll(async () => {
  ({ dir, env, remove } = await bostonFolder('bdk-robust-', [
    ['sample', ...TINY_TEACHER, '--run', 't'],
    ['distill', '--teacher', 't', '--run', 's', '--epochs', '2'],
  ]));
  expect(bdk(['export', '--run', 's', '--out', p('export')], env).code).toBe(0);
  await fs.writeFile(p('text.csv'), 'a,b\n1,x\n');
  await fs.writeFile(p('bad.json'), '{ "name": "x",\n  oops }\n');
  await fs.writeFile(
    p('unknown-key.json'),
    JSON.stringify({ name: 'x', dataset: { name: 'boston' }, nope: 1 }),
  );
  await fs.writeFile(p('a-file'), 'not a folder\n');
  const runs = p('checkpoints');
  // Damaged copies: a teacher cut short, a student with a NaN weight or a short weights file, exports
  // with a cut or a changed shard.
  await fs.cp(path.join(runs, 't'), path.join(runs, 'cut'), { recursive: true });
  const samples = path.join(runs, 'cut', 'samples-c0.arrow');
  await fs.truncate(samples, (await fs.stat(samples)).size - 100);
  for (const copy of ['nan', 'short'])
    await fs.cp(path.join(runs, 's'), path.join(runs, copy), { recursive: true });
  const nan = path.join(runs, 'nan', 'student.weights.bin');
  const w = new Float32Array((await fs.readFile(nan)).buffer.slice(0));
  w[3] = NaN;
  await fs.writeFile(nan, new Uint8Array(w.buffer));
  await fs.truncate(path.join(runs, 'short', 'student.weights.bin'), 3200);
  for (const copy of ['cut-export', 'flip-export']) await fs.cp(p('export'), p(copy), { recursive: true });
  await fs.truncate(p('cut-export', 'group1-shard1of1.bin'), 3000);
  const shard = await fs.readFile(p('flip-export', 'group1-shard1of1.bin'));
  shard[100] ^= 1;
  await fs.writeFile(p('flip-export', 'group1-shard1of1.bin'), shard);
  const features = JSON.parse(await fs.readFile(p('export', 'bdk.json'), 'utf8')).features as string[];
  await fs.writeFile(p('row.csv'), `${features.join(',')}\n${features.map(() => '1').join(',')}\n`);
}, 120_000);
afterAll(() => remove());

/** [what, arguments, exit code, what the message must contain]. */
// prettier-ignore
const CASES: [string, () => string[], number, RegExp][] = [
  // data
  ['unknown built-in dataset', () => ['data', 'prepare', 'nope'], 1, /unknown built-in dataset 'nope'/],
  ['info of a missing dataset', () => ['data', 'info', 'nope'], 1, /dataset 'nope' not found/],
  ['prepare over an existing dataset', () => ['data', 'prepare', 'boston', '--validation-fraction', '0.3'], 1, /boston\.arrow already exists/],
  ['import of a missing file', () => ['data', 'import', p('missing.csv'), '--name', 'u', '--target', 'b', '--task', 'regression'], 1, /missing\.csv/],
  ['import of a non-numeric column', () => ['data', 'import', p('text.csv'), '--name', 'u', '--target', 'a', '--task', 'regression'], 1, /column 'b'.*'x'/],
  ['import under a name that leaves the data folder', () => ['data', 'import', p('text.csv'), '--name', '../evil', '--target', 'a', '--task', 'regression'], 1, /\.\.\/evil/],
  // sample
  ['unknown architecture', () => ['sample', '--dataset', 'boston', '--run', 'x', '--arch', 'nope'], 1, /unknown architecture 'nope'/],
  ['zero samples', () => ['sample', '--dataset', 'boston', '--run', 'x', '--samples', '0'], 1, /--samples.*'0'|got 0/],
  ['negative step size', () => ['sample', '--dataset', 'boston', '--run', 'x', '--step-size', '-1'], 1, /--step-size.*-1/],
  ['non-integer chains', () => ['sample', '--dataset', 'boston', '--run', 'x', '--chains', 'abc'], 1, /--chains.*abc/],
  ['unknown sampler', () => ['sample', '--dataset', 'boston', '--run', 'x', '--sampler', 'nope'], 1, /--sampler.*nope/],
  ['existing run without --resume or --force', () => ['sample', '--dataset', 'boston', '--run', 't'], 1, /run 't' already exists/],
  ['resume of a missing run', () => ['sample', '--dataset', 'boston', '--run', 'none', '--resume'], 1, /cannot resume run 'none'/],
  ['missing dataset', () => ['sample', '--dataset', 'nope', '--run', 'x'], 1, /dataset 'nope' not found/],
  ['variance prior without heteroscedastic', () => ['sample', '--dataset', 'boston', '--run', 'x', '--variance-prior-precision', '3'], 1, /--variance-prior-precision needs --heteroscedastic/],
  ['a sampler setting its sampler does not read', () => ['sample', '--dataset', 'boston', '--run', 'x', '--friction', '0.1'], 1, /^bdk: --friction applies to --sampler sghmc only, and this run uses --sampler sgld; leave it out$/],
  ['dropout rate 1', () => ['sample', '--dataset', 'boston', '--run', 'x', '--dropout-rate', '1'], 1, /--dropout-rate must be in \[0, 1\), got 1/],
  ['run name that leaves the runs folder', () => ['sample', '--dataset', 'boston', '--run', '../evil'], 1, /\.\.\/evil/],
  ['run name ..', () => ['sample', '--dataset', 'boston', '--run', '..'], 1, /'\.\.'/],
  ['a shard that overlaps the run’s chains', () => ['sample', '--dataset', 'boston', '--burn-in', '200', '--thin', '10', '--samples', '10', '--chains', '2', '--run', 't', '--chain-offset', '1'], 1, /chain/],
  ['resume with another step size', () => ['sample', '--run', 't', '--resume', '--step-size', '0.5'], 1, /--step-size 0\.5 differs from run 't's/],
  // distill
  ['empty run name', () => ['distill', '--teacher', 't', '--run', ''], 1, /name/],
  ['a teacher whose samples file lost its last 100 bytes', () => ['distill', '--teacher', 'cut', '--run', 'x'], 1, /teacher run 'cut' is not complete: samples-c0\.arrow/],
  ['missing teacher', () => ['distill', '--teacher', 'none', '--run', 'x'], 1, /teacher run 'none' not found/],
  ['--candidate without --arch-from', () => ['distill', '--teacher', 't', '--run', 'x', '--candidate', '2'], 1, /--candidate needs --arch-from RUN/],
  ['zero epochs', () => ['distill', '--teacher', 't', '--run', 'x', '--epochs', '0'], 1, /--epochs.*0/],
  ['temperature on a regression teacher', () => ['distill', '--teacher', 't', '--run', 'x', '--temperature', '2'], 1, /--temperature 2: classification only/],
  ['KL direction on a regression teacher', () => ['distill', '--teacher', 't', '--run', 'x', '--kl-direction', 'reverse'], 1, /--kl-direction reverse: classification only/],
  ['resume with another learning rate', () => ['distill', '--teacher', 't', '--run', 's', '--resume', '--learning-rate', '0.5'], 1, /--learning-rate 0\.5 differs from run 's's/],
  ['--force with a refused flag', () => ['distill', '--teacher', 't', '--run', 's', '--force', '--temperature', '3'], 1, /--temperature 3: classification only/],
  ['a learning rate that overflows the loss', () => ['distill', '--teacher', 't', '--run', 'x', '--epochs', '1', '--learning-rate', '1e30'], 1, /the loss is NaN at epoch 1, step \d+/],
  // search
  ['latency batch without a budget', () => ['search', '--dataset', 'boston', '--objective', 'labels', '--run', 'x', '--latency-batch', '10'], 1, /a latency batch \(10\) needs a latency budget/],
  ['parameter budget below the smallest architecture', () => ['search', '--dataset', 'boston', '--objective', 'labels', '--run', 'x', '--max-parameters', '1'], 1, /--max-parameters 1 is below .* \(28 parameters\)/],
  ['custom preset without its λ', () => ['search', '--dataset', 'boston', '--objective', 'labels', '--run', 'x', '--preset', 'custom'], 1, /--preset custom needs --lambda-l-prior/],
  ['unknown search space', () => ['search', '--dataset', 'boston', '--objective', 'labels', '--run', 'x', '--space', 'nope'], 1, /unknown search space 'nope'/],
  ['resume of a missing search', () => ['search', '--run', 'none', '--resume'], 1, /cannot resume run 'none'/],
  ['distill objective without a teacher', () => ['search', '--dataset', 'boston', '--run', 'x'], 1, /--objective distill needs --teacher RUN/],
  // evaluate, export, predict
  ['evaluate a teacher run', () => ['evaluate', '--run', 't'], 1, /run 't' is not a finished student/],
  ['evaluate a missing run', () => ['evaluate', '--run', 'none'], 1, /run 'none' is not a finished student/],
  ['evaluate a student whose weights file is truncated', () => ['evaluate', '--run', 'short'], 1, /student\.weights\.bin: expected 3208 bytes/],
  ['export a student whose weights hold a NaN', () => ['export', '--run', 'nan', '--out', p('nan-export')], 1, /weight 3 of 802 is NaN/],
  ['export --out an existing file', () => ['export', '--run', 's', '--out', p('a-file'), '--force'], 1, /a-file/],
  ['export over an existing export', () => ['export', '--run', 's', '--out', p('export')], 1, /model\.json already exists; pass --force/],
  ['predict without an export', () => ['predict', '--model', p('none'), '--input', p('text.csv')], 1, /bdk\.json: not found or not a bdk export manifest/],
  ['predict on a non-numeric column', () => ['predict', '--model', p('export'), '--input', p('text.csv')], 1, /text\.csv:2: column 'b' has non-numeric value 'x'/],
  ['predict with a truncated weight shard', () => ['predict', '--model', p('cut-export'), '--input', p('row.csv')], 1, /group1-shard1of1\.bin: \d+ bytes, the export's manifest records \d+/],
  ['predict with a changed weight shard', () => ['predict', '--model', p('flip-export'), '--input', p('row.csv')], 1, /group1-shard1of1\.bin: SHA-256 [0-9a-f]{12}… differs/],
  ['predict on a missing input', () => ['predict', '--model', p('export'), '--input', p('missing.csv')], 1, /missing\.csv: file not found/],
  // pipelines
  ['missing pipeline file', () => ['run', p('missing.json')], 1, /missing\.json: file not found/],
  ['pipeline that is not JSON', () => ['run', p('bad.json')], 1, /bad\.json: invalid JSON/],
  ['pipeline with an unknown key', () => ['run', p('unknown-key.json')], 1, /nope/],
];

describe('bad input and faults, every command', () => {
  it(`has at least 40 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES)('%s', async (_, args, code, message) => {
    const before = await snapshot();
    const r = bdk(args(), env);
    expect(r.code, r.stderr).toBe(code);
    expect(oneLine(r)).toMatch(message);
    // Everything that existed is byte-identical (a run refused mid-way may leave its own new files).
    const after = await snapshot();
    for (const [file, hash] of Object.entries(before)) expect(after[file], file).toBe(hash);
  });
});
