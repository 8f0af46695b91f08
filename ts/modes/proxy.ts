/**
 * Proxy (-p, `ckproxy`) and userproxy (-u) modes: a local pool for its miners that
 * presents their work upstream as one user (behaviour §12.1).
 *
 * - ProxySource is the WorkSource of the local stratifier: each upstream
 *   mining.notify becomes a local workbase (source 'stratum') with a local job id,
 *   kept with the upstream job id and the upstream difficulty at the time.
 * - The upstream extranonce2 space is split: the upstream extranonce1 becomes the
 *   fixed prefix of every local client's extranonce1 (Stratifier `enonce1Prefix`),
 *   followed by a per-client part of 4/2/1/0 bytes (upstream nonce2 length > 7 / > 5 /
 *   > 3 / else; or upstream length − `nonce2length` when that is set); the miners get
 *   the rest as their extranonce2. So two miners can never produce the same coinbase.
 * - Local vardiff and stats per miner, with the upstream difficulty as the ceiling
 *   (lowered at once when upstream lowers it). Every local share with sdiff ≥ the
 *   upstream difficulty (or that meets the network target) goes upstream under the
 *   proxy's user: `[auth, upstream job id, client part + nonce2, ntime, nonce,
 *   version bits]` — version-rolling bits are forwarded (ckpool 0.9.9 drops them),
 *   within the mask the upstream granted to our mining.configure.
 * - The `proxy` array is a failover set (./upstream.ts). A new upstream session with
 *   the same extranonce1 (our subscribe asks to resume the previous session) keeps
 *   every miner; a different one means new extranonce1s, so the miners are sent
 *   client.reconnect. While no upstream is up, miners stay connected (new ones are
 *   refused) and are told to wait; their shares are judged locally but cannot be
 *   forwarded.
 * - Miners are sent `mining.ping` every update_interval, as ckpool does in proxy mode.
 *
 * Differences from ckpool 0.9.9: version bits are forwarded; the subscribe asks to
 * resume the previous upstream session; mining.configure is sent upstream; a mindiff
 * above 1 is suggested with the standard `mining.suggest_difficulty` (0.9.9 sends a
 * `mining.suggest` nobody answers); upstream mining.set_extranonce is honoured;
 * client.reconnect from upstream reconnects to the configured entries (0.9.9 follows a
 * new host in the same domain). Not done: recruiting more upstream connections
 * ("subproxies") when the per-client extranonce space runs out — with the usual 8-byte
 * upstream extranonce2 it holds 2^32 miners, but an upstream nonce2 of 3 bytes or less
 * leaves room for one miner at a time.
 *
 * Userproxy: every distinct miner credential (username, password) gets its own
 * upstream connection with those credentials and its own local stratifier. A miner
 * first mines on the proxy's own connection; once its credential's connection has
 * work, it is sent client.reconnect and its next connection from that address lands
 * there (ckpool's globaluser rebinding).
 */
import { EventEmitter } from 'node:events';
import type { CkpoolConfig } from '../config/types.js';
import { ckError } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { prevhashFromStratum, sha256d, toDisplayHex } from '../native/core.js';
import { ShareChecker, headerVersion } from '../native/share.js';
import type { Client } from '../pool/client.js';
import { parseDiff, reconnect } from '../pool/protocol.js';
import { Stratifier, type ShareVerdict } from '../pool/stratifier.js';
import { PoolStats } from '../stats/stats.js';
import { ShareLog } from '../stats/sharelog.js';
import { StratumServer, type StratumConnection, type StratumServerOptions } from '../stratum/server.js';
import { serverLimitsFromConfig } from '../stratum/server-types.js';
import type { BlockSubmission } from '../work/generator.js';
import type { WorkSource } from '../work/source.js';
import { Workbase } from '../work/workbase.js';
import { AGENT, hashMeetsTarget, hex8 } from './common.js';
import { PoolEvents } from '../events.js';
import { Notifications, type NotifyTuning } from '../notify/service.js';
import { watchUpstream } from '../notify/sources.js';
import { tlsCredentialsFor } from '../tls/credentials.js';
import { Upstream, type Active, type Json, type UpstreamEntry, type UpstreamLink } from './upstream.js';
import { startProxyApi, type ProxyApi } from './proxy-api.js';

