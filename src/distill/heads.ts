import { UserError } from '../core/errors.js';

/**
 * What a student's outputs mean (`bdk distill --student-head`, docs/design.md §2):
 * - `softmax` (classification default): logits of the ensemble's mean probabilities (tempered KL);
 * - `gaussian` (regression default): mean and log-variance of the ensemble's Gaussian mixture;
 * - `dirichlet` (classification): log-concentrations of a Dirichlet over the samples' probability
 *   vectors (EnD², §2.6);
 * - `two-variance` (regression): mean, log aleatoric and log epistemic variance (§2.7).
 */
export type StudentHead = 'softmax' | 'gaussian' | 'dirichlet' | 'two-variance';

export const STUDENT_HEADS: readonly StudentHead[] = ['softmax', 'gaussian', 'dirichlet', 'two-variance'];

const TASK_OF: Record<StudentHead, 'regression' | 'classification'> = {
  softmax: 'classification',
  gaussian: 'regression',
  dirichlet: 'classification',
  'two-variance': 'regression',
};

/** The head of a student: the configured one, or the task's default. */
export function studentHeadOf(task: 'regression' | 'classification', head?: StudentHead): StudentHead {
  return head ?? (task === 'classification' ? 'softmax' : 'gaussian');
}

/** A head for the other task is a one-line error naming the flag. */
export function checkStudentHead(
  head: StudentHead | undefined,
  task: 'regression' | 'classification',
  teacher: string,
): void {
  if (head === undefined) return;
  if (!STUDENT_HEADS.includes(head))
    throw new UserError(`--student-head ${String(head)}: expected one of ${STUDENT_HEADS.join(', ')}`);
  if (TASK_OF[head] !== task) {
    const fits = STUDENT_HEADS.filter((h) => TASK_OF[h] === task).join(' or ');
    throw new UserError(
      `--student-head ${head} is for ${TASK_OF[head]}, but teacher '${teacher}' is a ${task} run; use ${fits}`,
    );
  }
}

/** Output units of a student with this head: K for the classification heads, 2 or 3 for regression. */
export function headOutputUnits(head: StudentHead, classes: number): number {
  return head === 'gaussian' ? 2 : head === 'two-variance' ? 3 : classes;
}
