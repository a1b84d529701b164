/**
 * How well an uncertainty score separates out-of-distribution inputs (positives) from in-distribution
 * ones (negatives), a higher score meaning "more likely OOD" (docs/design.md §4.7).
 *
 * AUROC is the probability that a random positive scores above a random negative, ties counting ½:
 * the Mann–Whitney U statistic over P·N, computed from mid-ranks in O((P+N) log(P+N)).
 * AUPR is the average precision Σ_t (R_t − R_{t−1}) P_t over the distinct score thresholds t taken from
 * the highest down (tied scores enter together), P_t and R_t the precision and recall of "score ≥ t".
 */

export interface OodScore {
  auroc: number;
  aupr: number;
}

/** Scores with their class, sorted by score descending. */
function ranked(negatives: ArrayLike<number>, positives: ArrayLike<number>): { s: number; pos: boolean }[] {
  const all: { s: number; pos: boolean }[] = [];
  for (let i = 0; i < negatives.length; i++) all.push({ s: negatives[i], pos: false });
  for (let i = 0; i < positives.length; i++) all.push({ s: positives[i], pos: true });
  for (const a of all) if (Number.isNaN(a.s)) throw new Error('ood scores: a score is NaN');
  return all.sort((a, b) => b.s - a.s);
}

function checkSizes(negatives: ArrayLike<number>, positives: ArrayLike<number>): void {
  if (!negatives.length || !positives.length)
    throw new Error(
      `ood scores: need negatives and positives, got ${negatives.length} and ${positives.length}`,
    );
}

/** Area under the ROC curve, ties counted ½. */
export function auroc(negatives: ArrayLike<number>, positives: ArrayLike<number>): number {
  checkSizes(negatives, positives);
  const all = ranked(negatives, positives);
  const n = all.length;
  // Ascending ranks 1..n; a group of ties shares the mean of its ranks.
  let positiveRankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j < n && all[j].s === all[i].s) j++;
    // Descending positions i..j−1 are ascending ranks n−j+1..n−i.
    const mid = (n - j + 1 + (n - i)) / 2;
    for (let k = i; k < j; k++) if (all[k].pos) positiveRankSum += mid;
    i = j;
  }
  const p = positives.length;
  const m = negatives.length;
  return (positiveRankSum - (p * (p + 1)) / 2) / (p * m);
}

/** Average precision (area under the precision–recall curve, step-wise), positives = OOD. */
export function aupr(negatives: ArrayLike<number>, positives: ArrayLike<number>): number {
  checkSizes(negatives, positives);
  const all = ranked(negatives, positives);
  const p = positives.length;
  let tp = 0;
  let seen = 0;
  let ap = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    let newTp = 0;
    while (j < all.length && all[j].s === all[i].s) {
      if (all[j].pos) newTp++;
      j++;
    }
    tp += newTp;
    seen = j;
    if (newTp) ap += (newTp / p) * (tp / seen);
    i = j;
  }
  return ap;
}

/** AUROC and AUPR of one score. */
export function oodScore(negatives: ArrayLike<number>, positives: ArrayLike<number>): OodScore {
  return { auroc: auroc(negatives, positives), aupr: aupr(negatives, positives) };
}
