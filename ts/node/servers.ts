/**
 * The failover set of bitcoinds (ckpool's generator.c server_alive /
 * live_server / server_watchdog).
 *
 * Servers are kept in config priority order. The first live one is current.
 * A transport failure on a call marks that server dead and the call moves on
 * to the next live one ('failover'). A watchdog re-tests dead servers every
 * 5 s and switches back when a higher-priority one answers again
 * ('failback'). With none alive the set says so ('down', CRITICAL "No
 * bitcoinds active!" every round) and keeps retrying until one answers ('up').
 */
import { EventEmitter } from 'node:events';
import { CkpoolError, ckError, ckErrorCause } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { RpcClient, isTransportError, type CallOptions } from './rpc.js';

/** One `btcd` entry of ckpool.conf (plus `cookie`, which ckpool lacks). */
export interface BtcdConfig {
  url: string;
  auth?: string;
  pass?: string;
  /** Path of bitcoind's .cookie file, instead of auth/pass. */
  cookie?: string;
  /** The node tells us about blocks (ZMQ or -blocknotify): do not poll it. */
  notify?: boolean;
}

export class Server {
  alive = false;
  /** Why the server was last marked dead (null while it never failed). */
  lastError: Error | null = null;
  /** A check is running; the watchdog does not start a second one. */
  checking = false;

  constructor(
    /** Position in the config, 0 = highest priority. */
    readonly index: number,
    readonly config: BtcdConfig,
    readonly client: RpcClient,
  ) {}

  /** host:port, safe to log. */
  get name(): string {
    return this.client.name;
  }

  get notify(): boolean {
    return this.config.notify === true;
  }
}

export interface ServerSetEvents {
  /** A server passed its check after being dead or unknown. */
  alive: [server: Server];
  /** A server failed a call or a check. */
  dead: [server: Server, err: Error];
  /** A server became current while none was ('up' also fires at start). */
  up: [server: Server];
  /** The current server went away and no other is alive. */
  down: [];
  /** Switched to a lower-priority server because the current one failed. */
  failover: [from: Server, to: Server];
  /** Switched back to a higher-priority server that answers again. */
  failback: [from: Server, to: Server];
}

export interface ServerSetOptions {
  btcds: readonly BtcdConfig[];
  logger?: Logger;
  /** How often dead servers are re-tested, ms (default 5000, as ckpool). */
  watchdogMs?: number;
  /** Per-call RPC timeout, ms (default 30 000). */
  timeoutMs?: number;
  /** Time limit for a liveness check, ms (default 10 000 or timeoutMs if smaller). */
  checkTimeoutMs?: number;
  /** Keep-alive sockets per server (default 4). */
  maxSockets?: number;
  /**
   * Extra liveness test run after getblockchaininfo answered, e.g. validating
   * btcaddress with the node. Throwing marks the server dead.
   */
  check?: (server: Server) => Promise<void>;
}

export class ServerSet extends EventEmitter<ServerSetEvents> {
  readonly servers: readonly Server[];
  readonly #logger: Logger;
  readonly #watchdogMs: number;
  readonly #checkTimeoutMs: number;
  readonly #check?: (server: Server) => Promise<void>;
  #current: Server | null = null;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  #closed = false;

  constructor(opts: ServerSetOptions) {
    super();
    if (opts.btcds.length === 0) throw ckError('CKP_ERR_NODE_NONE_ALIVE', 'no btcd configured');
    this.#logger = opts.logger ?? new NullLogger();
    this.#watchdogMs = opts.watchdogMs ?? 5_000;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    this.#checkTimeoutMs = opts.checkTimeoutMs ?? Math.min(10_000, timeoutMs);
    this.#check = opts.check;
    this.servers = opts.btcds.map((cfg, i) => new Server(i, cfg, new RpcClient({
      url: cfg.url,
      user: cfg.auth,
      pass: cfg.pass,
      cookie: cfg.cookie,
      timeoutMs,
      maxSockets: opts.maxSockets,
      logger: this.#logger,
    })));
  }

  /** The server calls go to: the first live one in priority order, or null. */
  current(): Server | null {
    return this.#current;
  }

