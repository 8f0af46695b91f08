/**
 * The pool's HTTP server (config key "apiurl"): the JSON API, ckpool's stats files and
 * public-pool's API over HTTP, server-sent events, the dashboard's files and whatever
 * other modules register (Prometheus /metrics from ts/metrics via `metrics` or `plugins`).
 *
 * Runs on the main thread and only reads (source.ts): it never touches the share path.
 * Bound only to the address it is given. Read-only: there are no state-changing routes;
 * `requireToken` is the guard one would use (config "apitoken", "Authorization: Bearer …").
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { parseHostPort } from '../config/hostport.js';
import { ckError, ckErrorCause } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { registerCompatRoutes } from './compat.js';
import { errorReply, notFound } from './errors.js';
import { EventHub } from './events.js';
import { registerV1Routes } from './routes-v1.js';
import type { ApiSource } from './source.js';
import { DEFAULT_WEB_ROOT, readStatic, uplotDir } from './static.js';

/** A route plugin: registers its own routes on the server (e.g. the metrics module). */
export type ApiPlugin = (app: FastifyInstance) => void | Promise<void>;

export interface ApiServerOptions {
  /** `host:port` to bind (port 0: any free port). */
  url: string;
  source: ApiSource;
  /** Bearer token for state-changing routes (there are none yet; see requireToken). */
  token?: string;
  logger?: Logger;
  /** Serves GET /metrics: Prometheus text from the metrics module. */
  metrics?: { contentType: string; text(): Promise<string> };
  /** More routes (registered after the built-in ones). */
  plugins?: readonly ApiPlugin[];
  /** The dashboard's directory (default <package>/web); null: no dashboard. */
  webRoot?: string | null;
  /** Concurrent /api/v1/events streams before new ones get a 503 (default 100). */
  maxEventStreams?: number;
  /** The event streams' period, ms (default 5000). */
  eventIntervalMs?: number;
}

export interface ApiServer {
  readonly app: FastifyInstance;
  readonly host: string;
  readonly port: number;
  /** http://host:port/ */
  readonly url: string;
  readonly events: EventHub;
  close(): Promise<void>;
}

/** preHandler for routes that change state: 401 unless "Authorization: Bearer <apitoken>". */
export function requireToken(token: string | undefined) {
  const want = token === undefined ? undefined : Buffer.from(token);
  return async (req: FastifyRequest): Promise<void> => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const got = m ? Buffer.from(m[1]!) : undefined;
    if (!want || !got || got.length !== want.length || !timingSafeEqual(got, want)) throw ckError('CKP_ERR_API_AUTH');
  };
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const hp = parseHostPort(opts.url.replace(/:0$/, ':1'));
  if (typeof hp === 'string') throw ckError('CKP_ERR_API_LISTEN', opts.url, hp);
  const port = /:0$/.test(opts.url) ? 0 : hp.port;
  const log = opts.logger;
  const app = Fastify({
    logger: false,
    // event streams are closed by the hub first; anything else left open is cut at close
    forceCloseConnections: true,
    return503OnClosing: true,
    // a long user name in a path is fine; absurd urls are not
    routerOptions: { maxParamLength: 512 },
  });
  const events = new EventHub(opts.source, { intervalMs: opts.eventIntervalMs, maxStreams: opts.maxEventStreams, logger: log });

  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = errorReply(err);
    if (status >= 500) log?.err(`API: ${body.error.message}`);
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorReply(notFound('route', `${req.method} ${req.url.split('?')[0]}`)).body);
  });
  // every answer reflects live state
  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  registerV1Routes(app, opts.source, events);
  registerCompatRoutes(app, opts.source);
  if (opts.metrics) {
    const m = opts.metrics;
    app.get('/metrics', async (_req, reply) => reply.type(m.contentType).send(await m.text()));
  }
  registerStatic(app, opts.webRoot === undefined ? DEFAULT_WEB_ROOT : opts.webRoot);
  for (const p of opts.plugins ?? []) await p(app);

  try {
    await app.listen({ host: hp.host, port });
  } catch (e) {
    events.close();
    await app.close().catch(() => undefined);
    throw ckErrorCause('CKP_ERR_API_LISTEN', e, opts.url, (e as Error).message);
  }
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return {
    app,
    host: hp.host,
    port: bound,
    url: `http://${shownHost}:${bound}/`,
    events,
    async close() {
      events.close();
      await app.close();
    },
  };
}

function registerStatic(app: FastifyInstance, webRoot: string | null): void {
  const uplot = uplotDir();
  const send = async (reply: FastifyReply, root: string | null, rel: string) => {
    const f = root ? await readStatic(root, rel) : null;
    if (!f) throw rel.startsWith('api/') ? notFound('route', `GET /${rel}`) : notFound('file', '/' + rel);
    // the dashboard's files may change with an upgrade: revalidate, no long caching
    return reply.type(f.type).header('cache-control', 'no-cache').send(f.body);
  };
  for (const name of ['uPlot.iife.min.js', 'uPlot.min.css']) {
    app.get(`/assets/uplot/${name}`, async (_req, reply) => send(reply, uplot, name));
  }
  app.get('/', async (_req, reply) => send(reply, webRoot, ''));
  app.get<{ Params: { '*': string } }>('/*', async (req, reply) => send(reply, webRoot, req.params['*']));
}

