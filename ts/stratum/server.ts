/**
 * The stratum v1 TCP front end: ckpool's "connector" (connector.c), with no pool policy.
 *
 * It listens on every serverurl, frames newline-delimited JSON, parses each line once
 * and hands `{conn, msg, raw}` to whoever listens for 'message' (the stratifier). It
 * queues that consumer's replies with bounded output per client, and drops abusive or
 * dead clients: invalid JSON, an oversized line, output beyond `maxPendingBytes`, or
 * writes that make no progress for `sendTimeoutMs`. Auth deadlines, difficulty and
 * everything else about miners belong to the stratifier.
 *
 * Design notes
 * - No per-connection closures or timers: socket listeners are shared functions that
 *   find their client through a symbol on the socket, and one sweep timer (interval
 *   `min(1 s, sendTimeoutMs / 4)`) looks only at the clients whose output is blocked
 *   or that are lingering in a graceful close.
 * - Reads use net.Socket `onread`: every client's data lands in one shared 16 KB buffer
 *   and goes straight to the framing, with no Readable stream and no Buffer per read.
 *   Fair service (fairness.ts): at most `linesPerTurn` lines of a read are handled at
 *   once; the rest is copied out and waits, unread further, for round-robin turns. A socket accepted by net.Server (which cannot take
 *   `onread`) is re-opened on a duplicate of its descriptor first; worker threads get
 *   their connections as descriptors anyway (adoptFd).
 * - Text sent in one tick is joined per client and written once at the end of the tick,
 *   all clients in one pass (a single process.nextTick per tick, not one per client and
 *   no cork/uncork): a reply burst costs one syscall, and a reply to a lone share no
 *   Writable bookkeeping beyond the write itself.
 * - Output bound: after that write the kernel has taken what it can; what Node still
 *   holds for the client (socket.writableLength) above maxPendingBytes drops it
 *   ('output bound exceeded'). A send() on top of an earlier tick's backlog already
 *   over the bound drops it at once. The kernel's own socket buffers come on top (on
 *   loopback they absorb about 4 MB before anything is held in Node).
 * - "Blocked" means Node still holds queued output for the client after its writes
 *   were handed to the kernel (socket.writableLength > 0). Any output completing resets
 *   the clock (like ckpool, where finishing a message clears blocked_time); a client
 *   whose output makes no progress for sendTimeoutMs is dropped ('send timeout'). So a
 *   client that stops reading costs at most maxPendingBytes plus the kernel's socket
 *   buffers, for at most sendTimeoutMs once those are full.
 * - 'close' is emitted exactly once per connection, on the next tick after the
 *   connection was marked closed (never re-entrantly from inside send() or close()).
 *   The connection leaves `connections` at once.
 *
 * The per-connection class (Client), its shared socket listeners and the end-of-tick
 * write pass are in connection.ts; options, events and close reasons in server-types.ts.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ckError, ckErrorCause } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { native } from '../native/binding.js';
import { detachDescriptor } from '../native/handover.js';
import { Listeners } from './listeners.js';
import { frameLines, FrameResult } from './framing.js';
import { FairFlag, FairScheduler } from './fairness.js';
import { isTlsUrl } from '../config/stratum-url.js';
import type { TlsCredentials } from '../tls/credentials.js';
import { TlsTerminator } from '../tls/terminate.js';
import { takeFloodTokens } from './flood.js';
import {
  Client, NEWLINE, emitClose, flushClients, kClient, kFastRead, noop, onLine, onSocketClose, onSocketData, onSocketDrain, onSocketEnd,
  onSocketError, onSocketRead, type ClientSocket,
} from './connection.js';

export {
  CloseReason, INVALID_JSON_REPLY,
  type StratumServerOptions, type StratumConnection, type StratumServerStats, type StratumServerEvents,
} from './server-types.js';
import {
  CloseReason, DEFAULTS, INVALID_JSON_REPLY, hostPortText, parseUrl, plainAddress, positive, type StratumServerOptions, type StratumConnection, type StratumServerStats, type StratumServerEvents,
} from './server-types.js';

/**
 * Bytes per read: all a connection with lines waiting adds before it is paused, and 500
 * flooders resumed together are 500 reads in one poll (so not 64 KB); a pipeline of
 * submits (a few KB) still arrives in one read.
 */