/** Process-wide job sequence and epoch: local job ids never repeat, whatever the upstream. */
let jobSeq = 0;
const EPOCH = Math.floor(Date.now() / 1000);
/** Workbases kept after they went stale (for "Stale" rather than "Invalid JobID"), and at most this many. */
const STALE_KEEP_MS = 120_000;
const MAX_JOBS = 256;
/** Block candidates held while no upstream is connected, and for how long (see #holdBlock). */
const MAX_HELD_BLOCKS = 16;
const HELD_BLOCK_MS = 600_000;
/** ckpool's broadcast_ping; answers are ignored */
const PING = '{"params":[],"id":42,"method":"mining.ping"}';

export interface UpstreamJob {
  wb: Workbase;
  /** the job id upstream knows */
  upstreamJobId: string;
  /** upstream difficulty when the job arrived */
  diff: number;
}

/** The local stratifier's work: upstream notifies (ckpool generator.c proxy mode). */
export class ProxySource extends EventEmitter<{ workbase: [wb: Workbase, clean: boolean] }> implements WorkSource {
  current: Workbase | null = null;
  blockChangeSeq = 0;
  readonly network = null;
  /** upstream difficulty (1 until a set_difficulty) */
  diff = 1;
  readonly #jobs = new Map<string, UpstreamJob>();
  readonly #log: Logger;

  constructor(readonly nonce1length: number, readonly nonce2length: number, logger?: Logger) {
    super();
    this.#log = logger ?? new NullLogger();
  }

  /** An upstream mining.notify; the new local workbase, or null when unusable. */
  notify(params: unknown): Workbase | null {
    if (!Array.isArray(params) || typeof params[0] !== 'string') {
      this.#log.warning(ckError('CKP_ERR_PROXY_PROTOCOL', 'upstream', 'mining.notify', 'params are not a job').message);
      return null;
    }
    let wb: Workbase;
    try {
      wb = new Workbase({ notify: params, seq: ++jobSeq, epoch: EPOCH, nonce1length: this.nonce1length, nonce2length: this.nonce2length });
      // The whole job, by the share core's own rules (coinbase halves, branch length,
      // nbits, extranonce sizes), before it replaces the current one: a job the local
      // stratifier cannot check shares on would cost every miner that connects its work.
      // The last good job stays current.
      new ShareChecker({
        coinb1: wb.coinb1, coinb2: wb.coinb2, branch: wb.branch, version: wb.version, versionMask: 0,
        prevhash: prevhashFromStratum(wb.stratumPrevhash), nbits: wb.nbits,
        extranonce1Len: this.nonce1length, extranonce2Len: this.nonce2length,
      });
    } catch (e) {
      this.#log.warning(`${ckError('CKP_ERR_PROXY_PROTOCOL', 'upstream', 'mining.notify', (e as Error).message).message}; keeping the last good job`);
      return null;
    }
    const clean = params[8] === true || !this.current || this.current.prevhash !== wb.prevhash;
    if (clean) this.blockChangeSeq = wb.seq;
    this.current = wb;
    this.#jobs.set(wb.jobId, { wb, upstreamJobId: params[0], diff: this.diff });
    this.#prune();
    this.emit('workbase', wb, clean);
    return wb;
  }

  #prune(): void {
    const now = Date.now();
    for (const [id, j] of this.#jobs) {
      if (this.#jobs.size > MAX_JOBS || (j.wb.seq < this.blockChangeSeq && now - j.wb.createdAt > STALE_KEEP_MS)) this.#jobs.delete(id);
      else break; // insertion order: the rest are newer
    }
  }

  job(jobId: string): UpstreamJob | undefined {
    return this.#jobs.get(jobId);
  }

  workbase(jobId: string): Workbase | undefined {
    return this.#jobs.get(jobId)?.wb;
  }

  get workbaseCount(): number {
    return this.#jobs.size;
  }

  /** Proxy modes submit no blocks: a block-meeting share goes upstream like any other. */
  async submitBlock(wb: Workbase, header: Buffer): Promise<BlockSubmission> {
    const hash = toDisplayHex(sha256d(header));
    this.#log.notice(`Block candidate ${hash} on upstream job ${this.#jobs.get(wb.jobId)?.upstreamJobId ?? '?'}: forwarded upstream`);
    return { hash, height: wb.height, file: null, verdicts: [], accepted: false, confirmed: false };
  }

