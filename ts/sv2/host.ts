/**
 * The SV2 connections of one thread: each accepted socket an Sv2Connection whose channels
 * are miners of that thread's stratifier. The main thread's Sv2Listener serves its own
 * through one of these when the pool has no worker threads; with worker threads the
 * listener hands each socket's descriptor to a thread (ts/pool/workers.ts), whose
 * Sv2Host serves it (ts/pool/worker-thread.ts) — as V1 miners are spread.
 */
import net from 'node:net';
import type { Logger } from '../log/logger.js';
import type { Stratifier } from '../pool/stratifier.js';
import { Sv2Connection, type Sv2ConnectionContext } from './connection.js';

/** What a thread needs to serve SV2 connections (plain data: it crosses postMessage to the worker threads). */
export interface Sv2HostSettings {
  /** base58check secret of the authority key: each connection's Noise responder signs its certificate with it */
  authoritySecret: string;
  nonce2length: number;
  mindiff: number;
  /** certificate validity in seconds (default 1 day; checked by clients at the handshake) */
  certValidity?: number;
  setupTimeoutMs?: number;
  /** a connection with no channel is closed after this long (default 60 s, V1's auth deadline) */
  noChannelTimeoutMs?: number;
  /**
   * Flood control as V1's (config floodrate/floodburst): a token bucket per connection of
   * `floodBurst` messages refilled at `floodRate` per second; a connection that empties it
   * is dropped. Defaults 10,000/s and 4096, V1's.
   */
  floodRate?: number;
  floodBurst?: number;
  /** output bytes queued before the connection is dropped as not reading (config maxpending; default 1 MiB) */
  maxPendingBytes?: number;
}

export interface Sv2HostStats {
  connections: number;
  channels: number;
  bytesIn: number;
  bytesOut: number;
}

export class Sv2Host {
  readonly connections = new Set<Sv2Connection>();
  readonly #ctx: Sv2ConnectionContext;
  #bytesIn = 0;
  #bytesOut = 0;

  constructor(s: Sv2HostSettings, stratifier: Stratifier, nextId: () => number, logger: Logger) {
    this.#ctx = {
      stratifier, authoritySecret: s.authoritySecret, nonce2length: s.nonce2length, mindiff: s.mindiff,
      logger, nextId, certValidity: s.certValidity ?? 86_400, setupTimeoutMs: s.setupTimeoutMs ?? 10_000,
      noChannelTimeoutMs: s.noChannelTimeoutMs ?? 60_000,
      maxChannels: 64, maxPendingBytes: s.maxPendingBytes ?? 1024 * 1024,
      floodRate: s.floodRate ?? 10_000, floodBurst: s.floodBurst ?? 4096,
      closed: (c) => {
        this.connections.delete(c);
        this.#bytesIn += c.bytesIn;
        this.#bytesOut += c.bytesOut;
      },
    };
  }

  /** Serve an accepted socket (sv2url index `serverIndex`). */
  serve(socket: net.Socket, serverIndex: number): Sv2Connection {
    const c = new Sv2Connection(socket, serverIndex, this.#ctx);
    this.connections.add(c);
    return c;
  }

  /** Serve a connection handed over as a descriptor (from the main thread's listener). */
  adoptFd(fd: number, serverIndex: number): Sv2Connection {
    return this.serve(new net.Socket({ fd, readable: true, writable: true }), serverIndex);
  }

  stats(): Sv2HostStats {
    let channels = 0;
    let bytesIn = this.#bytesIn;
    let bytesOut = this.#bytesOut;
    for (const c of this.connections) {
      channels += c.channels.size;
      bytesIn += c.bytesIn;
      bytesOut += c.bytesOut;
    }
    return { connections: this.connections.size, channels, bytesIn, bytesOut };
  }

  /** Close every connection (their channels leave the stratifier). */
  closeAll(reason: string): void {
    for (const c of [...this.connections]) c.close(reason, true);
  }
}