const READ_BYTES = 16 * 1024;
/** Lines per turn of a flood-exempt link (passthrough, node) relative to one miner's. */
const LINK_TURN_FACTOR = 16;

export class StratumServer extends EventEmitter<StratumServerEvents> {
  /**
   * false: new connections are accepted and closed at once; existing ones are kept (the
   * proxy modes while no upstream is up). ckpool's `reject` is pauseListening() instead.
   */
  accepting = true;

  readonly urls: readonly string[];
  readonly maxClients: number;
  readonly maxLineBytes: number;
  readonly maxPendingBytes: number;
  readonly sendTimeoutMs: number;
  readonly highdiffPort: number;
  readonly keepAliveMs: number;
  readonly closeLingerMs: number;
  readonly floodBurst: number;
  readonly floodRate: number;
  /** passthrough/node/proxy links (ts/modes/links.ts): output bound; miners all links may carry (0: within maxClients) */
  readonly linkMaxPendingBytes: number;
  readonly linkMiners: number;

  /** @internal hot-path copy */
  _maxPendingBytes: number;
  /** @internal */
  _bytesOut = 0;
  /** @internal clients with text queued this tick */
  _dirty: Client[] = [];
  /** @internal lines per connection per turn, reads paused over a backlog or unsent output (fairness.ts) */
  readonly _fair: FairScheduler<Client>;
  /** Unsent output (held in Node) above which a connection is not read until it drains. */
  readonly pauseOutputBytes: number;
  /** Every client's reads land here (net.Socket `onread`), one at a time: no Buffer per read. */
  private readonly readBuffer = Buffer.allocUnsafe(READ_BYTES);

  private readonly logger: Logger;
  private readonly replyInvalidJson: boolean;
  private readonly bindRetries: number;
  private readonly bindRetryMs: number;
  private readonly backlog: number;
  private readonly parsedUrls: { host: string; port: number }[];

