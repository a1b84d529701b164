import { describe, expect, it } from 'vitest';
import { convergenceIssues, convergenceWarning } from '../../src/eval/convergence-check.js';
import { bdk, expectOneLineError } from '../helpers.js';
import { bostonFolder, TINY_TEACHER } from '../reliability/fixture.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parsePipeline } from '../../src/pipeline/load.js';
import { sampleSplits } from '../../src/pipeline/teacher-splits.js';

const good = {
  logLikelihood: { ess: 400, rhat: 1.0 },
  testPredictions: { points: 50, rhatMax: 1.05, rhatMedian: 1.01, essMin: 120 },
};

describe('convergence checks', () => {
  it('pass at the thresholds and fail beyond them, each named with its value, in a fixed order', () => {
    expect(convergenceIssues(good)).toEqual([]);
    const edge = {
      logLikelihood: { ess: 50, rhat: 1.1 },
      testPredictions: { points: 50, rhatMax: 9, rhatMedian: 1.1, essMin: 50 },
    };
    expect(convergenceIssues(edge)).toEqual([]);
    const bad = {
      logLikelihood: { ess: 12.34, rhat: 1.2345 },
      testPredictions: { points: 50, rhatMax: 3, rhatMedian: 1.5, essMin: 5.55 },
    };
    expect(convergenceIssues(bad)).toEqual([
      'log-likelihood split R-hat 1.234 > 1.1',
      'log-likelihood ESS 12.3 < 50',
      'test-prediction median split R-hat 1.500 > 1.1',
      'test-prediction smallest ESS 5.5 < 50',
    ]);
  });

  it('fails a value that could not be computed (NaN) and takes other thresholds', () => {
    const nan = { ...good, logLikelihood: { ess: NaN, rhat: NaN } };
    expect(convergenceIssues(nan)).toEqual([
      'log-likelihood split R-hat NaN > 1.1',
      'log-likelihood ESS NaN < 50',
    ]);
    expect(convergenceIssues(good, { rhat: 1.005, ess: 200 })).toEqual([
      'test-prediction median split R-hat 1.010 > 1.005',
      'test-prediction smallest ESS 120.0 < 200',
    ]);
  });

  it('words the warning with what to do', () => {
    expect(convergenceWarning('t', ['log-likelihood ESS 12.3 < 50'])).toBe(
      "teacher 't' may not have converged: log-likelihood ESS 12.3 < 50 (sample longer with --samples/--burn-in/--thin or run more chains; the ensemble is still usable)",
    );
  });
});

describe('bdk sample --strict-diagnostics', () => {
  it('warns in one line and records the failed checks; with the flag, exits 1 and keeps the run', async () => {
    // 10 samples per chain cannot reach 50 effective draws: the ESS checks fail.
    const f = await bostonFolder('bdk-conv-');
    try {
      const plain = bdk(['sample', ...TINY_TEACHER, '--run', 'a'], f.env);
      expect(plain.code, plain.stderr).toBe(0);
      const warnings = (plain.stdout + plain.stderr).split('\n').filter((l) => l.startsWith('warning: '));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^warning: teacher 'a' may not have converged: .*ESS [\d.]+ < 50/);
      const t = JSON.parse(await fs.readFile(path.join(f.runs, 'a', 'teacher.json'), 'utf8'));
      expect(t.diagnostics.thresholds).toEqual({ rhat: 1.1, ess: 50 });
      expect(t.diagnostics.warnings.length).toBeGreaterThan(0);
      expect(warnings[0]).toContain(t.diagnostics.warnings.join(', '));

      const strict = bdk(['sample', ...TINY_TEACHER, '--run', 'b', '--strict-diagnostics'], f.env);
      expect(strict.code).toBe(1);
      expect(expectOneLineError(strict)).toMatch(
        /^bdk: sample: teacher 'b' may not have converged: .*; --strict-diagnostics makes this an error \(the run is kept\)$/,
      );
      const kept = JSON.parse(await fs.readFile(path.join(f.runs, 'b', 'teacher.json'), 'utf8'));
      // Same seed, same samples: the same checks fail.
      expect(kept.diagnostics.warnings).toEqual(t.diagnostics.warnings);
      expect(kept.metrics).toEqual(t.metrics);
    } finally {
      await f.remove();
    }
  });
});

describe('teacher.strictDiagnostics in a pipeline', () => {
  it('stops the pipeline at a teacher that fails a check, also when that teacher is already complete', async () => {
    const f = await bostonFolder('bdk-conv-pipe-');
    try {
      const teacher = (strictDiagnostics: boolean) =>
        parsePipeline(
          {
            name: 'p',
            dataset: { name: 'boston', use: [0] },
            teacher: {
              arch: 'mlp-50',
              samples: 10,
              burnIn: 200,
              thin: 10,
              chains: 2,
              batchSize: 32,
              strictDiagnostics,
            },
          },
          'p.json',
        ).teacher!;
      const where = { dataDir: f.env.BDK_DATA_DIR, runsDir: f.runs };
      const lines: string[] = [];
      const plain = await sampleSplits('p', 'boston', [0], teacher(false), 0, {
        ...where,
        log: (l) => lines.push(l),
      });
      expect(plain.completed).toBe(true);
      expect(
        lines.filter((l) => l.startsWith("warning: teacher 'p-s0-teacher' may not have converged")),
      ).toHaveLength(1);
      // The flag is not a sampling setting: the complete teacher is reused, then refused.
      await expect(sampleSplits('p', 'boston', [0], teacher(true), 0, where)).rejects.toThrow(
        /^teacher 'p-s0-teacher' may not have converged: .*ESS [\d.]+ < 50.*; teacher\.strictDiagnostics makes this an error \(the run is kept\)$/,
      );
      expect(await fs.stat(path.join(f.runs, 'p-s0-teacher', 'teacher.json'))).toBeTruthy();
    } finally {
      await f.remove();
    }
  });
});