  /**
   * Check every server once, pick the current one and start the watchdog.
   * Resolves with the current server, or null when none is alive (the
   * watchdog keeps trying; listen for 'up').
   */
  async start(): Promise<Server | null> {
    if (this.#started) return this.#current;
    this.#started = true;
    await Promise.all(this.servers.map((s) => this.#test(s)));
    this.#reselect();
    if (!this.#current) {
      this.#logger.crit('No bitcoinds active!');
      this.emit('down');
    }
    this.#schedule();
    return this.#current;
  }

  /**
   * Run `fn` against the current server; on a transport failure mark it dead
   * and run it again on the next live server. RPC errors (the node's answer)
   * are thrown as they are. With no live server left: CKP_ERR_NODE_NONE_ALIVE.
   */
  async withCurrent<T>(fn: (server: Server) => Promise<T>): Promise<T> {
    const tried = new Set<Server>();
    let lastErr: Error | null = null;
    for (;;) {
      const server = this.#current;
      if (!server) {
        throw ckErrorCause('CKP_ERR_NODE_NONE_ALIVE', lastErr ?? undefined,
          lastErr ? lastErr.message : 'none of the configured bitcoinds answered');
      }
      // The watchdog may revive a server we already tried during this call.
      if (tried.has(server)) throw lastErr!;
      tried.add(server);
      try {
        return await fn(server);
      } catch (err) {
        if (!isTransportError(err) || this.#closed) throw err;
        lastErr = err;
        this.markDead(server, err);
      }
    }
  }

  /** A JSON-RPC call on the current server, failing over as withCurrent does. */
  call<T = unknown>(method: string, params: unknown[] = [], opts?: CallOptions): Promise<T> {
    return this.withCurrent((s) => s.client.call<T>(method, params, opts));
  }

  /** Resolves with the current server as soon as there is one. */
  waitUp(timeoutMs?: number): Promise<Server> {
    const now = this.#current;
    if (now) return Promise.resolve(now);
    return new Promise<Server>((resolve, reject) => {
      const onUp = (s: Server): void => {
        if (timer) clearTimeout(timer);
        resolve(s);
      };
      const timer = timeoutMs === undefined ? null : setTimeout(() => {
        this.off('up', onUp);
        reject(ckError('CKP_ERR_NODE_NONE_ALIVE', `still none after ${timeoutMs} ms`));
      }, timeoutMs);
      this.once('up', onUp);
    });
  }

  /** Mark a server dead (a caller saw it fail) and fail over if it was current. */
  markDead(server: Server, err: Error): void {
    server.lastError = err;
    if (server.alive) {
      server.alive = false;
      server.client.dropConnections();
      this.#logger.warning(`Server dead: ${server.name}: ${err.message}`);
      this.emit('dead', server, err);
    }
    this.#reselect();
  }

  /** Stop the watchdog and close every client's connections. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const s of this.servers) s.client.close();
  }

  /** Liveness check of one server: getblockchaininfo, then the optional hook. */
  async #test(server: Server): Promise<boolean> {
    if (server.checking || this.#closed) return server.alive;
    server.checking = true;
    try {
      await server.client.call('getblockchaininfo', [], { timeoutMs: this.#checkTimeoutMs });
      if (this.#check) await this.#check(server);
      if (this.#closed) return false;
      if (!server.alive) {
        server.alive = true;
        server.lastError = null;
        this.#logger.notice(`Server alive: ${server.name}`);
        this.emit('alive', server);
      }
      return true;
    } catch (err) {
      if (this.#closed) return false;
      const e = err instanceof Error ? err : new CkpoolError('CKP_ERR_RPC_RESULT', String(err));
      // ckpool logs every failed attempt of a dead server; keep that at info
      // so a long outage does not flood the log (the CRITICAL line repeats).
      if (server.alive) this.markDead(server, e);
      else {
        server.lastError = e;
        this.#logger.info(`Server still dead: ${server.name}: ${e.message}`);
      }
      return false;
    } finally {
      server.checking = false;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#watchdog(), this.#watchdogMs);
  }

  async #watchdog(): Promise<void> {
    this.#timer = null;
    try {
      await Promise.all(this.servers.filter((s) => !s.alive).map((s) => this.#test(s)));
      if (this.#closed) return;
      this.#reselect();
      if (!this.#current) this.#logger.crit('No bitcoinds active!');
    } finally {
      this.#schedule();
    }
  }

  /** Recompute the current server and announce any change. */
  #reselect(): void {
    if (this.#closed) return;
    const next = this.servers.find((s) => s.alive) ?? null;
    const prev = this.#current;
    if (next === prev) return;
    this.#current = next;
    if (!next) {
      this.#logger.crit('No bitcoinds active!');
      this.emit('down');
    } else if (!prev) {
      this.#logger.notice(`Connected to bitcoind: ${next.name}`);
      this.emit('up', next);
    } else if (next.index > prev.index) {
      this.#logger.warning(`Failed over to bitcoind: ${next.name}`);
      this.emit('failover', prev, next);
    } else {
      this.#logger.notice(`Failed back to bitcoind: ${next.name}`);
      this.emit('failback', prev, next);
    }
  }
}
