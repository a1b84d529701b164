import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKEND_PACKAGES,
  parseBackendChoice,
  requestedBackend,
  selectBackend,
  type ModuleImporter,
} from '../../src/backend/select.js';
import { UserError } from '../../src/core/errors.js';

function notFound(pkg: string): Error {
  return Object.assign(new Error(`Cannot find package '${pkg}' imported from /x/select.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

/** Simulates an install where the given packages are missing or broken, delegating the rest to real imports. */
function fakeImporter(missing: string[], broken: Record<string, string> = {}): ModuleImporter {
  return async (spec) => {
    if (missing.includes(spec)) throw notFound(spec);
    if (broken[spec]) throw new Error(broken[spec]);
    return import(spec);
  };
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('backend selection', () => {
  it('auto falls through tensorflow-gpu and tensorflow to wasm when the node packages are absent', async () => {
    const info = await selectBackend(
      'auto',
      fakeImporter([BACKEND_PACKAGES['tensorflow-gpu'], BACKEND_PACKAGES.tensorflow]),
    );
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
  });

  it('auto falls back to the pure-JS cpu backend when wasm cannot load either', async () => {
    const info = await selectBackend(
      'auto',
      fakeImporter([BACKEND_PACKAGES['tensorflow-gpu'], BACKEND_PACKAGES.tensorflow], {
        [BACKEND_PACKAGES.wasm]: 'wasm compile failed',
      }),
    );
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.skipped[2]).toEqual({
      name: 'wasm',
      reason: "backend 'wasm' failed to load from @tensorflow/tfjs-backend-wasm: wasm compile failed",
    });
  });

  it('an explicitly requested backend whose package is missing is an error naming the package, not a fallback', async () => {
    const err = await selectBackend('tensorflow', fakeImporter([BACKEND_PACKAGES.tensorflow])).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      "backend 'tensorflow' needs the package @tensorflow/tfjs-node, which is not installed " +
        '(install it with `npm install @tensorflow/tfjs-node`; its install script downloads libtensorflow and needs internet)',
    );
    await expect(
      selectBackend('tensorflow-gpu', fakeImporter([BACKEND_PACKAGES['tensorflow-gpu']])),
    ).rejects.toThrow(
      "backend 'tensorflow-gpu' needs the package @tensorflow/tfjs-node-gpu, which is not installed",
    );
  });

  it('a package that is installed but cannot load reports the load failure', async () => {
    await expect(
      selectBackend(
        'tensorflow',
        fakeImporter([], {
          [BACKEND_PACKAGES.tensorflow]: 'libtensorflow.so.2: cannot open shared object file',
        }),
      ),
    ).rejects.toThrow(
      "backend 'tensorflow' failed to load from @tensorflow/tfjs-node: libtensorflow.so.2: cannot open shared object file",
    );
  });

  it('the real install: tfjs-node is absent here, wasm and cpu load', async () => {
    let nodeInstalled = true;
    try {
      await import(BACKEND_PACKAGES.tensorflow);
    } catch {
      nodeInstalled = false;
    }
    if (!nodeInstalled) await expect(selectBackend('tensorflow')).rejects.toThrow('which is not installed');
    expect((await selectBackend('wasm')).name).toBe('wasm');
    expect((await selectBackend('cpu')).name).toBe('cpu');
  });

  it('parses choices from flags and BDK_BACKEND', () => {
    expect(() => parseBackendChoice('gpu')).toThrow(
      "unknown backend 'gpu': expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu",
    );
    const saved = process.env.BDK_BACKEND;
    try {
      process.env.BDK_BACKEND = 'cpu';
      expect(requestedBackend()).toBe('cpu');
      expect(requestedBackend('wasm')).toBe('wasm');
      delete process.env.BDK_BACKEND;
      expect(requestedBackend()).toBe('auto');
    } finally {
      if (saved === undefined) delete process.env.BDK_BACKEND;
      else process.env.BDK_BACKEND = saved;
    }
  });
});
