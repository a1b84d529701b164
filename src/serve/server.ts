import { createReadStream, promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { UserError } from '../core/errors.js';
import { loadStudent, type Student } from '../runtime/index.js';
import { Batcher } from './batcher.js';
import {
  BODY,
  InvalidBody,
  JSON_BODY_SCHEMA,
  RequestError,
  csvInputs,
  jsonInputs,
  oneLine,
  parseJsonBody,
  schemaMessage,
} from './request-body.js';
import { rowOutputs } from './row-outputs.js';
import { staticFile } from './static-files.js';

export interface ServeOptions {
  /** An export folder (`bdk export`): POST /predict, GET /model. */
  model?: string;
  /** A folder whose files are served as they are (the page of `bdk demo`). */
  static?: string;
  /** Largest request body in bytes; a larger one is refused with 413. */
  bodyLimit: number;
  /** Most rows per tensor call (see Batcher). */
  maxBatch: number;
  /** How long an idle model waits for more requests to join a call, in ms. */
  batchWaitMs: number;
}

export interface Service {
  app: FastifyInstance;
  /** The student's batcher (its `calls` counts tensor calls), null without a model. */
  batcher: Batcher | null;
  student: Student | null;
  /** Starts listening; resolves to the URL, with the real port when `port` was 0. */
  listen(port: number, host: string): Promise<string>;
  /** Stops accepting connections, lets requests in flight finish, then frees the model. */
  close(): Promise<void>;
}

/**
 * The HTTP service of an exported student (docs/serve.md): the student is loaded with the runtime's
 * `loadStudent`, the same code a browser runs, and requests are batched into tensor calls.
 */
export async function createService(o: ServeOptions): Promise<Service> {
  const student = o.model ? await loadStudent(o.model) : null;
  const root = o.static ? await staticRoot(o.static) : null;
  const app = Fastify({
    bodyLimit: o.bodyLimit,
    logger: false,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    schemaErrorFormatter: (errors) => new RequestError(400, schemaMessage(errors[0])),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      if (!(err instanceof RequestError)) return done(err as Error, undefined);
      done(null, new InvalidBody(err));
    }
  });
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { status, message } = errorReply(err, req.headers['content-type'], o.bodyLimit);
    if (status >= 500) process.stderr.write(`bdk serve: internal error: ${oneLine(String(err?.message))}\n`);
    return reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `not found: ${req.method} ${req.url.split('?')[0]}` }),
  );

  // While closing, every response ends its connection, so a client's kept-alive connection does not
  // hold the process open once its request in flight is answered.
  let closing = false;
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  let batcher: Batcher | null = null;
  app.get('/health', async () =>
    batcher ? { status: 'ok', tensorCalls: batcher.calls, rowsPredicted: batcher.rows } : { status: 'ok' },
  );
  if (student) {
    const m = student.manifest;
    batcher = new Batcher(async (values, count) => rowOutputs(await student.predict(values), count), {
      maxBatch: o.maxBatch,
      waitMs: o.batchWaitMs,
    });
    const b = batcher;
    app.get('/model', async () => m);
    app.post(
      '/predict',
      {
        preValidation: (req, _reply, done) =>
          req.body instanceof InvalidBody ? done(req.body.error) : done(),
        schema: {
          body: {
            content: {
              'application/json': { schema: JSON_BODY_SCHEMA },
              'text/csv': { schema: { type: 'string' } },
            },
          },
        },
      },
      async (req) => {
        const inputs =
          typeof req.body === 'string'
            ? csvInputs(req.body, m)
            : jsonInputs(req.body as { rows: unknown[] }, m);
        return { predictions: await b.run(inputs.values, inputs.count) };
      },
    );
  }
  if (root)
    app.get('/*', async (req, reply) => {
      const f = await staticFile(root, req.url);
      if (!f) return reply.code(404).send({ error: `not found: ${req.url.split('?')[0]}` });
      reply.header('content-type', f.type).header('content-length', f.size);
      return reply.send(req.method === 'HEAD' ? '' : createReadStream(f.file));
    });

  return {
    app,
    batcher,
    student,
    async listen(port, host) {
      try {
        await app.listen({ port, host });
      } catch (err) {
        throw listenError(err, port, host);
      }
      const a = app.server.address() as AddressInfo;
      return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    },
    async close() {
      closing = true;
      await app.close();
      student?.dispose();
    },
  };
}

/** The static folder as an absolute real path; a missing one, or a file, is a one-line error. */
async function staticRoot(dir: string): Promise<string> {
  try {
    const real = await fs.realpath(path.resolve(dir));
    if ((await fs.stat(real)).isDirectory()) return real;
  } catch {
    // reported below
  }
  throw new UserError(`--static ${dir}: not a folder`);
}

/** The status and one-line message of a refused or failed request; never a stack. */
function errorReply(
  err: FastifyError,
  contentType: string | undefined,
  bodyLimit: number,
): { status: number; message: string } {
  if (err instanceof RequestError) return { status: err.statusCode, message: err.message };
  if (err instanceof UserError) return { status: 400, message: oneLine(err.message) };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `${BODY}: larger than the limit of ${bodyLimit} bytes` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        message: `${contentType ? `Content-Type '${contentType}'` : 'no Content-Type'} is not supported: send application/json or text/csv`,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: `${BODY}: empty; expected a JSON object {"rows": [...]}` };
  }
  const status = err.statusCode ?? 500;
  if (status < 500) return { status, message: oneLine(err.message) };
  return { status: 500, message: 'internal error' };
}

/** A port in use, or an address that is not this machine's, as a one-line error naming the flag. */
function listenError(err: unknown, port: number, host: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE') return new UserError(`--port ${port}: ${host}:${port} is already in use`);
  if (code === 'EACCES')
    return new UserError(`--port ${port}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new UserError(`--host ${host}: not an address of this machine`);
  return err;
}
