/**
 * The stratifier: miners' protocol state, difficulty, the share pipeline and the
 * block path (ckpool's stratifier.c). It consumes the connector's parsed messages
 * (ts/stratum) and the generator's workbases (ts/work).
 *
 * Share pipeline: each submit is shape-checked and looked up at once; its header
 * fields go into the record batch of its job's native checker, and all batches are
 * hashed in one native call per checker at the end of the current I/O turn
 * (setImmediate). Verdicts follow ckpool's order (§8.1); anything meeting the network
 * target goes to the block path first, whatever its other verdicts.
 *
 * Differences from ckpool 0.9.9 (see README): every request gets a reply (standard
 * `[code, "message", null]` error triples plus ckpool's `reject-reason`), fractional
 * difficulties everywhere, BIP310 mask negotiation, show_message to any miner,
 * network-target comparison on the exact 256-bit target rather than a 0.999 × double.
 */
import { EventEmitter } from 'node:events';
import { ckError } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { ShareBatch, ShareChecker, FLAG_MEETS_NETWORK, FLAG_MEETS_SHARE, FLAG_VERSION_OUTSIDE_MASK } from '../native/share.js';
import { prevhashFromStratum } from '../native/core.js';
import type { StratumConnection, StratumServer } from '../stratum/server.js';
import type { BlockSubmission } from '../work/generator.js';
import type { WorkSource } from '../work/source.js';
import type { Workbase } from '../work/workbase.js';
import type { CoinbaseParts } from '../native/core.js';
import type { StatsSink } from '../stats/stats.js';
import type { ShareLog } from '../stats/sharelog.js';
import type { Client } from './client.js';
import {
  ERRN, Reject, StratumError, blockSolvedText, err, isHex, notify, parseDiff, reconnect, rejectReply, reply, setDifficulty, showMessage,
  type RejectKind,
} from './protocol.js';
import { applyDiff, clampDiff, creditedDiff, lastCountedShare, newVardiff, vardiffShare, type VardiffLimits } from './vardiff.js';

export interface StratifierOptions {
  /** where work comes from: the Generator (bitcoinds), or an upstream pool */
  generator: WorkSource;
  /** the connector whose miners this stratifier serves (more can be attached later) */
  server?: StratumServer;
  /** pool-wide accounting: the PoolStats itself, or a worker thread's forwarder to it */
  stats?: StatsSink | null;
  shareLog?: ShareLog | null;
  /** -B: usernames are payout addresses */
  solo: boolean;
  mindiff: number;
  startdiff: number;
  highdiff: number;
  /** 0 = none */
  maxdiff: number;
  /** total extranonce1 bytes per client (prefix included) */
  nonce1length: number;
  nonce2length: number;
  /**
   * A fixed leading part of every client's extranonce1 (hex), e.g. an upstream pool's
   * extranonce1 in the proxy modes; the rest (nonce1length minus its length) is
   * allocated per client. With nothing left, one client at a time.
   */
  enonce1Prefix?: string;
  /**
   * One of `count` stratifiers sharing a pool (worker threads): this one hands out only
   * the extranonce1 values and session ids ≡ `index` (mod `count`), so every miner of the
   * pool still has its own extranonce1 (and duplicate checks stay exact per thread).
   */
  enonce1Slot?: { index: number; count: number };
  versionMask: number;
  /** seconds; also the get_txnhashes rate limit */
  updateInterval: number;
  /** for show messages, e.g. "ckpool-ts" or the instance name */
  poolName?: string;
  /** serverurl entries, for the share log's createinet */
  serverUrls?: string[];
  authTimeoutMs?: number;
  /**
   * ckpool 1.2's `dropidle` (in ms here): an authorised miner whose last counted share
   * (accepted, or stale but good), or its connection if it has sent none, is older than
   * this is disconnected. 0 or absent: never. Checked by the one client sweep.
   */
  dropIdleMs?: number;
  /**
   * Invalid submits in a row (no good share between) after which a client is dropped
   * at once as a flood; default 500. Load generators that send random shares on
   * purpose (ckpool-bench) need it raised.
   */
  invalidBurst?: number;
  /**
   * Told when a disconnected miner's session is remembered or resumed, so the other
   * stratifiers of one pool (worker threads) can mirror the table with sessionSaved /
   * sessionTaken: a miner may reconnect to any of them and still resume.
   */
  sessionEvents?: { saved(id: string, entry: SessionEntry): void; taken(id: string): void };
  logger?: Logger;
}

/** A disconnected miner's session, kept 10 minutes for resumption (ckpool). */
export interface SessionEntry {
  enonce1Hex: string;
  at: number;
}

export interface StratifierEvents {
  /** a share was judged (tests and the control API listen) */
  share: [client: Client, result: ShareVerdict];
  block: [client: Client, result: BlockSubmission];
  /** clean work (a new tip) was queued to every miner of this stratifier (metrics) */
  fanout: [info: FanoutInfo];
}

/** A block change's notify fan-out on one stratifier (the 'fanout' event). */
export interface FanoutInfo {
  /** the workbase's seq */
  seq: number;
  /** miners sent the clean job */
  miners: number;
  /** ms from the workbase's creation (template in hand) to the last miner's notify queued */
  ms: number;
}

