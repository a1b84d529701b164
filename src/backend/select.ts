import * as tf from '@tensorflow/tfjs';
import { installZeroCopyTape } from './zero-copy-tape.js';
import { UserError, messageOf } from '../core/errors.js';
import { computeDevice } from './cuda-device.js';

/** Compute backends in the order `auto` tries them. */
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

/** The npm package that provides each backend. */
export const BACKEND_PACKAGES: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs',
};

/** The name tfjs registers each backend under (tfjs-node and tfjs-node-gpu both register 'tensorflow'). */
const TFJS_NAMES: Record<BackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

export interface BackendInfo {
  name: BackendName;
  package: string;
  /** Why each backend tried before this one was skipped (empty unless `auto` fell through). */
  skipped: { name: BackendName; reason: string }[];
}

/** Imports a module by name; injectable so tests can simulate missing or broken packages. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;
const defaultImporter: ModuleImporter = (specifier) => import(specifier);

export function parseBackendChoice(value: string): BackendChoice {
  if (value === 'auto' || (BACKENDS as readonly string[]).includes(value)) return value as BackendChoice;
  throw new UserError(`unknown backend '${value}': expected one of auto, ${BACKENDS.join(', ')}`);
}

/** The backend requested by a flag, else by `BDK_BACKEND`, else `auto`. */
export function requestedBackend(flag?: string): BackendChoice {
  const value = flag || process.env.BDK_BACKEND || 'auto';
  return parseBackendChoice(value);
}

function isModuleNotFound(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (e.message ?? '').includes(pkg)
  );
}

/**
 * Loads one backend and makes it the active tfjs backend. Throws a UserError naming the missing
 * package when it is not installed, or the load failure (e.g. libtensorflow missing) when it is.
 */
export async function loadBackend(
  name: BackendName,
  importer: ModuleImporter = defaultImporter,
): Promise<void> {
  const pkg = BACKEND_PACKAGES[name];
  try {
    if (name === 'tensorflow' || name === 'tensorflow-gpu') {
      await importer(pkg);
    } else if (name === 'wasm') {
      await importer(pkg);
      const { registerWasmConvGradKernels } = await import('./wasm-conv-grad.js');
      registerWasmConvGradKernels();
      const { registerWasmGather } = await import('./wasm-gather.js');
      registerWasmGather();
      // bdk's own WebAssembly kernels; BDK_WASM_KERNELS=0 keeps tfjs-wasm's (to compare, or to rule them out).
      if (process.env.BDK_WASM_KERNELS !== '0') {
        const { registerWasmMatMul } = await import('./wasm-matmul.js');
        registerWasmMatMul();
        const { registerWasmFusedKernels } = await import('./wasm-fused.js');
        registerWasmFusedKernels();
        const { registerWasmConvKernels } = await import('./wasm-conv.js');
        registerWasmConvKernels();
        const { registerWasmBiasSum } = await import('./wasm-bias-sum.js');
        registerWasmBiasSum();
        const { registerWasmCopyFree } = await import('./wasm-copy-free.js');
        registerWasmCopyFree();
        const { registerWasmReluGrad } = await import('./wasm-relu-grad.js');
        registerWasmReluGrad();
      }
    }
  } catch (err) {
    if (isModuleNotFound(err, pkg)) {
      throw new UserError(
        `backend '${name}' needs the package ${pkg}, which is not installed ` +
          `(install it with \`npm install ${pkg}\`; its install script downloads libtensorflow and needs internet)`,
      );
    }
    throw new UserError(`backend '${name}' failed to load from ${pkg}: ${firstLine(messageOf(err))}`);
  }
  let ok = false;
  try {
    ok = await tf.setBackend(TFJS_NAMES[name]);
    await tf.ready();
  } catch (err) {
    throw new UserError(`backend '${name}' failed to initialize: ${firstLine(messageOf(err))}`);
  }
  installZeroCopyTape();
  if (name === 'cpu') {
    // The cpu backend prints a multi-line "install tfjs-node" banner on first use in Node; bdk
    // already reports the backend in one line, so mark the banner as shown.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  if (!ok || tf.getBackend() !== TFJS_NAMES[name]) {
    throw new UserError(
      `backend '${name}' failed to initialize (tfjs could not activate '${TFJS_NAMES[name]}')`,
    );
  }
}

/**
 * Chooses and activates the compute backend. `auto` tries tensorflow-gpu (only when a CUDA device is
 * visible: the package loads without one and runs on the CPU), tensorflow, wasm, cpu in that order and
 * keeps the first that loads; an explicit choice that cannot load is an error, never a silent fallback.
 */
export async function selectBackend(
  choice: BackendChoice,
  importer: ModuleImporter = defaultImporter,
  device = computeDevice,
): Promise<BackendInfo> {
  if (choice !== 'auto') {
    await loadBackend(choice, importer);
    return { name: choice, package: BACKEND_PACKAGES[choice], skipped: [] };
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const name of BACKENDS) {
    if (name === 'tensorflow-gpu') {
      const d = device();
      if (d.kind !== 'gpu') {
        skipped.push({ name, reason: `${d.note} (tensorflow-gpu is tried only with a CUDA device)` });
        continue;
      }
    }
    try {
      await loadBackend(name, importer);
      return { name, package: BACKEND_PACKAGES[name], skipped };
    } catch (err) {
      skipped.push({ name, reason: messageOf(err) });
    }
  }
  throw new UserError(`no compute backend could be loaded: ${skipped.map((s) => s.reason).join('; ')}`);
}

/** One line saying which backend is in use, e.g. `backend: wasm (auto; skipped tensorflow-gpu, tensorflow: not installed)`. */
export function describeBackend(info: BackendInfo, choice: BackendChoice): string {
  const skipped = info.skipped.length
    ? `; skipped ${info.skipped.map((s) => s.name).join(', ')}: not loadable`
    : '';
  return `backend: ${info.name} (${choice === 'auto' ? 'auto' : 'requested'}${skipped})`;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}
