/**
 * What `ckpool` runs once the command line, config and log file are ready.
 *
 * Contract: `run(options, config, logger)` resolves once the selected mode has started
 * (the servers it opens keep the process alive) and rejects with a CkpoolError when it
 * cannot. Pool and solo mode are `startPool()` from ts/pool/start.ts, loaded lazily so
 * that this file builds before that module exists; the proxy family (-p, -u, -P, -N, -R,
 * ckproxy) is `startModes()` from ts/modes/start.ts. Every mode or flag whose issue has
 * not landed fails with CKP_ERR_CLI_NOT_IMPLEMENTED ("<feature> is not implemented yet
 * (issue N)").
 */
import type { CkpoolConfig } from '../config/types.js';
import { isProxyMode } from '../config/types.js';
import { ckError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ResolvedOptions } from './ckpool.js';

/** The signature ts/pool/start.ts must export as `startPool`. */
export type StartPool = (options: ResolvedOptions, config: CkpoolConfig, logger: Logger) => unknown;

export interface RunDeps {
  /** Loads the pool module; replaced in tests. Default: import('../pool/start.js'). */
  readonly loadPool?: () => Promise<unknown>;
}

/** Throws CKP_ERR_CLI_NOT_IMPLEMENTED for the first requested feature that is missing. */
export function checkImplemented(options: ResolvedOptions): void {
  const missing = (feature: string, where: string) => ckError('CKP_ERR_CLI_NOT_IMPLEMENTED', feature, where);
  if (options.flags.trusted) throw missing('trusted remote mode (-t)', 'no issue filed yet');
  // -k, -g and -H are handled by ts/control and ts/pool/start.ts; -D by ts/cli/ckpool.ts.
}

// A variable, so TypeScript does not try to resolve a module that may not exist yet.
const POOL_MODULE: string = '../pool/start.js';

/** True for "ts/pool/start is not there", false for a module that exists but fails. */
export function isMissingPoolModule(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return err?.code === 'ERR_MODULE_NOT_FOUND' && typeof err.message === 'string' && /pool[\\/]start(\.[cm]?[jt]s)?['"\s]/.test(err.message);
}

export async function run(options: ResolvedOptions, config: CkpoolConfig, logger: Logger, deps: RunDeps = {}): Promise<void> {
  checkImplemented(options);
  if (isProxyMode(options.mode)) {
    // proxy and userproxy have their own stratifiers and apply it; the relaying modes leave
    // it to the pool they relay to, which sees each miner as a client of its own
    if (config.dropidle > 0 && options.mode !== 'proxy' && options.mode !== 'userproxy') {
      logger.warning(`dropidle ${config.dropidle} is not applied in ${options.mode} mode (the pool upstream applies its own); idle miners stay connected here`);
    }
    const { startModes } = await import('../modes/start.js');
    await startModes(options, config, logger);
    return;
  }
  let mod: unknown;
  try {
    mod = await (deps.loadPool ?? (() => import(POOL_MODULE)))();
  } catch (e) {
    if (isMissingPoolModule(e)) {
      throw ckError('CKP_ERR_CLI_NOT_IMPLEMENTED', 'pool mode', 'ts/pool/start.ts has not landed: issues 3 and 4');
    }
    throw e;
  }
  const startPool = (mod as { startPool?: unknown } | null)?.startPool;
  if (typeof startPool !== 'function') {
    throw ckError('CKP_ERR_CLI_NOT_IMPLEMENTED', 'pool mode', 'ts/pool/start.ts exports no startPool()');
  }
  await (startPool as StartPool)(options, config, logger);
}
