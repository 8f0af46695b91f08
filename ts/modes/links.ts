/**
 * The main pool's side of passthrough and node links (behaviour §12.2, §12.3).
 *
 * A connection that starts with `mining.passthrough` (on any serverurl) or
 * `mining.node` (only on a `nodeserver` url; elsewhere it is dropped) is answered
 * `{"result":true}` and becomes a multiplexed link: it leaves the stratifier, gets
 * link-sized limits (long lines, a large output bound, no flood control), and every
 * line on it is one miner's message tagged with `client_id` (plus `address` and
 * `server`). Each (link, client_id) is a virtual StratumConnection the stratifier
 * serves like any miner — its own extranonce1, difficulty, vardiff and stats, by its
 * own worker name — whose output goes back over the link as the same JSON with
 * `"client_id":N` first. Dropping one sends the line `dropclient=N`; the downstream's
 * `mining.term` for a miner that left removes it; a closed link removes all of its
 * miners.
 *
 * Everything sent to a miner behind a link carries ckpool's `"node.method"` tag
 * (`subscribe.result`, `auth.result`, `share.result`, `diff`, `update`, …: ./node-wire.ts):
 * ckpool's node and redirector read them. Replies are tagged from the method of the
 * request they answer, remembered per miner by id.
 *
 * Notify fan-out (ckpool-ts extension): a passthrough whose handshake params include
 * "notify-fanout" gets each new job once, as `{"client_id":"*","node.method":"update",…}`,
 * instead of one tagged copy per miner (the stratifier's sendShared; not in -B solo mode,
 * where every user's coinbase differs). At 10,000 miners a block change is then one
 * 1–2 KB line on the link, not 10,000 of them built, written and parsed.
 *
 * Resume (ckpool-ts extension): a subscribe from a link carrying `"resume_enonce1":"…"`
 * (a ckpool-ts passthrough moving its miner over from an earlier link, e.g. after this
 * pool was restarted with -H) gets that extranonce1 back if it is free and one this
 * stratifier could have handed out (ts/pool/stratifier.ts); otherwise a fresh one, and the
 * passthrough sends that miner client.reconnect. Such a passthrough's handshake also
 * names one of those extranonce1s (RESUME_PARAM): with worker threads each thread owns a
 * slot of the extranonce1 space, and the link is moved to the thread owning it.
 *
 * Node links also get ckpool's `{"node.method":"workinfo",...}` for every new workbase,
 * preceded by a `transactions` message with the raw transactions that link has not been
 * sent yet, so a node (ckpool's or ours) can check its miners' shares itself and build
 * and submit a block to its own bitcoind. (Pool mode only: in -B solo mode every user
 * has their own coinbase, which a node cannot rebuild, so none is sent.)
 *
 * Links are trusted as in ckpool: any client may turn itself into one, and a link is
 * exempt from flood control (it carries many miners); its miners do count against
 * `maxclients`. Put passthroughs and nodes on a port miners cannot reach if that matters.
 *
 * Differences from ckpool 0.9.9: sub-client ids come from a pool-wide counter starting
 * at 2^32 rather than `(link id << 32) | client_id` (JavaScript numbers stay exact to
 * 2^53, which that formula would exceed after ~2 million connections); a link-level
 * `mining.ping` (no client_id) is answered "pong" so the downstream can tell a quiet
 * link from a dead one.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log/logger.js';
import { NullLogger } from '../log/logger.js';
import type { Client } from '../pool/client.js';
import { PROXY_AGENT, reply } from '../pool/protocol.js';
import type { Stratifier } from '../pool/stratifier.js';
import type { StratumConnection, StratumServer } from '../stratum/server.js';
import type { WorkSource } from '../work/source.js';
import type { Workbase } from '../work/workbase.js';
import { idKey } from './common.js';
import { replyMethod, serverMethod, transactionsLine, workinfoLine, type NodeMethod } from './node-wire.js';

export type LinkKind = 'passthrough' | 'node';

export interface LinkHubOptions {
  server: StratumServer;
  stratifier: Stratifier;
  /** the pool's work: node links are sent its workbases */
  generator: WorkSource;
  /** serverIndex values of the `nodeserver` urls (the only ones accepting mining.node) */
  nodeServers: ReadonlySet<number>;
  /**
   * Sub-client ids are 2^32 + index, + count, … : the threads of one pool use disjoint
   * progressions (default index 0, count 1).
   */
  idSlot?: { index: number; count: number };
  /**
   * Pool worker threads: where a passthrough link that came back with a resume hint
   * (RESUME_PARAM) should be served. True: the callee takes the connection away (to the
   * thread whose extranonce1 slot holds the hint), and calls keepLink() if it cannot after
   * all. False (or absent): it is served here.
   */
  placeLink?: (c: StratumConnection, handshake: Record<string, unknown>, resumeEnonce1: string) => boolean;
  logger?: Logger;
}

