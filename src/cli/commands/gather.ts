import type { Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { gatherTeacher } from '../../stages/gather-teacher.js';
import { addBackendOption, addJsonOption, formatMetrics, printJson } from '../options.js';

export function registerGather(program: Command): void {
  const cmd = program
    .command('gather')
    .description(
      'merge teacher shards sampled in separate run folders (--chain-offset/--chains on other machines) into one run',
    )
    .argument('<shard-dirs...>', 'teacher run folders, each with complete chain shards')
    .requiredOption('--into <run>', 'the merged teacher run to write')
    .option('--force', 'replace an existing run named by --into');
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(
    async (
      shards: string[],
      o: { into: string; force?: boolean; backend: BackendChoice; json?: boolean },
    ) => {
      const backend = await selectBackend(o.backend);
      if (!o.json) console.log(describeBackend(backend, o.backend));
      const { runDir, summary } = await gatherTeacher({
        into: o.into,
        shards,
        force: o.force,
        log: o.json ? undefined : (line) => console.log(line),
      });
      if (o.json) return printJson({ run: o.into, runDir, summary });
      console.log(
        `wrote run '${o.into}' (${summary.chains} chains × ${summary.samples} samples): ensemble ${formatMetrics(summary.metrics)}`,
      );
    },
  );
}
