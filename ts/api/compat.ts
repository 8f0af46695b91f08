/**
 * Routes other tools already speak:
 *
 * - ckpool's stats files over HTTP: GET /pool/pool.status and /users/:user answer the
 *   exact bytes of logdir/pool/pool.status and logdir/users/<user> (what this process last
 *   wrote, kept in memory by PoolStats), so scripts move from files to HTTP unchanged.
 * - public-pool's API (benjamin-wilson/public-pool, src/app.controller.ts and
 *   src/controllers/client/client.controller.ts, which NerdMiner and Bitaxe tools read):
 *   GET /api/info, /api/pool and /api/client/:address, with its field names and shapes
 *   filled from our stats. README "HTTP API" lists which fields are exact.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { safeFileName } from '../stats/readback.js';
import { ckError } from '../errors.js';
import { notFound } from './errors.js';
import type { ApiSource } from './source.js';

const iso = (ms: number): string => new Date(ms).toISOString();

export function registerCompatRoutes(app: FastifyInstance, src: ApiSource): void {
  const stats = (what: string) => {
    if (!src.stats) throw ckError('CKP_ERR_API_UNAVAILABLE', what, src.mode);
    return src.stats;
  };

  app.get('/pool/pool.status', async (_req, reply) => {
    const text = stats('/pool/pool.status').statsFileText(null, Date.now())!;
    return reply.type('text/plain; charset=utf-8').send(text);
  });

  app.get<{ Params: { user: string } }>('/users/:user', async (req, reply) => {
    const s = stats('/users/:user');
    const user = req.params.user;
    let text = s.statsFileText(user, Date.now());
    // a user read back at start and not seen since: its file is still the old process's
    if (text === undefined && s.getUser(user) && safeFileName(user)) {
      text = await readFile(path.join(s.logdir, 'users', user), 'utf8').catch(() => undefined);
    }
    if (text === undefined) throw notFound('user', user);
    return reply.type('application/json; charset=utf-8').send(text);
  });

  // --- public-pool ---------------------------------------------------------------

  app.get('/api/info', async () => {
    const s = stats('/api/info');
    const clients = (await src.clients()).filter((c) => c.authorised);
    // userAgents: GROUP BY userAgent, count, MAX(bestDifficulty), SUM(hashRate), by count desc
    const agents = new Map<string, { userAgent: string; count: number; bestDifficulty: number; totalHashRate: number }>();
    for (const c of clients) {
      const a = agents.get(c.agent) ?? { userAgent: c.agent, count: 0, bestDifficulty: 0, totalHashRate: 0 };
      a.count++;
      a.bestDifficulty = Math.max(a.bestDifficulty, c.bestDiff);
      a.totalHashRate += s.getClient(c.id)?.hashrate['5m'] ?? 0;
      agents.set(c.agent, a);
    }
    // highScores: the ten best difficulties by address (ours: best ever by user)
    const scores = s.userNames().map((name) => s.getUser(name)!).filter((u) => u.bestEver > 0)
      .sort((a, b) => b.bestEver - a.bestEver).slice(0, 10)
      .map((u) => ({ updatedAt: iso(u.lastShare || Date.now()), bestDifficulty: u.bestEver, bestDifficultyUserAgent: null as string | null }));
    return {
      blockData: blockData(src),
      userAgents: [...agents.values()].sort((a, b) => b.count - a.count),
      highScores: scores,
      uptime: iso(src.startedAt),
    };
  });

  app.get('/api/pool', async () => {
    const s = stats('/api/pool');
    const snap = s.snapshot(Date.now());
    return {
      totalHashRate: snap.hashrate['5m'],
      blockHeight: src.network(Date.now())?.height ?? 0,
      totalMiners: snap.workers,
      blocksFound: blockData(src),
      fee: 0,
    };
  });

  app.get<{ Params: { address: string } }>('/api/client/:address', async (req) => {
    const s = stats('/api/client/:address');
    const address = req.params.address;
    const user = s.getUser(address);
    const clients = (await src.clients({ user: address })).filter((c) => c.authorised);
    // public-pool answers an unknown address with an empty list (200), not a 404
    return {
      bestDifficulty: user?.bestEver,
      workersCount: clients.length,
      workers: clients.map((c) => {
        const v = s.getClient(c.id);
        const dot = c.workername.indexOf('.');
        return {
          sessionId: c.sessionId,
          name: dot >= 0 ? c.workername.slice(dot + 1) : c.workername,
          bestDifficulty: (v?.bestDiff ?? c.bestDiff).toFixed(2),
          hashRate: v?.hashrate['5m'] ?? 0,
          startTime: iso(c.conn.connectedAt),
          lastSeen: iso(v?.lastShare || c.conn.connectedAt),
        };
      }),
    };
  });
}

/**
 * public-pool's blockData: what its `blocks` table holds (src/ORM/blocks/blocks.service.ts
 * getFoundBlocks, an unordered find(): row order, oldest first). StratumV1Client saves a
 * row for every block once SUBMIT_BLOCK has returned, whatever the node answered — there
 * is no accepted-only filter — so: every block whose submission finished (verdict not
 * 'pending'), whatever its verdict, oldest first.
 */
function blockData(src: ApiSource): { height: number; minerAddress: string; worker: string; sessionId: string | null }[] {
  const all = src.ledger?.list(0, Number.MAX_SAFE_INTEGER).items ?? [];
  return all.filter((b) => b.verdict !== 'pending').reverse().map((b) => {
    const dot = b.worker.indexOf('.');
    return { height: b.height, minerAddress: b.finder, worker: dot >= 0 ? b.worker.slice(dot + 1) : b.worker, sessionId: null };
  });
}
