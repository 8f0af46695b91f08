/**
 * The SV2 listeners (`sv2url`): bound like serverurl ones (ts/stratum/listeners.ts, so
 * `-H` handover passes their descriptors with `getxfd` and `reject` / `accept` pause and
 * resume them), each accepted socket an Sv2Connection whose channels are miners of the
 * pool's stratifier on this thread. With worker threads the V1 miners are on the
 * workers and the V2 channels here; both feed the one PoolStats and the same logs.
 */
import type net from 'node:net';
import { ckErrorCause } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Stratifier } from '../pool/stratifier.js';
import { Listeners } from '../stratum/listeners.js';
import { parseUrl } from '../stratum/server-types.js';
import { Sv2Connection, type Sv2ConnectionContext } from './connection.js';
import type { Sv2Keys } from './keys.js';

export interface Sv2ListenerOptions {
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
}

export interface Sv2Stats {
  connections: number;
  channels: number;
  accepted: number;
  dropped: number;
  bytesIn: number;
  bytesOut: number;
}

export class Sv2Listener {
  readonly connections = new Set<Sv2Connection>();
  readonly #listeners: Listeners;
  readonly #ctx: Sv2ConnectionContext;
  readonly #o: Sv2ListenerOptions;
  #open = true;
  #stats = { accepted: 0, dropped: 0, bytesIn: 0, bytesOut: 0 };

  private constructor(o: Sv2ListenerOptions) {
    this.#o = o;
    this.#ctx = {
      stratifier: o.stratifier, authoritySecret: o.keys.authoritySecret, nonce2length: o.nonce2length, mindiff: o.mindiff,
      logger: o.logger, nextId: o.nextId, certValidity: o.certValidity ?? 86_400, setupTimeoutMs: o.setupTimeoutMs ?? 10_000,
      noChannelTimeoutMs: o.noChannelTimeoutMs ?? 60_000,
      maxChannels: 64, maxPendingBytes: 1024 * 1024,
      closed: (c) => {
        this.connections.delete(c);
        this.#stats.bytesIn += c.bytesIn;
        this.#stats.bytesOut += c.bytesOut;
      },
    };
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
    this.#stats.accepted++;
    this.connections.add(new Sv2Connection(socket, index, this.#ctx));
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

  stats(): Sv2Stats {
    let channels = 0;
    let bytesIn = this.#stats.bytesIn;
    let bytesOut = this.#stats.bytesOut;
    for (const c of this.connections) {
      channels += c.channels.size;
      bytesIn += c.bytesIn;
      bytesOut += c.bytesOut;
    }
    return { connections: this.connections.size, channels, accepted: this.#stats.accepted, dropped: this.#stats.dropped, bytesIn, bytesOut };
  }

  async close(): Promise<void> {
    this.#open = false;
    // connections first: a net.Server's close waits for its connections to end
    for (const c of [...this.connections]) c.close('server closing', true);
    await this.#listeners.close();
  }
}
