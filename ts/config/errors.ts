/**
 * Config errors: catalogue errors (ts/errors.ts) that also carry where they happened,
 * so callers and tests can check `err.key` / `err.line` rather than parse the message.
 */
import { ckError, type CkpoolError, type ErrorCode } from '../errors.js';

export interface ConfigErrorInfo {
  /** The config file (as given) or '<embedded demo>'. */
  readonly file: string;
  /** 1-based line, or 0 when the problem is a key that is absent. */
  readonly line: number;
  /** The ckpool key, indexed for nested values: `btcd[1].url`. */
  readonly key: string;
}

export type ConfigError = CkpoolError & ConfigErrorInfo;

export function configError(code: ErrorCode, where: ConfigErrorInfo, ...args: unknown[]): ConfigError {
  return Object.assign(ckError(code, ...args), { file: where.file, line: where.line, key: where.key });
}
