/**
 * Passthrough mode (-P; behaviour §12.2), and the base of node (-N, ./node.ts) and
 * redirector (-R, ./redirector.ts) modes: every miner connection is collated onto one
 * upstream link. The main pool's side is ./links.ts.
 *
 * - Handshake: `{"id":0,"method":"mining.passthrough","params":[agent]}` (node:
 *   `mining.node`), answered `{"result":true}`.
 * - Miner → upstream: each line as the miner sent it, with `"client_id":N,
 *   "address":"ip","server":n` appended inside the object (string splicing: the server
 *   has already checked the line is a JSON object, so nothing is re-serialised).
 * - Upstream → miner: `{"client_id":N,...}` loses its tag and its `"node.method"` (which
 *   both ckpool and ckpool-ts pools add, ./node-wire.ts) and goes to miner N —
 *   `{"client_id":N,"node.method":"…",` at the start (how ckpool-ts's pool writes it) is
 *   cut off as text; anywhere else the line is parsed and re-serialised.
 *   `dropclient=N` drops miner N.
 * - Notify fan-out (ckpool-ts extension, -P only): the handshake carries a second param
 *   "notify-fanout"; a ckpool-ts pool then sends each new job once per link as
 *   `{"client_id":"*","node.method":"update",…}`, and it goes to every miner whose
 *   subscribe the pool answered over this link — the same set the pool would have sent
 *   a copy each (./links.ts). A C ckpool pool ignores the param and sends one copy per
 *   miner, which works as before.
 * - A miner that leaves is reported with `{"id":42,"client_id":N,...,"method":"mining.term","params":[]}`.
 * - The `proxy` array is a failover set (./upstream.ts). A new link knows none of the
 *   miners: when one comes up after a loss (or a fail-back, or the pool's -H restart) a
 *   plain passthrough carries each miner over — it replays the miner's configure,
 *   subscribe (with its session id and a `"resume_enonce1"` tag asking for the same
 *   extranonce1, which a ckpool-ts pool grants when it is free there) and authorize, and
 *   keeps their replies to itself; a miner that gets a different extranonce1 (any C
 *   ckpool pool, or a clash) is sent client.reconnect, as every miner is in node and
 *   redirector modes. While no link is up, miners stay connected, requests are answered
 *   with an error saying the upstream is unavailable, and new connections are refused.
 *   (ckpool 0.9.9 drops every miner when its upstream goes.)
 * - Silence: a link-level `mining.ping` probe at half the silence timeout (ckpool-ts
 *   pools answer it); silence only counts while miners are connected, since an idle
 *   link carries nothing.
 * - No stats beyond counters; a `Passthrough:` line is logged every 60 s, as ckpool's
 *   connector does.
 */
import { EventEmitter } from 'node:events';
import type { CkpoolConfig } from '../config/types.js';
import { ckError } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { StratumError, err, reconnect, reply } from '../pool/protocol.js';
import { StratumServer, type StratumConnection, type StratumServerOptions } from '../stratum/server.js';
import { tlsCredentialsFor } from '../tls/credentials.js';
import { serverLimitsFromConfig } from '../stratum/server-types.js';
import { AGENT } from './common.js';
import { PoolEvents } from '../events.js';
import { Notifications, type NotifyTuning } from '../notify/service.js';
import { watchUpstream } from '../notify/sources.js';
import { FANOUT_PARAM, FANOUT_PREFIX, RESUME_PARAM, RESUME_TAG } from './links.js';
import { Upstream, type Active, type Json, type UpstreamLink } from './upstream.js';

export type PassthroughKind = 'passthrough' | 'node' | 'redirector';

/** One miner connected to the passthrough. */
export interface Miner {
  readonly conn: StratumConnection;
  readonly id: number;
  /** `,"client_id":N,"address":"ip","server":n}`: what ends each of its lines upstream */
  readonly suffix: string;
  /** it has sent something over the current link */
  sent: boolean;
  /** the pool answered its subscribe over the current link (it gets fan-out lines) */
  subscribed: boolean;
  /**
   * What it takes to carry the miner over to a new link without a reconnect (plain
   * passthroughs): its subscribe agent, the session and extranonce1 the pool gave it, its
   * authorize and configure params. null until it subscribed.
   */
  resume: { session: string; enonce1: string } | null;
  /** replies of a resume still awaited over the new link */
  resuming: number;
  /** its last subscribe agent, authorize and configure params (replayed by a resume) */
  subscribeAgent?: unknown;
  auth?: unknown[];
  configure?: unknown[];
  /** the tap's per-miner state */
  tap: unknown;
}