/** Longest line on a link: a downstream miner's line plus its tags. */
const LINK_LINE_BYTES = 64 * 1024;
/**
 * A subscribe from a ckpool proxy (-p): ckpool's proxy says "ckpool/0.9.9", ours
 * "ckpool-ts/…". One such connection carries a whole farm's shares, so it gets a link's
 * limits (no flood bucket, the link output bound; the stratifier skips the invalid-share
 * burst for it). A claim anyone can make, like mining.passthrough itself (see above).
 */
/** first sub-client id (direct connections count up from the number of serverurls) */
const FIRST_SUB_ID = 2 ** 32;
/** requests remembered per miner for tagging their replies (ones never answered age out) */
const MAX_PENDING = 64;
/** a transaction not in this many workbases in a row is sent to a node link again if it comes back */
const TX_MEMORY = 32;
/**
 * A line for every subscribed miner behind the link (ckpool-ts extension, only to links
 * whose handshake asked for it with a "notify-fanout" param: ckpool's own passthroughs
 * never see it).
 */
export const FANOUT_PREFIX = '{"client_id":"*",';
/** The handshake param by which a passthrough asks for FANOUT_PREFIX lines. */
export const FANOUT_PARAM = 'notify-fanout';
/** A subscribe's tag with the extranonce1 a passthrough's miner had on its last link (./passthrough.ts resume). */
export const RESUME_TAG = 'resume_enonce1';
/**
 * A handshake param `resume_enonce1=<hex>`: a ckpool-ts passthrough coming back with miners
 * to carry over names one of their extranonce1s. A pool with worker threads serves the
 * link on the thread that owns that extranonce1's slot, since only that thread can give
 * the miners their extranonce1s back (ts/pool/worker-thread.ts). ckpool ignores it.
 */
export const RESUME_PARAM = `${RESUME_TAG}=`;

/** The extranonce1 a handshake's RESUME_PARAM names, if any. */
export function resumeHint(params: unknown): string | undefined {
  if (!Array.isArray(params)) return undefined;
  for (let i = 1; i < params.length; i++) {
    const p: unknown = params[i];
    if (typeof p === 'string' && p.startsWith(RESUME_PARAM) && p.length <= RESUME_PARAM.length + 64) return p.slice(RESUME_PARAM.length);
  }
  return undefined;
}
/** `{"id":null,"method":"` — how every message the pool starts itself begins (protocol.ts) */
const SERVER_MSG = '{"id":null,"method":"';

/** One miner behind a passthrough or node link, as the stratifier sees it. */
class SubConnection implements StratumConnection {
  readonly id: number;
  readonly port = 0;
  readonly connectedAt = Date.now();
  closed = false;
  closeReason: string | undefined = undefined;
  state: unknown = undefined;
  resumeEnonce1: string | undefined = undefined;
  readonly #prefix: string;
  /** request id → the tags of its replies still to come, oldest first */
  readonly #pending = new Map<string, NodeMethod[]>();

  constructor(readonly link: Link, readonly clientId: number, readonly address: string, readonly serverIndex: number, readonly highdiff: boolean) {
    this.id = link.hub.nextSubId();
    this.#prefix = `{"client_id":${clientId},`;
  }

  send(line: string | Uint8Array): boolean {
    if (this.closed) return false;
    const s = typeof line === 'string' ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
    if (s.charCodeAt(0) !== 0x7b || s.length < 3) return false;
    return this.link.conn.send(`${this.#prefix}"node.method":"${this.#tag(s)}",${s.slice(1)}`);
  }

