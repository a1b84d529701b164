import { stringify } from 'yaml';
import {
  arraySize,
  arrayUnit,
  dockerfile,
  DOCKERIGNORE,
  gatherScript,
  indexScript,
  type EmitSettings,
} from './emit-scripts.js';

/** The pipeline's name as Kubernetes accepts it (RFC 1123): lower case, digits and '-', at most `max`. */
function kubeName(pipeline: string, max: number): string {
  const base = pipeline
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (base || 'bdk').slice(0, max);
}

/** An object's name: the pipeline's, then `-suffix`, 63 characters at most. */
const objectName = (pipeline: string, suffix: string) =>
  `${kubeName(pipeline, 62 - suffix.length)}-${suffix}`;

/** Where the pods mount the shared work volume and the pipeline file. */
export const WORK_MOUNT = '/work';
export const PIPELINE_MOUNT = '/pipeline';

/**
 * A Kubernetes Indexed Job (batch/v1, `completionMode: Indexed`): pod i reads `JOB_COMPLETION_INDEX` and
 * runs split `splits[i]` (or, with chain shards, one teacher shard) into `/work/shards/<i>` on a
 * ReadWriteMany volume; then a plain Job gathers the shards and runs the pipeline to the end into
 * `/work/checkpoints`. The pipeline file travels in a
 * ConfigMap; no object storage is involved.
 */
export function kubernetesFiles(s: EmitSettings): Record<string, string> {
  const name = s.config.name;
  const labels = { 'app.kubernetes.io/name': 'bdk', 'bdk/pipeline': kubeName(name, 63) };
  const configMap = objectName(name, 'pipeline');
  const claim = objectName(name, 'work');
  const pipelinePath = `${PIPELINE_MOUNT}/${s.pipelineFile}`;
  const volumes = [
    { name: 'work', persistentVolumeClaim: { claimName: claim } },
    { name: 'pipeline', configMap: { name: configMap } },
  ];
  const volumeMounts = [
    { name: 'work', mountPath: WORK_MOUNT },
    { name: 'pipeline', mountPath: PIPELINE_MOUNT, readOnly: true },
  ];
  const resources = {
    requests: { cpu: String(s.cpus), memory: `${s.memoryGiB}Gi` },
    limits: { memory: `${s.memoryGiB}Gi` },
  };
  const env = [
    { name: 'BDK_PIPELINE', value: pipelinePath },
    { name: 'BDK_SHARDS', value: `${WORK_MOUNT}/shards` },
    { name: 'CI', value: 'true' },
  ];
  const container = (script: string[], extraEnv: { name: string; value: string }[] = []) => ({
    name: 'bdk',
    image: s.image,
    command: ['/bin/sh', '-c', ['set -e', ...script].join('\n')],
    env: [...env, ...extraEnv],
    resources,
    volumeMounts,
  });
  const n = arraySize(s);
  const unit = arrayUnit(s);
  const splitsJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: objectName(name, unit), labels },
    spec: {
      completionMode: 'Indexed',
      completions: n,
      parallelism: Math.min(s.parallelism ?? n, n),
      backoffLimit: n * 2,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          volumes,
          containers: [container(indexScript(s, 'JOB_COMPLETION_INDEX'))],
        },
      },
    },
  };
  const gatherJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: objectName(name, 'gather'), labels },
    spec: {
      backoffLimit: 2,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          volumes,
          containers: [
            container(gatherScript(s), [
              { name: 'BDK_DATA_DIR', value: `${WORK_MOUNT}/datasets` },
              { name: 'BDK_RUNS_DIR', value: `${WORK_MOUNT}/checkpoints` },
            ]),
          ],
        },
      },
    },
  };
  const shared = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: configMap, labels },
      data: { [s.pipelineFile]: s.pipelineText },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim, labels },
      spec: {
        accessModes: ['ReadWriteMany'],
        resources: { requests: { storage: '10Gi' } },
      },
    },
  ];
  const yaml = (docs: object[]) =>
    docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
  const job = (n: string) => `job.batch/${n}`;
  return {
    [`${unit}-job.yaml`]: yaml([...shared, splitsJob]),
    'gather-job.yaml': yaml([gatherJob]),
    'submit.sh': [
      '#!/usr/bin/env bash',
      `# Runs pipeline '${name}' on the cluster kubectl points at: the ${unit === 'shards' ? 'chain-shard' : 'split'} array, then the gather step.`,
      '# The image must be pushed where the cluster can pull it (docs/scale.md).',
      'set -euo pipefail',
      'cd "$(dirname "$0")"',
      `kubectl apply -f ${unit}-job.yaml`,
      `kubectl wait --for=condition=complete --timeout=-1s ${job(splitsJob.metadata.name)}`,
      'kubectl apply -f gather-job.yaml',
      `kubectl wait --for=condition=complete --timeout=-1s ${job(gatherJob.metadata.name)}`,
      `kubectl logs ${job(gatherJob.metadata.name)} | tail -n 40`,
      '',
    ].join('\n'),
    Dockerfile: dockerfile(s.version),
    'Dockerfile.dockerignore': DOCKERIGNORE,
  };
}
