import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { pathExists, readJsonOrNull } from '../core/json-file.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { archDescription } from '../search/front.js';
import { budgetNeighbourhood } from '../search/candidates.js';
import { discretize, type TrainedValues } from '../search/discretize.js';
import type { Budgets } from '../search/latency-budget.js';
import type { SupernetLayout } from '../search/supernet.js';
import { runPath } from './run-folder.js';

/** The searched architecture (the spec students read). */
export const SEARCH_ARCH = 'arch.json';
/** The searched architecture's weights (float32, its spec's parameter layout): the student's warm start. */
export const SEARCH_ARCH_WEIGHTS = 'arch-weights.bin';
/** The list of candidate architectures (docs/design.md §3.12); candidate k > 1 lives in `candidates/<k>/`. */
export const SEARCH_CANDIDATES = 'candidates.json';

/** One entry of `candidates.json`. */
export interface CandidateEntry {
  /** 1 is the searched architecture; the others by log-probability under the structure logits. */
  rank: number;
  /** The exported network's edges (`archDescription`). */
  arch: string;
  /** Parameters of the exported network (after ARD pruning) and before pruning. */
  parameters: number;
  parametersBeforePruning: number;
  logProbability: number;
  /** The chosen candidate label per space edge, as `search.json`'s `choices`. */
  choices: { edge: string; choice: string }[];
}

const candidateDir = (runDir: string, rank: number) =>
  rank === 1 ? runDir : path.join(runDir, 'candidates', String(rank));

/**
 * Writes candidates 2…k of a finished search (`budgetNeighbourhood` of `chosen`, the searched
 * architecture, within `budgets`): each one's spec and mean weights, exported by `discretize` exactly
 * as the searched one, in `candidates/<rank>/`; then `candidates.json` listing all k (rank 1 being the
 * searched architecture, whose files are the run's own). Returns the list.
 */
export async function writeCandidates(w: {
  runDir: string;
  name: string;
  layout: SupernetLayout;
  values: TrainedValues;
  /** The search's settings: `candidates` is k. */
  config: { pruneThreshold: number; candidates?: number; space: string };
  chosen: number[];
  budgets: Budgets;
}): Promise<CandidateEntry[]> {
  const { layout, config } = w;
  const logits = layout.logits.map((li) => (li === null ? [0] : w.values.h[li]));
  const list = budgetNeighbourhood(
    layout.sa,
    w.chosen,
    logits,
    w.budgets,
    config.candidates ?? 1,
    config.space,
  );
  const entries: CandidateEntry[] = [];
  for (const [i, c] of list.entries()) {
    const rank = i + 1;
    const r = discretize(
      layout,
      w.values,
      config.pruneThreshold,
      rank === 1 ? w.name : `${w.name}-c${rank}`,
      c.chosen,
    );
    if (rank > 1) {
      const dir = candidateDir(w.runDir, rank);
      await fs.mkdir(dir, { recursive: true });
      await writeFileAtomic(
        path.join(dir, SEARCH_ARCH_WEIGHTS),
        Buffer.from(r.weights.buffer, r.weights.byteOffset, r.weights.byteLength),
      );
      await writeFileAtomic(path.join(dir, SEARCH_ARCH), JSON.stringify(r.analysis.spec, null, 2) + '\n');
    }
    entries.push({
      rank,
      arch: archDescription(r.analysis.spec.edges),
      parameters: r.analysis.parameterCount,
      parametersBeforePruning: c.parameters,
      logProbability: c.logProbability,
      choices: r.choices.map(({ edge, choice }) => ({ edge, choice })),
    });
  }
  await writeFileAtomic(path.join(w.runDir, SEARCH_CANDIDATES), JSON.stringify(entries, null, 2) + '\n');
  return entries;
}

/** The candidates a search run wrote (its `candidates.json`), or only the searched one when it wrote none. */
export async function searchCandidates(run: string, runsDir?: string): Promise<number[]> {
  const list = await readJsonOrNull<CandidateEntry[]>(path.join(runPath(run, runsDir), SEARCH_CANDIDATES));
  return list ? list.map((c) => c.rank) : [1];
}

/**
 * The student a search run hands on: the architecture of candidate `rank` (1: the searched one; a spec
 * path for `--arch`) and, for a warm start, its weights file (docs/design.md §3.10); `warmStart` false,
 * or a run from before the weights were written, gives the architecture alone.
 */
export async function searchedStudent(
  run: string,
  runsDir?: string,
  warmStart = true,
  rank = 1,
): Promise<{ arch: string; initialWeights?: string }> {
  const dir = candidateDir(runPath(run, runsDir), rank);
  const file = path.join(dir, SEARCH_ARCH);
  if (!(await pathExists(file)))
    throw new UserError(
      rank === 1
        ? `search run '${run}' has no ${SEARCH_ARCH} at ${file} (run \`bdk search --run ${run}\` first)`
        : `search run '${run}' has no candidate ${rank} (no ${file}; search with --candidates ${rank} or more)`,
    );
  const weights = path.join(dir, SEARCH_ARCH_WEIGHTS);
  return warmStart && (await pathExists(weights)) ? { arch: file, initialWeights: weights } : { arch: file };
}
