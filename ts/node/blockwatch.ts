/**
 * Block change detection (ckpool's blockupdate thread, zmqnotify and the
 * notifier path), feeding one 'block' event:
 *  - polling getbestblockhash every `blockpoll` ms on the current server,
 *    skipped while that server is `notify: true` (it tells us itself);
 *  - ZMQ `hashblock` on `zmqblock` (bitcoind -zmqpubhashblock);
 *  - notify(), which the `notifier` binary reaches through the control socket.
 * The same hash from two sources is announced once.
 *
 * As in ckpool, only `notify: true` turns polling off: a ZMQ subscriber cannot
 * tell whether the publisher is alive, so a node without notify:true is
 * polled even when zmqblock is set.
 */
import { EventEmitter } from 'node:events';
import { NullLogger, type Logger } from '../log/logger.js';
import type { ServerSet } from './servers.js';

export type BlockSource = 'poll' | 'zmq' | 'notify';

export interface BlockWatcherEvents {
  /** The chain tip changed. `hash` is null when a notify carried none. */
  block: [hash: string | null, source: BlockSource];
}

export interface BlockWatcherOptions {
  servers: ServerSet;
  /** Poll interval in ms (ckpool.conf `blockpoll`, default 100). */
  blockpollMs?: number;
  /** ZMQ endpoint publishing `hashblock`, e.g. tcp://127.0.0.1:28332 (ckpool.conf `zmqblock`). */
  zmqblock?: string;
  logger?: Logger;
}

/** Minimal view of zeromq's Subscriber, so the module loads zeromq only when zmqblock is set. */
interface ZmqSubscriber {
  connect(endpoint: string): void;
  subscribe(...topics: string[]): void;
  close(): void;
  readonly closed: boolean;
  [Symbol.asyncIterator](): AsyncIterator<Buffer[]>;
}

const HEX64 = /^[0-9a-f]{64}$/i;

export class BlockWatcher extends EventEmitter<BlockWatcherEvents> {
  /** The last tip seen from any source (RPC display order). */
  lastHash: string | null = null;
  readonly blockpollMs: number;
  readonly zmqblock: string | undefined;

  readonly #servers: ServerSet;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | null = null;
  #zmq: ZmqSubscriber | null = null;
  #zmqLoop: Promise<void> | null = null;
  #started = false;
  #closed = false;

  constructor(opts: BlockWatcherOptions) {
    super();
    this.#servers = opts.servers;
    this.blockpollMs = opts.blockpollMs ?? 100;
    this.zmqblock = opts.zmqblock || undefined;
    this.#logger = opts.logger ?? new NullLogger();
  }

  /** Connect ZMQ (if configured) and start polling. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (this.zmqblock) await this.#startZmq(this.zmqblock);
    this.#schedule(0);
  }

  /**
   * A block notification from outside (the notifier binary, an API call).
   * Returns false when `hash` is the tip already announced.
   */
  notify(hash?: string | null): boolean {
    if (hash && !HEX64.test(hash)) {
      this.#logger.warning(`Ignoring block notify with a malformed hash`);
      return false;
    }
    return this.#seen(hash ? hash.toLowerCase() : null, 'notify');
  }

  /** Stop polling and close the ZMQ socket. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#zmq && !this.#zmq.closed) this.#zmq.close();
    await this.#zmqLoop;
  }

  #seen(hash: string | null, source: BlockSource): boolean {
    if (this.#closed) return false;
    if (hash !== null && hash === this.lastHash) return false;
    const first = this.lastHash === null && source === 'poll';
    if (hash !== null) this.lastHash = hash;
    // The first poll only learns the tip the pool started on.
    if (first) return false;
    this.#logger.notice(source === 'zmq' ? `ZMQ block hash ${hash}` : `Block hash changed to ${hash ?? '(notified)'}`);
    this.emit('block', hash, source);
    return true;
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#poll(), delay);
  }

  async #poll(): Promise<void> {
    this.#timer = null;
    try {
      const current = this.#servers.current();
      // No call at all while the current node notifies us, or while none is
      // alive (the server set's watchdog brings one back).
      if (current && !current.notify) {
        const hash = await this.#servers.withCurrent((s) => (s.notify ? Promise.resolve(null) : s.client.getBestBlockHash()));
        if (hash) this.#seen(hash, 'poll');
      }
    } catch (err) {
      this.#logger.debug(`Block poll failed: ${(err as Error).message}`);
    } finally {
      this.#schedule(this.blockpollMs);
    }
  }

  async #startZmq(endpoint: string): Promise<void> {
    let sock: ZmqSubscriber;
    try {
      const zmq = await import('zeromq');
      sock = new zmq.Subscriber() as unknown as ZmqSubscriber;
      // Nothing listening there is fine: libzmq keeps reconnecting quietly.
      sock.connect(endpoint);
      sock.subscribe('hashblock');
    } catch (err) {
      this.#logger.err(`ZMQ: cannot subscribe to ${endpoint}: ${(err as Error).message}`);
      return;
    }
    this.#zmq = sock;
    this.#logger.notice(`ZMQ connected to ${endpoint}`);
    this.#zmqLoop = this.#readZmq(sock);
  }

  async #readZmq(sock: ZmqSubscriber): Promise<void> {
    try {
      for await (const frames of sock) {
        // bitcoind: [topic "hashblock", 32-byte hash in display order, LE uint32 sequence].
        // As ckpool, any 32-byte part after the topic counts.
        const hashFrame = frames.slice(1).find((f) => f.length === 32);
        if (hashFrame) this.#seen(hashFrame.toString('hex'), 'zmq');
        else this.#logger.debug(`ZMQ: ignoring a message without a 32-byte hash`);
      }
    } catch (err) {
      if (!this.#closed && !sock.closed) this.#logger.err(`ZMQ receive failed: ${(err as Error).message}`);
    }
  }
}
