/**
 * The HTTP API of the proxy and userproxy modes (config "apiurl", as in pool mode): the
 * same server (ts/api) on what a proxy has — its local miners' PoolStats, their
 * connections, the event bus, a history of its own (logdir/history.sqlite, sampled once
 * a minute like the pool's) and the upstream side in /api/v1/pool's `upstream`.
 * Prometheus /metrics comes from ts/metrics' ProxyMetrics.
 *
 * Not here, because a proxy has none: the network (it sees upstream jobs, not the
 * node: `network` is null) and found blocks (a block candidate is forwarded upstream
 * like any share; the upstream pool submits it): /api/v1/blocks is empty.
 *
 * Main thread only, read-only, never on the share path (as ts/api/source.ts).
 */
import { startApiServer, type ApiServer } from '../api/server.js';
import type { ApiSource, UpstreamView } from '../api/source.js';
import { HistorySampler } from '../history/sampler.js';
import { HistoryStore } from '../history/store.js';
import type { Logger } from '../log/logger.js';
import { ProxyMetrics } from '../metrics/proxy-metrics.js';
import type { ClientFilter, ClientRecord } from '../pool/thread-protocol.js';
import type { ProxyMode } from './proxy.js';

/** An upstream url without credentials, should it carry any. */
const bare = (url: string): string => url.replace(/\/\/[^/@]*@/, '//');

/** The proxy's own upstream set and its userproxy sessions. */
export function upstreamView(mode: ProxyMode): UpstreamView {
  const up = mode.main.upstream;
  const active = up.active;
  return {
    connected: active !== null,
    ready: mode.main.ready,
    url: active ? bare(active.entry.url) : null,
    connects: up.connects,
    pools: up.entries.map((e, i) => ({ url: bare(e.url), active: active?.index === i, lastError: up.lastErrors[i] || null })),
    sessions: mode.sessions.size,
  };
}

export function proxyApiSource(mode: ProxyMode, history: HistoryStore | null): ApiSource {
  return {
    mode: mode.config.mode,
    startedAt: mode.stats.startedAt,
    stats: mode.stats,
    async clients(filter?: ClientFilter): Promise<ClientRecord[]> {
      const all: ClientRecord[] = [];
      for (const s of mode.stratifiers) {
        for (const c of s.clients.values()) {
          if (filter?.clientId !== undefined && c.id !== filter.clientId) continue;
          if (filter?.user !== undefined && c.username !== filter.user) continue;
          all.push(c);
        }
      }
      return all.sort((a, b) => a.id - b.id);
    },
    network: () => null,
    ledger: null,
    history,
    events: mode.events,
    upstream: () => upstreamView(mode),
  };
}

export interface ProxyApi {
  readonly server: ApiServer;
  close(): Promise<void>;
}

/** Start the API of a running proxy mode on `url` (config apiurl). */
export async function startProxyApi(mode: ProxyMode, url: string, logger: Logger, historyIntervalMs?: number): Promise<ProxyApi> {
  const history = HistoryStore.inLogdir(mode.config.logdir, { logger });
  const sampler = new HistorySampler(mode.stats, history);
  const metrics = new ProxyMetrics(mode, { maxWorkers: mode.config.metricsmaxworkers });
  let server: ApiServer;
  try {
    server = await startApiServer({ url, source: proxyApiSource(mode, history), token: mode.config.apitoken, logger, metrics });
  } catch (e) {
    metrics.close();
    history.close();
    throw e;
  }
  sampler.start(historyIntervalMs);
  logger.notice(`HTTP API and dashboard on ${server.url}`);
  return {
    server,
    async close() {
      await server.close();
      metrics.close();
      sampler.stop();
      // the last minute's point, then the file is left for the next process
      sampler.sample(Date.now());
      history.close();
    },
  };
}
