/**
 * The JSON the control API answers with. ckpool 0.9.9 builds most of these and then
 * drops them (its send_api_response is an empty stub, behaviour §11); here they are
 * real replies. Field names follow ckpool's where it has them (pool.status, the
 * users/<user> files, stratifierstats/connectorstats) so existing tooling can read them.
 */
import type { Pool } from '../pool/pool.js';
import type { Client } from '../pool/client.js';
import type { PeriodName } from '../stats/decay.js';

/** What the control server needs from a pool: exactly Pool's parts (tests may pass a Pool). */
export type ControlTarget = Pick<Pool, 'generator' | 'server' | 'stratifier' | 'stats'>;

/** Counters the control server keeps itself, for the *stats replies. */
export interface ControlCounters {
  /** Shares judged since the server attached (ckpool's shares "generated"). */
  shares: number;
}

/** ckpool's {count, memory, generated} triple; we do not track memory per object (0). */
interface ObjCount {
  count: number;
  memory: number;
  generated: number;
}
const objCount = (count: number, generated = count): ObjCount => ({ count, memory: 0, generated });

/** `stratifierstats` (and `stats` on the stratifier socket): object counts, ckpool's shape. */
export function stratifierStats(t: ControlTarget, counters: ControlCounters): Record<string, ObjCount> {
  const wb = t.generator.current;
  const server = t.server.stats();
  return {
    workbases: objCount(t.generator.workbaseCount, wb ? wb.seq + 1 : 0),
    remote_workbases: objCount(0),
    users: objCount(t.stats.userNames().length),
    clients: objCount(t.stratifier.clients.size, server.accepted),
    disconnected: objCount(t.stratifier.disconnectedSessions),
    shares: objCount(0, counters.shares),
    transactions: objCount(wb ? wb.template.transactions.length : 0),
    // ckpool's message queues: this implementation has none (everything is handled
    // in the event loop turn it arrives in), so they are always empty.
    ssends: objCount(0),
    srecvs: objCount(0),
    stxnq: objCount(0),
  };
}

/** `connectorstats` (and `stats` on the connector socket), ckpool's shape plus `accepting`. */
export function connectorStats(t: ControlTarget): Record<string, ObjCount | boolean> {
  const s = t.server.stats();
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  return {
    clients: objCount(s.clients, s.accepted),
    dead: objCount(s.closing, dropped),
    sends: objCount(s.blocked),
    delays: objCount(s.blocked),
    accepting: t.server.accepting,
  };
}

/** `poolstats`: the three pool.status lines merged into one object (ckpool's names). */
export function poolStats(t: ControlTarget, now: number): Record<string, unknown> {
  const [a, b, c] = t.stats.poolStatusLines(now);
  return { ...JSON.parse(a), ...JSON.parse(b), ...JSON.parse(c) };
}

/** `getuser`: the users/<user> document with the user's name added, or undefined. */
export function userInfo(t: ControlTarget, user: string, now: number): Record<string, unknown> | undefined {
  const doc = t.stats.userJson(user, now) as Record<string, unknown> | undefined;
  return doc ? { user, ...doc } : undefined;
}

/** `users`: every known user, without the per-worker arrays (use getuser for those). */
export function userList(t: ControlTarget, now: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const name of t.stats.userNames()) {
    const doc = userInfo(t, name, now);
    if (!doc) continue;
    const { worker: _worker, ...rest } = doc;
    out.push(rest);
  }
  return out;
}

/** Worker entries as the users/<user> file has them, plus `user`, `instances` and `idle`. */
export function workerList(t: ControlTarget, now: number, only?: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const name of t.stats.userNames()) {
    const doc = t.stats.userJson(name, now) as { worker?: Record<string, unknown>[] } | undefined;
    for (const w of doc?.worker ?? []) {
      const workername = String(w.workername);
      if (only !== undefined && workername !== only) continue;
      const view = t.stats.getWorker(workername);
      out.push({ ...w, user: name, instances: view?.instances ?? 0, idle: view?.idle ?? true });
    }
  }
  return out;
}

/** `getworker`: one worker, or undefined. */
export function workerInfo(t: ControlTarget, workername: string, now: number): Record<string, unknown> | undefined {
  const found = workerList(t, now, workername)[0];
  if (found) return found;
  // Known to the stats but left out of the user file (idle for over a week): the plain view.
  const view = t.stats.getWorker(workername);
  return view ? { workername, ...view } : undefined;
}

const RATE_PERIODS: readonly PeriodName[] = ['1m', '5m', '1h', '1d', '7d'];

/** `clients` / `getclient`: one connected miner. */
export function clientInfo(t: ControlTarget, c: Client): Record<string, unknown> {
  const view = c.authorised ? t.stats.getClient(c.id) : undefined;
  const hashrate: Record<string, number> = {};
  for (const p of RATE_PERIODS) {
    const h = view?.hashrate[p];
    if (h !== undefined) hashrate[`hashrate${p === '1h' ? '1hr' : p}`] = Math.round(h);
  }
  return {
    id: c.id,
    address: c.conn.address,
    port: c.conn.port,
    server: c.conn.serverIndex,
    connected: Math.floor(c.conn.connectedAt / 1000),
    agent: c.agent,
    subscribed: c.subscribed,
    authorised: c.authorised,
    workername: c.workername,
    user: c.username,
    sessionid: c.sessionId,
    enonce1: c.enonce1Hex,
    diff: c.vd.diff,
    accepted: c.accepted,
    rejected: c.rejected,
    bestdiff: c.bestDiff,
    lastshare: view ? Math.floor(view.lastShare / 1000) : 0,
    idle: view?.idle ?? false,
    ...hashrate,
  };
}

/**
 * `resetshares` (ckpool stratifier.c reset_bestshares): forget the best shares since
 * the last block, pool-wide and per user, worker and client, and the pool's round
 * counters, as a block solve does.
 */
export function resetShares(t: ControlTarget): void {
  for (const c of t.stratifier.clients.values()) c.bestDiff = 0;
  t.stats.resetShares();
}
