/**
 * log Γ and ψ in float64 for x > 0, in plain JavaScript (no tfjs), for reports, `bdk predict` and the
 * browser runtime; the tfjs ops of the same series are in `src/distill/special-functions.ts`. The
 * argument is shifted up by the recurrences until x + n ≥ 12, where the first omitted term of the
 * Stirling series is below 1e-15.
 */

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);
/** The shift of the float64 functions: x + n ≥ 12. */
const SHIFT_64 = 12;

/** log Γ(x) in float64 for x > 0. */
export function lgamma64(x: number): number {
  let shift = 0;
  let y = x;
  while (y < SHIFT_64) shift += Math.log(y++);
  const inv2 = 1 / (y * y);
  const series =
    (1 / y) * (1 / 12 + inv2 * (-1 / 360 + inv2 * (1 / 1260 + inv2 * (-1 / 1680 + inv2 * (1 / 1188)))));
  return (y - 0.5) * Math.log(y) - y + HALF_LOG_2PI + series - shift;
}

/** ψ(x) in float64 for x > 0. */
export function digamma64(x: number): number {
  let shift = 0;
  let y = x;
  while (y < SHIFT_64) shift += 1 / y++;
  const inv2 = 1 / (y * y);
  const series =
    inv2 * (-1 / 12 + inv2 * (1 / 120 + inv2 * (-1 / 252 + inv2 * (1 / 240 + inv2 * (-1 / 132)))));
  return Math.log(y) - 0.5 / y + series - shift;
}
