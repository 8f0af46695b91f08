/**
 * The JSON shapes of /api/v1 (see /work/notes/api-contract.md and README "HTTP API"),
 * built from the stats views. Hashrates in H/s, times in unix seconds.
 */
import { readFileSync } from 'node:fs';
import type { BlockRecord } from '../events.js';
import type { ClientRecord } from '../pool/thread-protocol.js';
import type { PeriodName } from '../stats/decay.js';
import type { WorkerView } from '../stats/views.js';
import type { ApiSource, NetworkView, UpstreamView } from './source.js';

/** ../../package.json from both ts/api/ and dist/api/. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const RATE_KEYS = ['1m', '5m', '15m', '1h', '6h', '1d', '7d'] as const satisfies readonly PeriodName[];
/**
 * H/s by period. The pool has all seven; users, workers and clients keep only
 * 1m, 5m, 1h, 1d and 7d (as ckpool), so their 15m and 6h are null.
 */
export type RateSet = Record<(typeof RATE_KEYS)[number], number | null>;

export function rateSet(h: Partial<Record<PeriodName, number>>): RateSet {
  const out = {} as RateSet;
  for (const k of RATE_KEYS) out[k] = h[k] ?? null;
  return out;
}

const sec = (ms: number): number => Math.floor(ms / 1000);

export interface PoolJson {
  mode: string;
  version: string;
  startedAt: number;
  uptimeSeconds: number;
  miners: number;
  users: number;
  workers: number;
  idle: number;
  disconnected: number;
  hashrate: RateSet;
  sharesAccepted: number;
  sharesRejected: number | null;
  acceptedDiff: number;
  rejectedDiff: number;
  bestShare: number;
  network: NetworkView | null;
  lastBlock: BlockRecord | null;
  blocksFound: number;
  /** proxy and userproxy modes only */
  upstream?: UpstreamView;
}

/** /api/v1/pool: figures since the last block (the round), as pool.status has them. */
export function poolJson(src: ApiSource, now: number): PoolJson {
  const s = src.stats?.snapshot(now);
  const blocks = src.ledger?.list(0, 1) ?? { total: 0, items: [] };
  let workers = 0;
  if (src.stats) {
    for (const name of src.stats.userNames()) {
      for (const w of src.stats.getUser(name)?.workers ?? []) if (w.instances > 0) workers++;
    }
  }
  return {
    mode: src.mode,
    version: VERSION,
    startedAt: sec(src.startedAt),
    uptimeSeconds: Math.max(0, sec(now - src.startedAt)),
    miners: s?.workers ?? 0,
    users: s?.users ?? 0,
    workers,
    idle: s?.idle ?? 0,
    disconnected: s?.disconnected ?? 0,
    hashrate: rateSet(s?.hashrate ?? {}),
    // accepted shares (count) since the last block; the pool does not count rejected shares, only their diff
    sharesAccepted: s?.shares ?? 0,
    sharesRejected: null,
    acceptedDiff: s?.accepted ?? 0,
    rejectedDiff: s?.rejected ?? 0,
    bestShare: s?.bestshare ?? 0,
    network: src.network(now),
    lastBlock: blocks.items[0] ?? null,
    blocksFound: blocks.total,
    ...(src.upstream ? { upstream: src.upstream() } : {}),
  };
}

/** Accepted / rejected share counts of the connected clients, by worker name. */
function countsByWorker(clients: readonly ClientRecord[]): Map<string, { accepted: number; rejected: number }> {
  const m = new Map<string, { accepted: number; rejected: number }>();
  for (const c of clients) {
    if (!c.authorised) continue;
    const e = m.get(c.workername) ?? { accepted: 0, rejected: 0 };
    e.accepted += c.accepted;
    e.rejected += c.rejected;
    m.set(c.workername, e);
  }
  return m;
}

export interface UserJson {
  user: string;
  hashrate: RateSet;
  workers: number;
  bestShare: number;
  bestEver: number;
  lastShare: number;
  sharesAccepted: number;
  sharesRejected: number;
  acceptedDiff: number;
}

export interface WorkerJson {
  worker: string;
  hashrate: RateSet;
  bestShare: number;
  bestEver: number;
  lastShare: number;
  sharesAccepted: number;
  sharesRejected: number;
  acceptedDiff: number;
  online: boolean;
}

function workerJson(w: WorkerView, counts: { accepted: number; rejected: number } | undefined): WorkerJson {
  return {
    worker: w.name,
    hashrate: rateSet(w.hashrate),
    bestShare: w.bestDiff,
    bestEver: w.bestEver,
    lastShare: sec(w.lastShare),
    sharesAccepted: counts?.accepted ?? 0,
    sharesRejected: counts?.rejected ?? 0,
    acceptedDiff: w.shares,
    online: w.instances > 0,
  };
}

/** A user and all its workers (undefined: unknown user). */
export async function userJson(src: ApiSource, user: string): Promise<{ user: UserJson; workers: WorkerJson[] } | undefined> {
  const u = src.stats?.getUser(user);
  if (!u) return undefined;
  const counts = countsByWorker(await src.clients({ user }));
  let accepted = 0;
  let rejected = 0;
  for (const c of counts.values()) {
    accepted += c.accepted;
    rejected += c.rejected;
  }
  return {
    user: {
      user: u.name,
      hashrate: rateSet(u.hashrate),
      workers: u.workers.filter((w) => w.instances > 0).length,
      bestShare: u.bestDiff,
      bestEver: u.bestEver,
      lastShare: sec(u.lastShare),
      sharesAccepted: accepted,
      sharesRejected: rejected,
      acceptedDiff: u.shares,
    },
    workers: u.workers.map((w) => workerJson(w, counts.get(w.name))),
  };
}

export type WorkerSort = 'hashrate' | 'name' | 'lastShare';
export const WORKER_SORTS: readonly WorkerSort[] = ['hashrate', 'name', 'lastShare'];

/** Highest 5-minute hashrate first; names ascending; most recent share first. */
export function sortWorkers(items: WorkerJson[], sort: WorkerSort): WorkerJson[] {
  const byName = (a: WorkerJson, b: WorkerJson): number => (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0);
  if (sort === 'name') return items.sort(byName);
  if (sort === 'lastShare') return items.sort((a, b) => b.lastShare - a.lastShare || byName(a, b));
  return items.sort((a, b) => (b.hashrate['5m'] ?? 0) - (a.hashrate['5m'] ?? 0) || byName(a, b));
}

export interface ClientJson {
  id: number;
  user: string;
  worker: string;
  address: string;
  protocol: 'v1' | 'v2';
  diff: number;
  connectedAt: number;
  lastShare: number;
}

export function clientJson(src: ApiSource, c: ClientRecord): ClientJson {
  const view = c.authorised ? src.stats?.getClient(c.id) : undefined;
  return {
    id: c.id,
    user: c.username,
    worker: c.workername,
    address: c.conn.address,
    // Stratum V2 miners are not served by pool mode yet: every client here speaks v1
    protocol: 'v1',
    diff: c.vd.diff,
    connectedAt: sec(c.conn.connectedAt),
    lastShare: view ? sec(view.lastShare) : 0,
  };
}
