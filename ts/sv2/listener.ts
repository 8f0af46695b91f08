/**
 * The SV2 listeners (`sv2url`): bound like serverurl ones (ts/stratum/listeners.ts, so
 * `-H` handover passes their descriptors with `getxfd` and `reject` / `accept` pause and
 * resume them). Without worker threads each accepted socket is an Sv2Connection whose
 * channels are miners of the pool's stratifier on this thread (./host.ts). With worker
 * threads the listener hands each socket to a thread (`handoff`: ts/pool/workers.ts
 * handoffSv2, least loaded, as V1 sockets), which serves it against its own stratifier;
 * both feed the one PoolStats and the same logs.
 */
import type net from 'node:net';
import { ckErrorCause } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Stratifier } from '../pool/stratifier.js';
import { Listeners } from '../stratum/listeners.js';
import { parseUrl } from '../stratum/server-types.js';
import type { Sv2Connection } from './connection.js';
import { Sv2Host, type Sv2HostSettings } from './host.js';
import type { Sv2Keys } from './keys.js';

/** The listener's own options, and the per-connection limits its host applies (floodrate, floodburst, maxpending). */
export interface Sv2ListenerOptions extends Pick<Sv2HostSettings, 'floodRate' | 'floodBurst' | 'maxPendingBytes'> {
  urls: readonly string[];
  stratifier: Stratifier;
  keys: Sv2Keys;
  nonce2length: number;
  mindiff: number;
  /** pool-unique ids for channels (the stratifier's client ids) */
  nextId: () => number;
  /** inherited listening descriptors (a -H handover), by sv2url index */
  listenFds?: readonly (number | undefined)[];
  maxConnections?: number;
  logger: Logger;
  /** certificate validity in seconds (default 1 day; checked by clients at the handshake) */
  certValidity?: number;
  setupTimeoutMs?: number;
  /** a connection with no channel is closed after this long (default 60 s, V1's auth deadline) */
  noChannelTimeoutMs?: number;
  /**
   * Give an accepted socket to a worker thread: 'taken' (it serves it now), 'full' (the
   * pool's maxclients: dropped) or 'local' (no thread can: served here). Absent: all here.
   */
  handoff?: (socket: net.Socket, index: number) => 'taken' | 'full' | 'local';
}

export interface Sv2Stats {
  connections: number;
  channels: number;
  accepted: number;
  dropped: number;
  /** of the accepted, how many were handed to worker threads */
  handed: number;
  bytesIn: number;
  bytesOut: number;
}

export class Sv2Listener {
  readonly #listeners: Listeners;
  /** the connections served on this thread */
  readonly #host: Sv2Host;
  readonly #o: Sv2ListenerOptions;
  #open = true;
  #stats = { accepted: 0, dropped: 0, handed: 0 };

  private constructor(o: Sv2ListenerOptions) {
    this.#o = o;
    this.#host = new Sv2Host({ ...o, authoritySecret: o.keys.authoritySecret }, o.stratifier, o.nextId, o.logger);
    this.#listeners = new Listeners({
      urls: o.urls, parsed: o.urls.map(parseUrl), backlog: 8192, bindRetries: 0, bindRetryMs: 5_000, logger: o.logger,
      wanted: () => this.#open, onConnection: (s, i) => this.#accept(s, i),
    });
  }

  static async start(o: Sv2ListenerOptions): Promise<Sv2Listener> {
    const l = new Sv2Listener(o);
    try {
      if (o.listenFds && o.listenFds.length) await l.#listeners.inherit(o.listenFds);
      else await l.#listeners.bindAll();
    } catch (e) {
      await l.#listeners.close().catch(() => undefined);
      throw ckErrorCause('CKP_ERR_SV2_LISTEN', e, o.urls.join(', '), (e as Error).message);
    }
    return l;
  }

  #accept(socket: net.Socket, index: number): void {
    if (!this.#open || this.connections.size >= (this.#o.maxConnections ?? 18_000)) {
      this.#stats.dropped++;
      socket.destroy();
      return;
    }
    const where = this.#o.handoff?.(socket, index) ?? 'local';
    if (where === 'full') {
      this.#stats.dropped++;
      socket.destroy();
      return;
    }
    this.#stats.accepted++;
    if (where === 'taken') this.#stats.handed++;
    else this.#host.serve(socket, index);
  }

  /** The connections served on this thread (with worker threads, only those no thread could take). */
  get connections(): ReadonlySet<Sv2Connection> {
    return this.#host.connections;
  }

  /** Bound addresses by sv2url index. */
  get addresses(): { host: string; port: number }[] {
    return this.#listeners.bound;
  }

  /** The `stratum2+tcp://host:port/<authority pubkey>` urls miners use. */
  get minerUrls(): string[] {
    return this.addresses.map((a) => `stratum2+tcp://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/${this.#o.keys.authorityPublic}`);
  }

  get authorityPublic(): string {
    return this.#o.keys.authorityPublic;
  }

  /** Descriptors for a handover's getxfd (after the serverurl/nodeserver ones). */
  listeningFds(): number[] {
    return this.#listeners.fds();
  }

  pause(): void {
    this.#listeners.pause();
  }

  async resume(): Promise<void> {
    await this.#listeners.resume();
  }

  /** This thread's connections; accepted and dropped count every connection the listeners took (handed: given to worker threads). */
  stats(): Sv2Stats {
    const h = this.#host.stats();
    return { ...h, accepted: this.#stats.accepted, dropped: this.#stats.dropped, handed: this.#stats.handed };
  }

  async close(): Promise<void> {
    this.#open = false;
    // connections first: a net.Server's close waits for its connections to end
    this.#host.closeAll('server closing');
    await this.#listeners.close();
  }
}