  private readonly clients = new Map<number, Client>();
  private readonly blocked = new Set<Client>();
  private readonly lingering = new Set<Client>();
  private readonly listenSockets: Listeners;
  private highdiffByIndex: boolean[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextId: number;
  private readonly idStep: number;
  private readonly handoff: StratumServerOptions['handoff'];
  /** stratum+ssl:// listeners by serverIndex, and their TLS (ts/tls/terminate.ts); null: no TLS url */
  private readonly tlsByIndex: boolean[];
  private readonly tls: TlsTerminator | null;
  private state: 'new' | 'listening' | 'closed' = 'new';
  private accepted = 0;
  private bytesIn = 0;
  private readonly dropped: Record<string, number> = Object.create(null) as Record<string, number>;
  private lastRefusalLog = 0;
  private refusedSinceLog = 0;

  constructor(opts: StratumServerOptions) {
    super();
    if (!Array.isArray(opts.urls) || opts.urls.length === 0) {
      throw ckError('CKP_ERR_STRATUM_URL', '(none)', 'at least one "host:port" url is required');
    }
    this.urls = [...opts.urls];
    this.parsedUrls = this.urls.map(parseUrl);
    this.maxClients = positive('maxClients', opts.maxClients, DEFAULTS.maxClients, true);
    this.maxLineBytes = positive('maxLineBytes', opts.maxLineBytes, DEFAULTS.maxLineBytes);
    this.maxPendingBytes = positive('maxPendingBytes', opts.maxPendingBytes, DEFAULTS.maxPendingBytes);
    this._maxPendingBytes = this.maxPendingBytes;
    this.sendTimeoutMs = positive('sendTimeoutMs', opts.sendTimeoutMs, DEFAULTS.sendTimeoutMs);
    this.highdiffPort = positive('highdiffPort', opts.highdiffPort, DEFAULTS.highdiffPort, true);
    this.keepAliveMs = positive('keepAliveMs', opts.keepAliveMs, DEFAULTS.keepAliveMs);
    this.closeLingerMs = positive('closeLingerMs', opts.closeLingerMs, DEFAULTS.closeLingerMs, true);
    this.bindRetries = positive('bindRetries', opts.bindRetries, DEFAULTS.bindRetries, true);
    this.bindRetryMs = positive('bindRetryMs', opts.bindRetryMs, DEFAULTS.bindRetryMs, true);
    this.backlog = positive('backlog', opts.backlog, DEFAULTS.backlog);
    this.floodBurst = positive('floodBurst', opts.floodBurst, DEFAULTS.floodBurst);
    this.floodRate = positive('floodRate', opts.floodRate, DEFAULTS.floodRate);
    this.linkMaxPendingBytes = positive('linkMaxPendingBytes', opts.linkMaxPendingBytes, DEFAULTS.linkMaxPendingBytes);
    this.linkMiners = positive('linkMiners', opts.linkMiners, DEFAULTS.linkMiners, true);
    this.replyInvalidJson = opts.replyInvalidJson ?? true;
    this.pauseOutputBytes = positive('pauseOutputBytes', opts.pauseOutputBytes, DEFAULTS.pauseOutputBytes);
    this._fair = new FairScheduler<Client>((client, max) => this.frameClient(client, max), onSocketDrain, {
      linesPerTurn: positive('linesPerTurn', opts.linesPerTurn, DEFAULTS.linesPerTurn),
      sliceMs: positive('sliceMs', opts.sliceMs, DEFAULTS.sliceMs),
    });
    this.logger = opts.logger ?? new NullLogger();
    this.nextId = opts.idStart ?? this.urls.length;
    this.idStep = opts.idStep ?? 1;
    if (!Number.isSafeInteger(this.nextId) || this.nextId < 0 || !Number.isSafeInteger(this.idStep) || this.idStep < 1) {
      throw ckError('CKP_ERR_STRATUM_OPTION', 'idStart/idStep', 'non-negative integers (step at least 1)', `${opts.idStart}/${opts.idStep}`);
    }
    this.handoff = opts.handoff;
    this.tlsByIndex = this.urls.map(isTlsUrl);
    const tlsUrl = this.urls.find(isTlsUrl);
    if (tlsUrl !== undefined && !opts.tls) throw ckError('CKP_ERR_TLS_NOT_CONFIGURED', tlsUrl);
    this.tls = tlsUrl !== undefined && opts.tls ? new TlsTerminator(opts.tls) : null;
    this.listenSockets = new Listeners({
      urls: this.urls, parsed: this.parsedUrls, backlog: this.backlog, bindRetries: this.bindRetries, bindRetryMs: this.bindRetryMs,
      logger: this.logger, wanted: () => this.state === 'listening', onConnection: (socket, index) => this.onConnection(socket, index),
    });
  }

  /** Open connections by id. */
  get connections(): ReadonlyMap<number, StratumConnection> {
    return this.clients;
  }

  /** Actually bound addresses, by serverIndex (empty before listen()). */
  get addresses(): { host: string; port: number }[] {
    return this.listenSockets.bound.map((a) => ({ ...a }));
  }

  get listening(): boolean {
    return this.state === 'listening';
  }

  /** Bind every url. Rejects with CKP_ERR_STRATUM_LISTEN naming the url if one cannot be bound (the others are closed again). */
  async listen(): Promise<void> {
    await this.startListeners(() => this.listenSockets.bindAll());
  }

  /**
   * Listen on already-open listening sockets (socket handover): fds[i] becomes serverIndex i.
   * A url with no socket, or whose socket has another address, is bound afresh (as
   * ckpool's connector does); the urls also decide highdiff.
   */
  async listenFds(fds: readonly (number | undefined)[]): Promise<void> {
    await this.startListeners(() => this.listenSockets.inherit(fds));
  }

  private async startListeners(open: () => Promise<void>): Promise<void> {
    if (this.state !== 'new') throw ckError('CKP_ERR_STRATUM_STATE', this.state === 'closed' ? 'is closed' : 'is already listening');
    this.state = 'listening';
    try {
      await open();
    } catch (err) {
      await this.bindFailed();
      throw err;
    }
    await this.started();
  }

  /**
   * Serve without listeners of its own: connections arrive through adopt() (a worker
   * thread's server, fed by the main thread's listeners).
   */
  serve(): void {
    if (this.state !== 'new') throw ckError('CKP_ERR_STRATUM_STATE', this.state === 'closed' ? 'is closed' : 'is already listening');
    this.state = 'listening';
    this.highdiffByIndex = this.parsedUrls.map((u) => u.port > this.highdiffPort);
    this.startSweep();
  }

  /**
   * Serve a connection accepted elsewhere: a socket on a descriptor handed over from the
   * thread that accepted it. `highdiff` is that listener's (its port may be unknown here).
   */
  adopt(socket: net.Socket, serverIndex: number, highdiff?: boolean): void {
    if (highdiff !== undefined) this.highdiffByIndex[serverIndex] = highdiff;
    this.onConnection(socket, serverIndex, true);
  }

  /**
   * Serve a connection by its descriptor (handed over from the thread that accepted it);
   * this server owns the descriptor from now on. Throws if it is not a usable socket.
   */
  adoptFd(fd: number, serverIndex: number, highdiff?: boolean, prelude?: Buffer): void {
    const id = this.nextId;
    // a TLS connection reads through its TLS socket, not `onread`
    this.adopt(this.tlsByIndex[serverIndex] === true ? new net.Socket({ fd, readable: true, writable: true }) : this.openFast(fd), serverIndex, highdiff);
    // `prelude`: lines the thread that gave the connection up had read but not handled
    // (release()), handled here before anything read from the socket
    const client = prelude !== undefined && prelude.length !== 0 ? this.clients.get(id) : undefined;
    if (client !== undefined) this._onData(client, prelude!);
  }

  /**
   * Give a connection up without closing it, for another thread to adopt (adoptFd): its
   * descriptor (a duplicate; this server's socket is destroyed, the connection lives on
   * under the copy). No 'close' event: the caller tells its own consumers. Null, with the
   * connection untouched, when it cannot move cleanly: closed, TLS (its session state is
   * in this thread), output not yet written, input not yet handled, or no descriptor.
   */
  release(conn: StratumConnection): number | null {
    const client = this.clients.get(conn.id);
    if (client === undefined || client.closed || this.tlsByIndex[client.serverIndex] === true) return null;
    if (client.out !== '' || client.socket.writableLength !== 0 || client.fair !== 0) return null;
    if (client.input !== null && client.inputPos < client.input.length) return null;
    const fd = detachDescriptor(client.socket);
    if (fd === null) return null;
    (client.socket as ClientSocket)[kClient] = undefined; // its socket's late events are no longer ours
    client.closed = true;
    client.closeReason = 'moved to another thread';
    client.input = null;
    this.clients.delete(client.id);
    this.blocked.delete(client);
    return fd;
  }

  /** The certificate and key new TLS connections get (undefined: no TLS url). */
  get tlsCredentials(): TlsCredentials | undefined {
    return this.tls?.credentials;
  }

  /** New TLS connections get this certificate and key (SIGHUP reload); open ones keep theirs. */
  setTlsCredentials(credentials: TlsCredentials): void {
    if (!this.tls) throw ckError('CKP_ERR_STRATUM_STATE', 'has no stratum+ssl:// url to use a TLS certificate on');
    this.tls.update(credentials);
  }

  /**
   * A socket on `fd` whose reads go through `onread` into the shared read buffer: no
   * Readable stream machinery and no Buffer allocated per read, which is a good part of
   * the cost of a lone share on its own connection.
   */
  private openFast(fd: number): net.Socket {
    const socket = new net.Socket({ fd, readable: true, writable: true, onread: { buffer: this.readBuffer, callback: onSocketRead } } as net.SocketConstructorOpts);
    (socket as ClientSocket & { [kFastRead]?: boolean })[kFastRead] = true;
    return socket;
  }

  /** A socket accepted by net.Server, re-opened on a duplicate of its descriptor with `onread` (kept as is if that fails). */
  private reopenFast(socket: net.Socket): net.Socket {
    const copy = detachDescriptor(socket);
    if (copy === null) return socket;
    try {
      return this.openFast(copy);
    } catch {
      native.closeFd(copy);
      throw new Error('could not re-open an accepted connection');
    }
  }

  private startSweep(): void {
    const interval = Math.max(10, Math.min(1000, Math.floor(this.sendTimeoutMs / 4), this.closeLingerMs > 0 ? this.closeLingerMs : 1000));
    this.sweepTimer = setInterval(() => this.sweep(), interval);
    this.sweepTimer.unref();
  }

  private async bindFailed(): Promise<void> {
    if (this.state === 'listening') this.state = 'new'; // close() meanwhile: stay closed
    await this.listenSockets.close();
  }

  private async started(): Promise<void> {
    if (this.state !== 'listening') {
      await this.bindFailed();
      throw ckError('CKP_ERR_STRATUM_STATE', 'was closed while binding');
    }
    const bound = this.listenSockets.bound;
    this.highdiffByIndex = bound.map((a) => a.port > this.highdiffPort);
    for (let i = 0; i < bound.length; i++) {
      const a = bound[i]!;
      this.logger.notice(`Stratum server ${i} listening on ${hostPortText(a.host, a.port)}${this.highdiffByIndex[i] ? ' (highdiff)' : ''}`);
    }
    this.startSweep();
    this.emit('listening', bound.map((a) => hostPortText(a.host, a.port)));
  }

  /** The OS descriptors of the listening sockets, by serverIndex (for a handover's `getxfd`). */
  listeningFds(): number[] {
    return this.listenSockets.fds();
  }

  /** False while paused by pauseListening(). */
  get listeningActive(): boolean {
    return this.listenSockets.accepting;
  }

  /**
   * ckpool's `reject`: stop accepting but keep the listening sockets open, so new
   * connections wait in the kernel's backlog (or go to another process accepting on the
   * same sockets after a handover) instead of being refused. Connected clients stay.
   */
  pauseListening(): void {
    if (this.state === 'listening') this.listenSockets.pause();
  }

  /** ckpool's `accept`: accept again on the sockets kept by pauseListening(). */
  async resumeListening(): Promise<void> {
    if (this.state === 'listening') await this.listenSockets.resume();
  }

  /** Stop listening and destroy every client (each gets 'close' with 'server closing'). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const done = this.listenSockets.close();
    for (const client of [...this.clients.values()]) this._drop(client, CloseReason.SERVER_CLOSING, true);
    for (const client of this.lingering) client.socket.destroy();
    this.lingering.clear();
    await done;
    // The 'close' events are emitted on the next tick; let them out before resolving.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /**
   * Send one line to every open connection (or those `filter` accepts). The line is
   * encoded once and the same Buffer goes to every socket. Returns how many took it.
   */
  broadcast(line: string | Uint8Array, filter?: (conn: StratumConnection) => boolean): number {
    let buf: Uint8Array;
    if (typeof line === 'string') buf = Buffer.from(line.endsWith('\n') ? line : `${line}\n`);
    else buf = line[line.length - 1] === 0x0a ? line : Buffer.concat([line, NEWLINE]);
    let sent = 0;
    // Snapshot: a send may drop a client, which deletes it from the map.
    for (const client of [...this.clients.values()]) {
      if (filter !== undefined && !filter(client)) continue;
      if (client.send(buf)) sent++;
    }
    return sent;
  }

  /**
   * Raise one connection's limits: a passthrough or node link carries many miners'
   * lines (longer than a miner's, more of them, and a notify per miner on every new
   * job). `flood: false` exempts it from flood control.
   */
  setConnectionLimits(conn: StratumConnection, limits: { maxLineBytes?: number; maxPendingBytes?: number; flood?: boolean; linesPerTurn?: number }): void {
    const client = this.clients.get(conn.id);
    if (client === undefined || client !== conn) return;
    if (limits.maxLineBytes !== undefined) client.lineLimit = positive('maxLineBytes', limits.maxLineBytes, this.maxLineBytes);
    if (limits.maxPendingBytes !== undefined) client.pendingLimit = positive('maxPendingBytes', limits.maxPendingBytes, this.maxPendingBytes);
    if (limits.flood !== undefined) {
      client.noFlood = !limits.flood;
      // a link exempt from flood control carries many miners' lines: a bigger share of each turn
      if (limits.linesPerTurn === undefined) client.turnLines = client.noFlood ? LINK_TURN_FACTOR * this._fair.linesPerTurn : 0;
    }
    if (limits.linesPerTurn !== undefined) client.turnLines = positive('linesPerTurn', limits.linesPerTurn, this._fair.linesPerTurn);
  }

  stats(): StratumServerStats {
    return {
      clients: this.clients.size,
      accepted: this.accepted,
      closing: this.lingering.size,
      blocked: this.blocked.size,
      dropped: { ...this.dropped },
      bytesIn: this.bytesIn,
      bytesOut: this._bytesOut,
    };
  }

  /** Fair service (fairness.ts): rounds run, and pauses of reading for waiting lines / unsent output. */
  fairStats(): { rounds: number; backlogPauses: number; outputPauses: number } {
    const f = this._fair;
    return { rounds: f.rounds, backlogPauses: f.backlogPauses, outputPauses: f.outputPauses };
  }

  private countDrop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  private refuse(socket: net.Socket, reason: string): void {
    socket.on('error', noop);
    socket.destroy();
    this.countDrop(reason);
    // Rate-limited: a connection storm must not become a log storm.
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastRefusalLog >= 1000) {
      this.logger.notice(`Refused ${this.refusedSinceLog} connection(s): ${reason === CloseReason.SERVER_FULL ? `Server full (${this.clients.size} clients)` : 'not accepting clients'}`);
      this.lastRefusalLog = now;
      this.refusedSinceLog = 0;
    }
  }

