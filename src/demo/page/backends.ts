/**
 * The page's tfjs backends: cpu, webgl and wasm are all in the bundle; the wasm backend's `.wasm` files
 * are served next to the page (`wasm/`, copied by `bdk demo`), so the page works offline.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendRequest, PageBackend } from './backend-choice.js';

export interface StartedBackend {
  name: PageBackend;
  /** Backends tried before it, and why each did not start. */
  skipped: { name: PageBackend; reason: string }[];
}

/** Starts the first backend of the request that works; none working is an error naming each reason. */
export async function startBackend(req: BackendRequest, wasmDir: string): Promise<StartedBackend> {
  setWasmPaths(wasmDir);
  const skipped: StartedBackend['skipped'] = [];
  for (const name of req.candidates) {
    try {
      const ok = await tf.setBackend(name);
      await tf.ready();
      if (ok && tf.getBackend() === name) return { name, skipped };
      skipped.push({ name, reason: 'tfjs could not start it' });
    } catch (err) {
      skipped.push({ name, reason: (err as Error).message.split('\n')[0] });
    }
  }
  const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new Error(
    req.explicit
      ? `backend ${skipped[0].name} is not available here (${why})`
      : `no backend started (${why})`,
  );
}
