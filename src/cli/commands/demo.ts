import type { Command } from 'commander';
import { selectBackend, type BackendChoice } from '../../backend/select.js';
import { writeDemoSite } from '../../demo/write-site.js';
import { addBackendOption, addJsonOption, printJson } from '../options.js';

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description(
      'write a static demo site for an exported model: draw a digit or fill in the features, see the prediction and its uncertainty live',
    )
    .requiredOption('--model <dir>', 'folder written by bdk export')
    .requiredOption('--out <dir>', 'folder to write the site into (serve it with any static server)')
    .option('--force', 'write into a folder that is not empty (replacing the files of a site)');
  addBackendOption(cmd);
  addJsonOption(cmd);
  cmd.action(
    async (o: { model: string; out: string; force?: boolean; backend: BackendChoice; json?: boolean }) => {
      // The export is loaded once with bdk/runtime, as the page will load it, to refuse a bad one here.
      await selectBackend(o.backend);
      const site = await writeDemoSite({ model: o.model, out: o.out, force: o.force });
      if (o.json) return printJson(site);
      const bytes = site.files.reduce((n, f) => n + f.bytes, 0);
      console.log(
        `wrote a ${site.task} demo to ${site.out} (${site.files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB); ` +
          `serve it, e.g. \`bdk serve --static ${site.out}\`, and open http://localhost:<port>/ (add ?backend=wasm, webgl or cpu)`,
      );
    },
  );
}
