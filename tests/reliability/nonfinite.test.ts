import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstNonFinite, requireFinite, requireFiniteMetrics } from '../../src/core/finite.js';
import { finiteLoss } from '../../src/distill/student-loss.js';
import { readSamples, SampleRowReader, SampleWriter } from '../../src/samples/index.js';
import { bdk, expectOneLineError } from '../helpers.js';
import { bostonFolder, TINY_TEACHER } from './fixture.js';
import { treeHashes } from './tree-hash.js';

/**
 * The non-finite guard (issue: nothing silently wrong): a diverged teacher, a NaN loss, NaN weights in a
 * samples file or a student, and a damaged export each stop with a one-line error and exit 1, and
 * nothing non-finite reaches a report or an exported model.
 */

let dir: string;
let env: Record<string, string>;
let remove: () => Promise<void>;
const runs = () => env.BDK_RUNS_DIR;
const run = (args: string[]) => bdk(args, env);

beforeAll(async () => {
  ({ dir, env, remove } = await bostonFolder('bdk-nonfinite-', [
    ['sample', ...TINY_TEACHER, '--run', 't'],
    ['distill', '--teacher', 't', '--run', 's', '--epochs', '3'],
  ]));
}, 120_000);
afterAll(() => remove());

describe('the finite checks', () => {
  it('find the first NaN or infinity and name it', () => {
    expect(firstNonFinite([1, 2, 3])).toBe(-1);
    expect(firstNonFinite(new Float32Array([0, Infinity, NaN]))).toBe(1);
    expect(firstNonFinite([-Infinity])).toBe(0);
    expect(() => requireFinite([1, NaN], (i, v) => `w[${i}] is ${v}`, 'fix it')).toThrow(
      'w[1] is NaN; fix it',
    );
    expect(() => requireFiniteMetrics({ rmse: 1, ll: null }, 'x', 'y')).toThrow('x: ll is not a number; y');
    expect(() => requireFiniteMetrics({ ll: -Infinity }, 'x', 'y')).toThrow('x: ll is -Infinity; y');
    expect(finiteLoss(0.5, { epoch: 1, step: 1, steps: 2 }, 1e-3)).toBe(0.5);
    expect(() => finiteLoss(NaN, { epoch: 3, step: 7, steps: 9 }, 0.01)).toThrow(
      "distill: the loss is NaN at epoch 3, step 7 of 9; the teacher's predictions are not finite (check it with bdk evaluate) or --learning-rate 0.01 is too large",
    );
  });

  it('a samples file with a NaN weight is refused by the streaming and the random-access readers', async () => {
    const file = path.join(dir, 'nan.arrow');
    const w = await SampleWriter.create(file, 3, { run: 'x', chains: 1 });
    const rec = (step: number, weights: number[]) => ({
      chain: 0,
      step,
      logLikelihood: -1,
      noisePrecision: 1,
      weights: Float32Array.from(weights),
    });
    await w.append([rec(1, [1, 2, 3]), rec(2, [4, NaN, 6])]);
    await w.close();
    const fix = 'the samples file is damaged: sample the teacher again (bdk sample --force)';
    await expect(async () => {
      for await (const _ of readSamples([file])) void _;
    }).rejects.toThrow(`${file}: sample 1 has weight 1 = NaN; ${fix}`);
    const reader = await SampleRowReader.open([file]);
    try {
      const dest = new Float32Array(3);
      reader.readWeights(0, 0, dest);
      expect(Array.from(dest)).toEqual([1, 2, 3]);
      expect(() => reader.readWeights(1, 1, new Float32Array(2))).toThrow(
        `sample 1 of the teacher has weight 1 = NaN; ${fix}`,
      );
    } finally {
      reader.close();
    }
  });
});

