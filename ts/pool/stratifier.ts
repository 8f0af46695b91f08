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
 *
 * Its parts: stratifier-types.ts (options, events, verdicts), enonce1.ts (extranonce1
 * and session ids), jobs.ts (per-workbase checkers and notify lines), share-pipeline.ts
 * (submit parsing, batching, share-log records); this file keeps the protocol state
 * machine, verdicts, vardiff and the block path.
 */
import { EventEmitter } from 'node:events';
import { NullLogger, type Logger } from '../log/logger.js';
import { FLAG_MEETS_NETWORK, FLAG_MEETS_SHARE, FLAG_VERSION_OUTSIDE_MASK, type ShareBatch, type ShareChecker } from '../native/share.js';
import type { StratumConnection, StratumServer } from '../stratum/server.js';
import type { WorkSource } from '../work/source.js';
import type { Workbase } from '../work/workbase.js';
import type { Client } from './client.js';
import { Enonce1Allocator } from './enonce1.js';
import { JobTable } from './jobs.js';
import {
  PROXY_AGENT, Reject, StratumError, blockSolvedText, err, parseDiff, reconnect, rejectReply, reply, setDifficulty, showMessage,
  type RejectKind,
} from './protocol.js';
import { ShareBatcher, normaliseNonce2, parseSubmit, shareLogEntry, type Pending } from './share-pipeline.js';
import type { SessionEntry, StratifierEvents, StratifierOptions } from './stratifier-types.js';
import { applyDiff, clampDiff, creditedDiff, lastCountedShare, newVardiff, vardiffShare, type VardiffLimits } from './vardiff.js';

export type { FanoutInfo, SessionEntry, ShareVerdict, StratifierEvents, StratifierOptions } from './stratifier-types.js';

const SESSION_KEEP_MS = 600_000;
const MAX_TXN_REPLY_BYTES = 512 * 1024;
const INVALID_BURST = 500;

export class Stratifier extends EventEmitter<StratifierEvents> {
  readonly clients = new Map<number, Client>();
  readonly #o: StratifierOptions;
  readonly #gen: WorkSource;
  readonly #log: Logger;
  readonly #jobs: JobTable;
  readonly #sessions = new Map<string, SessionEntry>();
  readonly #enonce1: Enonce1Allocator;
  readonly #batcher: ShareBatcher;
  /** proxy modes: the upstream pool's difficulty caps every client's (Infinity = none) */
  #diffCap = Infinity;
  #sweep: NodeJS.Timeout;

  constructor(opts: StratifierOptions) {
    super();
    this.#enonce1 = new Enonce1Allocator(opts.enonce1Prefix ?? '', opts.nonce1length, opts.enonce1Slot, Math.floor(Date.now() / 1000));
    this.#o = opts;
    this.#gen = opts.generator;
    this.#log = opts.logger ?? new NullLogger();
    this.#jobs = new JobTable({ versionMask: opts.versionMask, nonce1length: opts.nonce1length, nonce2length: opts.nonce2length });
    this.#batcher = new ShareBatcher(
      (checker, batch, p) => this.#judge(checker, batch, p),
      (items, e) => {
        // cannot happen for records we wrote ourselves; never let it take the pool down
        this.#log.err(`Share batch failed: ${e.message}`);
        for (const p of items) p.client.conn.send(reply(p.id, false, err(StratumError.OTHER, 'Internal error')));
      },
    );
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
    if (c.enonce1Hex) this.#enonce1.inUse.delete(c.enonce1Hex);
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
      if (s && !this.#enonce1.inUse.has(s.enonce1Hex)) {
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
    if (!enonce1Hex && want !== undefined && this.#enonce1.owns(want) && !this.#enonce1.inUse.has(want)) {
      enonce1Hex = want;
      // its old session id too, when it is one this stratifier could have made
      const sid = typeof p[1] === 'string' && this.#enonce1.ownsSessionId(p[1]) ? p[1] : '';
      c.sessionId = sid && !this.#sessions.has(sid) ? sid : this.#enonce1.newSessionId();
      this.#log.info(`Client ${c.id} kept extranonce1 ${want} from its earlier link`);
    }
    if (!enonce1Hex) {
      const fresh = this.#enonce1.next();
      if (fresh === null) {
        conn.send(reply(id, null, err(StratumError.OTHER, 'Pool full: no extranonce1 left')));
        return;
      }
      enonce1Hex = fresh;
      c.sessionId = this.#enonce1.newSessionId();
    }
    c.enonce1Hex = enonce1Hex;
    c.enonce1 = Buffer.from(enonce1Hex, 'hex');
    this.#enonce1.inUse.add(enonce1Hex);
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

  #sendJob(c: Client, wb: Workbase, clean: boolean): void {
    const e = this.#jobs.checkerFor(this.#jobs.jobFor(wb), this.#o.solo ? c.script : null);
    c.conn.send(clean ? e.clean : e.dirty);
    c.lastSentSeq = wb.seq;
  }

  #onWorkbase(wb: Workbase, clean: boolean): void {
    this.#jobs.jobFor(wb);
    // forget jobs the generator no longer keeps (their duplicate sets go with them)
    this.#jobs.prune((id) => !!this.#gen.workbase(id) || id === wb.jobId);
    this.#o.stats?.setNetworkDiff(wb.networkDiff);
    let miners = 0;
    // one text for every miner (solo: one per user); a passthrough link with notify
    // fan-out takes it once for all of its miners (ts/modes/links.ts)
    const e = this.#o.solo ? null : this.#jobs.checkerFor(this.#jobs.jobFor(wb), null);
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
    const fields = parseSubmit(params, c.workername);
    if (typeof fields === 'string') return void malformed(fields);
    const { jobId, nonce2, ntimeHex, nonceHex, vbits } = fields;
    const wb = this.#gen.workbase(jobId);
    const job = wb ? this.#jobs.get(jobId) : undefined;
    if (!wb || !job) {
      this.#finish(c, id, null, 'INVALID_JOB', -1, creditedDiff(c.vd, this.#gen.current?.seq ?? 0), '', { jobId, nonce2Hex: nonce2, ntimeHex, nonceHex });
      return;
    }
    const nonce2Hex = normaliseNonce2(nonce2, this.#o.nonce2length);
    if (nonce2Hex.length % 2) return void malformed('No nonce2');
    const e = this.#jobs.checkerFor(job, this.#o.solo ? c.script : null);
    const en2 = Buffer.from(nonce2Hex, 'hex');
    const ntime = parseInt(ntimeHex, 16) >>> 0;
    const nonce = parseInt(nonceHex, 16) >>> 0;
    const diff = creditedDiff(c.vd, wb.seq);
    this.#batcher.add(e.checker, { extranonce1: c.enonce1!, extranonce2: en2, ntime, nonce, versionBits: vbits, difficulty: diff }, {
      client: c, id, job, parts: e.parts, en2, ntime, nonce, vbits, diff, stale: wb.seq < this.#gen.blockChangeSeq,
      nonce2Hex, ntimeHex: ntimeHex.toLowerCase(), nonceHex: nonceHex.toLowerCase(),
    });
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
        const workinfoid = p ? wb.seq : (this.#gen.current?.seq ?? 0);
        const createinet = this.#o.serverUrls?.[c.conn.serverIndex] ?? '';
        this.#o.shareLog.append(wb.height, p ? wb.jobId : (this.#gen.current?.jobId ?? ''),
          shareLogEntry(workinfoid, c, p, raw, kind, diff, sdiff, hash, now, createinet));
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