  scriptForAddress(): Buffer {
    throw ckError('CKP_ERR_PROXY_OPTION', 'solo', 'off in proxy modes', 'a solo username');
  }
}

/** What the stratum handshake learnt about an upstream session. */
export interface StratumSession {
  url: string;
  enonce1: string;
  en2len: number;
  /** version-rolling mask granted upstream (0 = none) */
  versionMask: number;
  /** to resume the session after a reconnect */
  sessionId: string;
}

export interface HandshakeSettings {
  versionMask: number;
  mindiff: number;
  agent?: string;
}

/**
 * ckpool's proxy handshake (mining.subscribe with a retry without params, then
 * mining.authorize), plus mining.configure for version rolling and the previous session
 * id so a reconnect can keep the extranonce1.
 */
export async function stratumHandshake(link: UpstreamLink, entry: UpstreamEntry, prev: StratumSession | null, s: HandshakeSettings): Promise<StratumSession> {
  const url = entry.url;
  let mask = 0;
  const configured = link.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': hex8(s.versionMask), 'version-rolling.min-bit-count': 2 }], 5000)
    .then((r) => {
      const res = r.result as Record<string, unknown> | null;
      const m = res?.['version-rolling.mask'];
      if (res?.['version-rolling'] === true && typeof m === 'string' && /^[0-9a-fA-F]{1,8}$/.test(m)) mask = (parseInt(m, 16) & s.versionMask) >>> 0;
    }, () => undefined);
  const agent = s.agent ?? AGENT;
  const resume = prev && prev.url === url && prev.sessionId ? [agent, prev.sessionId] : [agent];
  let sub = await link.request('mining.subscribe', resume);
  if (!Array.isArray(sub.result)) sub = await link.request('mining.subscribe', []);
  if (!Array.isArray(sub.result)) throw ckError('CKP_ERR_PROXY_REFUSED', url, 'mining.subscribe', JSON.stringify(sub.error ?? sub.result));
  const [subs, en1, en2len] = sub.result as [unknown, unknown, unknown];
  if (typeof en1 !== 'string' || !/^([0-9a-fA-F]{2}){0,16}$/.test(en1)) throw ckError('CKP_ERR_PROXY_PROTOCOL', url, 'extranonce1', JSON.stringify(en1));
  if (!Number.isInteger(en2len) || (en2len as number) < 1 || (en2len as number) > 16) {
    throw ckError('CKP_ERR_PROXY_PROTOCOL', url, 'extranonce2 size', JSON.stringify(en2len));
  }
  let sessionId = '';
  if (Array.isArray(subs)) {
    for (const t of subs) if (Array.isArray(t) && t[0] === 'mining.notify' && typeof t[1] === 'string') sessionId = t[1];
  }
  const auth = await link.request('mining.authorize', [entry.auth, entry.pass]);
  if (auth.result !== true) throw ckError('CKP_ERR_PROXY_REFUSED', url, `mining.authorize as ${entry.auth}`, JSON.stringify(auth.error ?? auth.result));
  if (s.mindiff > 1) link.sendJson({ id: 41, method: 'mining.suggest_difficulty', params: [s.mindiff] });
  // the configure reply normally came before the subscribe reply; wait a little at most
  await Promise.race([configured, new Promise((r) => setTimeout(r, 2000).unref())]);
  return { url, enonce1: en1.toLowerCase(), en2len: en2len as number, versionMask: mask, sessionId };
}

/** Bytes of the upstream extranonce2 given to each local client (§12.1). */
export function clientPart(upstreamEn2: number, nonce2length: number): number {
  if (nonce2length > 0 && nonce2length < upstreamEn2) return upstreamEn2 - nonce2length;
  if (nonce2length > 0 && nonce2length === upstreamEn2) return 0;
  return upstreamEn2 > 7 ? 4 : upstreamEn2 > 5 ? 2 : upstreamEn2 > 3 ? 1 : 0;
}

interface Shape {
  enonce1: string;
  part: number;
  mask: number;
  en2len: number;
}

