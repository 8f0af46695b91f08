/**
 * The listening sockets of a stratum server (ts/stratum/server.ts): bind the serverurls,
 * or take over sockets another process handed over (`ckpool -H`), pause and resume
 * accepting (ckpool's `reject` / `accept`), and give out their descriptors (`getxfd`).
 *
 * Pausing keeps each listening socket open under a duplicate descriptor while the
 * net.Server on it is closed: nothing accepts, and new connections wait in the kernel's
 * backlog — exactly what ckpool's connector does on `reject` (it stops calling
 * accept(2)). That matters in a handover, where another process accepts on the same
 * sockets: a connection this process no longer wants goes to the other one instead of
 * being accepted and closed here. `resume` listens on the kept descriptors again.
 */
import net from 'node:net';
import { ckError, ckErrorCause } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { native } from '../native/binding.js';
import { handleFd } from '../native/handover.js';

export interface ListenersOptions {
  /** The serverurls as configured (names in logs and errors). */
  readonly urls: readonly string[];
  /** Their host and port (port 0: any free port). */
  readonly parsed: readonly { host: string; port: number }[];
  readonly backlog: number;
  /** Retries of a failed bind, `bindRetryMs` apart. */
  readonly bindRetries: number;
  readonly bindRetryMs: number;
  readonly logger: Logger;
  /** False once the server was closed meanwhile: stop retrying. */
  readonly wanted: () => boolean;
  /** An accepted connection on listener `index`. */
  readonly onConnection: (socket: net.Socket, index: number) => void;
}

const noop = (): void => undefined;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are the same address; `::` and `0.0.0.0` both mean any. */
function sameHost(a: string, b: string): boolean {
  const norm = (h: string): string => {
    const x = h.replace(/^\[|\]$/g, '').replace(/^::ffff:(?=\d+\.)/, '');
    return x === '::' ? '0.0.0.0' : x;
  };
  return norm(a) === norm(b);
}

export class Listeners {
  /** Bound addresses, by serverIndex (empty before binding). */
  bound: { host: string; port: number }[] = [];
  private servers: (net.Server | undefined)[] = [];
  /** While paused: the kept duplicate descriptors, by serverIndex. */
  private pausedFds: number[] | null = null;

  constructor(private readonly o: ListenersOptions) {}

  /** True unless paused (ckpool `reject`). */
  get accepting(): boolean {
    return this.pausedFds === null;
  }

  /** Bind every url (with the configured retries). */
  async bindAll(): Promise<void> {
    for (let i = 0; i < this.o.parsed.length; i++) await this.bindUrl(i);
  }

  /**
   * Serve on listening sockets handed over by another process: fds[i] becomes serverIndex
   * i. As ckpool's connector, a socket is only reused when its address is the configured
   * one; otherwise (and for a url with no socket handed over) the url is bound afresh.
   */
  async inherit(fds: readonly (number | undefined)[]): Promise<void> {
    for (let i = fds.length; i < this.o.parsed.length && fds.length > 0; i++) {
      this.o.logger.warning(`Handover: no socket handed over for stratum server ${this.o.urls[i]}, binding it`);
    }
    for (let i = this.o.parsed.length; i < fds.length; i++) {
      // more sockets than urls: not ours to serve
      if (fds[i] !== undefined) native.closeFd(fds[i]!);
    }
    for (let i = 0; i < this.o.parsed.length; i++) {
      const fd = fds[i];
      if (fd === undefined) {
        await this.bindUrl(i);
        continue;
      }
      let srv: net.Server;
      try {
        srv = await this.listenOn(i, this.o.urls[i] ?? `fd ${fd}`, { fd, backlog: this.o.backlog }, 0);
      } catch (e) {
        // this descriptor and the ones not yet used are ours to close
        for (const rest of fds.slice(i, this.o.parsed.length)) if (rest !== undefined) native.closeFd(rest);
        throw e;
      }
      const addr = srv.address();
      const want = this.o.parsed[i]!;
      // the host is compared only when the config names an address (a name such as
      // localhost would need resolving, and the port alone decides the clash)
      if (typeof addr === 'object' && addr !== null &&
        ((want.port !== 0 && addr.port !== want.port) || (net.isIP(want.host) !== 0 && !sameHost(addr.address, want.host)))) {
        this.o.logger.warning(`Handed over socket url ${addr.address}:${addr.port} does not match config ${this.o.urls[i]}, creating new socket`);
        srv.close(noop);
        await this.bindUrl(i);
        continue;
      }
      this.servers[i] = srv;
      this.bound[i] = typeof addr === 'object' && addr !== null ? { host: want.host, port: addr.port } : { ...want };
    }
  }

