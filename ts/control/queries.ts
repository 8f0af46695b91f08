/**
 * The JSON the control API answers with. ckpool 0.9.9 builds most of these and then
 * drops them (its send_api_response is an empty stub, behaviour §11); here they are
 * real replies. Field names follow ckpool's where it has them (pool.status, the
 * users/<user> files, stratifierstats/connectorstats) so existing tooling can read them.
 */
import type { Pool } from '../pool/pool.js';
import type { Client } from '../pool/client.js';
import type { ClientFilter, ClientRecord } from '../pool/thread-protocol.js';
import type { PeriodName } from '../stats/decay.js';
import type { StratumServerStats } from '../stratum/server.js';
import type { Workbase } from '../work/workbase.js';
import { janssonReal } from '../stats/format.js';

/**
 * What the control server needs from a pool: exactly Pool's parts (tests may pass a Pool).
 * With worker threads (`workers` not null) the pool's miners live on the threads and
 * `stratifier` serves only node links: every query and action combines the two.
 */
export type ControlTarget = Pick<Pool, 'generator' | 'server' | 'stratifier' | 'stats'> & Partial<Pick<Pool, 'workers' | 'notifications' | 'sv2'>>;

/** Counters the control server keeps itself, for the *stats replies. */
export interface ControlCounters {
  /** Shares judged since the server attached (ckpool's shares "generated"). */
  shares: number;
}

/**
 * ckpool's {count, memory, generated} triple. ckpool's `memory` is count × its C struct
 * size (plus hash-table overhead); JS objects have no fixed size, so ours is the bytes
 * of data the objects hold, counted from their contents (strings, buffers,
 * transactions), without the engine's per-object overhead. See README §control.
 */
interface ObjCount {
  count: number;
  memory: number;
  /** absent where ckpool leaves it out (remote_workbases, users) */
  generated?: number;
}
const objCount = (count: number, memory: number, generated = count): ObjCount => ({ count, memory, generated });
/** ckpool's {count, memory} pair, for the two rows it reports without "generated". */
const objPair = (count: number, memory: number): ObjCount => ({ count, memory });

/** Bytes a workbase holds: its transactions (hex, as the template gave them), coinbase halves and merkle branch. */
function workbaseBytes(wb: Workbase): number {
  let n = wb.coinb1.length + wb.coinb2.length;
  for (const b of wb.branch) n += b.length;
  for (const tx of wb.template.transactions) n += tx.data.length;
  return n;
}

/** Bytes of the per-client strings and extranonce1 (the rest of a client is fixed-size state). */
function clientBytes(c: ClientRecord): number {
  return c.agent.length + c.workername.length + c.username.length + c.sessionId.length + c.enonce1Hex.length * 1.5 +
    c.conn.address.length;
}

/** The miners of the main thread's own stratifier (node-link miners with threads) a filter selects. */
export function localClients(t: ControlTarget, filter?: ClientFilter): Client[] {
  if (filter?.clientId !== undefined) {
    const c = t.stratifier.clients.get(filter.clientId);
    return c && (filter.user === undefined || c.username === filter.user) ? [c] : [];
  }
  const all = [...t.stratifier.clients.values()];
  return filter?.user === undefined ? all : all.filter((c) => c.username === filter.user);
}

/**
 * Every miner of the pool a filter selects: the main thread's, then the worker threads'
 * (with threads, the whole list is in client id order).
 */
export async function allClients(t: ControlTarget, filter?: ClientFilter): Promise<ClientRecord[]> {
  const local: ClientRecord[] = localClients(t, filter);
  if (!t.workers) return local;
  if (filter?.clientId !== undefined && local.length > 0) return local;
  const all = [...local, ...await t.workers.clientList(filter)];
  return all.sort((a, b) => a.id - b.id);
}

/** The pool's connector and stratifier counters, the worker threads' included. */
interface PoolCounts {
  /** the connector's counters (accepted: every connection the listeners took) */
  server: StratumServerStats;
  /** miners served (stratifier clients) */
  clients: number;
  /** remembered disconnected sessions */
  sessions: number;
  /** shares judged by the worker threads (the main thread's are counted by the control server) */
  threadShares: number;
}