  /** @internal A request from this miner: its reply will be tagged for its method. */
  expectReply(id: unknown, method: string): void {
    const k = idKey(id);
    const q = this.#pending.get(k);
    if (q) q.push(replyMethod(method));
    else {
      if (this.#pending.size >= MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
      this.#pending.set(k, [replyMethod(method)]);
    }
  }

  /** ckpool's node.method for one outgoing message (stratifier.c:stratum_add_send's msg_type). */
  #tag(s: string): NodeMethod {
    if (s.startsWith(SERVER_MSG)) return serverMethod(s.slice(SERVER_MSG.length, s.indexOf('"', SERVER_MSG.length)));
    // a reply: protocol.ts's reply() writes `{"id":<id>,"result":...`
    let id: unknown;
    let resultAt = s.indexOf(',"result":');
    try {
      if (!s.startsWith('{"id":') || resultAt < 0) throw new Error('not reply()');
      id = JSON.parse(s.slice(6, resultAt));
    } catch {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(s) as Record<string, unknown>;
      } catch {
        return 'message';
      }
      if (typeof m.method === 'string') return serverMethod(m.method);
      id = m.id;
      resultAt = -1;
    }
    const k = idKey(id);
    const q = this.#pending.get(k);
    const kind = q?.shift() ?? 'error';
    if (q?.length === 0) this.#pending.delete(k);
    // ckpool's node copies result[1] as the extranonce1 without a check: anything but a
    // subscription (an error, "already subscribed") must not reach it as subscribe.result
    if (kind === 'subscribe.result' && !(resultAt >= 0 ? s.startsWith('[', resultAt + 10) : Array.isArray((JSON.parse(s) as { result?: unknown }).result))) return 'error';
    return kind;
  }

  sendJson(msg: unknown): boolean {
    return this.send(JSON.stringify(msg));
  }

  /**
   * A message every subscribed miner gets (a new job): on a link that asked for
   * notify-fanout it crosses the link once, whatever the number of miners behind it.
   */
  sendShared(line: string): boolean {
    if (this.closed || !this.link.fanout) return false;
    this.link.fan(line);
    return true;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.link.conn.send(`dropclient=${this.clientId}`);
    this.link.hub._subGone(this, reason);
  }
}

/** One passthrough or node connection. */
export class Link {
  readonly subs = new Map<number, SubConnection>();
  readonly since = Date.now();
  /** miner messages relayed */
  messages = 0;
  /** node links: txid → the last workbase (hub count) it was in, for the transactions this link already has */
  readonly txSent = new Map<string, number>();
  /** shared lines sent this tick (one copy per link: sendShared) */
  #fanned: string | null = null;
  /** shared messages sent, and the per-miner copies they replaced */
  fanouts = 0;
  fanoutCopiesSaved = 0;
  constructor(readonly hub: LinkHub, readonly conn: StratumConnection, readonly kind: LinkKind, readonly agent: string, readonly fanout: boolean) {}

  /** @internal One copy of `line` for every subscribed miner behind this link, sent once per tick. */
  fan(line: string): void {
    if (this.#fanned === line) {
      this.fanoutCopiesSaved++;
      return;
    }
    if (this.#fanned === null) process.nextTick(clearFan, this);
    this.#fanned = line;
    this.fanouts++;
    this.conn.send(`${FANOUT_PREFIX}"node.method":"${this.#tagOf(line)}",${line.slice(1)}`);
  }

  #tagOf(line: string): NodeMethod {
    return line.startsWith(SERVER_MSG) ? serverMethod(line.slice(SERVER_MSG.length, line.indexOf('"', SERVER_MSG.length))) : 'message';
  }

  /** @internal */
  _clearFan(): void {
    this.#fanned = null;
  }
}

function clearFan(l: Link): void {
  l._clearFan();
}

export class LinkHub extends EventEmitter<{ link: [link: Link]; linkClosed: [link: Link, reason: string] }> {
  readonly links = new Map<number, Link>();
  /** miners behind all links */
  subClients = 0;
  readonly #o: LinkHubOptions;
  readonly #log: Logger;
  #workinfo: string | null = null;
  #workinfoOf: Workbase | null = null;
  /** workbases seen (the clock of Link.txSent) */
  #workbases = 0;
  #nextSubId: number;
  readonly #subIdStep: number;

