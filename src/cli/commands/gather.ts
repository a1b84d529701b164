import { shows } from '../output-level.js';
import type { Command } from 'commander';
import { describeBackend, selectBackend, type BackendChoice } from '../../backend/select.js';
import { UserError } from '../../core/errors.js';
import { gatherSplits } from '../../pipeline/gather-splits.js';
import { loadPipeline } from '../../pipeline/load.js';
import { gatherTeacher } from '../../stages/gather-teacher.js';
import { addBackendOption, addJsonOption, formatMetrics, printJson } from '../options.js';

interface GatherFlags {
  into?: string;
  pipeline?: string;
  force?: boolean;
  backend: BackendChoice;
  json?: boolean;
}

export function registerGather(program: Command): void {
  const cmd = program
    .command('gather')
    .description(
      "merge shards made on separate machines: a teacher's chain shards (--into RUN) or a pipeline's per-split runs (--pipeline FILE)",
    )
    .argument(
      '<shard-dirs...>',
      'teacher run folders with complete chain shards (--into), or runs folders of array jobs (--pipeline)',
    )
    .option('--into <run>', 'the merged teacher run to write')
    .option('--pipeline <file>', "copy that pipeline's per-split runs from the shards into this runs folder")
    .option('--force', 'replace an existing run of the same name');
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (shards: string[], o: GatherFlags) => {
    if (!o.into === !o.pipeline)
      throw new UserError('gather: give either --into RUN (teacher shards) or --pipeline FILE (split runs)');
    if (o.pipeline) {
      const config = await loadPipeline(o.pipeline);
      const r = await gatherSplits(config, {
        shards,
        force: o.force,
        log: o.json ? undefined : (line) => console.log(line),
      });
      if (o.json) return printJson({ pipeline: config.name, ...r });
      console.log(
        `gathered ${r.splits.length} split${r.splits.length > 1 ? 's' : ''} of '${config.name}'; \`bdk run ${o.pipeline}\` evaluates and exports them`,
      );
      return;
    }
    const backend = await selectBackend(o.backend);
    if (!o.json && shows()) console.log(describeBackend(backend, o.backend));
    const { runDir, summary } = await gatherTeacher({
      into: o.into!,
      shards,
      force: o.force,
      log: o.json ? undefined : (line) => console.log(line),
    });
    if (o.json) return printJson({ run: o.into, runDir, summary });
    console.log(
      `wrote run '${o.into}' (${summary.chains} chains × ${summary.samples} samples): ensemble ${formatMetrics(summary.metrics)}`,
    );
  });
}