async function poolCounts(t: ControlTarget): Promise<PoolCounts> {
  const s = t.server.stats();
  const out: PoolCounts = { server: s, clients: t.stratifier.clients.size, sessions: t.stratifier.disconnectedSessions, threadShares: 0 };
  if (!t.workers) return out;
  const w = await t.workers.counts();
  const dropped = { ...s.dropped };
  for (const [k, v] of Object.entries(w.dropped)) dropped[k] = (dropped[k] ?? 0) + v;
  out.server = {
    clients: s.clients + w.connections,
    // the main thread counts every connection it accepted, handed over or not
    accepted: s.accepted,
    closing: s.closing + w.closing,
    blocked: s.blocked + w.blocked,
    dropped,
    bytesIn: s.bytesIn + w.bytesIn,
    bytesOut: s.bytesOut + w.bytesOut,
  };
  out.clients += w.clients;
  // every thread and the main thread hold a copy of the one session table (mirrored)
  out.sessions = Math.max(out.sessions, w.sessions);
  out.threadShares = w.shares;
  return out;
}

/** `stratifierstats` (and `stats` on the stratifier socket): object counts, ckpool's shape. */
export async function stratifierStats(t: ControlTarget, counters: ControlCounters): Promise<Record<string, ObjCount>> {
  const wb = t.generator.current;
  const n = await poolCounts(t);
  let wbBytes = 0;
  for (const id of t.generator.jobIds) {
    const w = t.generator.workbase(id);
    if (w) wbBytes += workbaseBytes(w);
  }
  let txBytes = 0;
  for (const tx of wb?.template.transactions ?? []) txBytes += tx.data.length / 2;
  let userBytes = 0;
  const users = t.stats.userNames();
  for (const name of users) {
    userBytes += name.length;
    for (const w of t.stats.getUser(name)?.workers ?? []) userBytes += w.name.length;
  }
  const clients = await allClients(t);
  // a remembered session: its id and extranonce1, as hex
  const sessionBytes = n.sessions * (8 + 2 * (wb?.nonce1length ?? 4));
  return {
    workbases: objCount(t.generator.workbaseCount, wbBytes, wb ? wb.seq + 1 : 0),
    remote_workbases: objPair(0, 0),
    users: objPair(users.length, userBytes),
    clients: objCount(n.clients, clients.reduce((a, c) => a + clientBytes(c), 0), n.server.accepted),
    disconnected: objCount(n.sessions, sessionBytes),
    // no share objects are kept (ckpool keeps one per share until its workbase ages out)
    shares: objCount(0, 0, counters.shares + n.threadShares),
    // the current template's transactions, in bytes (ckpool: its txn table)
    transactions: objCount(wb ? wb.txCount : 0, txBytes),
    // ckpool's message queues: this implementation has none (everything is handled
    // in the event loop turn it arrives in), so they are always empty.
    ssends: objCount(0, 0),
    srecvs: objCount(0, 0),
    stxnq: objCount(0, 0),
  };
}

/** `connectorstats` (and `stats` on the connector socket), ckpool's shape plus `accepting`. */
export async function connectorStats(t: ControlTarget): Promise<Record<string, ObjCount | boolean>> {
  const s = (await poolCounts(t)).server;
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  return {
    // memory: the connector's buffers are not counted (stratifierstats counts the clients)
    clients: objCount(s.clients, 0, s.accepted),
    dead: objCount(s.closing, 0, dropped),
    sends: objCount(s.blocked, 0),
    delays: objCount(s.blocked, 0),
    accepting: t.server.accepting,
  };
}

/** `poolstats`: the three pool.status lines merged into one object (ckpool's names). */
export function poolStats(t: ControlTarget, now: number): Record<string, unknown> {
  const [a, b, c] = t.stats.poolStatusLines(now);
  return { ...JSON.parse(a), ...JSON.parse(b), ...JSON.parse(c) };
}

/**
 * `getuser`: the users/<user> document with the user's name added, or undefined. Its
 * worker array also lists connected workers that have no share yet (the file leaves
 * them out, as ckpool's does), so it agrees with the user's `workers` count.
 */
export function userInfo(t: ControlTarget, user: string, now: number): Record<string, unknown> | undefined {
  const doc = t.stats.userJson(user, now, { connected: true }) as Record<string, unknown> | undefined;
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
    const doc = t.stats.userJson(name, now, { connected: true }) as { worker?: Record<string, unknown>[] } | undefined;
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

/** `clients` / `getclient`: one connected miner (a Client here, or a worker thread's record of one). */
export function clientInfo(t: ControlTarget, c: ClientRecord): Record<string, unknown> {
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
    protocol: c.conn.protocol === 'sv2' ? 'sv2' : 'v1',
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
    // as the stats files write a share's difficulty (16 significant digits)
    bestdiff: Number(janssonReal(c.bestDiff, 16)),
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
export async function resetShares(t: ControlTarget): Promise<void> {
  for (const c of t.stratifier.clients.values()) c.bestDiff = 0;
  if (t.workers) await t.workers.command({ op: 'resetBest' });
  t.stats.resetShares();
}