describe('commands stop on non-finite values', () => {
  it('sample: a diverged chain is exit 1, and the run is not written as finished', async () => {
    const r = run([
      'sample',
      '--dataset',
      'boston',
      '--burn-in',
      '1000',
      '--thin',
      '20',
      '--samples',
      '20',
      '--chains',
      '2',
      '--step-size',
      '3e-2',
      '--run',
      'div',
    ]);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      /^bdk: sample: the ensemble's test metrics of run 'div' are not finite \(log-likelihood split R-hat [0-9.]+\): ll is -Infinity; the chains diverged: use a smaller --step-size \(now 0\.03\) and --force$/,
    );
    await expect(fs.access(path.join(runs(), 'div', 'teacher.json'))).rejects.toThrow();
  });

  it('distill: a loss that overflows stops at its step, exit 1, with no finished student', async () => {
    const r = run(['distill', '--teacher', 't', '--run', 'lr', '--epochs', '3', '--learning-rate', '1e30']);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      /^bdk: distill: the loss is NaN at epoch 1, step \d+ of \d+; the teacher's predictions are not finite \(check it with bdk evaluate\) or --learning-rate 1e\+30 is too large$/,
    );
    await expect(fs.access(path.join(runs(), 'lr', 'student.json'))).rejects.toThrow();
  });

  it('evaluate and export refuse a student whose weights hold a NaN; nothing is written', async () => {
    const src = path.join(runs(), 's');
    const bad = path.join(runs(), 'nan');
    await fs.cp(src, bad, { recursive: true });
    const file = path.join(bad, 'student.weights.bin');
    const w = new Float32Array((await fs.readFile(file)).buffer.slice(0));
    w[5] = NaN;
    await fs.writeFile(file, new Uint8Array(w.buffer));
    const before = await treeHashes(bad);
    const want = `bdk: ${file}: weight 5 of ${w.length} is NaN; distill run 'nan' again (--force)`;
    for (const args of [
      ['evaluate', '--run', 'nan', '--map-epochs', '0', '--no-plots'],
      ['export', '--run', 'nan', '--out', path.join(dir, 'nan-export')],
    ]) {
      const r = run(args);
      expect(r.code, args[0]).toBe(1);
      expect(expectOneLineError(r)).toBe(want);
    }
    await expect(fs.access(path.join(dir, 'nan-export'))).rejects.toThrow();
    expect(await treeHashes(bad)).toEqual(before);
  });
});

describe('an export records a SHA-256 per file, and predict verifies it', () => {
  it('a truncated or changed weight shard is refused with a one-line error naming it', async () => {
    const out = path.join(dir, 'export');
    expect(run(['export', '--run', 's', '--out', out]).code).toBe(0);
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'bdk.json'), 'utf8'));
    const names = Object.keys(manifest.files).sort();
    expect(names).toEqual(['group1-shard1of1.bin', 'model.json']);
    for (const name of names) {
      const data = await fs.readFile(path.join(out, name));
      expect(manifest.files[name]).toEqual({
        bytes: data.byteLength,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
    }
    const csv = path.join(dir, 'rows.csv');
    const ds = JSON.parse(await fs.readFile(path.join(out, 'bdk.json'), 'utf8')).features as string[];
    await fs.writeFile(csv, `${ds.join(',')}\n${ds.map(() => '1').join(',')}\n`);
    const predict = () => run(['predict', '--model', out, '--input', csv]);
    expect(predict().code).toBe(0);
    const shard = path.join(out, 'group1-shard1of1.bin');
    const good = await fs.readFile(shard);
    // Truncated by 100 bytes.
    await fs.writeFile(shard, good.subarray(0, good.byteLength - 100));
    let r = predict();
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(
      `bdk: ${shard}: ${good.byteLength - 100} bytes, the export's manifest records ${good.byteLength} (truncated or damaged); export the model again`,
    );
    // One byte changed: the size is right, the hash is not.
    const flipped = Buffer.from(good);
    flipped[17] ^= 0x40;
    await fs.writeFile(shard, flipped);
    r = predict();
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      new RegExp(
        `^bdk: ${shard.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: SHA-256 [0-9a-f]{12}… differs from the manifest's ${manifest.files['group1-shard1of1.bin'].sha256.slice(0, 12)}… \\(the file was changed after export\\); export the model again$`,
      ),
    );
    await fs.writeFile(shard, good);
    expect(predict().code).toBe(0);
  });
});
