/** /api/v1: the JSON API (shapes in views.ts; README "HTTP API"). */
import type { FastifyInstance } from 'fastify';
import { ckError } from '../errors.js';
import { HISTORY_RANGES, type HistoryRange } from '../history/types.js';
import { notFound } from './errors.js';
import type { EventHub } from './events.js';
import { choiceParam, optionalString, pageParams, paged } from './params.js';
import type { ApiSource } from './source.js';
import { clientJson, poolJson, sortWorkers, userJson, WORKER_SORTS } from './views.js';

type Q = Record<string, unknown>;

export function registerV1Routes(app: FastifyInstance, src: ApiSource, hub: EventHub): void {
  app.get('/api/v1/pool', async () => poolJson(src, Date.now()));

  app.get<{ Params: { user: string } }>('/api/v1/users/:user', async (req) => {
    const u = await userJson(src, req.params.user);
    if (!u) throw notFound('user', req.params.user);
    return u.user;
  });

  app.get<{ Params: { user: string }; Querystring: Q }>('/api/v1/users/:user/workers', async (req) => {
    const page = pageParams(req.query);
    const sort = choiceParam(req.query, 'sort', WORKER_SORTS, 'hashrate');
    const u = await userJson(src, req.params.user);
    if (!u) throw notFound('user', req.params.user);
    return paged(sortWorkers(u.workers, sort), page);
  });

  app.get<{ Querystring: Q }>('/api/v1/clients', async (req) => {
    const page = pageParams(req.query);
    const all = await src.clients();
    return paged(all.map((c) => clientJson(src, c)), page);
  });

  app.get<{ Querystring: Q }>('/api/v1/blocks', async (req) => {
    const page = pageParams(req.query);
    const r = src.ledger?.list(page.offset, page.limit) ?? { total: 0, items: [] };
    return { total: r.total, offset: page.offset, limit: page.limit, items: r.items };
  });

  const history = () => {
    if (!src.history) throw ckError('CKP_ERR_API_UNAVAILABLE', 'history', src.mode);
    return src.history;
  };
  const range = (q: Q): HistoryRange => choiceParam(q, 'range', HISTORY_RANGES, '24h');
  app.get<{ Querystring: Q }>('/api/v1/history/pool', async (req) => {
    const r = range(req.query);
    return history().series('pool', '', r, Date.now());
  });
  app.get<{ Params: { user: string }; Querystring: Q }>('/api/v1/history/users/:user', async (req) => {
    const r = range(req.query);
    const h = history();
    if (!h.has('user', req.params.user) && !src.stats?.getUser(req.params.user)) throw notFound('user', req.params.user);
    return h.series('user', req.params.user, r, Date.now());
  });
  app.get<{ Params: { worker: string }; Querystring: Q }>('/api/v1/history/workers/:worker', async (req) => {
    const r = range(req.query);
    const h = history();
    if (!h.has('worker', req.params.worker) && !src.stats?.getWorker(req.params.worker)) throw notFound('worker', req.params.worker);
    return h.series('worker', req.params.worker, r, Date.now());
  });

  app.get<{ Querystring: Q }>('/api/v1/events', async (req, reply) => {
    const user = optionalString(req.query, 'user');
    if (hub.full) throw ckError('CKP_ERR_API_BUSY', hub.maxStreams);
    reply.hijack();
    hub.add(reply.raw, user);
  });
}