export interface ProxyModeOptions {
  logger?: Logger;
  /** instance name (stats, messages) */
  name?: string;
  logShares?: boolean;
  statsIntervalMs?: number;
  authTimeoutMs?: number;
  throbber?: { write(s: string): unknown } | null;
  invalidBurst?: number;
  server?: Omit<StratumServerOptions, 'urls' | 'logger'>;
  /** upstream silence that means reconnect, ms (default max(300 s, 4 × update_interval)) */
  silenceMs?: number;
  retryMs?: number;
  failbackMs?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** userproxy: a user's upstream connection with no miners is closed after this long (default 600 000) */
  userIdleMs?: number;
  /** Notification delivery pacing (the webhooks are the config's `notifications`). */
  notify?: NotifyTuning;
  /** How often the API's history takes its sample, ms (default 60 000; only with apiurl). */
  historyIntervalMs?: number;
}

export interface ForwardResult {
  session: ProxySession;
  client: Client;
  params: unknown[];
  /** the upstream reply (null when none came) */
  reply: Json | null;
  accepted: boolean;
}

/** One upstream account: its failover link, its work and its local stratifier. */
export class ProxySession extends EventEmitter<{ ready: []; unready: []; forwarded: [r: ForwardResult] }> {
  readonly upstream: Upstream<StratumSession>;
  source: ProxySource | null = null;
  stratifier: Stratifier | null = null;
  shape: Shape | null = null;
  /** miners on the current stratifier */
  readonly conns = new Set<StratumConnection>();
  /** userproxy: miners of this credential waiting on the proxy's own session to move here */
  readonly waiting = new Set<StratumConnection>();
  readonly counters = { forwarded: 0, accepted: 0, rejected: 0, unanswered: 0, unforwarded: 0 };
  idleSince = Date.now();
  readonly #mode: ProxyMode;
  readonly #log: Logger;
  #wasReady = false;
  /** block candidates found while no upstream was connected (#holdBlock) */
  #held: { client: Client; v: ShareVerdict; at: number }[] = [];

