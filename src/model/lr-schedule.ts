/**
 * Cosine learning-rate decay (Loshchilov & Hutter 2017, without restarts): lr₀·½(1 + cos(π·t/T)),
 * from lr₀ at step t = 0 down to 0 at t = T.
 */
export function cosineRate(lr0: number, t: number, total: number): number {
  return (lr0 / 2) * (1 + Math.cos((Math.PI * Math.min(t, total)) / total));
}
