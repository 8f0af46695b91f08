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
import type { ResolvedOptions } from '../config/options.js';
import type { CkpoolConfig } from '../config/types.js';
import { InstanceLifecycle, stratumUrls } from '../control/lifecycle.js';
import { ckError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { startNode } from './node.js';
import { PassthroughMode } from './passthrough.js';
import { ProxyMode } from './proxy.js';
import { startRedirector } from './redirector.js';
import type { StratumServer } from '../stratum/server.js';
import { anyTlsUrl, tlsCredentialsFor } from '../tls/credentials.js';
import { logCertificate, reloadTlsOnSighup } from '../tls/reload.js';

/** What a started proxy-family mode offers the CLI. */
export interface RunningMode {
  readonly addresses: { host: string; port: number }[];
  /** the miners' stratum server (TLS reloads go to it) */
  readonly server?: StratumServer;
  /** the HTTP API (config apiurl; proxy and userproxy) */
  readonly api?: { readonly server: { readonly url: string } } | null;
  stop(): Promise<void>;
}

/** Start the mode of `config.mode` (library use: no control sockets, no signals). */
export async function startMode(config: CkpoolConfig, options: { name: string; logger: Logger; logShares?: boolean; throbber?: { write(s: string): unknown } | null }): Promise<RunningMode> {
  const { name, logger } = options;
  // the HTTP API runs in pool, solo, proxy and userproxy mode (ts/modes/proxy-api.ts);
  // the others have no miner stats of their own to serve: said at start, not ignored
  if (config.apiurl && config.mode !== 'proxy' && config.mode !== 'userproxy') {
    throw ckError('CKP_ERR_API_UNAVAILABLE', 'the HTTP API (config "apiurl")', config.mode);
  }
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
  const life = new InstanceLifecycle(options, logger);
  let mode: RunningMode | null = null;
  let unhookSighup: (() => void) | null = null;
  life.stopMode = async () => {
    unhookSighup?.();
    await mode?.stop();
  };
  try {
    await life.startControl();
    mode = await startMode(config, {
      name: options.name, logger, logShares: options.flags.logShares,
      throbber: options.flags.quiet || !process.stdout.isTTY ? null : process.stdout,
    });
    const running = mode;
    const tlsNow = running.server?.tlsCredentials;
    if (anyTlsUrl(config.serverurl) && tlsNow) {
      logCertificate(logger, 'Stratum TLS certificate', tlsNow);
      // SIGHUP: a renewed certificate for new TLS connections
      unhookSighup = reloadTlsOnSighup(() => {
        const c = tlsCredentialsFor(config);
        if (c) running.server?.setTlsCredentials(c);
        return c ?? null;
      }, logger);
    }
  } catch (e) {
    await life.abandon();
    throw e;
  }
  say(`${options.name} ${options.mode} mode: stratum on ${stratumUrls(mode.addresses, config.serverurl).join(', ')}`);
  say(`  upstream: ${config.proxy.map((p) => p.url).join(', ')} (in priority order)`);
  if (options.mode === 'redirector') say(`  redirecting to: ${config.redirecturl.join(', ')}`);
  if (options.mode === 'node') say(`  bitcoind: ${config.btcd.map((b) => b.url).join(', ')}`);
  if (mode.api) say(`  dashboard and HTTP API: ${mode.api.server.url}`);
  say(`  log ${config.logdir}/${options.name}.log; ${life.controlHint()}`);
  return mode;
}
