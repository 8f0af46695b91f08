/**
 * What the HTTP API reads, and nothing else: the main thread's PoolStats views, the
 * miners list (which, with worker threads, is asked of the threads as the control
 * socket's `clients` query does), the current workbase, the block ledger, the history
 * store and the event bus. Nothing here is on the share path; every read is a copy.
 */
import type { Mode } from '../config/types.js';
import type { PoolEvents, BlockRecord } from '../events.js';
import type { ClientFilter, ClientRecord } from '../pool/thread-protocol.js';
import type { PoolStats } from '../stats/stats.js';
import type { Pool } from '../pool/pool.js';
import { allClients } from '../control/queries.js';
import type { HistoryRange, HistorySeries } from '../history/types.js';

/** The node's tip as the current workbase has it. */
export interface NetworkView {
  readonly height: number;
  readonly difficulty: number;
  /** Display-order hash of the tip the work builds on. */
  readonly prevHash: string;
  /** Seconds since the current template was fetched. */
  readonly templateAge: number;
}

/** The block ledger's read side (ts/work/ledger.ts). */
export interface LedgerView {
  list(offset: number, limit: number): { total: number; items: BlockRecord[] };
}

/** The history store's read side (ts/history/store.ts). */
export interface HistoryView {
  series(kind: 'pool' | 'user' | 'worker', name: string, range: HistoryRange, now: number): HistorySeries;
  /** Whether any point was ever written for this user / worker. */
  has(kind: 'user' | 'worker', name: string): boolean;
}

/** The upstream side of the proxy modes (/api/v1/pool `upstream`; ts/modes/proxy-api.ts). */
export interface UpstreamView {
  /** a link to an upstream pool is up */
  readonly connected: boolean;
  /** connected and its work is being served (miners are accepted) */
  readonly ready: boolean;
  /** the connected pool's url, null when none */
  readonly url: string | null;
  /** handshakes completed since start (reconnects and fail-overs included) */
  readonly connects: number;
  /** the "proxy" entries in priority order, with the last connection error of each */
  readonly pools: readonly { url: string; active: boolean; lastError: string | null }[];
  /** upstream sessions (1; userproxy: one more per miner credential) */
  readonly sessions: number;
}

export interface ApiSource {
  readonly mode: Mode;
  /** ms since the epoch. */
  readonly startedAt: number;
  /** null in modes without miner stats of their own. */
  readonly stats: PoolStats | null;
  /** Connected miners (all threads), in client id order. */
  clients(filter?: ClientFilter): Promise<ClientRecord[]>;
  network(now: number): NetworkView | null;
  readonly ledger: LedgerView | null;
  readonly history: HistoryView | null;
  readonly events: PoolEvents | null;
  /** The proxy modes' upstream state; absent in pool and solo mode. */
  upstream?(): UpstreamView;
}

/** The API's view of a running pool (pool or solo mode). */
export function poolApiSource(pool: Pick<Pool, 'config' | 'stats' | 'generator' | 'server' | 'stratifier' | 'workers' | 'events' | 'ledger'>,
  history: HistoryView | null = null): ApiSource {
  return {
    mode: pool.config.mode,
    startedAt: pool.stats.startedAt,
    stats: pool.stats,
    clients: (filter) => allClients(pool, filter),
    network: (now) => {
      const wb = pool.generator.current;
      if (!wb) return null;
      return { height: wb.height, difficulty: wb.networkDiff, prevHash: wb.prevhash, templateAge: Math.max(0, Math.floor((now - wb.createdAt) / 1000)) };
    },
    ledger: pool.ledger,
    history,
    events: pool.events,
  };
}
