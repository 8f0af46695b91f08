/**
 * Reading the config file, and the embedded-demo fallback.
 */
import { readFileSync } from 'node:fs';
import { ckErrorCause } from '../errors.js';
import { configError } from './errors.js';
import { embeddedDemoConfig, parseConfig, type ParseOptions } from './parse.js';
import { isProxyMode, type CkpoolConfig, type Mode } from './types.js';

export interface LoadOptions extends ParseOptions {
  /**
   * The path is the default `<name>.conf`, not one the user gave with -c. If it does not
   * exist, pool and solo modes get `embeddedDemoConfig()` (the CLI then starts the
   * regtest demo); the proxy modes cannot run without upstreams, so they still fail.
   */
  readonly optional?: boolean;
}

/** Load and validate a ckpool.conf. Throws a coded ConfigError (see ./errors.ts). */
export function loadConfig(path: string, mode: Mode, opts: LoadOptions = {}): CkpoolConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (opts.optional && !isProxyMode(mode)) return embeddedDemoConfig(mode, opts);
      const hint = opts.optional
        ? `${mode} mode needs a config file with a "proxy" list (give one with -c FILE)`
        : 'check the -c/--config path';
      throw configError('CKP_ERR_CONFIG_NOT_FOUND', { file: path, line: 0, key: '' }, path, hint);
    }
    throw Object.assign(ckErrorCause('CKP_ERR_CONFIG_READ', e, path, (e as Error).message), { file: path, line: 0, key: '' });
  }
  return parseConfig(text, mode, path, opts);
}