  /** The OS descriptors of the listening sockets, by serverIndex (for `getxfd`; also while paused). */
  fds(): number[] {
    if (this.pausedFds) return [...this.pausedFds];
    return this.servers.map((srv, i) => {
      const fd = handleFd(srv);
      if (fd < 0) throw ckError('CKP_ERR_STRATUM_STATE', `listener ${i} has no descriptor`);
      return fd;
    });
  }

  /** Stop accepting, keeping the sockets open (ckpool `reject`). No-op when already paused. */
  pause(): void {
    if (this.pausedFds) return;
    const kept: number[] = [];
    try {
      for (const fd of this.fds()) kept.push(native.dupFd(fd));
    } catch (e) {
      for (const fd of kept) native.closeFd(fd);
      throw e;
    }
    this.pausedFds = kept;
    this.stop();
  }

  /** Accept again on the kept sockets (ckpool `accept`). No-op when not paused. */
  async resume(): Promise<void> {
    const kept = this.pausedFds;
    if (!kept) return;
    this.pausedFds = null;
    for (let i = 0; i < kept.length; i++) {
      try {
        this.servers[i] = await this.listenOn(i, this.o.urls[i] ?? `fd ${kept[i]}`, { fd: kept[i]!, backlog: this.o.backlog }, 0);
      } catch (e) {
        // the descriptor is ours: close it and the ones not yet re-opened
        for (const fd of kept.slice(i)) native.closeFd(fd);
        throw e;
      }
    }
  }

  /**
   * Stop accepting on this process's sockets without waiting: net.Server.close()'s
   * callback waits for every connection to end, and the connections stay.
   */
  stop(): void {
    const servers = this.servers.filter((s): s is net.Server => s !== undefined);
    this.servers = [];
    for (const s of servers) s.close();
  }

  /** Close every listening socket of this process (and the kept ones of a pause). */
  async close(): Promise<void> {
    if (this.pausedFds) for (const fd of this.pausedFds) native.closeFd(fd);
    this.pausedFds = null;
    const servers = this.servers.filter((s): s is net.Server => s !== undefined);
    this.servers = [];
    this.bound = [];
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private async bindUrl(i: number): Promise<void> {
    const { host, port } = this.o.parsed[i]!;
    const srv = await this.listenOn(i, this.o.urls[i]!, { host, port, backlog: this.o.backlog }, this.o.bindRetries);
    this.servers[i] = srv;
    this.bound[i] = { host, port: (srv.address() as net.AddressInfo).port };
  }

  private async listenOn(index: number, name: string, options: net.ListenOptions | { fd: number; backlog: number }, retries: number): Promise<net.Server> {
    for (let attempt = 0; ; attempt++) {
      const srv = net.createServer({ allowHalfOpen: false, pauseOnConnect: false });
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          // { fd } is a handle object, which net.Server.listen accepts like options.
          srv.listen(options as net.ListenOptions, () => {
            srv.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        srv.close(noop);
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        if (attempt < retries && this.o.wanted()) {
          this.o.logger.warning(`Failed to bind stratum server ${name} (${code}), retrying in ${this.o.bindRetryMs} ms`);
          await sleep(this.o.bindRetryMs);
          if (this.o.wanted()) continue;
        }
        throw ckErrorCause('CKP_ERR_STRATUM_LISTEN', err, name, (err as Error).message ?? code);
      }
      srv.on('connection', (socket: net.Socket) => this.o.onConnection(socket, index));
      srv.on('error', (err) => {
        // Accept errors (EMFILE, ENFILE, ...) are reported here; the listener keeps going.
        this.o.logger.err(`Stratum server ${name}: ${(err as Error).message}`);
      });
      return srv;
    }
  }
}