  private onConnection(socket: net.Socket, serverIndex: number, adopted = false): void {
    if (this.state !== 'listening') {
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    if (!adopted) {
      if (!this.accepting) return this.refuse(socket, CloseReason.NOT_ACCEPTING);
      if (this.handoff) {
        const to = this.handoff(socket, serverIndex, this.highdiffByIndex[serverIndex] ?? false);
        if (to === 'taken') {
          this.accepted++;
          return;
        }
        if (to === 'full') return this.refuse(socket, CloseReason.SERVER_FULL);
      }
    }
    if (this.clients.size >= this.maxClients) return this.refuse(socket, CloseReason.SERVER_FULL);
    const remote = socket.remoteAddress;
    if (remote === undefined) {
      // Already gone (reset before accept completed).
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    if (this.tlsByIndex[serverIndex] === true) {
      // TLS ends on the thread that serves the miner (after any handoff above)
      socket = this.tls!.wrap(socket);
    } else if (!adopted) {
      try {
        socket = this.reopenFast(socket);
      } catch {
        this.countDrop(CloseReason.SOCKET_ERROR);
        return;
      }
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.keepAliveMs);
    const id = this.nextId;
    this.nextId += this.idStep;
    const client = new Client(this, socket as ClientSocket, id, plainAddress(remote), socket.remotePort ?? 0,
      serverIndex, this.highdiffByIndex[serverIndex] ?? false, Date.now());
    (socket as ClientSocket)[kClient] = client;
    if ((socket as ClientSocket & { [kFastRead]?: boolean })[kFastRead] !== true) socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    this.clients.set(id, client);
    this.accepted++;
    this.logger.info(`Connected new client ${id} from ${client.address}:${client.port} on server ${serverIndex}`);
    try {
      this.emit('connection', client);
    } catch (err) {
      this._listenerFailed('connection', client, err);
      this._drop(client, CloseReason.INTERNAL_ERROR, true);
    }
  }

  /** @internal A consumer's listener threw: log it, never let it escape into Node's socket code. */
  _listenerFailed(event: string, client: Client, err: unknown): void {
    this.logger.err(`Stratum ${event} handler failed for client ${client.id}: ${(err as Error)?.stack ?? String(err)}`);
  }

  /** @internal A read: keep the bytes, let the scheduler hand out lines now or in later turns. */
  _onData(client: Client, chunk: Buffer): void {
    this.bytesIn += chunk.length;
    const prev = client.input;
    if (prev === null) {
      client.input = chunk;
      client.inputPos = 0;
    } else {
      const rest = prev.subarray(client.inputPos);
      client.input = Buffer.concat([rest, chunk], rest.length + chunk.length);
      client.inputPos = 0;
    }
    this._fair.arrived(client);
    // What is left waits for its turn: copied out of the shared read buffer.
    if (client.input === chunk) {
      client.input = Buffer.from(chunk.subarray(client.inputPos));
      client.inputPos = 0;
    }
  }

  /** Up to `max` of the client's buffered lines (FairScheduler's `frame`). */
  private frameClient(client: Client, max: number): FrameResult {
    const limit = client.lineLimit || this.maxLineBytes;
    const res = frameLines(client, max, limit, client, onLine);
    if (res === FrameResult.TOO_LONG && !client.closed) {
      this.logger.info(`Client ${client.id} ${client.address} sent a line over ${limit} bytes, dropping`);
      this._drop(client, CloseReason.LINE_TOO_LONG, true);
    }
    return res;
  }

  /** @internal One line; false stops reading the chunk. */
  _onLine(client: Client, line: string): boolean {
    // flood control before any parsing
    if (!client.noFlood && !this.takeToken(client)) {
      this.logger.info(`Client ${client.id} ${client.address} flooded more than ${this.floodBurst} messages, dropping`);
      this._drop(client, CloseReason.FLOOD, true);
      return false;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      if (line.trim() === '') return true; // whitespace-only line: skip like an empty one
      this.badLine(client, CloseReason.INVALID_JSON, line);
      return false;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.badLine(client, CloseReason.NOT_OBJECT, line);
      return false;
    }
    try {
      this.emit('message', client, msg as Record<string, unknown>, line);
    } catch (err) {
      // A bug in the consumer must not take the server down; this client's state is suspect.
      this._listenerFailed('message', client, err);
      this._drop(client, CloseReason.INTERNAL_ERROR, true);
      return false;
    }
    return !client.closed;
  }

  private takeToken(client: Client): boolean {
    return takeFloodTokens(client, 1, this.floodBurst, this.floodRate, performance.now());
  }


  private badLine(client: Client, reason: string, line: string): void {
    const shown = line.length > 80 ? `${line.slice(0, 80)}...` : line;
    this.logger.info(`Client ${client.id} ${client.address} sent ${reason} (${JSON.stringify(shown)}), disconnecting`);
    if (this.replyInvalidJson) client.send(INVALID_JSON_REPLY);
    this._drop(client, reason, false);
  }

  /** @internal A client queued its first text this tick: flush it with the others at the end of the tick. */
  _queueFlush(client: Client): void {
    if (this._dirty.length === 0) process.nextTick(flushClients, this);
    this._dirty.push(client);
  }

  /** @internal After a write: bound what the kernel did not take, note a blocked client. */
  _afterFlush(client: Client): void {
    if (client.closed) return;
    const pending = client.socket.writableLength;
    if (pending === 0) return;
    const limit = client.pendingLimit || this._maxPendingBytes;
    if (pending > limit) {
      this._drop(client, CloseReason.OUTPUT_BOUND, true);
      return;
    }
    // over the soft bound: no more reading or serving it until its output drains
    if (pending > Math.min(this.pauseOutputBytes, limit / 2)) this._fair.outputOver(client);
    if (client.blockedSince !== 0) return;
    client.blockedSince = Date.now();
    client.lastFlushed = client.queued - pending;
    this.blocked.add(client);
  }

  /**
   * @internal Mark `client` closed (once): out of `connections`, counted, socket ended or
   * destroyed, 'close' emitted on the next tick.
   */
  _drop(client: Client, reason: string, destroy: boolean): void {
    if (client.closed) {
      if (destroy && !client.socket.destroyed) client.socket.destroy();
      return;
    }
    client.closed = true;
    client.closeReason = reason;
    client.input = null;
    // a paused socket would not see the peer's FIN while lingering
    if ((client.fair & FairFlag.READ_PAUSED) !== 0 && !destroy) client.socket.resume();
    this.clients.delete(client.id);
    this.blocked.delete(client);
    this.countDrop(reason);
    if (reason !== CloseReason.CLIENT_CLOSED) this.logger.info(`Dropping client ${client.id} ${client.address}: ${reason}`);
    else this.logger.debug(`Client ${client.id} ${client.address} disconnected`);
    const socket = client.socket;
    if (destroy || socket.destroyed) {
      client.out = '';
      socket.destroy();
    } else {
      // a graceful close sends what was queued this tick (an error reply, a message) first
      if (client.out !== '') {
        socket.write(client.out);
        client.out = '';
      }
      socket.end();
      if (!socket.destroyed) {
        client.lingerUntil = Date.now() + this.closeLingerMs;
        this.lingering.add(client);
      }
    }
    process.nextTick(emitClose, this, client, reason);
  }

  /** @internal The socket is gone for good. */
  _onSocketClosed(client: Client): void {
    this.lingering.delete(client);
    this.blocked.delete(client);
    if (!client.closed) this._drop(client, CloseReason.CLIENT_CLOSED, true);
  }

  /** The one timer: blocked senders and lingering graceful closes. */
  private sweep(): void {
    const now = Date.now();
    for (const client of this.blocked) {
      const pending = client.socket.writableLength;
      if (client.closed) {
        this.blocked.delete(client);
      } else if (pending === 0) {
        client.blockedSince = 0;
        this.blocked.delete(client);
        this._fair.drained(client); // in case no 'drain' came (a no-op unless paused for output)
      } else if (client.queued - pending !== client.lastFlushed) {
        client.lastFlushed = client.queued - pending;
        client.blockedSince = now;
      } else if (now - client.blockedSince >= this.sendTimeoutMs) {
        this.logger.info(`Client ${client.id} ${client.address} blocked sending for ${now - client.blockedSince} ms (${pending} queued)`);
        this._drop(client, CloseReason.SEND_TIMEOUT, true);
      }
    }
    for (const client of this.lingering) {
      if (client.socket.destroyed) this.lingering.delete(client);
      else if (now >= client.lingerUntil) {
        this.lingering.delete(client);
        client.socket.destroy();
      }
    }
  }
}
