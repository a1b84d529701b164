import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmConvGradKernels } from '../../src/backend/wasm-conv-grad.js';
import { Rng } from '../../src/core/rng.js';
import { loadDataset, partArrays } from '../../src/data/store.js';
import { loadLayersModelFromDir } from '../../src/export/model-files.js';
import { encodeUint8, float16Bits } from '../../src/export/quantize.js';
import { forward, unflatten } from '../../src/model/forward.js';
import { analyzeSpec } from '../../src/model/spec.js';
import { distillStudent } from '../../src/stages/distill.js';
import { exportStudent } from '../../src/stages/export.js';
import { evaluateRun } from '../../src/stages/evaluate.js';
import { predictFile, writePredictions } from '../../src/stages/predict.js';
import { importTable } from '../../src/stages/prepare.js';
import { sampleTeacher } from '../../src/stages/sample.js';
import { tempDir } from '../helpers.js';

let dir: string;
let dataDir: string;
let runsDir: string;

beforeAll(async () => {
  registerWasmConvGradKernels();
  await tf.setBackend('wasm');
  dir = await tempDir();
  dataDir = path.join(dir, 'datasets');
  runsDir = path.join(dir, 'runs');
  const rng = new Rng(5);
  const lines = ['a,b,label'];
  for (let i = 0; i < 200; i++) {
    const [a, b] = [rng.normal(), rng.normal()];
    lines.push(`${a},${b},${a + b + 0.5 * rng.normal() > 0 ? 1 : 0}`);
  }
  await fs.writeFile(path.join(dir, 'd.csv'), lines.join('\n') + '\n');
  await importTable(
    { file: path.join(dir, 'd.csv'), name: 'd', target: 'label', task: 'classification' },
    {},
    { dir: dataDir },
  );
  await sampleTeacher(
    {
      dataset: 'd',
      split: 0,
      trainOn: 'trainval',
      arch: 'mlp-50',
      sampler: 'sgld',
      dropoutRate: 0.05,
      samples: 3,
      burnIn: 300,
      thin: 20,
      stepSize: 1e-3,
      schedule: { kind: 'constant' },
      batchSize: 32,
      chains: 2,
      seed: 1,
      priorPrecision: 1,
      temperature: 1,
      noisePrecision: null,
      noisePrior: { shape: 6, rate: 6 },
      friction: 0.05,
      rmsDecay: 0.99,
      rmsEpsilon: 1e-5,
    },
    { run: 't', dataDir, runsDir },
  );
  await distillStudent(
    {
      teacher: 't',
      arch: 'mlp-50',
      temperature: 2,
      klDirection: 'forward',
      inputNoise: 0.1,
      samplesPerBatch: 1,
      epochs: 5,
      batchSize: 32,
      learningRate: 3e-3,
      seed: 0,
    },
    { run: 's', dataDir, runsDir },
  );
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('export', () => {
  it('float32: the exported LayersModel reproduces the in-memory student exactly, and the manifest says how to use it', async () => {
    const out = path.join(dir, 'export-f32');
    const { manifest } = await exportStudent({ run: 's', out, quantize: 'none', dataDir, runsDir });
    expect((await fs.readdir(out)).sort()).toEqual(['bdk.json', 'group1-shard1of1.bin', 'model.json']);
    expect(manifest.metrics.change).toEqual({ error: 0, nll: 0, brier: 0, ece: 0 });
    expect(manifest).toMatchObject({
      task: 'classification',
      features: ['a', 'b'],
      classNames: ['0', '1'],
      outputs: 'logits',
      temperature: 2,
      quantization: 'none',
    });
    expect(manifest.bytes).toBe(manifest.student.parameterCount * 4);
    const ds = await loadDataset('d', dataDir);
    const test = partArrays(ds, 0, 'test');
    const a = analyzeSpec(
      JSON.parse(await fs.readFile(path.join(runsDir, 's', 'student-spec.json'), 'utf8')),
    );
    const buf = await fs.readFile(path.join(runsDir, 's', 'student.weights.bin'));
    const w = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const x = tf.tensor2d(test.x, [test.rows, 2]);
    const mem = tf
      .squeeze(forward(a, unflatten(a, tf.tensor2d(w, [1, a.parameterCount])), tf.expandDims(x, 0)), [0])
      .dataSync();
    const model = await loadLayersModelFromDir(out);
    const exported = (model.predict(x) as tf.Tensor).dataSync();
    let maxDiff = 0;
    for (let i = 0; i < mem.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mem[i] - exported[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    await expect(exportStudent({ run: 's', out, quantize: 'none', dataDir, runsDir })).rejects.toThrow(
      `${path.join(out, 'model.json')} already exists; pass --force to replace it`,
    );
  });

  it('float16 and uint8 exports are smaller and within the reported tolerance', async () => {
    for (const [q, ratio] of [
      ['float16', 2],
      ['uint8', 4],
    ] as const) {
      const { manifest } = await exportStudent({
        run: 's',
        out: path.join(dir, `export-${q}`),
        quantize: q,
        dataDir,
        runsDir,
      });
      expect(manifest.bytes).toBe((manifest.student.parameterCount * 4) / ratio);
      expect(Math.abs(manifest.metrics.change.nll)).toBeLessThan(q === 'float16' ? 1e-3 : 2e-2);
      expect(manifest.metrics.exported.nll - manifest.metrics.float32.nll).toBeCloseTo(
        manifest.metrics.change.nll,
        12,
      );
    }
  });

  it('float16 and uint8 encoders are correct', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(1e6)).toBe(0x7c00); // overflow → +Infinity
    expect(float16Bits(0.1)).toBe(0x2e66);
    expect(float16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(float16Bits(2 ** -26)).toBe(0x0000); // underflow
    const v = new Rng(2).fillNormal(new Float32Array(1000));
    const q = encodeUint8(v);
    for (let i = 0; i < v.length; i++)
      expect(Math.abs(q.data[i] * q.scale + q.min - v[i])).toBeLessThanOrEqual(q.scale / 2 + 1e-6);
  });
});

describe('evaluate', () => {
  it('reports MAP, one sample, ensemble and student with sizes and latencies, and writes the report and plots', async () => {
    const r = await evaluateRun({ run: 's', mapEpochs: 2, latencyRuns: 2, dataDir, runsDir });
    expect(Object.keys(r.models)).toEqual(['map', 'teacher_single', 'ensemble', 'student']);
    expect(r.models.ensemble.parameters).toBe(6 * r.models.teacher_single.parameters); // 2 chains × 3 samples
    expect(r.compression).toBeCloseTo(r.models.ensemble.parameters / r.models.student.parameters, 10);
    for (const m of Object.values(r.models)) {
      expect(m.latencyMs).toBeGreaterThan(0);
      expect(m.metrics.error).toBeGreaterThanOrEqual(0);
      expect(m.metrics.error).toBeLessThan(0.5);
    }
    const files = await fs.readdir(path.join(runsDir, 's'));
    for (const f of [
      'report.json',
      'report.md',
      'reliability-ensemble.svg',
      'reliability-student.svg',
      'distill-loss.svg',
      'teacher-trace.svg',
    ])
      expect(files).toContain(f);
    const md = await fs.readFile(path.join(runsDir, 's', 'report.md'), 'utf8');
    expect(md).toContain('| distilled student (`student`) |');
    const svg = await fs.readFile(path.join(runsDir, 's', 'reliability-student.svg'), 'utf8');
    expect(svg.startsWith('<svg') || svg.startsWith('<?xml')).toBe(true);
    expect(svg).not.toContain('NaN');
    expect(r.models.ensemble.bytes).toBe(r.models.ensemble.parameters * 4);
    // Fidelity to the ensemble: KL ≥ 0, and mean TV ≤ √(mean KL / 2) (Pinsker, then Jensen).
    const f = r.fidelity!;
    expect(Object.keys(f)).toEqual(['klToEnsemble', 'agreement', 'totalVariation']);
    expect(f.klToEnsemble).toBeGreaterThanOrEqual(0);
    expect(f.agreement).toBeGreaterThan(0.5);
    expect(f.totalVariation).toBeGreaterThan(0);
    expect(f.totalVariation).toBeLessThanOrEqual(Math.sqrt(f.klToEnsemble / 2) + 1e-12);
    expect(md).toContain(
      'Fidelity of the student to the ensemble on the test rows: mean KL(ensemble ‖ student) ',
    );
    // Classification: no intervals; the ensemble's entropy splits into expected entropy + MI ≥ 0.
    expect(r.calibration).toBeUndefined();
    const u = r.uncertainty as { totalEntropy: number; expectedEntropy: number; mutualInformation: number };
    expect(Object.keys(u)).toEqual(['totalEntropy', 'expectedEntropy', 'mutualInformation']);
    expect(u.mutualInformation).toBeGreaterThanOrEqual(0);
    expect(u.expectedEntropy).toBeGreaterThan(0);
    expect(u.totalEntropy).toBeCloseTo(u.expectedEntropy + u.mutualInformation, 5);
    expect(u.totalEntropy).toBeLessThanOrEqual(Math.log(2) + 1e-12);
    expect(md).toContain('Uncertainty of the ensemble (mean over the test rows, nats): total entropy ');
  });

  it('streams a float16 teacher: its stored bytes are half, its metrics within the rounding of float32', async () => {
    const cfg = JSON.parse(await fs.readFile(path.join(runsDir, 't', 'config.json'), 'utf8'));
    await sampleTeacher({ ...cfg, sampleDtype: 'float16' }, { run: 't16', dataDir, runsDir });
    const dc = JSON.parse(await fs.readFile(path.join(runsDir, 's', 'distill-config.json'), 'utf8'));
    await distillStudent({ ...dc, teacher: 't16' }, { run: 's16', dataDir, runsDir });
    const opts = { mapEpochs: 0, latencyRuns: 1, plots: false, dataDir, runsDir };
    const [r32, r16] = [await evaluateRun({ ...opts, run: 's' }), await evaluateRun({ ...opts, run: 's16' })];
    expect(r16.models.ensemble.parameters).toBe(r32.models.ensemble.parameters);
    expect(r16.models.ensemble.bytes).toBe(r32.models.ensemble.bytes / 2);
    expect(Math.abs(r16.models.ensemble.metrics.nll - r32.models.ensemble.metrics.nll)).toBeLessThan(1e-3);
    expect(Math.abs(r16.models.ensemble.metrics.brier - r32.models.ensemble.metrics.brier)).toBeLessThan(
      1e-3,
    );
    expect(r16.models.ensemble.metrics.nll).not.toBe(r32.models.ensemble.metrics.nll); // the weights were rounded
  });
});

describe('predict', () => {
  it('gives probabilities, the predicted class and the entropy per row; bad input is a clear error', async () => {
    const input = path.join(dir, 'new.csv');
    await fs.writeFile(input, 'b,a\n0.5,2\n-1,-3\n');
    const p = await predictFile(path.join(dir, 'export-f32'), input);
    expect(p.columns).toEqual(['p_0', 'p_1', 'predicted', 'entropy']);
    for (const [p0, p1, cls, h] of p.rows) {
      expect(p0 + p1).toBeCloseTo(1, 6);
      expect(cls).toBe(p1 > p0 ? 1 : 0);
      expect(h).toBeCloseTo(-(p0 * Math.log(p0) + p1 * Math.log(p1)), 6);
    }
    expect(p.rows[0][1]).toBeGreaterThan(0.5); // a + b > 0 → class 1
    expect(p.rows[1][0]).toBeGreaterThan(0.5);
    const out = path.join(dir, 'pred.csv');
    await writePredictions(out, p);
    expect((await fs.readFile(out, 'utf8')).split('\n')[0]).toBe('p_0,p_1,predicted,entropy');
    await expect(writePredictions(out, p)).rejects.toThrow(
      `${out} already exists; pass --force to replace it`,
    );
    const bad = path.join(dir, 'bad.csv');
    await fs.writeFile(bad, 'a,c\n1,2\n');
    await expect(predictFile(path.join(dir, 'export-f32'), bad)).rejects.toThrow(
      `${bad}: missing feature column 'b' (the model needs: a, b)`,
    );
    await fs.writeFile(bad, 'a,b\n1,x\n');
    await expect(predictFile(path.join(dir, 'export-f32'), bad)).rejects.toThrow(
      `${bad}:2: column 'b' has non-numeric value 'x'`,
    );
  });
});
