/**
 * Whether a CUDA device is visible to this process, checked before `auto` loads tfjs-node-gpu: that
 * package loads on a machine without a GPU and then runs TensorFlow on the CPU, so importing it says
 * nothing. A device is visible when the NVIDIA driver lists a GPU (`/proc/driver/nvidia/gpus/*`, or a
 * `/dev/nvidia<N>` device file) and `CUDA_VISIBLE_DEVICES` does not hide every device.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface ComputeDevice {
  kind: 'gpu' | 'cpu';
  /** e.g. "NVIDIA H100 80GB HBM3", or the CPU model. */
  name: string;
  /** GPUs the driver lists, or CPU cores. */
  count: number;
  /** Why a GPU is not used, when the driver lists one but it is hidden (or none is listed). */
  note?: string;
}

/** Reads the machine's files; injectable so tests can describe machines this one is not. */
export interface DeviceProbe {
  env: Record<string, string | undefined>;
  listDir: (dir: string) => string[];
  readFile: (file: string) => string;
}

const realProbe: DeviceProbe = {
  env: process.env,
  listDir: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  readFile: (file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  },
};

/** The GPUs the NVIDIA driver lists, by model name (empty without the driver). */
export function nvidiaGpus(probe: DeviceProbe = realProbe): string[] {
  const ids = probe.listDir('/proc/driver/nvidia/gpus');
  if (ids.length)
    return ids.map((id) => {
      const info = probe.readFile(`/proc/driver/nvidia/gpus/${id}/information`);
      return /^Model:\s*(.+)$/m.exec(info)?.[1].trim() ?? 'NVIDIA GPU';
    });
  return probe
    .listDir('/dev')
    .filter((f) => /^nvidia\d+$/.test(f))
    .map(() => 'NVIDIA GPU');
}

/** The device tensorflow-gpu would compute on, or the CPU with the reason no GPU is used. */
export function computeDevice(probe: DeviceProbe = realProbe): ComputeDevice {
  const gpus = nvidiaGpus(probe);
  const visible = probe.env.CUDA_VISIBLE_DEVICES;
  const hidden = visible !== undefined && (visible.trim() === '' || visible.trim().startsWith('-'));
  if (gpus.length && !hidden) return { kind: 'gpu', name: gpus[0], count: gpus.length };
  const cpus = os.cpus();
  return {
    kind: 'cpu',
    name: cpus[0]?.model.trim() || 'CPU',
    count: cpus.length,
    note: gpus.length
      ? `CUDA_VISIBLE_DEVICES=${JSON.stringify(visible)} hides the ${gpus.length} GPU${gpus.length > 1 ? 's' : ''}`
      : 'no NVIDIA GPU is visible',
  };
}

/** One line for `bdk info`. */
export function describeDevice(d: ComputeDevice): string {
  return d.kind === 'gpu'
    ? `device: GPU ${d.name}${d.count > 1 ? ` (${d.count} GPUs)` : ''}`
    : `device: CPU ${d.name} (${d.count} cores; ${d.note})`;
}