  constructor(mode: ProxyMode, readonly key: string, readonly entries: readonly UpstreamEntry[], readonly label: string) {
    super();
    this.#mode = mode;
    this.#log = mode.logger;
    const c = mode.config;
    const o = mode.options;
    this.upstream = new Upstream<StratumSession>({
      entries,
      name: label,
      logger: this.#log,
      handshake: (link, entry, _i, prev) => stratumHandshake(link, entry, prev, { versionMask: c.versionMask, mindiff: c.mindiff }),
      silenceMs: o.silenceMs ?? Math.max(300, 4 * c.updateInterval) * 1000,
      probe: (link) => link.sendJson({ id: 'ping', method: 'mining.ping', params: [] }),
      retryMs: o.retryMs,
      failbackMs: o.failbackMs,
      connectTimeoutMs: o.connectTimeoutMs,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      link: { maxLineBytes: 1024 * 1024 },
    });
    this.upstream.on('up', (a) => this.#onUp(a));
    this.upstream.on('down', (reason) => this.#onDown(reason));
    this.upstream.on('message', (m, a) => this.#onMessage(m, a));
  }

  start(): void {
    this.upstream.start();
  }

  get ready(): boolean {
    return this.upstream.active !== null && this.source?.current != null && this.stratifier !== null;
  }

  #checkReady(): void {
    const r = this.ready;
    if (r === this.#wasReady) return;
    this.#wasReady = r;
    this.emit(r ? 'ready' : 'unready');
  }

  #onUp(a: Active<StratumSession>): void {
    const s = a.session;
    const part = clientPart(s.en2len, this.#mode.config.nonce2length);
    const shape: Shape = { enonce1: s.enonce1, part, mask: s.versionMask, en2len: s.en2len };
    const same = this.shape && this.shape.enonce1 === shape.enonce1 && this.shape.part === shape.part &&
      this.shape.mask === shape.mask && this.shape.en2len === shape.en2len;
    if (same) {
      this.#log.notice(`${this.label}: upstream session resumed with extranonce1 ${s.enonce1}: miners keep mining`);
    } else {
      this.#newShape(shape);
    }
    this.#checkReady();
    if (this.#held.length) this.#releaseHeld(same === true);
  }

  #newShape(shape: Shape): void {
    const c = this.#mode.config;
    const o = this.#mode.options;
    const en1len = shape.enonce1.length / 2;
    if (shape.en2len - shape.part < 1) shape.part = Math.max(0, shape.en2len - 1);
    const source = new ProxySource(en1len + shape.part, shape.en2len - shape.part, this.#log);
    const strat = new Stratifier({
      generator: source, stats: this.#mode.stats, shareLog: this.#mode.shareLog, solo: false,
      mindiff: c.mindiff, startdiff: c.startdiff, highdiff: c.highdiff, maxdiff: c.maxdiff,
      nonce1length: en1len + shape.part, nonce2length: shape.en2len - shape.part, enonce1Prefix: shape.enonce1,
      versionMask: shape.mask, updateInterval: c.updateInterval, poolName: o.name ?? 'ckproxy',
      serverUrls: [...c.serverurl], authTimeoutMs: o.authTimeoutMs, logger: this.#log,
      // config invalidburst as in pool mode (ts/pool/pool.ts): 0 = never drop for a run of invalid shares
      invalidBurst: o.invalidBurst ?? (c.invalidburst === 0 ? Number.POSITIVE_INFINITY : c.invalidburst),
      dropIdleMs: (c.dropidle ?? 0) * 1000,
    });
    strat.on('share', (client, v) => this.#forward(client, v));
    const old = this.stratifier;
    const moved = [...this.conns];
    this.source = source;
    this.stratifier = strat;
    this.shape = shape;
    this.conns.clear();
    this.#log.notice(`${this.label}: upstream extranonce1 ${shape.enonce1}, ${shape.en2len}-byte extranonce2: ` +
      `${shape.part} byte(s) per client (${2 ** (8 * shape.part)} clients), miners get ${shape.en2len - shape.part}` +
      `${shape.mask ? `, version mask ${hex8(shape.mask)}` : ', no version rolling'}`);
    if (moved.length) this.#log.notice(`${this.label}: new upstream session: sending ${moved.length} miner(s) client.reconnect`);
    for (const conn of moved) {
      conn.send(reconnect());
      conn.close('upstream session changed');
    }
    old?.close();
  }

  /**
   * A block candidate found while no upstream is connected: held (at most
   * MAX_HELD_BLOCKS, for HELD_BLOCK_MS) and forwarded when the same upstream session
   * resumes, since only the upstream pool has the template's transactions to submit it.
   * If the session comes back changed (another extranonce1), the upstream can no longer
   * take it: that is logged as a lost block, never silently.
   */
  #holdBlock(client: Client, v: ShareVerdict): void {
    if (this.#held.length >= MAX_HELD_BLOCKS) {
      const lost = this.#held.shift()!;
      this.#log.err(`${this.label}: block candidate ${lost.v.hash} lost: more than ${MAX_HELD_BLOCKS} held while the upstream is down`);
    }
    this.#held.push({ client, v, at: Date.now() });
    this.#log.warning(`${this.label}: upstream down: holding block candidate ${v.hash} from ${client.workername} until it is back`);
  }

  /** The upstream is back: forward the held block candidates (same session), or say they are lost. */
  #releaseHeld(sameSession: boolean): void {
    const held = this.#held.splice(0);
    for (const h of held) {
      if (!sameSession || Date.now() - h.at > HELD_BLOCK_MS) {
        this.#log.err(`${this.label}: block candidate ${h.v.hash} lost: ${sameSession ? 'held too long' : 'the upstream session changed (its extranonce1 is gone)'} before the upstream came back`);
        continue;
      }
      this.#forward(h.client, h.v);
    }
  }

  #onDown(reason: string): void {
    this.#checkReady();
    const n = this.stratifier?.showMessage(`Upstream pool unavailable (${reason}); waiting for it`) ?? 0;
    if (n) this.#log.notice(`${this.label}: told ${n} miner(s) to wait for the upstream pool`);
  }

  #onMessage(m: Json, a: Active<StratumSession>): void {
    const method = typeof m.method === 'string' ? m.method : '';
    const params = Array.isArray(m.params) ? m.params : [];
    switch (method) {
      case 'mining.notify':
        if (this.source?.notify(params)) this.#checkReady();
        return;
      case 'mining.set_difficulty': {
        const d = parseDiff(params[0]);
        if (d === null || !this.source) return;
        this.source.diff = d;
        this.stratifier?.capDifficulty(d);
        return;
      }
      case 'mining.set_extranonce': {
        const [en1, en2len] = params;
        if (typeof en1 !== 'string' || !/^([0-9a-fA-F]{2}){0,16}$/.test(en1) || !Number.isInteger(en2len) || (en2len as number) < 1) return;
        const s = a.session;
        s.enonce1 = en1.toLowerCase();
        s.en2len = en2len as number;
        this.#newShape({ enonce1: s.enonce1, part: clientPart(s.en2len, this.#mode.config.nonce2length), mask: s.versionMask, en2len: s.en2len });
        this.#checkReady();
        return;
      }
      case 'client.reconnect':
        this.#log.notice(`${this.label}: upstream ${a.entry.url} asked us to reconnect`);
        this.upstream.reconnect('client.reconnect from upstream');
        return;
      case 'client.get_version':
        a.link.sendJson({ id: m.id ?? null, result: AGENT, error: null });
        return;
      case 'mining.ping':
        a.link.sendJson({ id: m.id ?? null, result: 'pong', error: null });
        return;
      case 'client.show_message':
        this.#log.notice(`${this.label}: upstream says: ${String(params[0]).slice(0, 200)}`);
        return;
      default:
        this.#log.debug(`${this.label}: unhandled upstream message ${JSON.stringify(m).slice(0, 200)}`);
    }
  }

