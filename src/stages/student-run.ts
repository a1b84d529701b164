import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { requireFinite } from '../core/finite.js';
import { readJsonOrNull } from '../core/json-file.js';
import { checkNotLocked, RUN_LOCK } from '../core/run-lock.js';
import { analyzeSpec, type Analysis } from '../model/spec.js';
import type { DistillConfig } from './distill-config.js';
import { runPath } from './run-folder.js';
import type { SampleConfig } from './sample-config.js';

export const STUDENT_WEIGHTS = 'student.weights.bin';

/**
 * A student's flat float32 weights, in its spec's parameter layout; with `parameterCount`, a file of
 * another size (truncated or damaged) is a one-line error with the expected and actual sizes.
 */
export async function readStudentWeights(runDir: string, parameterCount?: number): Promise<Float32Array> {
  const file = path.join(runDir, STUDENT_WEIGHTS);
  const buf = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new UserError(`${file}: file not found`) : err;
  });
  if (parameterCount !== undefined && buf.byteLength !== parameterCount * 4)
    throw new UserError(
      `${file}: expected ${parameterCount * 4} bytes (${parameterCount} float32 weights), found ${buf.byteLength}; the file is truncated or damaged (distill the run again with --force)`,
    );
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** A finished student run with its teacher: what `evaluate` and `export` start from. */
export interface StudentRun {
  runDir: string;
  config: DistillConfig;
  teacherDir: string;
  teacherConfig: SampleConfig;
  analysis: Analysis;
  weights: Float32Array;
}

export async function openStudentRun(run: string, runsDir?: string): Promise<StudentRun> {
  const runDir = runPath(run, runsDir);
  await checkNotLocked(runDir, `run '${run}'`, (f) => f === RUN_LOCK); // not while being distilled
  const config = await readJsonOrNull<DistillConfig>(path.join(runDir, 'distill-config.json'));
  if (!config || !(await readJsonOrNull(path.join(runDir, 'student.json')))) {
    throw new UserError(
      `run '${run}' is not a finished student at ${runDir} (run \`bdk distill\` to completion first)`,
    );
  }
  const teacherDir = runPath(config.teacher, runsDir);
  const teacherConfig = await readJsonOrNull<SampleConfig>(path.join(teacherDir, 'config.json'));
  if (!teacherConfig)
    throw new UserError(`the teacher run '${config.teacher}' of student '${run}' is missing`);
  const specFile = path.join(runDir, 'student-spec.json');
  const analysis = analyzeSpec(JSON.parse(await fs.readFile(specFile, 'utf8')), specFile);
  const weights = await readStudentWeights(runDir, analysis.parameterCount);
  requireFinite(
    weights,
    (i, v) => `${path.join(runDir, STUDENT_WEIGHTS)}: weight ${i} of ${weights.length} is ${v}`,
    `distill run '${run}' again (--force)`,
  );
  return { runDir, config, teacherDir, teacherConfig, analysis, weights };
}