/** What node and redirector modes add to a plain passthrough. */
export interface PassthroughTap {
  /** every upstream message to a miner must be parsed and shown to toMiner (else the text fast path is used) */
  readonly parseDownstream: boolean;
  fromMiner?(m: Miner, msg: Json): void;
  toMiner?(m: Miner, msg: Json): void;
  /** a message for the passthrough itself (no client_id) */
  fromUpstream?(msg: Json): void;
  /** a line from upstream before it is parsed, unless it starts with a client_id tag; true consumes it (a node's workinfo) */
  fromUpstreamLine?(line: string): boolean;
  gone?(m: Miner): void;
  close?(): void | Promise<void>;
}

export interface PassthroughOptions {
  logger?: Logger;
  name?: string;
  server?: Omit<StratumServerOptions, 'urls' | 'logger'>;
  /** upstream silence (with miners connected) that means reconnect, ms (default max(300 s, 4 × update_interval)) */
  silenceMs?: number;
  retryMs?: number;
  failbackMs?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** period of the `Passthrough:` log line, ms (default 60 000) */
  logIntervalMs?: number;
  /** Notification delivery pacing (the webhooks are the config's `notifications`). */
  notify?: NotifyTuning;
}

const CLIENT_ID_PREFIX = '{"client_id":';
const NODE_METHOD = '"node.method":"';
const SUBSCRIBE_RESULT = 'subscribe.result"';
/** ids of the requests a resume replays (their replies stay here), and the tag asking for the old extranonce1 (./links.ts) */
const RESUME_ID = 'ckpool-ts-resume-';