  /** A judged local share: forward it upstream when it is good enough there. */
  #forward(client: Client, v: ShareVerdict): void {
    const w = v.work;
    const source = this.source;
    const shape = this.shape;
    if (!w || !source || !shape) return;
    const job = source.job(w.wb.jobId);
    if (!job) return;
    // (the exact 256-bit comparison only for shares near the network difficulty)
    const block = v.sdiff >= w.wb.networkDiff * 0.999 && hashMeetsTarget(v.hash, w.wb.networkTarget);
    if (!block && !(v.accepted && v.sdiff >= Math.max(job.diff, source.diff))) return;
    const a = this.upstream.active;
    if (!a) {
      this.counters.unforwarded++;
      if (block) this.#holdBlock(client, v);
      return;
    }
    const params: unknown[] = [a.entry.auth, job.upstreamJobId, client.enonce1Hex.slice(shape.enonce1.length) + w.nonce2, w.ntime, w.nonce];
    // Upstream gets the version the share was judged on in BIP310's form (the rolled
    // version's bits inside the granted mask), whichever form the miner sent (full or
    // delta): that reads right on ckpool-ts, on BIP310 pools and on ckpool (which ORs the
    // bits into the job version), also when the job version has bits inside the mask.
    // A share that did not roll goes up with no bits, as it came.
    const version = headerVersion(w.wb.version, shape.mask, w.versionBits, w.flags);
    if (version !== w.wb.version) params.push(hex8(version & shape.mask));
    this.counters.forwarded++;
    if (block) this.#log.notice(`${this.label}: forwarding block candidate ${v.hash} from ${client.workername} upstream`);
    a.link.requestCb('mining.submit', params, 120_000, (reply) => {
      const accepted = reply?.result === true;
      if (reply === null) this.counters.unanswered++;
      else if (accepted) this.counters.accepted++;
      else this.counters.rejected++;
      this.emit('forwarded', { session: this, client, params, reply, accepted });
    });
  }

  /** Put a miner on this session's stratifier. */
  attach(conn: StratumConnection): Stratifier | null {
    const strat = this.stratifier;
    if (!strat) return null;
    strat.connect(conn);
    this.conns.add(conn);
    this.idleSince = 0;
    return strat;
  }

  detach(conn: StratumConnection): void {
    this.conns.delete(conn);
    this.waiting.delete(conn);
    if (this.conns.size === 0 && this.waiting.size === 0) this.idleSince = Date.now();
  }

  close(): void {
    this.upstream.close();
    this.stratifier?.close();
  }
}

