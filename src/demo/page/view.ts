import type { Live } from './live.js';

/** A mounted page view: its live updater and what it last showed, for the test hook. */
export interface View {
  live: Live;
  /** The input row of the last prediction shown (form values, or the pixels read from the canvas) and its numbers. */
  state(): { row: number[]; shown: Record<string, unknown> } | null;
}
