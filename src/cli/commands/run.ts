import type { Command } from 'commander';
import { UserError } from '../../core/errors.js';
import { loadPipeline } from '../../pipeline/load.js';
import { plannedStages, runPipeline, STAGES, type StageName } from '../../pipeline/run.js';
import { describeBackend, requestedBackend, selectBackend } from '../../backend/select.js';
import { addJsonOption, parseList, printJson, progressReporter } from '../options.js';
import { withInterrupt } from '../interrupt.js';

function parseStages(value: string): StageName[] {
  const names = parseList(value);
  for (const n of names) {
    if (!(STAGES as readonly string[]).includes(n))
      throw new UserError(`--stages: unknown stage '${n}': expected some of ${STAGES.join(', ')}`);
  }
  return names as StageName[];
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description(
      'run a pipeline file: prepare → sample → search → distill → evaluate → export (stages it configures)',
    )
    .argument('<pipeline>', 'pipeline JSON file, e.g. pipelines/boston.json')
    .option(
      '--backend <name>',
      'compute backend (overrides the pipeline and BDK_BACKEND): auto | tensorflow-gpu | tensorflow | wasm | cpu',
    )
    .option('--stages <list>', `run only these stages, comma-separated (${STAGES.join(', ')})`, parseStages)
    .option('--dry-run', 'validate the pipeline and list the stages it would run')
    .option('--force', 'replace existing outputs whose content differs');
  addJsonOption(cmd);
  cmd.action(
    async (
      file: string,
      o: { backend?: string; stages?: StageName[]; dryRun?: boolean; force?: boolean; json?: boolean },
    ) => {
      const config = await loadPipeline(file);
      const stages = plannedStages(config, o.stages);
      if (o.dryRun) {
        if (o.json) return printJson({ pipeline: config.name, valid: true, stages, config });
        return console.log(`${file}: valid; stages: ${stages.join(' → ')}`);
      }
      const needsCompute = stages.some((s) => s !== 'prepare');
      if (needsCompute) {
        const choice = requestedBackend(o.backend ?? config.backend);
        const backend = await selectBackend(choice);
        if (!o.json) console.log(describeBackend(backend, choice));
      }
      const progress = progressReporter(config.name, o.json);
      const results = await withInterrupt((signal) =>
        runPipeline(config, {
          file,
          stages: o.stages,
          force: o.force,
          log: progress.log,
          signal,
          onProgress: progress.onProgress,
        }),
      );
      progress.done();
      if (results.some((r) => r.status === 'interrupted')) process.exitCode = 130;
      if (o.json) printJson({ pipeline: config.name, stages: results });
    },
  );
}