  constructor(opts: LinkHubOptions) {
    super();
    this.#o = opts;
    this.#nextSubId = FIRST_SUB_ID + (opts.idSlot?.index ?? 0);
    this.#subIdStep = opts.idSlot?.count ?? 1;
    this.#log = opts.logger ?? new NullLogger();
    opts.generator.on('workbase', (wb) => this.#onWorkbase(wb));
  }

  /** @internal the id of a new miner behind a link */
  nextSubId(): number {
    const id = this.#nextSubId;
    this.#nextSubId += this.#subIdStep;
    return id;
  }

  /** Route the server's miners: links here, everyone else to the stratifier. */
  attach(): void {
    const { server, stratifier } = this.#o;
    server.on('connection', (c) => stratifier.connect(c));
    server.on('message', (c, msg) => {
      if (this.links.size !== 0) {
        const link = this.links.get(c.id);
        if (link !== undefined) return this.#fromLink(link, msg);
      }
      const m = msg.method;
      if (typeof m === 'string' && m.length >= 11) {
        if ((m.charCodeAt(7) | 0x20) !== 0x73 /* s: subscribe, submit */) {
          const l = m.toLowerCase();
          if (l === 'mining.passthrough' || l === 'mining.node') return this.#handshake(c, msg, l === 'mining.node' ? 'node' : 'passthrough');
        } else if (m === 'mining.subscribe' && Array.isArray(msg.params) && typeof msg.params[0] === 'string' && PROXY_AGENT.test(msg.params[0])) {
          server.setConnectionLimits(c, { maxPendingBytes: server.linkMaxPendingBytes, flood: false });
        }
      }
      stratifier.message(c, msg);
    });
    server.on('close', (c, reason) => {
      const link = this.links.get(c.id);
      if (link !== undefined) this.#linkClosed(link, reason);
      else stratifier.disconnect(c, reason);
    });
  }

  /**
   * Serve a passthrough handshake here after all: the placeLink callee took it but could
   * not move the connection (see LinkHubOptions.placeLink).
   */
  keepLink(c: StratumConnection, msg: Record<string, unknown>): void {
    if (!c.closed && !this.links.has(c.id)) this.#handshake(c, msg, 'passthrough', false);
  }

  #handshake(c: StratumConnection, msg: Record<string, unknown>, kind: LinkKind, place = true): void {
    const { server, stratifier } = this.#o;
    const client = c.state as Client | undefined;
    if (client?.subscribed) {
      // only before subscribe (ckpool); a miner sending it later just gets "not found"
      stratifier.message(c, msg);
      return;
    }
    if (kind === 'node' && !this.#o.nodeServers.has(c.serverIndex)) {
      this.#log.notice(`Client ${c.id} ${c.address} sent mining.node on a port that is not a nodeserver, dropping`);
      c.close('mining.node on a non-node port');
      return;
    }
    if (place && kind === 'passthrough' && this.#o.placeLink !== undefined) {
      const hint = resumeHint(msg.params);
      if (hint !== undefined && this.#o.placeLink(c, msg, hint)) return;
    }
    const agent = Array.isArray(msg.params) && typeof msg.params[0] === 'string' ? msg.params[0].slice(0, 64) : '';
    stratifier.disconnect(c, `became a ${kind} link`);
    // one copy of each new job for all of its miners, if the downstream asked (ckpool-ts passthroughs do)
    const fanout = Array.isArray(msg.params) && msg.params.slice(1).includes(FANOUT_PARAM);
    const link = new Link(this, c, kind, agent, fanout);
    this.links.set(c.id, link);
    server.setConnectionLimits(c, { maxLineBytes: LINK_LINE_BYTES, maxPendingBytes: server.linkMaxPendingBytes, flood: false });
    c.send(reply(msg.id, true));
    this.#log.notice(`Client ${c.id} ${c.address} is a ${kind} link${agent ? ` (${agent})` : ''}${fanout ? ', notify fan-out' : ''}`);
    if (kind === 'node') {
      const wb = this.#o.generator.current;
      if (wb) this.#sendWork(link, wb);
    }
    this.emit('link', link);
  }

  #fromLink(link: Link, msg: Record<string, unknown>): void {
    const cid = msg.client_id;
    if (typeof cid !== 'number' || !Number.isSafeInteger(cid) || cid < 0) {
      if (msg.method === 'mining.ping') link.conn.send(reply(msg.id, 'pong'));
      return;
    }
    link.messages++;
    let sub = link.subs.get(cid);
    if (msg.method === 'mining.term') {
      if (sub !== undefined) this._subGone(sub, 'mining.term');
      return;
    }
    if (sub === undefined) {
      // miners behind links count against maxclients like direct ones, unless the links
      // have their own limit (linkminers: they hold no descriptor here)
      const srv = this.#o.server;
      if (srv.linkMiners > 0 ? this.subClients >= srv.linkMiners : this.subClients + srv.connections.size >= srv.maxClients) {
        link.conn.send(`dropclient=${cid}`);
        return;
      }
      const addr = typeof msg.address === 'string' && msg.address.length <= 64 ? msg.address : link.conn.address;
      sub = new SubConnection(link, cid, addr, link.conn.serverIndex, link.conn.highdiff);
      link.subs.set(cid, sub);
      this.subClients++;
      this.#o.stratifier.connect(sub);
    }
    if (typeof msg.method === 'string' && msg.id !== undefined) sub.expectReply(msg.id, msg.method);
    // a ckpool-ts passthrough carrying the miner over from another link: the extranonce1 it had
    if (msg.method === 'mining.subscribe') sub.resumeEnonce1 = typeof msg[RESUME_TAG] === 'string' ? msg[RESUME_TAG] : undefined;
    try {
      this.#o.stratifier.message(sub, msg);
    } catch (e) {
      // a bug must cost this miner only, not every miner on the link
      this.#log.err(`Handling a message of ${link.kind} client ${cid} failed: ${(e as Error)?.stack ?? String(e)}`);
      sub.close('internal error');
    }
  }