export class PassthroughMode extends EventEmitter<{ up: [active: Active<true>]; down: [reason: string] }> {
  readonly miners = new Map<number, Miner>();
  readonly upstream: Upstream<true>;
  readonly logger: Logger;
  readonly counters = { up: 0, down: 0, dropped: 0, reconnected: 0, resumed: 0, fanouts: 0 };
  /** Operator events (ts/events.ts): upstream_down / upstream_up. */
  readonly events = new PoolEvents();
  /** Webhook notifications (config `notifications`), null when none are configured. */
  notifications: Notifications | null = null;
  readonly #tap: PassthroughTap | null;
  /**
   * Carry miners over to a new link (resume) instead of sending them client.reconnect:
   * passthroughs and nodes. A node's tap keeps its per-miner state (extranonce1,
   * difficulty) across it: a resume only keeps a miner whose extranonce1 comes back the
   * same. A redirector's miners are meant to move on anyway.
   */
  readonly #resumes: boolean;
  #timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly config: CkpoolConfig,
    readonly kind: PassthroughKind,
    readonly server: StratumServer,
    opts: PassthroughOptions,
    tap: PassthroughTap | null,
  ) {
    super();
    this.logger = opts.logger ?? new NullLogger();
    this.#tap = tap;
    this.#resumes = kind !== 'redirector';
    const method = kind === 'node' ? 'mining.node' : 'mining.passthrough';
    this.upstream = new Upstream<true>({
      entries: config.proxy.map((p) => ({ url: p.url, auth: p.auth, pass: p.pass, insecure: p.insecure })),
      name: kind,
      logger: this.logger,
      handshake: async (link) => {
        // from the first line: a node's workinfo may follow the handshake reply at once,
        // and must be read from its text (./node.ts)
        link.rawHook = (line) => this.#rawLine(line);
        const answer = link.waitFor((m) => m.client_id === undefined && 'result' in m, `the ${method} handshake`, opts.handshakeTimeoutMs ?? 15_000);
        // a passthrough or node asks for one copy of each new job for all its miners
        // (FANOUT_PARAM): a ckpool-ts pool sends it, ckpool ignores the extra param. (A
        // node's tap reads no notify: its jobs come from the workinfos.)
        const params = kind !== 'redirector' && config.notifyfanout !== false ? [AGENT, FANOUT_PARAM] : [AGENT];
        // miners to carry over: name one of their extranonce1s (RESUME_PARAM), so a pool with
        // worker threads serves this link on the thread that can give them back. All of a
        // link's miners got theirs from the one thread that served the old link, so one is
        // enough (ckpool ignores the param)
        const hint = this.#resumes ? this.#resumeHint() : undefined;
        if (hint !== undefined) params.push(RESUME_PARAM + hint);
        link.sendJson({ id: 0, method, params });
        const r = await answer;
        if (r.result !== true) throw ckError('CKP_ERR_PROXY_REFUSED', link.url, method, JSON.stringify(r.error ?? r.result));
        return true as const;
      },
      silenceMs: opts.silenceMs ?? Math.max(300, 4 * config.updateInterval) * 1000,
      silenceApplies: () => this.miners.size > 0,
      probe: (link) => link.sendJson({ id: 'ping', method: 'mining.ping', params: [] }),
      retryMs: opts.retryMs,
      failbackMs: opts.failbackMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
    });
  }

  /** Listen for miners and start connecting upstream (miners are refused until a link is up). */
  static async start(config: CkpoolConfig, opts: PassthroughOptions = {}, tap: PassthroughTap | null = null): Promise<PassthroughMode> {
    const kind: PassthroughKind = config.mode === 'node' ? 'node' : config.mode === 'redirector' ? 'redirector' : 'passthrough';
    if (config.mode !== kind) throw ckError('CKP_ERR_PROXY_OPTION', 'mode', 'passthrough, node or redirector', config.mode);
    const logger = opts.logger ?? new NullLogger();
    const server = new StratumServer({ maxClients: config.maxclients, tls: tlsCredentialsFor(config), ...serverLimitsFromConfig(config), ...opts.server, urls: [...config.serverurl], logger });
    server.accepting = false;
    const mode = new PassthroughMode(config, kind, server, { ...opts, logger }, tap);
    mode.#wire();
    try {
      mode.events.onListenerError = (name, e) => logger.err(`A ${name} event listener failed: ${(e as Error).message}`);
      watchUpstream(mode.upstream, mode.events);
      mode.notifications = await Notifications.start({ config, events: mode.events, logger, name: opts.name ?? config.mode, tuning: opts.notify });
      await server.listen();
    } catch (e) {
      await mode.stop();
      throw e;
    }
    mode.upstream.start();
    mode.#timer = setInterval(() => mode.#logStats(), opts.logIntervalMs ?? 60_000);
    mode.#timer.unref();
    return mode;
  }

  get addresses(): { host: string; port: number }[] {
    return this.server.addresses;
  }

  /** Resolves once a link is up (miners are accepted). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await this.upstream.waitUp(timeoutMs);
  }

  #wire(): void {
    const server = this.server;
    server.on('connection', (conn) => {
      const suffix = `,"client_id":${conn.id},"address":${JSON.stringify(conn.address)},"server":${conn.serverIndex}}`;
      this.miners.set(conn.id, { conn, id: conn.id, suffix, sent: false, subscribed: false, resume: null, resuming: 0, tap: undefined });
    });
    server.on('message', (conn, msg, raw) => {
      const m = this.miners.get(conn.id);
      if (m === undefined) return;
      const a = this.upstream.active;
      if (a === null) {
        if (msg.method !== undefined && msg.id !== undefined && msg.id !== null) {
          conn.send(reply(msg.id, null, err(StratumError.OTHER, 'Upstream pool unavailable, please wait')));
        }
        return;
      }
      this.#tap?.fromMiner?.(m, msg);
      if (this.#resumes) this.#remember(m, msg);
      const t = raw.trimEnd();
      const body = t.slice(0, -1).trimEnd();
      a.link.send(body.charCodeAt(body.length - 1) === 0x7b ? body + m.suffix.slice(1) : body + m.suffix);
      m.sent = true;
      this.counters.up++;
    });
    server.on('close', (conn) => {
      const m = this.miners.get(conn.id);
      if (m === undefined) return;
      this.miners.delete(conn.id);
      this.#tap?.gone?.(m);
      const a = this.upstream.active;
      if (a !== null && m.sent) a.link.send(`{"id":42${m.suffix.slice(0, -1)},"method":"mining.term","params":[]}`);
    });
    this.upstream.on('up', (a) => this.#onUp(a));
    this.upstream.on('down', (reason) => {
      this.server.accepting = false;
      for (const m of this.miners.values()) m.sent = m.subscribed = false;
      this.logger.warning(`${this.kind}: no upstream pool (${reason}); ${this.miners.size} miner(s) wait, new ones are refused`);
      this.emit('down', reason);
    });
    this.upstream.on('message', (msg) => this.#fromUpstream(msg));
  }

  #onUp(a: Active<true>): void {
    // a passthrough or node carries its miners over: subscribe again for each of them,
    // asking for the same session and extranonce1 (./links.ts); the ones that cannot
    // keep it are sent client.reconnect when the answer comes (#resumed)
    if (this.miners.size && this.#resumes) {
      let n = 0;
      for (const m of [...this.miners.values()]) {
        m.subscribed = false;
        const r = m.resume;
        if (r === null) continue; // never subscribed: nothing to carry over
        const tail = m.suffix.slice(0, -1) + `,"${RESUME_TAG}":${JSON.stringify(r.enonce1)}}`;
        let lines = '';
        if (m.configure) lines += `{"id":"${RESUME_ID}c","method":"mining.configure","params":${JSON.stringify(m.configure)}${m.suffix}\n`;
        lines += `{"id":"${RESUME_ID}s","method":"mining.subscribe","params":${JSON.stringify([m.subscribeAgent ?? AGENT, r.session])}${tail}\n`;
        if (m.auth) lines += `{"id":"${RESUME_ID}a","method":"mining.authorize","params":${JSON.stringify(m.auth)}${m.suffix}\n`;
        a.link.send(lines);
        m.sent = true;
        m.resuming = m.auth ? 2 : 1;
        n++;
      }
      this.logger.notice(`${this.kind}: new upstream link: carrying ${n} miner(s) over (same session and extranonce1 where the pool allows)`);
      this.server.accepting = true;
      this.emit('up', a);
      return;
    }
    // a new link knows none of the miners on the old one: they must subscribe again
    if (this.miners.size) {
      this.logger.notice(`${this.kind}: new upstream link: sending ${this.miners.size} miner(s) client.reconnect`);
      for (const m of [...this.miners.values()]) {
        m.sent = m.subscribed = false; // the new link never heard of it: no mining.term for it there
        this.counters.reconnected++;
        m.conn.send(reconnect());
        m.conn.close('upstream link changed');
      }
    }
    this.server.accepting = true;
    this.emit('up', a);
  }

  /** The fast path for lines from upstream: true when handled without parsing. */
  #rawLine(line: string): boolean {
    if (line.startsWith(FANOUT_PREFIX)) {
      this.#fanout(line);
      return true;
    }
    if (line.startsWith(CLIENT_ID_PREFIX)) {
      if (this.#tap?.parseDownstream) return false;
      let i = CLIENT_ID_PREFIX.length;
      let id = 0;
      let c = line.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return false;
      while (c >= 0x30 && c <= 0x39) {
        id = id * 10 + (c - 0x30);
        c = line.charCodeAt(++i);
      }
      if (c !== 0x2c /* , */) return false;
      // the pool's "node.method" tag is for passthroughs and nodes, not for the miner
      let subscribeResult = false;
      if (line.startsWith(NODE_METHOD, i + 1)) {
        const end = line.indexOf('"', i + 1 + NODE_METHOD.length);
        if (end < 0 || line.charCodeAt(end + 1) !== 0x2c) return false;
        subscribeResult = line.startsWith(SUBSCRIBE_RESULT, i + 1 + NODE_METHOD.length);
        i = end + 1;
      }
      const m = this.miners.get(id);
      if (m !== undefined && m.resuming !== 0 && line.startsWith(`"id":"${RESUME_ID}`, i + 1)) {
        this.#resumed(m, line);
        return true;
      }
      if (m !== undefined) {
        if (subscribeResult) {
          m.subscribed = true;
          if (this.#resumes) {
            try {
              this.#subscribedAs(m, (JSON.parse(line) as { result?: unknown }).result);
            } catch {
              m.resume = null;
            }
          }
        }
        m.conn.send('{' + line.slice(i + 1));
        this.counters.down++;
      }
      return true;
    }
    if (line.startsWith('dropclient=')) {
      const m = this.miners.get(Number(line.slice(11)));
      if (m !== undefined) {
        this.counters.dropped++;
        m.conn.close('dropped by upstream');
      }
      return true;
    }
    return this.#tap?.fromUpstreamLine?.(line) ?? false;
  }

  #fromUpstream(msg: Json): void {
    const id = msg.client_id;
    if (id === undefined) {
      this.#tap?.fromUpstream?.(msg);
      return;
    }
    const m = typeof id === 'number' ? this.miners.get(id) : undefined;
    if (m === undefined) return;
    if (m.resuming !== 0 && typeof msg.id === 'string' && msg.id.startsWith(RESUME_ID)) return this.#resumed(m, msg);
    if (msg['node.method'] === 'subscribe.result') {
      m.subscribed = true;
      if (this.#resumes) this.#subscribedAs(m, msg.result);
    }
    delete msg.client_id;
    delete msg['node.method'];
    this.#tap?.toMiner?.(m, msg);
    m.conn.send(JSON.stringify(msg));
    this.counters.down++;
  }

  /** An extranonce1 of a miner a new link would carry over (the handshake's RESUME_PARAM). */
  #resumeHint(): string | undefined {
    for (const m of this.miners.values()) if (m.resume !== null) return m.resume.enonce1;
    return undefined;
  }

  /** The requests a resume replays over a new link (passthroughs and nodes). */
  #remember(m: Miner, msg: Json): void {
    const method = msg.method;
    if (method === 'mining.subscribe') {
      m.resume = null;
      m.subscribeAgent = Array.isArray(msg.params) ? msg.params[0] : undefined;
    } else if (method === 'mining.authorize' && Array.isArray(msg.params)) {
      m.auth = msg.params;
    } else if (method === 'mining.configure' && Array.isArray(msg.params)) {
      m.configure = msg.params;
    }
  }

  /** The pool's answer to the miner's subscribe: its session and extranonce1, for a resume. */
  #subscribedAs(m: Miner, r: unknown): void {
    if (!Array.isArray(r) || typeof r[1] !== 'string') return;
    // [[["mining.notify", session], …], enonce1, n2len] (ckpool: [["mining.notify", session]] too)
    const first: unknown = Array.isArray(r[0]) ? (Array.isArray(r[0][0]) ? r[0][0] : r[0]) : null;
    const session = Array.isArray(first) && typeof first[1] === 'string' ? first[1] : '';
    m.resume = { session, enonce1: r[1] };
  }

  /** A reply to a resume's replayed request: keep the miner, or send it to reconnect. */
  #resumed(m: Miner, line: string | Json): void {
    let msg: { id?: unknown; result?: unknown };
    try {
      msg = typeof line === 'string' ? JSON.parse(line) as { id?: unknown; result?: unknown } : line;
    } catch {
      msg = {};
    }
    const kind = typeof msg.id === 'string' ? msg.id.slice(RESUME_ID.length) : '';
    if (kind === 'c') return;
    const ok = kind === 's'
      ? Array.isArray(msg.result) && msg.result[1] === m.resume?.enonce1
      : kind === 'a' && msg.result === true;
    if (kind === 's' && ok) {
      m.subscribed = true;
      this.#subscribedAs(m, msg.result); // the session id may be a new one
    }
    if (!ok) {
      m.resuming = 0;
      this.counters.reconnected++;
      m.conn.send(reconnect());
      m.conn.close('upstream link changed');
      return;
    }
    if (--m.resuming === 0) this.counters.resumed++;
  }

  /** A line for every miner the pool holds as subscribed (one copy crossed the link). */
  #fanout(line: string): void {
    let i = FANOUT_PREFIX.length;
    if (line.startsWith(NODE_METHOD, i)) {
      const end = line.indexOf('"', i + NODE_METHOD.length);
      if (end < 0 || line.charCodeAt(end + 1) !== 0x2c) return;
      i = end + 2;
    }
    // encoded once, the same bytes to every socket
    const buf = Buffer.from('{' + line.slice(i) + (line.endsWith('\n') ? '' : '\n'));
    let n = 0;
    for (const m of this.miners.values()) {
      if (m.subscribed && m.conn.send(buf)) n++;
    }
    this.counters.down += n;
    this.counters.fanouts++;
  }

  #logStats(): void {
    const a = this.upstream.active;
    this.logger.notice(`Passthrough:${JSON.stringify({
      kind: this.kind, miners: this.miners.size, upstream: a ? a.entry.url : null, relayed_up: this.counters.up,
      relayed_down: this.counters.down, dropped: this.counters.dropped, reconnected: this.counters.reconnected,
    })}`);
  }

  /** The active link (null while none is up). */
  get link(): UpstreamLink | null {
    return this.upstream.active?.link ?? null;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.upstream.close();
    await this.server.close();
    await this.#tap?.close?.();
    await this.notifications?.stop();
  }
}