/** What the stratifier decided about one submit (the 'share' event). */
export interface ShareVerdict {
  accepted: boolean;
  /** ckpool's reject-reason, null when accepted */
  reason: string | null;
  /** the share's own difficulty (-1 when it was never hashed) */
  sdiff: number;
  /** the difficulty it was judged and credited at */
  diff: number;
  /** block hash, display order ('' when never hashed) */
  hash: string;
  /**
   * The submit as the pool understood it (absent for an unknown job): what a proxy
   * forwards upstream. `flags` are the share check's FLAG_* bits (which reading of the
   * version bits it was judged on: see native/share.ts headerVersion).
   */
  work?: { wb: Workbase; nonce2: string; ntime: string; nonce: string; versionBits: number; flags: number };
}

/** Per-workbase state on the stratifier side. */
interface Job {
  wb: Workbase;
  /** per payout script (pool: one; solo: one per user address) */
  checkers: Map<string, { checker: ShareChecker; parts: CoinbaseParts; clean: string; dirty: string }>;
  /** share hashes seen on this job (duplicate check) */
  dupes: Set<string>;
}

interface Pending {
  client: Client;
  id: unknown;
  job: Job;
  parts: CoinbaseParts;
  index: number;
  en2: Buffer;
  ntime: number;
  nonce: number;
  vbits: number;
  diff: number;
  stale: boolean;
  nonce2Hex: string;
  ntimeHex: string;
  nonceHex: string;
}

const SESSION_KEEP_MS = 600_000;
/**
 * Shares checked per native call. A batch runs as soon as it is full (and otherwise once
 * the event loop has read every ready socket), and its replies go out at the end of that
 * callback. Small batches keep replies flowing while the loop is still reading: with
 * 1000 miners at one share in flight each, 32 instead of 256 took the p99 latency from
 * ~2× the mean to ~1.5× (BENCHMARKS.md), and the native call costs little over 32 shares.
 */
const BATCH = 32;
const MAX_TXN_REPLY_BYTES = 512 * 1024;
const INVALID_BURST = 500;
/** the user agent of a ckpool proxy (-p): ckpool's "ckpool/0.9.9" or ours "ckpool-ts/…" */
const PROXY_AGENT = /^ckpool(-ts)?\//;

export class Stratifier extends EventEmitter<StratifierEvents> {
  readonly clients = new Map<number, Client>();
  readonly #o: StratifierOptions;
  readonly #gen: WorkSource;
  readonly #log: Logger;
  readonly #jobs = new Map<string, Job>();
  readonly #sessions = new Map<string, SessionEntry>();
  readonly #enonce1InUse = new Set<string>();
  readonly #batches = new Map<ShareChecker, { batch: ShareBatch; items: Pending[] }>();
  #flushScheduled = false;
  /** proxy modes: the upstream pool's difficulty caps every client's (Infinity = none) */
  #diffCap = Infinity;
  #enonce1Counter: bigint;
  #sessionCounter: number;
  readonly #slot: { index: number; count: number };
  #sweep: NodeJS.Timeout;
  readonly #poolScriptKey = 'pool';