/** The proxy and userproxy modes: a stratum server for local miners in front of ProxySessions. */
export class ProxyMode extends EventEmitter<{ forwarded: [r: ForwardResult] }> {
  readonly sessions = new Map<string, ProxySession>();
  /** Operator events (ts/events.ts): upstream_down / upstream_up of the proxy's own upstream, worker presence. */
  readonly events = new PoolEvents();
  /** Webhook notifications (config `notifications`), null when none are configured. */
  notifications: Notifications | null = null;
  /** The HTTP API (config `apiurl`, ./proxy-api.ts), null when off. */
  api: ProxyApi | null = null;
  readonly main: ProxySession;
  readonly logger: Logger;
  readonly userproxy: boolean;
  /** where each miner is: its session and the stratifier it was connected to */
  readonly #route = new Map<number, { session: ProxySession; strat: Stratifier }>();
  /** userproxy: session keys miners from an address were sent away to, oldest first */
  readonly #pendingByIp = new Map<string, string[]>();
  #sweep: NodeJS.Timeout | null = null;
  #lastPing = Date.now();

  private constructor(
    readonly config: CkpoolConfig,
    readonly options: ProxyModeOptions,
    readonly server: StratumServer,
    readonly stats: PoolStats,
    readonly shareLog: ShareLog | null,
  ) {
    super();
    this.logger = options.logger ?? new NullLogger();
    this.userproxy = config.mode === 'userproxy';
    this.main = this.#session('', config.proxy.map((p) => ({ url: p.url, auth: p.auth, pass: p.pass, insecure: p.insecure })), config.mode);
  }

  /**
   * Listen for miners and start connecting upstream. Resolves once listening; miners
   * are refused until the upstream has sent work (waitReady).
   */
  static async start(config: CkpoolConfig, opts: ProxyModeOptions = {}): Promise<ProxyMode> {
    if (config.mode !== 'proxy' && config.mode !== 'userproxy') throw ckError('CKP_ERR_PROXY_OPTION', 'mode', 'proxy or userproxy', config.mode);
    if (!config.proxy.length) throw ckError('CKP_ERR_PROXY_OPTION', 'proxy', 'a non-empty list of upstream pools', '[]');
    const logger = opts.logger ?? new NullLogger();
    const stats = new PoolStats({ logdir: config.logdir, name: opts.name, logger, throbber: opts.throbber ?? null });
    const shareLog = opts.logShares ? new ShareLog(config.logdir, logger) : null;
    // the per-connection limit keys (floodrate, floodburst, maxpending, linkmaxpending,
    // linkminers) hold for the proxy's own miners as for a pool's
    const server = new StratumServer({ maxClients: config.maxclients, tls: tlsCredentialsFor(config), ...serverLimitsFromConfig(config), ...opts.server, urls: [...config.serverurl], logger });
    server.accepting = false;
    const mode = new ProxyMode(config, { ...opts, logger }, server, stats, shareLog);
    try {
      await stats.readBack(Date.now()).catch((e: Error) => logger.warning(`Could not read back stats: ${e.message}`));
      stats.start(opts.statsIntervalMs);
      mode.#wire();
      mode.events.onListenerError = (name, e) => logger.err(`A ${name} event listener failed: ${(e as Error).message}`);
      watchUpstream(mode.main.upstream, mode.events);
      mode.notifications = await Notifications.start({ config, events: mode.events, stats, logger, name: opts.name ?? config.mode, tuning: opts.notify });
      await server.listen();
      if (config.apiurl) mode.api = await startProxyApi(mode, config.apiurl, logger, opts.historyIntervalMs);
    } catch (e) {
      await mode.stop();
      throw e;
    }
    mode.main.start();
    return mode;
  }

  get addresses(): { host: string; port: number }[] {
    return this.server.addresses;
  }

