/**
 * Which tfjs backend the demo page runs on, from its `?backend=` query parameter: pure parsing (no
 * DOM, no tfjs), tested in Node. Without the parameter the page tries wasm, webgl and cpu in that order
 * and keeps the first that starts; a backend asked for by name that cannot start is an error on the
 * page, never a silent fallback (as `bdk --backend`).
 */
export const PAGE_BACKENDS = ['wasm', 'webgl', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export interface BackendRequest {
  /** The backends to try, in order. */
  candidates: PageBackend[];
  /** Whether the user named one (`?backend=…`). */
  explicit: boolean;
}

/** The request in a URL's query string (`location.search`); an unknown name is a one-line error. */
export function backendRequest(search: string): BackendRequest {
  const value = new URLSearchParams(search).get('backend');
  if (value === null || value === '' || value === 'auto')
    return { candidates: [...PAGE_BACKENDS], explicit: false };
  if (!(PAGE_BACKENDS as readonly string[]).includes(value))
    throw new Error(`unknown backend '${value}' in ?backend=: expected one of ${PAGE_BACKENDS.join(', ')}`);
  return { candidates: [value as PageBackend], explicit: true };
}
