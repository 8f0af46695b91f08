/**
 * The control sockets of a running instance: `listener`, `stratifier`, `generator`
 * and `connector` in the sockdir, as ckpool creates them (behaviour §2.1), each
 * answering the commands ckpool's module of that name answers (./commands.ts), the
 * listener answering everything. Mode 0770, group from -g.
 *
 * One framed request and one framed reply per connection (./framing.ts). The server
 * starts before the pool (so `ping` and `shutdown` work while it waits for bitcoind)
 * and is given the pool with attach() once it runs.
 *
 * Call claimInstance() (./instance.ts) first: it removes stale socket files, which
 * listen() would otherwise fail on with EADDRINUSE.
 */
import { chmodSync, chownSync } from 'node:fs';
import net from 'node:net';
import { sendFd } from '../native/handover.js';
import { ckErrorCause } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { errorReply, runCommand, type CommandResult } from './commands.js';
import {
  DEFAULT_MAX_REQUEST_BYTES, READ_TIMEOUT_MS, WRITE_TIMEOUT_MS, encodeFrame, readFrame, writeFrame,
} from './framing.js';
import { SOCKET_NAMES, serverSocketPath, type SocketName } from './paths.js';
import type { ControlCounters, ControlTarget } from './queries.js';

export interface ControlServerOptions {
  /** ckpool's -s, used as is (ends with '/' or not). */
  readonly sockdir: string;
  /** -g resolved to a gid (./group.ts); undefined leaves the process's group. */
  readonly gid?: number;
  /** Its level is what `loglevel=N` changes. */
  readonly logger?: Logger;
  /** Called after `restart` has been answered: start a new instance with -H. */
  onRestart?: () => void;
  /** Called after `shutdown` has been answered: stop the pool, remove the files, exit. */
  readonly onShutdown?: () => void;
  /** Instance start time for `uptime` (default: now). */
  readonly startedAt?: number;
  /** Which sockets to create (default all four). */
  readonly sockets?: readonly SocketName[];
  /** Largest request accepted (default 64 KiB: framing.ts DEFAULT_MAX_REQUEST_BYTES). */
  readonly maxRequestBytes?: number;
  /** Control connections served at once over all sockets (default MAX_CONTROL_CONNECTIONS). */
  readonly maxConnections?: number;
}

/**
 * Control connections open at once. ckpool serves its unix sockets one message at a
 * time; operators' scripts and a handover need a handful. More are refused at once
 * (closed unread), so garbage writers cannot pile up buffers and timers.
 */
export const MAX_CONTROL_CONNECTIONS = 32;

export class ControlServer {
  readonly sockdir: string;
  readonly paths: ReadonlyMap<SocketName, string>;
  readonly #servers = new Map<SocketName, net.Server>();
  readonly #connections = new Set<net.Socket>();
  /** connections closed for being over maxConnections (logged once per burst) */
  #refused = 0;
  readonly #logger: Logger;
  readonly #opts: ControlServerOptions;
  readonly #counters: ControlCounters = { shares: 0 };
  readonly #startedAt: number;
  #target: ControlTarget | null = null;
  #detach: (() => void) | null = null;
  #closed = false;

  private constructor(opts: ControlServerOptions) {
    this.#opts = opts;
    this.sockdir = opts.sockdir;
    this.#logger = opts.logger ?? new NullLogger();
    this.#startedAt = opts.startedAt ?? Date.now();
    const names = opts.sockets ?? SOCKET_NAMES;
    this.paths = new Map(names.map((n) => [n, serverSocketPath(opts.sockdir, n)]));
  }

  /** Listen on every socket. Rejects with CKP_ERR_CONTROL_LISTEN (nothing is left listening). */
  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const cs = new ControlServer(opts);
    try {
      for (const [name, path] of cs.paths) await cs.#listen(name, path);
    } catch (e) {
      await cs.close();
      throw e;
    }
    return cs;
  }

  /** The pool the commands act on; until then only pool-free commands work. */
  attach(target: ControlTarget): void {
    this.#detach?.();
    this.#target = target;
    const onShare = () => { this.#counters.shares++; };
    target.stratifier.on('share', onShare);
    this.#detach = () => target.stratifier.off('share', onShare);
  }

  get target(): ControlTarget | null {
    return this.#target;
  }

  async #listen(name: SocketName, path: string): Promise<void> {
    // allowHalfOpen: ckpmsg shuts its write side after the request and still reads the reply.
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.#onConnection(name, s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(ckErrorCause('CKP_ERR_CONTROL_LISTEN', e, path, e.message)));
      server.listen({ path, backlog: 128 }, () => resolve());
    });
    this.#servers.set(name, server);
    server.on('error', (e) => this.#logger.err(`Control socket ${path}: ${e.message}`));
    try {
      // ckpool: 0770 and the -g group, so an operators' group can use ckpmsg.
      if (this.#opts.gid !== undefined) chownSync(path, -1, this.#opts.gid);
      chmodSync(path, 0o770);
    } catch (e) {
      throw ckErrorCause('CKP_ERR_CONTROL_LISTEN', e, path, (e as Error).message);
    }
  }

  #onConnection(name: SocketName, socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const max = this.#opts.maxConnections ?? MAX_CONTROL_CONNECTIONS;
    if (this.#connections.size >= max) {
      if (this.#refused++ === 0) this.#logger.warning(`Control ${name}: ${max} connections open already; closing new ones until some finish`);
      socket.destroy();
      return;
    }
    if (this.#refused > 0) {
      this.#logger.notice(`Control: ${this.#refused} connection(s) closed unread while ${max} were open`);
      this.#refused = 0;
    }
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => undefined); // a peer that hung up early (ckpool's notifier does)
    void this.#serve(name, socket);
  }

  async #serve(name: SocketName, socket: net.Socket): Promise<void> {
    const label = this.paths.get(name)!;
    let result: CommandResult;
    try {
      const body = await readFrame(socket, {
        timeoutMs: READ_TIMEOUT_MS,
        maxBytes: this.#opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
        label,
      });
      if (body === null) {
        socket.destroy(); // connected and left: a liveness probe
        return;
      }
      const text = body.toString('utf8');
      this.#logger.debug(`Control ${name}: ${text.slice(0, 200)}`);
      result = await runCommand(text, {
        socket: name,
        target: this.#target,
        logger: this.#logger,
        startedAt: this.#startedAt,
        counters: this.#counters,
        shutdown: () => this.#opts.onShutdown?.(),
        restart: this.#opts.onRestart,
        now: Date.now(),
      });
    } catch (e) {
      // a bad frame or a timeout: say why if the peer still listens
      this.#logger.info(`Control ${name}: ${(e as Error).message}`);
      result = { reply: errorReply((e as Error).message) };
    }
    try {
      if (result.sendFd !== undefined) {
        // ckpool's getxfd answer: one byte carrying the descriptor, no framed text
        sendFd(socket, result.sendFd);
        socket.end();
      } else {
        await writeFrame(socket, encodeFrame(result.reply), WRITE_TIMEOUT_MS, label);
      }
    } catch (e) {
      this.#logger.info(`Control ${name}: reply not delivered: ${(e as Error).message}`);
      socket.destroy();
    }
    result.after?.();
  }

  /**
   * Stop listening and drop open control connections. Node unlinks each socket file
   * as its server closes. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach?.();
    this.#detach = null;
    for (const s of this.#connections) s.destroy();
    await Promise.all([...this.#servers.values()].map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.#servers.clear();
  }
}
