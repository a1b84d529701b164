import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkResumeSettings, flagOf } from '../../src/stages/resume-check.js';
import { checkDistillTask, distillConfigFrom } from '../../src/stages/distill-config.js';
import { bdk, expectOneLineError } from '../helpers.js';
import { bostonFolder, TINY_TEACHER } from './fixture.js';

/**
 * Flags that would do nothing are errors (issue: nothing silently wrong): a setting given again on
 * `--resume` with another value, and the classification-only distillation settings on a regression
 * teacher. Only a run's length (`--samples`, `--epochs`) extends a resumed run, and the stored config
 * then says so.
 */

let env: Record<string, string>;
let remove: () => Promise<void>;
const run = (args: string[]) => bdk(args, env);
const read = (run: string, file: string) => fs.readFile(path.join(env.BDK_RUNS_DIR, run, file), 'utf8');

beforeAll(async () => {
  ({ env, remove } = await bostonFolder('bdk-resume-settings-', [
    ['sample', ...TINY_TEACHER, '--step-size', '1e-5', '--run', 't'],
    ['distill', '--teacher', 't', '--run', 's', '--epochs', '2'],
  ]));
}, 120_000);
afterAll(() => remove());

describe('checkResumeSettings', () => {
  it('compares only the explicit settings, and names both values', () => {
    const stored = { stepSize: 0.01, samples: 30, schedule: { kind: 'constant' } };
    expect(flagOf('stepSize')).toBe('--step-size');
    const check = (requested: object, explicit: string[]) => () =>
      checkResumeSettings('r', 'r/config.json', stored, requested, explicit, ['samples']);
    expect(check({ stepSize: 0.02, samples: 30 }, [])).not.toThrow();
    expect(check({ stepSize: 0.01, samples: 40 }, ['stepSize', 'samples'])).not.toThrow();
    expect(check({ stepSize: 0.02 }, ['stepSize'])).toThrow(
      "--step-size 0.02 differs from run 'r's 0.01 (r/config.json); --resume continues a run with its own settings: leave --step-size out, or start a new run",
    );
    expect(check({ schedule: { kind: 'cyclical', cycle: 5 } }, ['schedule'])).toThrow(
      '--schedule {"kind":"cyclical","cycle":5} differs from run \'r\'s {"kind":"constant"}',
    );
    // A setting the stored run does not have counts as a difference; a flag that is no setting does not.
    expect(check({ heteroscedastic: true }, ['heteroscedastic'])).toThrow(
      "--heteroscedastic true differs from run 'r's (not set)",
    );
    expect(check({}, ['chainOffset'])).not.toThrow();
  });

  it('classification-only distillation settings are errors on a regression teacher', () => {
    const c = distillConfigFrom({ teacher: 't', temperature: 2, klDirection: 'reverse' });
    expect(() => checkDistillTask(c, 'classification')).not.toThrow();
    expect(() => checkDistillTask(c, 'regression')).toThrow(
      "--temperature 2 and --kl-direction reverse: classification only, but teacher 't' is a regression run (the student matches the ensemble's Gaussian); leave them out",
    );
    expect(() => checkDistillTask(distillConfigFrom({ teacher: 't' }), 'regression')).not.toThrow();
  });
});

describe('bdk --resume with settings', () => {
  it('sample: another --step-size is refused; --samples extends the run and the stored config says so', async () => {
    const config = await read('t', 'config.json');
    const r = run(['sample', '--run', 't', '--resume', '--step-size', '1e-4']);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(
      `bdk: --step-size 0.0001 differs from run 't's 0.00001 (${path.join(env.BDK_RUNS_DIR, 't', 'config.json')}); --resume continues a run with its own settings: leave --step-size out, or start a new run`,
    );
    expect(await read('t', 'config.json')).toBe(config);
    // The same value again is no change.
    expect(run(['sample', '--run', 't', '--resume', '--step-size', '1e-5']).code).toBe(0);
    expect(run(['sample', '--run', 't', '--resume', '--samples', '12']).code).toBe(0);
    expect(JSON.parse(await read('t', 'config.json')).samples).toBe(12);
  });

  it('distill: another --learning-rate on --resume and --temperature on a regression teacher are refused', async () => {
    const config = await read('s', 'distill-config.json');
    let r = run(['distill', '--teacher', 't', '--run', 's', '--resume', '--learning-rate', '0.01']);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      /^bdk: --learning-rate 0\.01 differs from run 's's 0\.001 \(.*distill-config\.json\); --resume continues a run with its own settings: leave --learning-rate out, or start a new run$/,
    );
    r = run(['distill', '--teacher', 't', '--run', 'hot', '--temperature', '2']);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toBe(
      "bdk: --temperature 2: classification only, but teacher 't' is a regression run (the student matches the ensemble's Gaussian); leave it out",
    );
    await expect(fs.access(path.join(env.BDK_RUNS_DIR, 'hot'))).rejects.toThrow();
    // --force with a refused flag keeps the old run.
    r = run(['distill', '--teacher', 't', '--run', 's', '--force', '--kl-direction', 'reverse']);
    expect(r.code).toBe(1);
    expect(await read('s', 'distill-config.json')).toBe(config);
    expect(run(['distill', '--teacher', 't', '--run', 's', '--resume', '--epochs', '3']).code).toBe(0);
    expect(JSON.parse(await read('s', 'distill-config.json')).epochs).toBe(3);
  });

  it('search: another --kl-weight on --resume is refused', () => {
    const args = ['search', '--objective', 'labels', '--dataset', 'boston', '--run', 'q', '--epochs', '1'];
    expect(run([...args, '--train-rows', '64', '--widths', '10']).code).toBe(0);
    const r = run(['search', '--run', 'q', '--resume', '--kl-weight', '0.5']);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      /^bdk: --kl-weight 0\.5 differs from run 'q's 1 \(.*search-config\.json\);/,
    );
  });
});