  /** @internal A sub-client is gone (dropped by the pool, or mining.term). */
  _subGone(sub: SubConnection, reason: string): void {
    if (sub.closed) return;
    sub.closed = true;
    sub.closeReason = reason;
    sub.link.subs.delete(sub.clientId);
    this.subClients--;
    // never re-entrantly from inside the stratifier (it may be closing this client)
    process.nextTick(() => this.#o.stratifier.disconnect(sub, reason));
  }

  #linkClosed(link: Link, reason: string): void {
    this.links.delete(link.conn.id);
    this.#log.notice(`${link.kind} link ${link.conn.id} ${link.conn.address} closed (${reason}): dropping its ${link.subs.size} miner(s)`);
    this.subClients -= link.subs.size;
    for (const sub of link.subs.values()) {
      sub.closed = true;
      sub.closeReason = `${link.kind} link closed`;
      this.#o.stratifier.disconnect(sub, sub.closeReason);
    }
    link.subs.clear();
    this.emit('linkClosed', link, reason);
  }

  #onWorkbase(wb: Workbase): void {
    this.#workinfo = null;
    this.#workbases++;
    for (const l of this.links.values()) if (l.kind === 'node') this.#sendWork(l, wb);
  }

  /** The transactions this node link lacks, then ckpool's workinfo (./node-wire.ts). */
  #sendWork(link: Link, wb: Workbase): void {
    const info = this.#makeWorkinfo(wb);
    if (info === null) return;
    const n = this.#workbases;
    if (wb.txCount) {
      const txids = wb.txids();
      let data: string[] | null = null;
      const fresh: { hash: string; data: string }[] = [];
      for (let i = 0; i < txids.length; i++) {
        const txid = txids[i]!;
        if (!link.txSent.has(txid)) fresh.push({ hash: txid, data: (data ??= wb.txData())[i]! });
        link.txSent.set(txid, n);
      }
      if (fresh.length) link.conn.send(transactionsLine(fresh));
    }
    if (n % TX_MEMORY === 0) for (const [txid, seen] of link.txSent) if (seen < n - TX_MEMORY) link.txSent.delete(txid);
    link.conn.send(info);
  }

  /** ckpool's node.method workinfo (the same text for every node link). */
  #makeWorkinfo(wb: Workbase): string | null {
    if (wb.source !== 'template' || wb.coinb1.length === 0) return null;
    if (this.#workinfo === null || this.#workinfoOf !== wb) {
      this.#workinfo = workinfoLine(wb);
      this.#workinfoOf = wb;
    }
    return this.#workinfo;
  }
}