  constructor(opts: StratifierOptions) {
    super();
    const prefix = opts.enonce1Prefix ?? '';
    if (!/^([0-9a-f]{2})*$/.test(prefix) || prefix.length / 2 > opts.nonce1length) {
      throw ckError('CKP_ERR_STRATUM_OPTION', 'enonce1Prefix', `lower-case hex of at most nonce1length (${opts.nonce1length}) bytes`, prefix);
    }
    const slot = opts.enonce1Slot ?? { index: 0, count: 1 };
    if (!Number.isInteger(slot.count) || slot.count < 1 || !Number.isInteger(slot.index) || slot.index < 0 || slot.index >= slot.count) {
      throw ckError('CKP_ERR_STRATUM_OPTION', 'enonce1Slot', 'integers with 0 <= index < count', JSON.stringify(slot));
    }
    this.#slot = slot;
    this.#o = opts;
    this.#gen = opts.generator;
    this.#log = opts.logger ?? new NullLogger();
    const now = Math.floor(Date.now() / 1000);
    this.#enonce1Counter = BigInt(now);
    this.#sessionCounter = now >>> 0;
    if (opts.server) this.attach(opts.server);
    this.#gen.on('workbase', (wb, clean) => this.#onWorkbase(wb, clean));
    if (this.#gen.current) this.#onWorkbase(this.#gen.current, true);
    // one timer for every client: often enough that a deadline is met within a quarter of it
    const dropIdle = opts.dropIdleMs ?? 0;
    const every = Math.min(5_000, (opts.authTimeoutMs ?? 60_000) / 4, dropIdle > 0 ? dropIdle / 4 : Infinity);
    this.#sweep = setInterval(() => this.#sweepClients(), Math.max(10, every));
    this.#sweep.unref();
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  get limits(): VardiffLimits {
    const net = this.#gen.current?.networkDiff ?? 0;
    const cap = this.#diffCap;
    // the network diff caps only when it is above mindiff (not on regtest); an upstream
    // pool's diff always does
    return { mindiff: this.#o.mindiff, maxdiff: this.#o.maxdiff, networkDiff: cap === Infinity ? net : net > this.#o.mindiff ? Math.min(net, cap) : cap };
  }

  /**
   * Proxy modes: the upstream pool's difficulty becomes every client's ceiling (ckpool
   * stratifier.c:update_diff); clients above it are lowered at once, for jobs from now on.
   */
  capDifficulty(cap: number): void {
    if (!(cap > 0) || !Number.isFinite(cap)) return;
    this.#diffCap = cap;
    const now = Date.now();
    for (const c of this.clients.values()) {
      if (c.vd.diff <= cap) continue;
      applyDiff(c.vd, cap, now, this.#nextSeq(), c.lastSentSeq);
      if (c.subscribed) c.conn.send(setDifficulty(cap));
    }
  }

  // ------------------------------------------------------------------ connections

  /**
   * Serve the miners of a connector. Other sources of miners (a passthrough link's
   * multiplexed sub-clients, say) call connect/message/disconnect directly with their own
   * StratumConnection objects.
   */
  attach(server: StratumServer): void {
    server.on('connection', (c) => this.connect(c));
    server.on('message', (c, msg) => this.message(c, msg));
    server.on('close', (c, reason) => this.disconnect(c, reason));
  }

  /** A new miner connection. */
  connect(conn: StratumConnection): void {
    const now = Date.now();
    const startdiff = Math.min(conn.highdiff ? Math.max(this.#o.startdiff, this.#o.highdiff) : this.#o.startdiff, this.#diffCap);
    const vd = newVardiff(startdiff, now);
    if (conn.highdiff) vd.suggestDiff = this.#o.highdiff;
    const client: Client = {
      conn, id: conn.id, sessionId: '', enonce1: null, enonce1Hex: '', agent: '', subscribed: false, authorised: false,
      workername: '', username: '', script: null, versionMask: this.#o.versionMask, vd, lastSentSeq: -1,
      invalidSince: 0, invalidStep: 0, invalidRun: 0, lastTxnRequest: 0, bestDiff: 0, accepted: 0, rejected: 0,
    };
    conn.state = client;
    this.clients.set(conn.id, client);
  }

  /** A miner connection went away. */
  disconnect(conn: StratumConnection, reason: string): void {
    const c = this.clients.get(conn.id);
    if (!c) return;
    this.clients.delete(conn.id);
    if (c.enonce1Hex) this.#enonce1InUse.delete(c.enonce1Hex);
    if (c.authorised) {
      // remember the session so a reconnecting miner keeps its extranonce1
      const entry = { enonce1Hex: c.enonce1Hex, at: Date.now() };
      this.#sessions.set(c.sessionId, entry);
      this.#o.sessionEvents?.saved(c.sessionId, entry);
      this.#o.stats?.clientDisconnected(c.username, c.workername, c.id, Date.now());
      this.#o.stats?.setDisconnectedSessions(this.#sessions.size);
    }
    this.#log.info(`Client ${c.id} ${conn.address} disconnected: ${reason}`);
  }

  #sweepClients(): void {
    const now = Date.now();
    const authTimeout = this.#o.authTimeoutMs ?? 60_000;
    const dropIdle = this.#o.dropIdleMs ?? 0;
    for (const c of this.clients.values()) {
      if (!c.authorised) {
        if (now - c.conn.connectedAt > authTimeout) c.conn.close('not authorised in time');
      } else if (dropIdle > 0 && now - lastCountedShare(c.vd) > dropIdle) {
        this.#log.info(`Dropping client ${c.id} ${c.conn.address} worker ${c.workername}: no share for ${Math.round((now - lastCountedShare(c.vd)) / 1000)} s (dropidle)`);
        c.conn.close('idle (dropidle)');
      }
    }
    for (const [id, s] of this.#sessions) if (now - s.at > SESSION_KEEP_MS) this.#sessions.delete(id);
  }

  // ------------------------------------------------------------------ dispatch

  /** One parsed JSON message from a miner. */
  message(conn: StratumConnection, msg: Record<string, unknown>): void {
    const c = this.clients.get(conn.id);
    if (!c) return;
    const id = msg.id;
    const method = msg.method;
    if (method === undefined) {
      // a reply from the miner (to mining.ping, say) — nothing to answer
      if ('result' in msg) return;
      conn.send(reply(id, null, err(StratumError.OTHER, 'Method not found')));
      return;
    }
    if (typeof method !== 'string') {
      conn.send(reply(id, null, err(StratumError.OTHER, 'Method is not a string')));
      return;
    }
    const params = msg.params;
    const m = method.toLowerCase();
    switch (m) {
      case 'mining.subscribe': return this.#subscribe(c, id, params);
      case 'mining.authorize':
      case 'mining.authorise': return this.#authorize(c, id, params);
      case 'mining.configure': return this.#configure(c, id, params);
      case 'mining.submit': return this.#submit(c, id, params);
      case 'mining.suggest_difficulty': return this.#suggestDifficulty(c, id, Array.isArray(params) ? params[0] : params);
      case 'mining.suggest_target': return this.#suggestTarget(c, id, params);
      case 'mining.extranonce.subscribe': conn.send(reply(id, true)); return;
      case 'mining.get_transactions': return this.#getTransactions(c, id, params, false);
      case 'mining.get_txnhashes': return this.#getTransactions(c, id, params, true);
      case 'mining.ping': conn.send(reply(id, 'pong')); return;
      case 'mining.term': conn.close('mining.term'); return;
      default:
        conn.send(reply(id, null, err(StratumError.OTHER, `Method not found: ${method.slice(0, 64)}`)));
    }
  }

  // ------------------------------------------------------------------ subscribe / authorize

  /**
   * A free extranonce1: the prefix, then the low bytes of a counter seeded with the start
   * time (little-endian, as ckpool), skipping values in use. Null when the space is full.
   */
  #newEnonce1(): string | null {
    const prefix = this.#o.enonce1Prefix ?? '';
    const len = this.#o.nonce1length - prefix.length / 2;
    if (len <= 0) return this.#enonce1InUse.has(prefix) ? null : prefix;
    const { index, count } = this.#slot;
    // this stratifier's share of the space: values v·count + index below 2^(8·len)
    const slots = 2n ** BigInt(8 * len) / BigInt(count);
    if (BigInt(this.#enonce1InUse.size) >= slots) return null;
    const b = Buffer.alloc(8);
    for (let tries = 0; tries < 4096; tries++) {
      const v = (this.#enonce1Counter++ % slots) * BigInt(count) + BigInt(index);
      b.writeBigUInt64LE(v);
      const hex = prefix + b.subarray(0, len).toString('hex');
      if (!this.#enonce1InUse.has(hex)) return hex;
    }
    return null;
  }

  /** An extranonce1 this stratifier could have handed out: the prefix, the length, its slot. */
  #ownsEnonce1(hex: string): boolean {
    const prefix = this.#o.enonce1Prefix ?? '';
    if (hex.length !== this.#o.nonce1length * 2 || !hex.startsWith(prefix) || !/^[0-9a-f]*$/.test(hex)) return false;
    const rest = Buffer.from(hex.slice(prefix.length), 'hex');
    const b = Buffer.alloc(8);
    rest.copy(b);
    return b.readBigUInt64LE() % BigInt(this.#slot.count) === BigInt(this.#slot.index);
  }

  /** 8 hex digits; ≡ slot index (mod slot count), so threads of one pool never share one */
  #newSessionId(): string {
    const { index, count } = this.#slot;
    // the counter picks the k-th value of this residue class (k·count + index < 2^32)
    const v = (this.#sessionCounter++ % Math.floor(2 ** 32 / count)) * count + index;
    return v.toString(16).padStart(8, '0');
  }

  #subscribe(c: Client, id: unknown, params: unknown): void {
    const conn = c.conn;
    if (c.subscribed) {
      conn.send(reply(id, null, err(StratumError.OTHER, 'Already subscribed')));
      return;
    }
    if (!this.#gen.current) {
      conn.send(reply(id, null, err(StratumError.OTHER, 'Pool initialising, no work yet')));
      return;
    }
    if (params !== undefined && !Array.isArray(params)) {
      conn.send(reply(id, null, err(StratumError.OTHER, 'Params not an array')));
      return;
    }
    const p = (params ?? []) as unknown[];
    c.agent = typeof p[0] === 'string' ? p[0].slice(0, 256) : '';
    let enonce1Hex = '';
    if (typeof p[1] === 'string' && /^[0-9a-fA-F]{1,16}$/.test(p[1])) {
      const s = this.#sessions.get(p[1].toLowerCase());
      if (s && !this.#enonce1InUse.has(s.enonce1Hex)) {
        enonce1Hex = s.enonce1Hex;
        c.sessionId = p[1].toLowerCase();
        this.#sessions.delete(c.sessionId);
        this.#o.sessionEvents?.taken(c.sessionId);
        this.#log.info(`Client ${c.id} resumed session ${c.sessionId}`);
      }
    }
    // a miner a ckpool-ts passthrough carries over from an earlier link (the pool may have
    // been restarted, -H): the same extranonce1 if it is free and of this stratifier's slot
    const want = conn.resumeEnonce1;
    if (!enonce1Hex && want !== undefined && this.#ownsEnonce1(want) && !this.#enonce1InUse.has(want)) {
      enonce1Hex = want;
      // its old session id too, when it is one this stratifier could have made
      const sid = typeof p[1] === 'string' && /^[0-9a-f]{8}$/.test(p[1]) ? p[1] : '';
      c.sessionId = sid && parseInt(sid, 16) % this.#slot.count === this.#slot.index && !this.#sessions.has(sid) ? sid : this.#newSessionId();
      this.#log.info(`Client ${c.id} kept extranonce1 ${want} from its earlier link`);
    }
    if (!enonce1Hex) {
      const fresh = this.#newEnonce1();
      if (fresh === null) {
        conn.send(reply(id, null, err(StratumError.OTHER, 'Pool full: no extranonce1 left')));
        return;
      }
      enonce1Hex = fresh;
      c.sessionId = this.#newSessionId();
    }
    c.enonce1Hex = enonce1Hex;
    c.enonce1 = Buffer.from(enonce1Hex, 'hex');
    this.#enonce1InUse.add(enonce1Hex);
    c.subscribed = true;
    conn.send(reply(id, [[['mining.set_difficulty', c.sessionId], ['mining.notify', c.sessionId]], enonce1Hex, this.#o.nonce2length]));
    conn.send(setDifficulty(c.vd.diff));
    // solo: the job pays the user, so it waits for authorisation
    if (!this.#o.solo) this.#sendJob(c, this.#gen.current, true);
  }

  #authorize(c: Client, id: unknown, params: unknown): void {
    const conn = c.conn;
    const fail = (code: number, msg: string) => conn.send(reply(id, false, err(code, msg)));
    if (!c.subscribed) return void fail(StratumError.NOT_SUBSCRIBED, 'Not subscribed');
    if (!Array.isArray(params)) return void fail(StratumError.OTHER, 'Params not an array');
    const worker = params[0];
    if (typeof worker !== 'string') return void fail(StratumError.OTHER, 'Invalid workername parameter');
    if (worker.length === 0) return void fail(StratumError.OTHER, 'Empty workername parameter');
    if (worker.length > 255) return void fail(StratumError.OTHER, 'Workername too long');
    const username = worker.split(/[._]/, 1)[0]!;
    if (!username) return void fail(StratumError.OTHER, 'Empty username parameter');
    if (username.length > 127) return void fail(StratumError.OTHER, 'Username too long');
    if (/[/\\\s\u0000-\u001f]/.test(username)) return void fail(StratumError.OTHER, 'Invalid character in username');
    if (c.authorised) {
      if (worker === c.workername) return void conn.send(reply(id, true));
      return void fail(StratumError.OTHER, `Already authorised as ${c.workername}`);
    }
    let script: Buffer | null = null;
    if (this.#o.solo) {
      try {
        script = this.#gen.scriptForAddress(username);
      } catch {
        return void fail(StratumError.UNAUTHORIZED, `Username must be a valid ${this.#gen.network ?? ''} address for solo mining`);
      }
    }
    c.authorised = true;
    c.workername = worker;
    c.username = username;
    c.script = script;
    this.#o.stats?.clientAuthorised(username, worker, c.id, Date.now());
    conn.send(reply(id, true));
    // password options: "d=<diff>" (also inside a comma-separated list)
    const pass = typeof params[1] === 'string' ? params[1] : '';
    const m = /(?:^|[,;\s])d=([0-9.eE+-]+)/.exec(pass);
    const want = m ? parseDiff(m[1]) : null;
    if (want !== null) this.#setSuggested(c, want);
    this.#log.info(`Authorised client ${c.id} ${conn.address} worker ${worker}`);
    if (this.#o.solo && this.#gen.current) {
      conn.send(setDifficulty(c.vd.diff));
      this.#sendJob(c, this.#gen.current, true);
    }
  }

  #configure(c: Client, id: unknown, params: unknown): void {
    if (!Array.isArray(params) || !Array.isArray(params[0])) {
      c.conn.send(reply(id, null, err(StratumError.OTHER, 'Params not an array')));
      return;
    }
    const exts = params[0] as unknown[];
    const opts = (params[1] && typeof params[1] === 'object' ? params[1] : {}) as Record<string, unknown>;
    const result: Record<string, unknown> = {};
    const askedMask = opts['version-rolling.mask'];
    if (exts.includes('version-rolling') && askedMask !== undefined && (typeof askedMask !== 'string' || !/^[0-9a-fA-F]{1,8}$/.test(askedMask))) {
      // a mask we cannot read is an error, not a request for everything we allow
      c.conn.send(reply(id, null, err(StratumError.OTHER, 'Invalid version-rolling.mask')));
      return;
    }
    for (const e of exts) {
      if (e === 'version-rolling') {
        // absent: the miner takes whatever the pool allows
        const asked = typeof askedMask === 'string' ? parseInt(askedMask, 16) >>> 0 : 0xffffffff;
        const mask = (asked & this.#o.versionMask) >>> 0;
        c.versionMask = mask;
        result['version-rolling'] = true;
        result['version-rolling.mask'] = mask.toString(16).padStart(8, '0');
      } else if (e === 'minimum-difficulty') {
        const d = parseDiff(opts['minimum-difficulty.value']);
        result['minimum-difficulty'] = d !== null;
        if (d !== null) this.#setSuggested(c, d);
      } else if (e === 'subscribe-extranonce') {
        result['subscribe-extranonce'] = true;
      } else if (typeof e === 'string') {
        result[e] = false;
      }
    }
    c.conn.send(reply(id, result));
  }

  /** A miner's own difficulty (suggest, d=, minimum-difficulty): its floor from now on. */
  #setSuggested(c: Client, want: number): void {
    const d = clampDiff(want, { suggestDiff: 0 }, this.limits);
    c.vd.suggestDiff = d;
    if (d === c.vd.diff) return;
    applyDiff(c.vd, d, Date.now(), this.#nextSeq(), c.lastSentSeq);
    if (c.subscribed) c.conn.send(setDifficulty(d));
  }

  #suggestDifficulty(c: Client, id: unknown, value: unknown): void {
    // a JSON number, as the protocol has it (ckpool reads anything else as 0 and ignores it)
    const d = typeof value === 'number' ? parseDiff(value) : null;
    if (d === null) {
      c.conn.send(reply(id, false, err(StratumError.OTHER, 'Invalid difficulty')));
      return;
    }
    c.conn.send(reply(id, true));
    this.#setSuggested(c, d);
  }

  #suggestTarget(c: Client, id: unknown, params: unknown): void {
    const t = Array.isArray(params) ? params[0] : params;
    if (typeof t !== 'string' || !/^[0-9a-fA-F]{1,64}$/.test(t) || /^0*$/.test(t)) {
      c.conn.send(reply(id, false, err(StratumError.OTHER, 'Invalid target')));
      return;
    }
    const target = BigInt('0x' + t);
    const d = Number(0xffffn << 208n) / Number(target);
    c.conn.send(reply(id, true));
    this.#setSuggested(c, d);
  }

  #getTransactions(c: Client, id: unknown, params: unknown, hashesOnly: boolean): void {
    const conn = c.conn;
    if (!c.authorised) return void conn.send(reply(id, null, err(StratumError.UNAUTHORIZED, 'Unauthorized worker')));
    const jobId = Array.isArray(params) ? params[0] : undefined;
    const job = typeof jobId === 'string' ? this.#jobs.get(jobId) : this.#jobs.get(this.#gen.current?.jobId ?? '');
    if (!job) return void conn.send(reply(id, null, err(StratumError.JOB_NOT_FOUND, 'Invalid job_id')));
    const now = Date.now();
    if (now - c.lastTxnRequest < this.#o.updateInterval * 1000) {
      return void conn.send(reply(id, null, err(StratumError.OTHER, 'Ratelimit')));
    }
    c.lastTxnRequest = now;
    if (job.wb.detached) {
      // a worker thread: the transactions are with the generator
      if (!this.#gen.transactionsOf) return void conn.send(reply(id, null, err(StratumError.OTHER, 'Transactions unavailable')));
      this.#gen.transactionsOf(job.wb, hashesOnly, MAX_TXN_REPLY_BYTES).then(
        (r) => conn.send(typeof r === 'string' ? reply(id, null, err(StratumError.OTHER, r)) : reply(id, hashesOnly ? r.map((h) => h + ' ').join('') : r)),
        (e: Error) => conn.send(reply(id, null, err(StratumError.OTHER, e.message))),
      );
      return;
    }
    if (hashesOnly) return void conn.send(reply(id, job.wb.txids().map((h) => h + ' ').join('')));
    const size = job.wb.txData().reduce((n, d) => n + d.length, 0);
    if (size > MAX_TXN_REPLY_BYTES) {
      return void conn.send(reply(id, null, err(StratumError.OTHER, `Too large (${size} bytes); use mining.get_txnhashes`)));
    }
    conn.send(reply(id, job.wb.txData()));
  }

  // ------------------------------------------------------------------ work

  #nextSeq(): number {
    return (this.#gen.current?.seq ?? 0) + 1;
  }

  #jobFor(wb: Workbase): Job {
    let job = this.#jobs.get(wb.jobId);
    if (!job) {
      job = { wb, checkers: new Map(), dupes: new Set() };
      this.#jobs.set(wb.jobId, job);
    }
    return job;
  }

  #checkerFor(job: Job, script: Buffer | null) {
    const key = script ? script.toString('hex') : this.#poolScriptKey;
    let e = job.checkers.get(key);
    if (!e) {
      const wb = job.wb;
      const parts = script ? wb.coinbaseFor(script) : { coinb1: wb.coinb1, coinb2: wb.coinb2 };
      const checker = new ShareChecker({
        coinb1: parts.coinb1, coinb2: parts.coinb2, branch: wb.branch, version: wb.version,
        versionMask: this.#o.versionMask, prevhash: prevhashFromStratum(wb.stratumPrevhash), nbits: wb.nbits,
        extranonce1Len: this.#o.nonce1length, extranonce2Len: this.#o.nonce2length,
      });
      // With its newline already on: send() would otherwise append one per miner, making
      // a new 1.3 KB string for each to be flattened at the write — 13 MB of garbage on
      // the block-change path at 10,000 miners. This one is flattened once, then shared.
      e = { checker, parts, clean: notify(wb.notifyParams(true, parts)) + '\n', dirty: notify(wb.notifyParams(false, parts)) + '\n' };
      job.checkers.set(key, e);
    }
    return e;
  }

  #sendJob(c: Client, wb: Workbase, clean: boolean): void {
    const e = this.#checkerFor(this.#jobFor(wb), this.#o.solo ? c.script : null);
    c.conn.send(clean ? e.clean : e.dirty);
    c.lastSentSeq = wb.seq;
  }

  #onWorkbase(wb: Workbase, clean: boolean): void {
    this.#jobFor(wb);
    // forget jobs the generator no longer keeps (their duplicate sets go with them)
    for (const id of this.#jobs.keys()) if (!this.#gen.workbase(id) && id !== wb.jobId) this.#jobs.delete(id);
    this.#o.stats?.setNetworkDiff(wb.networkDiff);
    let miners = 0;
    // one text for every miner (solo: one per user); a passthrough link with notify
    // fan-out takes it once for all of its miners (ts/modes/links.ts)
    const e = this.#o.solo ? null : this.#checkerFor(this.#jobFor(wb), null);
    const shared = e === null ? null : clean ? e.clean : e.dirty;
    for (const c of this.clients.values()) {
      if (!c.subscribed || (this.#o.solo && !c.authorised)) continue;
      if (shared !== null && c.conn.sendShared?.(shared) === true) c.lastSentSeq = wb.seq;
      else this.#sendJob(c, wb, clean);
      miners++;
    }
    if (clean) this.emit('fanout', { seq: wb.seq, miners, ms: Date.now() - wb.createdAt });
  }

  // ------------------------------------------------------------------ submit

  #submit(c: Client, id: unknown, params: unknown): void {
    const conn = c.conn;
    const malformed = (msg: string) => {
      conn.send(reply(id, false, err(StratumError.OTHER, msg)));
      this.#invalid(c);
    };
    if (!c.subscribed) return void conn.send(reply(id, false, err(StratumError.NOT_SUBSCRIBED, 'Not subscribed')));
    if (!c.authorised) return void conn.send(reply(id, false, err(StratumError.UNAUTHORIZED, 'Unauthorized worker')));
    if (!Array.isArray(params)) return void malformed('Params not array');
    if (params.length < 5) return void malformed('Invalid array size');
    const [worker, jobId, nonce2, ntimeHex, nonceHex, vbitsHex] = params as unknown[];
    if (typeof worker !== 'string' || !worker) return void malformed('No username');
    if (worker !== c.workername) return void malformed('Worker mismatch');
    if (typeof jobId !== 'string' || !jobId) return void malformed('No job_id');
    if (!isHex(nonce2)) return void malformed('No nonce2');
    if (!isHex(ntimeHex) || ntimeHex.length !== 8) return void malformed('No ntime');
    if (!isHex(nonceHex) || nonceHex.length !== 8) return void malformed('No nonce');
    let vbits = 0;
    if (vbitsHex !== undefined && vbitsHex !== null) {
      if (!isHex(vbitsHex) || vbitsHex.length > 8) return void malformed('Invalid version mask');
      vbits = parseInt(vbitsHex, 16) >>> 0;
    }
    const wb = this.#gen.workbase(jobId);
    const job = wb ? this.#jobs.get(jobId) : undefined;
    if (!wb || !job) {
      this.#finish(c, id, null, 'INVALID_JOB', -1, creditedDiff(c.vd, this.#gen.current?.seq ?? 0), '', { jobId, nonce2Hex: nonce2, ntimeHex, nonceHex });
      return;
    }
    // ckpool normalises extranonce2 to exactly nonce2length bytes: longer is truncated,
    // shorter right-padded with zeros.
    const n2len = this.#o.nonce2length * 2;
    const nonce2Hex = (nonce2.length >= n2len ? nonce2.slice(0, n2len) : nonce2 + '0'.repeat(n2len - nonce2.length)).toLowerCase();
    if (nonce2Hex.length % 2) return void malformed('No nonce2');
    const e = this.#checkerFor(job, this.#o.solo ? c.script : null);
    let pend = this.#batches.get(e.checker);
    if (!pend) {
      pend = { batch: e.checker.batch(BATCH), items: [] };
      this.#batches.set(e.checker, pend);
    }
    const en2 = Buffer.from(nonce2Hex, 'hex');
    const ntime = parseInt(ntimeHex, 16) >>> 0;
    const nonce = parseInt(nonceHex, 16) >>> 0;
    const diff = creditedDiff(c.vd, wb.seq);
    const index = pend.batch.add({ extranonce1: c.enonce1!, extranonce2: en2, ntime, nonce, versionBits: vbits, difficulty: diff });
    pend.items.push({
      client: c, id, job, parts: e.parts, index, en2, ntime, nonce, vbits, diff, stale: wb.seq < this.#gen.blockChangeSeq,
      nonce2Hex, ntimeHex: ntimeHex.toLowerCase(), nonceHex: nonceHex.toLowerCase(),
    });
    if (pend.batch.length >= BATCH) this.#runBatch(e.checker, pend);
    else this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      for (const [checker, pend] of this.#batches) this.#runBatch(checker, pend);
    });
  }

  #runBatch(checker: ShareChecker, pend: { batch: ShareBatch; items: Pending[] }): void {
    this.#batches.delete(checker);
    try {
      pend.batch.run();
    } catch (e) {
      // cannot happen for records we wrote ourselves; never let it take the pool down
      this.#log.err(`Share batch failed: ${(e as Error).message}`);
      for (const p of pend.items) p.client.conn.send(reply(p.id, false, err(StratumError.OTHER, 'Internal error')));
      return;
    }
    for (const p of pend.items) this.#judge(checker, pend.batch, p);
  }

  #judge(checker: ShareChecker, batch: ShareBatch, p: Pending): void {
    const { client: c, job } = p;
    const wb = job.wb;
    const flags = batch.flags(p.index);
    const sdiff = batch.difficulty(p.index);
    const hash = batch.hash(p.index);

    // Block first, whatever else is wrong with the share (ckpool test_blocksolve).
    if (flags & FLAG_MEETS_NETWORK) this.#blockFound(c, checker, p, hash, flags);

    let kind: RejectKind | null = null;
    if (p.stale) kind = 'STALE';
    else if (p.ntime < wb.ntime || p.ntime > wb.ntime + 7000) kind = 'NTIME';
    else if ((flags & FLAG_VERSION_OUTSIDE_MASK) || (p.vbits & ~c.versionMask) !== 0) kind = 'VERSION';
    else if (!(flags & FLAG_MEETS_SHARE)) kind = 'ABOVE_TARGET';
    else if (job.dupes.has(hash)) kind = 'DUPLICATE';
    if (kind === null || kind === 'STALE') {
      // stale shares that meet the share target still count as submitted work for
      // vardiff (ckpool); and every good hash is remembered for the duplicate check
      if (flags & FLAG_MEETS_SHARE) job.dupes.add(hash);
    }
    this.#finish(c, p.id, p, kind, sdiff, p.diff, hash, null, flags);
  }

  #finish(
    c: Client, id: unknown, p: Pending | null, kind: RejectKind | null, sdiff: number, diff: number, hash: string,
    raw: { jobId: string; nonce2Hex: string; ntimeHex: string; nonceHex: string } | null, flags = 0,
  ): void {
    const meetsShare = (flags & FLAG_MEETS_SHARE) !== 0;
    const now = Date.now();
    const accepted = kind === null;
    c.conn.send(accepted ? reply(id, true) : rejectReply(id, kind!));
    if (accepted) {
      c.accepted++;
      c.invalidSince = 0;
      c.invalidStep = 0;
      c.invalidRun = 0;
    } else {
      c.rejected++;
      this.#invalid(c);
    }
    if (sdiff > c.bestDiff) c.bestDiff = sdiff;
    const submitted = accepted || (kind === 'STALE' && meetsShare);
    this.#o.stats?.addShare({ user: c.username, worker: c.workername, clientId: c.id, diff, sdiff, accepted, submitted, now, reason: kind ?? undefined });
    if (submitted) {
      const change = vardiffShare(c.vd, diff, now, this.limits);
      if (change !== null) {
        applyDiff(c.vd, change, now, this.#nextSeq(), c.lastSentSeq);
        c.conn.send(setDifficulty(change));
      }
    }
    if (this.#o.shareLog) {
      const wb = p?.job.wb ?? this.#gen.current;
      if (wb) {
        const [sec, ms] = [Math.floor(now / 1000), now % 1000];
        this.#o.shareLog.append(wb.height, p ? wb.jobId : (this.#gen.current?.jobId ?? ''), {
          workinfoid: p ? wb.seq : (this.#gen.current?.seq ?? 0),
          clientid: c.id,
          enonce1: c.enonce1Hex,
          nonce2: p?.nonce2Hex ?? raw?.nonce2Hex ?? '',
          nonce: p?.nonceHex ?? raw?.nonceHex ?? '',
          ntime: p?.ntimeHex ?? raw?.ntimeHex ?? '',
          diff,
          sdiff,
          hash,
          result: accepted,
          rejectReason: accepted ? undefined : Reject[kind!].reason,
          errn: ERRN[kind ?? 'VALID'],
          createdate: `${sec},${ms * 1_000_000}`,
          createinet: this.#o.serverUrls?.[c.conn.serverIndex] ?? '',
          workername: c.workername,
          username: c.username,
          address: c.conn.address,
          agent: c.agent,
        });
      }
    }
    this.emit('share', c, {
      accepted, reason: accepted ? null : Reject[kind!].reason, sdiff, diff, hash,
      work: p ? { wb: p.job.wb, nonce2: p.nonce2Hex, ntime: p.ntimeHex, nonce: p.nonceHex, versionBits: p.vbits, flags } : undefined,
    });
  }

  /**
   * ckpool §5.12: resend work after 60 s of invalid shares, reconnect after 120 s, drop
   * after 180 s. Beyond ckpool: a burst of `invalidBurst` invalid submits in a row with
   * no good share between them (far more than any miner sends; ~30 min of shares at the
   * vardiff rate) is a flood, and the client is dropped at once.
   */
  #invalid(c: Client): void {
    // a client already dropped may still have submits in the batch that was read with
    // the one that dropped it: nothing more to decide or log for those
    if (c.conn.closed) return;
    const now = Date.now();
    // a ckpool proxy's one connection carries a whole farm (ts/modes/links.ts): its
    // stale shares after a block change are many miners', so only the timed rules below apply
    if (++c.invalidRun >= (this.#o.invalidBurst ?? INVALID_BURST) && !PROXY_AGENT.test(c.agent)) {
      this.#log.notice(`Client ${c.id} ${c.conn.address} sent ${c.invalidRun} invalid submits in a row, dropping`);
      c.conn.close('invalid share flood', true);
      return;
    }
    if (!c.invalidSince) {
      c.invalidSince = now;
      return;
    }
    const t = now - c.invalidSince;
    if (t >= 180_000 && c.invalidStep < 3) {
      c.invalidStep = 3;
      c.conn.send(showMessage('Disconnecting for continuous invalid shares'));
      c.conn.close('continuous invalid shares');
    } else if (t >= 120_000 && c.invalidStep < 2) {
      c.invalidStep = 2;
      c.conn.send(showMessage('Reconnecting for continuous invalid shares'));
      c.conn.send(reconnect());
    } else if (t >= 60_000 && c.invalidStep < 1 && this.#gen.current) {
      c.invalidStep = 1;
      c.conn.send(setDifficulty(c.vd.diff));
      this.#sendJob(c, this.#gen.current, true);
    }
  }

  #blockFound(c: Client, checker: ShareChecker, p: Pending, hash: string, flags: number): void {
    // the flags say which reading of the version bits the share was judged on
    const header = checker.header(c.enonce1!, p.en2, p.ntime, p.nonce, p.vbits, flags);
    const coinbase = Buffer.concat([p.parts.coinb1, c.enonce1!, p.en2, p.parts.coinb2]);
    const wb = p.job.wb;
    this.#log.notice(`Possible block solve by ${c.workername} at height ${wb.height}: ${hash}`);
    void this.#gen.submitBlock(wb, header, coinbase, {
      workername: c.workername, username: c.username, clientid: c.id, enonce1: c.enonce1Hex, nonce2: p.nonce2Hex,
      nonce: p.nonceHex, ntime: p.ntimeHex, version_bits: p.vbits.toString(16).padStart(8, '0'), shareHash: hash,
    }).then((result) => {
      if (result.accepted) {
        this.#o.stats?.blockFound(Date.now(), { workername: c.workername });
        const text = showMessage(blockSolvedText(wb.height, c.workername, this.#o.poolName ?? 'ckpool-ts'));
        for (const other of this.clients.values()) if (other.authorised) other.conn.send(text);
      }
      this.emit('block', c, result);
    });
  }

  // ------------------------------------------------------------------ operator actions

  /** Send a text to every authorised miner (or those of one user / one client). */
  showMessage(text: string, filter?: { user?: string; clientId?: number }): number {
    let n = 0;
    for (const c of this.clients.values()) {
      if (!c.subscribed) continue;
      if (filter?.user !== undefined && c.username !== filter.user) continue;
      if (filter?.clientId !== undefined && c.id !== filter.clientId) continue;
      c.conn.send(showMessage(text));
      n++;
    }
    return n;
  }

  /** client.reconnect to every miner (or a subset), optionally to another host. */
  reconnectClients(host?: string, port?: number, filter?: { user?: string; clientId?: number }): number {
    let n = 0;
    const line = reconnect(host, port);
    for (const c of this.clients.values()) {
      if (filter?.user !== undefined && c.username !== filter.user) continue;
      if (filter?.clientId !== undefined && c.id !== filter.clientId) continue;
      c.conn.send(line);
      n++;
    }
    return n;
  }

  /** Join a session mirror after construction (the pool's main thread, once its workers run). */
  setSessionEvents(events: StratifierOptions['sessionEvents']): void {
    this.#o.sessionEvents = events;
  }

  /** Another stratifier of this pool remembered a session (see sessionEvents). */
  sessionSaved(id: string, entry: SessionEntry): void {
    this.#sessions.set(id, entry);
  }

  /** Another stratifier of this pool resumed (or dropped) a session. */
  sessionTaken(id: string): void {
    this.#sessions.delete(id);
  }

  get disconnectedSessions(): number {
    return this.#sessions.size;
  }
}

