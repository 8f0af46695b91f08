/**
 * `ckpool -p / -u / -P / -N / -R` and `ckproxy`: the CLI's hand-off for the proxy
 * family (ts/cli/run.ts), as ts/pool/start.ts is for pool mode.
 *
 * The instance claims its sockdir and opens its control sockets first with the same
 * ts/control building blocks the pool uses (claimInstance, ControlServer), so
 * `ckpmsg ping`, `loglevel` and `shutdown` work even while no upstream pool answers;
 * SIGINT, SIGTERM and `shutdown` stop the mode and remove the sockets and pid file.
 * The pool-only control queries (clients, users, workbases) are not wired to the proxy
 * modes' stratifiers. -H in these modes behaves as -k (the old instance is stopped; no
 * socket inheritance).
 */
import { basename, dirname } from 'node:path';
import type { ResolvedOptions } from '../cli/ckpool.js';
import type { CkpoolConfig } from '../config/types.js';
import { resolveGroup } from '../control/group.js';
import { claimInstance } from '../control/instance.js';
import { ControlServer } from '../control/server.js';
import { ckError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { startNode } from './node.js';
import { PassthroughMode } from './passthrough.js';
import { ProxyMode } from './proxy.js';
import { startRedirector } from './redirector.js';

/** What a started proxy-family mode offers the CLI. */
export interface RunningMode {
  readonly addresses: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Start the mode of `config.mode` (library use: no control sockets, no signals). */
export async function startMode(config: CkpoolConfig, options: { name: string; logger: Logger; logShares?: boolean; throbber?: { write(s: string): unknown } | null }): Promise<RunningMode> {
  const { name, logger } = options;
  switch (config.mode) {
    case 'proxy':
    case 'userproxy':
      return ProxyMode.start(config, { logger, name, logShares: options.logShares, throbber: options.throbber });
    case 'passthrough':
      return PassthroughMode.start(config, { logger, name });
    case 'node':
      return (await startNode(config, { logger, name })).mode;
    case 'redirector':
      return (await startRedirector(config, { logger, name })).mode;
    default:
      throw ckError('CKP_ERR_PROXY_OPTION', 'mode', 'proxy, userproxy, passthrough, node or redirector', config.mode);
  }
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

export async function startModes(options: ResolvedOptions, config: CkpoolConfig, logger: Logger): Promise<RunningMode> {
  const gid = options.flags.group !== undefined ? resolveGroup(options.flags.group) : undefined;
  const instance = await claimInstance({ name: options.name, sockdir: options.sockdir, killold: options.flags.killold || options.flags.handover, logger });
  let mode: RunningMode | null = null;
  let control: ControlServer | null = null;
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.notice(`Process ${options.name} ${why}, shutting down`);
    try {
      await mode?.stop();
    } catch (e) {
      logger.err(`Shutdown: ${(e as Error).message}`);
    } finally {
      await control?.close().catch(() => undefined);
      instance.release();
      process.exit(0);
    }
  };
  process.once('SIGINT', () => void shutdown('received signal SIGINT'));
  process.once('SIGTERM', () => void shutdown('received signal SIGTERM'));
  try {
    control = await ControlServer.start({ sockdir: options.sockdir, gid, logger, onShutdown: () => void shutdown('received shutdown command') });
    mode = await startMode(config, {
      name: options.name, logger, logShares: options.flags.logShares,
      throbber: options.flags.quiet || !process.stdout.isTTY ? null : process.stdout,
    });
  } catch (e) {
    await control?.close().catch(() => undefined);
    instance.release();
    throw e;
  }
  const urls = mode.addresses.map((a) => `stratum+tcp://${a.host === '0.0.0.0' ? '127.0.0.1' : a.host}:${a.port}`);
  say(`${options.name} ${options.mode} mode: stratum on ${urls.join(', ')}`);
  say(`  upstream: ${config.proxy.map((p) => p.url).join(', ')} (in priority order)`);
  if (options.mode === 'redirector') say(`  redirecting to: ${config.redirecturl.join(', ')}`);
  if (options.mode === 'node') say(`  bitcoind: ${config.btcd.map((b) => b.url).join(', ')}`);
  const dir = options.sockdir.replace(/\/+$/, '');
  say(`  log ${config.logdir}/${options.name}.log; control: ${options.sockdir}listener (ckpmsg -s ${dirname(dir) || '/'} -n ${basename(dir)})`);
  return mode;
}
