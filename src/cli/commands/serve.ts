import { InvalidArgumentError, type Command } from 'commander';
import { selectBackend, type BackendChoice } from '../../backend/select.js';
import { UserError } from '../../core/errors.js';
import { createService } from '../../serve/server.js';
import { addBackendOption, parseInteger, parseNonNegative } from '../options.js';

function parsePort(value: string): number {
  const n = parseInteger(0)(value);
  if (n > 65535) throw new InvalidArgumentError(`expected a port from 0 to 65535, got ${n}`);
  return n;
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'serve an exported model over HTTP (POST /predict, GET /health, GET /model) and/or a static folder',
    )
    .option('--model <dir>', 'folder written by bdk export')
    .option('--static <dir>', "serve this folder's files (e.g. the page written by bdk demo)")
    .option('--port <n>', 'TCP port; 0 picks a free one', parsePort, 8080)
    .option(
      '--host <address>',
      'address to listen on; the default takes connections from this machine only',
      '127.0.0.1',
    )
    .option('--body-limit <bytes>', 'largest request body; a larger one gets 413', parseInteger(1), 1_048_576)
    .option(
      '--max-batch <n>',
      'most rows per tensor call when concurrent requests are joined',
      parseInteger(1),
      256,
    )
    .option(
      '--batch-wait-ms <ms>',
      'how long a request waits for others to join its tensor call; 0: those read in the same turn of the event loop',
      parseNonNegative,
      0,
    );
  addBackendOption(cmd);
  cmd.action(
    async (o: {
      model?: string;
      static?: string;
      port: number;
      host: string;
      bodyLimit: number;
      maxBatch: number;
      batchWaitMs: number;
      backend: BackendChoice;
    }) => {
      if (!o.model && !o.static) throw new UserError('serve: give --model DIR, --static DIR or both');
      if (o.model) await selectBackend(o.backend);
      const service = await createService(o);
      const stop = stopSignal();
      const url = await service.listen(o.port, o.host);
      const what = [o.model, o.static].filter(Boolean).join(' and ');
      console.log(`serving ${what} on ${url}`);
      await stop;
      await service.close();
      console.log('bdk serve: stopped');
    },
  );
}

/**
 * Resolves on the first SIGTERM or SIGINT (the server then stops accepting connections and lets the
 * requests in flight finish); a second one exits at once with code 130.
 */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write('bdk serve: stopping; requests in flight finish (again to quit at once)\n');
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
