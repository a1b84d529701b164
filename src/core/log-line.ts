/**
 * What a printed line is, so the command line can choose what to show: `info` (the default output:
 * stage starts and ends with their headline figures), `detail` (only with `--verbose`: per-epoch and
 * per-split lines), `warning` (shown unless `--quiet`).
 */
export type LineKind = 'info' | 'detail' | 'warning';

/** Where stages send their lines; `kind` defaults to `info`. */
export type LogLine = (line: string, kind?: LineKind) => void;
