/**
 * The life of one named instance, shared by every mode's start-up (ts/pool/start.ts,
 * ts/modes/start.ts): claim the sockdir (pid file, -k, stale files), open the control
 * sockets, and on SIGINT / SIGTERM / `shutdown` stop the mode, close the sockets, remove
 * the pid file and exit.
 */
import { basename, dirname } from 'node:path';
import { isTlsUrl } from '../config/stratum-url.js';
import type { ResolvedOptions } from '../config/options.js';
import type { Logger } from '../log/logger.js';
import { resolveGroup } from './group.js';
import { claimInstance, type InstanceClaim } from './instance.js';
import { ControlServer } from './server.js';

export class InstanceLifecycle {
  control: ControlServer | null = null;
  #instance: InstanceClaim | null = null;
  #stopping = false;
  /** what stops the running mode (set once it runs) */
  stopMode: () => Promise<void> = async () => undefined;

  constructor(
    readonly options: ResolvedOptions,
    readonly logger: Logger,
    private readonly onRestart?: () => void,
  ) {
    // From here on a signal must also remove the sockets and the pid file.
    process.once('SIGINT', () => void this.shutdown('received signal SIGINT'));
    process.once('SIGTERM', () => void this.shutdown('received signal SIGTERM'));
  }

  /** Claim the sockdir and open the control sockets (-k, or -H's leftovers, end the old instance). */
  async startControl(): Promise<ControlServer> {
    const o = this.options;
    const gid = o.flags.group !== undefined ? resolveGroup(o.flags.group) : undefined;
    this.#instance = await claimInstance({ name: o.name, sockdir: o.sockdir, killold: o.flags.killold || o.flags.handover, logger: this.logger });
    this.control = await ControlServer.start({
      sockdir: o.sockdir, gid, logger: this.logger,
      onShutdown: () => void this.shutdown('received shutdown command'),
      onRestart: this.onRestart,
    });
    return this.control;
  }

  /** Start-up failed: undo what was done and let the error through. */
  async abandon(): Promise<void> {
    await this.stopMode().catch(() => undefined);
    await this.control?.close().catch(() => undefined);
    this.#instance?.release();
  }

  async shutdown(why: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.logger.notice(`Process ${this.options.name} ${why}, shutting down`);
    try {
      await this.stopMode();
    } catch (e) {
      this.logger.err(`Shutdown: ${(e as Error).message}`);
    } finally {
      await this.control?.close().catch(() => undefined);
      this.#instance?.release();
      process.exit(0);
    }
  }

  /** The start-up banner's control line: ckpmsg's -s is the sockdir's parent, -n its last part. */
  controlHint(): string {
    const dir = this.options.sockdir.replace(/\/+$/, '');
    return `control: ${this.options.sockdir}listener (ckpmsg -s ${dirname(dir) || '/'} -n ${basename(dir)})`;
  }
}

/**
 * stratum+tcp URLs of the bound addresses, 0.0.0.0 shown as 127.0.0.1; stratum+ssl for
 * the ones whose configured url (same index) is TLS.
 */
export function stratumUrls(addresses: readonly { host: string; port: number }[], configured: readonly string[] = []): string[] {
  return addresses.map((a, i) =>
    `${isTlsUrl(configured[i] ?? '') ? 'stratum+ssl' : 'stratum+tcp'}://${a.host === '0.0.0.0' ? '127.0.0.1' : a.host}:${a.port}`);
}