  /** Resolves when the proxy's own upstream session has work (miners are accepted). */
  waitReady(timeoutMs = 30_000): Promise<void> {
    if (this.main.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.main.off('ready', done);
        reject(ckError('CKP_ERR_PROXY_NONE_ALIVE', this.main.upstream.lastErrors.filter(Boolean).join('; ') || 'no work yet'));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.main.once('ready', done);
    });
  }

  /** Every stratifier serving miners now (one, or one per userproxy credential). */
  get stratifiers(): Stratifier[] {
    return [...this.sessions.values()].map((s) => s.stratifier).filter((s): s is Stratifier => s !== null);
  }

  #session(key: string, entries: UpstreamEntry[], label: string): ProxySession {
    const s = new ProxySession(this, key, entries, label);
    s.on('forwarded', (r) => this.emit('forwarded', r));
    s.on('ready', () => {
      if (s === this.main) this.server.accepting = true;
      for (const conn of s.waiting) this.#move(conn, s);
    });
    s.on('unready', () => {
      if (s === this.main) this.server.accepting = false;
    });
    this.sessions.set(key, s);
    return s;
  }

  #wire(): void {
    const server = this.server;
    server.on('connection', (conn) => {
      const session = this.#pick(conn);
      const strat = session.attach(conn);
      if (!strat) {
        conn.close('no upstream pool yet');
        return;
      }
      this.#route.set(conn.id, { session, strat });
    });
    server.on('message', (conn, msg) => {
      const r = this.#route.get(conn.id);
      if (!r) return;
      r.strat.message(conn, msg);
      if (this.userproxy && typeof msg.method === 'string' && msg.method.toLowerCase().startsWith('mining.auth') &&
        (conn.state as Client | undefined)?.authorised) this.#userAuth(conn, r.session, msg);
    });
    server.on('close', (conn, reason) => {
      const r = this.#route.get(conn.id);
      if (!r) return;
      this.#route.delete(conn.id);
      r.strat.disconnect(conn, reason);
      r.session.detach(conn);
      for (const s of this.sessions.values()) s.waiting.delete(conn);
    });
    this.#sweep = setInterval(() => this.#tick(), 5000);
    this.#sweep.unref();
  }

  /** The session a new connection belongs to: where its address was sent, else the proxy's own. */
  #pick(conn: StratumConnection): ProxySession {
    const queue = this.#pendingByIp.get(conn.address);
    while (queue && queue.length) {
      const key = queue.shift()!;
      if (!queue.length) this.#pendingByIp.delete(conn.address);
      const s = this.sessions.get(key);
      if (s?.ready) return s;
    }
    return this.main;
  }

  /** userproxy: a miner authorised; make sure its credential has its own upstream and move it there. */
  #userAuth(conn: StratumConnection, current: ProxySession, msg: Record<string, unknown>): void {
    const p = msg.params;
    if (!Array.isArray(p) || typeof p[0] !== 'string' || !p[0]) return;
    const username = p[0].split(/[._]/, 1)[0]!;
    if (!username || conn.closed) return;
    const pass = typeof p[1] === 'string' ? p[1] : '';
    const key = `${username}\n${pass}`;
    if (current.key === key) return;
    let s = this.sessions.get(key);
    if (!s) {
      s = this.#session(key, this.config.proxy.map((e) => ({ url: e.url, auth: username, pass, insecure: e.insecure })), `userproxy ${username}`);
      this.logger.notice(`userproxy: opening an upstream connection for user ${username}`);
      s.start();
    }
    s.idleSince = 0;
    if (s.ready) this.#move(conn, s);
    else s.waiting.add(conn);
  }

  #move(conn: StratumConnection, to: ProxySession): void {
    to.waiting.delete(conn);
    if (conn.closed) return;
    const q = this.#pendingByIp.get(conn.address) ?? [];
    q.push(to.key);
    this.#pendingByIp.set(conn.address, q);
    conn.send(reconnect());
    conn.close('moving to its own upstream connection');
  }

  #tick(): void {
    const now = Date.now();
    if (now - this.#lastPing >= this.config.updateInterval * 1000) {
      this.#lastPing = now;
      this.server.broadcast(PING);
    }
    if (this.userproxy) this.#closeIdleUsers(now);
  }

  #closeIdleUsers(now: number): void {
    const idle = this.options.userIdleMs ?? 600_000;
    for (const [key, s] of this.sessions) {
      if (s === this.main || s.conns.size || s.waiting.size || !s.idleSince || now - s.idleSince < idle) continue;
      this.logger.notice(`${s.label}: no miners for ${Math.round((now - s.idleSince) / 1000)} s, closing its upstream connection`);
      s.close();
      this.sessions.delete(key);
    }
  }

  async stop(): Promise<void> {
    await this.api?.close();
    this.api = null;
    if (this.#sweep) clearInterval(this.#sweep);
    for (const s of this.sessions.values()) s.close();
    await this.server.close();
    await this.shareLog?.close();
    await this.stats.stop();
    await this.notifications?.stop();
  }
}
