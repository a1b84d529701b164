import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  computeDevice,
  describeDevice,
  nvidiaGpus,
  type DeviceProbe,
} from '../../src/backend/cuda-device.js';
import {
  BACKEND_PACKAGES,
  loadBackend,
  selectBackend,
  type ModuleImporter,
} from '../../src/backend/select.js';

/** A machine described by its files: /proc/driver/nvidia/gpus/<id>/information and /dev entries. */
function machine(opts: { gpus?: string[]; dev?: string[]; env?: Record<string, string> }): DeviceProbe {
  const files: Record<string, string> = {};
  (opts.gpus ?? []).forEach((model, i) => {
    files[`/proc/driver/nvidia/gpus/0000:0${i}:00.0/information`] = `Model: \t\t ${model}\nIRQ: 42\n`;
  });
  return {
    env: opts.env ?? {},
    listDir: (dir) =>
      dir === '/proc/driver/nvidia/gpus'
        ? (opts.gpus ?? []).map((_, i) => `0000:0${i}:00.0`)
        : dir === '/dev'
          ? ['null', 'tty', ...(opts.dev ?? [])]
          : [],
    readFile: (f) => files[f] ?? '',
  };
}

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('GPU readiness', () => {
  it("bdk's own kernels are registered for the wasm backend only, never over a native backend's", async () => {
    const kernels = (backend: string) =>
      tf.getKernelsForBackend(backend).map((k) => `${k.kernelName}:${k.kernelFunc.name}`);
    const native = kernels('tensorflow');
    const cpu = kernels('cpu');
    await loadBackend('wasm'); // the first load in this file: bdk registers its wasm kernels now
    expect(tf.getKernel('FusedConv2D', 'wasm')).toBeDefined();
    // Nothing for tfjs-node's 'tensorflow' backend (GPU or CPU) or the cpu backend.
    expect(kernels('tensorflow')).toEqual(native);
    expect(kernels('cpu')).toEqual(cpu);
  });
  it('finds GPUs from the driver, or its device files, and honours CUDA_VISIBLE_DEVICES', () => {
    expect(nvidiaGpus(machine({ gpus: ['NVIDIA H100 80GB HBM3', 'NVIDIA H100 80GB HBM3'] }))).toEqual([
      'NVIDIA H100 80GB HBM3',
      'NVIDIA H100 80GB HBM3',
    ]);
    expect(nvidiaGpus(machine({ dev: ['nvidia0', 'nvidiactl', 'nvidia-uvm'] }))).toEqual(['NVIDIA GPU']);
    expect(computeDevice(machine({ gpus: ['NVIDIA A100'] }))).toEqual({
      kind: 'gpu',
      name: 'NVIDIA A100',
      count: 1,
    });
    for (const hidden of ['', '-1']) {
      const d = computeDevice(machine({ gpus: ['NVIDIA A100'], env: { CUDA_VISIBLE_DEVICES: hidden } }));
      expect(d.kind).toBe('cpu');
      expect(d.note).toBe(`CUDA_VISIBLE_DEVICES=${JSON.stringify(hidden)} hides the 1 GPU`);
    }
    const none = computeDevice(machine({}));
    expect(none.kind).toBe('cpu');
    expect(describeDevice(none)).toMatch(/^device: CPU .+ \(\d+ cores; no NVIDIA GPU is visible\)$/);
    expect(describeDevice({ kind: 'gpu', name: 'NVIDIA H100', count: 2 })).toBe(
      'device: GPU NVIDIA H100 (2 GPUs)',
    );
  });

  it('auto skips tensorflow-gpu without a CUDA device, without importing it', async () => {
    const imported: string[] = [];
    const importer: ModuleImporter = async (spec) => {
      imported.push(spec);
      if (spec === BACKEND_PACKAGES.tensorflow)
        throw Object.assign(new Error(`Cannot find package '${spec}'`), { code: 'ERR_MODULE_NOT_FOUND' });
      return import(spec);
    };
    const info = await selectBackend('auto', importer, () => computeDevice(machine({})));
    expect(info.name).toBe('wasm');
    expect(imported).not.toContain(BACKEND_PACKAGES['tensorflow-gpu']);
    expect(info.skipped[0]).toEqual({
      name: 'tensorflow-gpu',
      reason: 'no NVIDIA GPU is visible (tensorflow-gpu is tried only with a CUDA device)',
    });
  });

  it('auto tries tensorflow-gpu when a CUDA device is visible', async () => {
    const imported: string[] = [];
    const importer: ModuleImporter = async (spec) => {
      imported.push(spec);
      if (spec.startsWith('@tensorflow/tfjs-node'))
        throw Object.assign(new Error(`Cannot find package '${spec}'`), { code: 'ERR_MODULE_NOT_FOUND' });
      return import(spec);
    };
    const info = await selectBackend('auto', importer, () => computeDevice(machine({ gpus: ['NVIDIA L4'] })));
    expect(imported[0]).toBe(BACKEND_PACKAGES['tensorflow-gpu']);
    expect(info.skipped[0].reason).toMatch(
      /needs the package @tensorflow\/tfjs-node-gpu, which is not installed/,
    );
  });
});
