/**
 * The one catalogue of ckpool-ts error codes.
 *
 * Every error the library or the binaries raise on purpose carries a stable
 * `code` (as fastify's FST_ERR_* and undici's UND_ERR_* do), so callers and
 * tests branch on `err.code`, never on message text. Codes are never renamed
 * or reused; add new ones at the end of their section.
 *
 * The native core (Rust) raises the CKP_ERR_NATIVE_* codes itself: its error
 * enum is mapped to these strings once, at the N-API boundary (src/lib.rs).
 */

export interface CodeInfo {
  /** printf-like template: each `%s` is replaced by the next argument. */
  readonly message: string;
}

export const catalogue = {
  // --- native core (crates/ckpool-core, mapped in src/lib.rs) -------------
  CKP_ERR_NATIVE_LENGTH: { message: 'invalid length: %s' },
  CKP_ERR_NATIVE_HEX: { message: 'invalid hex: %s' },
  CKP_ERR_NATIVE_RANGE: { message: 'value out of range: %s' },
  CKP_ERR_NATIVE_ARG: { message: 'invalid argument: %s' },
  CKP_ERR_NATIVE_PANIC: { message: 'internal error in the native core: %s' },
  CKP_ERR_NATIVE_IO: { message: 'operating system call failed: %s' },

  // --- addresses -----------------------------------------------------------
  CKP_ERR_ADDRESS_INVALID: { message: 'invalid bitcoin address %s: %s' },
  CKP_ERR_NETWORK_UNKNOWN: { message: 'unknown network %s (expected main, testnet, signet or regtest)' },

  // --- stratum field parsing -----------------------------------------------
  CKP_ERR_HEX: { message: '%s is not valid hex: %s' },
  CKP_ERR_FIELD_LENGTH: { message: '%s must be %s bytes, got %s' },

  // --- bitcoind client (ts/node) -------------------------------------------
  // Transport failures (the server is unusable, fail over): CONNECT, TIMEOUT,
  // AUTH, HTTP, NOT_JSON, COOKIE. CKP_ERR_RPC_ERROR is the node's own answer.
  CKP_ERR_RPC_URL: { message: 'invalid bitcoind url %s' },
  CKP_ERR_RPC_CONNECT: { message: 'cannot connect to bitcoind %s: %s' },
  CKP_ERR_RPC_TIMEOUT: { message: 'bitcoind %s did not answer %s within %s ms' },
  CKP_ERR_RPC_AUTH: { message: 'bitcoind %s rejected the RPC credentials (HTTP %s) on %s' },
  CKP_ERR_RPC_HTTP: { message: 'bitcoind %s answered %s with HTTP status %s' },
  CKP_ERR_RPC_NOT_JSON: { message: 'bitcoind %s answered %s with a reply that is not JSON: %s' },
  CKP_ERR_RPC_ERROR: { message: 'bitcoind %s: %s failed with RPC error %s: %s' },
  CKP_ERR_RPC_COOKIE: { message: 'cannot use the RPC cookie file %s: %s' },
  CKP_ERR_RPC_RESULT: { message: 'bitcoind %s: unexpected %s result: %s' },
  CKP_ERR_RPC_CLOSED: { message: 'RPC client for bitcoind %s is closed' },
  CKP_ERR_NODE_NONE_ALIVE: { message: 'No bitcoinds active! (%s)' },
  CKP_ERR_NODE_START: { message: 'bcoin node failed to start: %s' },
  CKP_ERR_NODE_WALLET: { message: 'bcoin wallet request %s failed: %s' },

  // --- work generation and block submission (ts/work) ---------------------
  CKP_ERR_WORK_TEMPLATE: { message: 'unusable block template: %s' },
  CKP_ERR_WORK_ADDRESS: { message: 'btcaddress %s is not valid on %s: %s' },
  CKP_ERR_WORK_COINBASE: { message: 'the generated coinbase failed the node\'s decoderawtransaction check: %s' },
  CKP_ERR_WORK_NETWORK: { message: 'unsupported chain %s reported by bitcoind' },
  CKP_ERR_BLOCK_WRITE: { message: 'could not write solved block %s to %s before submitting: %s' },

  // --- config and CLI (ts/config, ts/cli, ts/log/file.ts) -------------------
  // Config messages start with "<file> line N:" and name the ckpool key; the
  // thrown errors also carry .file, .line and .key (see ts/config/errors.ts).
  CKP_ERR_CONFIG_READ: { message: 'cannot read config file %s: %s' },
  CKP_ERR_CONFIG_NOT_FOUND: { message: 'config file %s not found: %s' },
  CKP_ERR_CONFIG_SYNTAX: { message: '%s line %s column %s: JSON syntax error: %s; %s' },
  CKP_ERR_CONFIG_NOT_OBJECT: { message: '%s line %s: the config must be a JSON object {...}, not %s; %s' },
  CKP_ERR_CONFIG_DUPLICATE: { message: '%s line %s: %s appears twice (first on line %s); %s' },
  CKP_ERR_CONFIG_TYPE: { message: '%s line %s: %s must be %s, not %s; %s' },
  CKP_ERR_CONFIG_RANGE: { message: '%s line %s: %s must be %s, got %s; %s' },
  CKP_ERR_CONFIG_HEX: { message: '%s line %s: %s must be 8 hex digits like "1fffe000", got %s; %s' },
  CKP_ERR_CONFIG_URL: { message: '%s line %s: %s must be "host:port": %s; %s' },
  CKP_ERR_CONFIG_ENTRY_FIELD: { message: '%s line %s: %s has no "%s" (required); %s' },
  CKP_ERR_CONFIG_BTCD_AUTH: { message: '%s line %s: %s needs either "auth" and "pass", or "cookie"%s; %s' },
  CKP_ERR_CONFIG_MISSING: { message: '%s: %s is required %s; %s' },
  CKP_ERR_CLI_USAGE: { message: '%s (see --help)' },
  CKP_ERR_CLI_CONFLICT: { message: 'Cannot set both %s and %s' },
  CKP_ERR_CLI_LOGLEVEL: { message: 'Invalid loglevel (range 0 - 7): %s' },
  CKP_ERR_CLI_NOT_IMPLEMENTED: { message: '%s is not implemented yet (%s)' },
  CKP_ERR_CLI_LOGFILE: { message: 'cannot open log file %s: %s' },
  CKP_ERR_CLI_WORKERS: { message: 'Invalid workers (a whole number 0 - 1024, or "auto"): %s' },

  // --- stratum server (ts/stratum) -----------------------------------------
  CKP_ERR_STRATUM_URL: { message: 'invalid stratum serverurl %s: %s' },
  CKP_ERR_STRATUM_LISTEN: { message: 'cannot listen for stratum clients on %s: %s' },
  CKP_ERR_STRATUM_OPTION: { message: 'stratum server option %s must be %s, got %s' },
  CKP_ERR_STRATUM_STATE: { message: 'stratum server %s' },
  CKP_ERR_POOL_WORKERS: { message: 'workers must be %s, got %s' },
  CKP_ERR_POOL_WORKER: { message: 'pool worker thread %s %s' },

  // --- stats and logs (ts/stats) -------------------------------------------
  // The share path never throws: share-log problems are logged with these codes.
  CKP_ERR_STATS_OPTION: { message: 'invalid stats option %s: %s' },
  CKP_ERR_STATS_WRITE: { message: 'cannot write stats file %s: %s' },
  CKP_ERR_STATS_READ: { message: 'cannot read stats file %s: %s' },
  CKP_ERR_STATS_PARSE: { message: 'ignoring stats file %s: %s' },
  CKP_ERR_STATS_SHARELOG_ENTRY: { message: 'share log entry dropped: %s' },
  CKP_ERR_STATS_SHARELOG_WRITE: { message: 'cannot append %s share log line(s) to %s: %s' },
  CKP_ERR_STATS_SHARELOG_BACKLOG: { message: 'share log backlog over %s lines: dropped %s line(s)' },
  CKP_ERR_STATS_SHARELOG_CLOSED: { message: 'share log for %s is closed: dropped a line' },

  // --- control socket (ts/control) ------------------------------------------
  // The unix control sockets, their framing, the sockdir and pid file, and the
  // ckpmsg / notifier clients.
  CKP_ERR_CONTROL_FRAME: { message: 'invalid control message length %s (ckpool allows 1..%s bytes)' },
  CKP_ERR_CONTROL_TOO_BIG: { message: 'control message of %s bytes is over the %s byte limit' },
  CKP_ERR_CONTROL_TIMEOUT: { message: 'control socket %s: no %s within %s ms' },
  CKP_ERR_CONTROL_CLOSED: { message: 'control socket %s closed after %s of %s reply bytes' },
  CKP_ERR_CONTROL_NOT_RUNNING: { message: 'no instance is running on %s (%s): is ckpool started with this name and sockdir?' },
  CKP_ERR_CONTROL_CONNECT: { message: 'cannot talk to control socket %s: %s' },
  CKP_ERR_CONTROL_SOCKDIR: { message: 'cannot use sockdir %s: %s' },
  CKP_ERR_CONTROL_LISTEN: { message: 'cannot listen on control socket %s: %s' },
  CKP_ERR_CONTROL_SOCKET_IN_USE: { message: 'control socket %s is answered by another running process; is another instance using sockdir %s?' },
  CKP_ERR_CONTROL_GROUP: { message: 'unknown group %s (-g): no such group in %s' },
  CKP_ERR_CONTROL_RUNNING: { message: 'Process main pid %s still exists, start ckpool with -H to get a handover or -k if you wish to kill it' },
  CKP_ERR_CONTROL_KILL: { message: 'could not terminate old process main pid %s: %s' },
  CKP_ERR_CONTROL_PIDFILE: { message: 'cannot write pid file %s: %s' },
  CKP_ERR_UNSAFE_DIR: { message: 'refusing to use %s %s: %s; fix: %s' },

  // --- proxy modes (ts/modes) ------------------------------------------------
  // Upstream links of proxy, userproxy, passthrough, node and redirector modes, and
  // the main pool's side of passthrough and node links. Upstream trouble is logged
  // with these codes and never takes the downstream miners down.
  CKP_ERR_PROXY_URL: { message: 'invalid upstream pool url %s: %s' },
  CKP_ERR_PROXY_CONNECT: { message: 'cannot connect to upstream pool %s: %s' },
  CKP_ERR_PROXY_TIMEOUT: { message: 'upstream pool %s did not answer %s within %s ms' },
  CKP_ERR_PROXY_CLOSED: { message: 'link to upstream pool %s closed: %s' },
  CKP_ERR_PROXY_REFUSED: { message: 'upstream pool %s refused %s: %s' },
  CKP_ERR_PROXY_PROTOCOL: { message: 'upstream pool %s sent an unusable %s: %s' },
  CKP_ERR_PROXY_NONE_ALIVE: { message: 'no upstream pool is reachable (%s)' },
  CKP_ERR_PROXY_OPTION: { message: 'proxy mode option %s must be %s, got %s' },
  CKP_ERR_PROXY_TLS: { message: 'upstream pool %s: TLS certificate not accepted (%s: %s); for a pool you trust with a self-signed certificate set "insecure": true in its proxy entry' },

  // --- stratum over TLS (ts/tls) -----------------------------------------------
  // The tlscert / tlskey files of stratum+ssl:// listeners: checked at start-up (fatal)
  // and on SIGHUP (logged, the old certificate stays in use).
  CKP_ERR_TLS_FILE: { message: 'cannot read TLS %s file %s: %s' },
  CKP_ERR_TLS_PEM: { message: 'TLS %s file %s holds no usable %s: %s' },
  CKP_ERR_TLS_KEY_MISMATCH: { message: 'TLS key %s does not belong to the certificate in %s (%s)' },
  CKP_ERR_TLS_CONTEXT: { message: 'cannot use TLS certificate %s with key %s: %s' },
  CKP_ERR_TLS_NOT_CONFIGURED: { message: 'stratum url %s is TLS but no certificate and key were given (config keys "tlscert" and "tlskey")' },

  // --- Stratum V2 (ts/sv2, crates/ckpool-sv2) ----------------------------------
  // The native codes (HANDSHAKE … STATE) are thrown by the binding with the Rust
  // message; each closes the one connection it happened on and is logged.
  CKP_ERR_SV2_HANDSHAKE: { message: 'SV2 Noise handshake failed: %s' },
  CKP_ERR_SV2_FRAME: { message: 'bad SV2 frame: %s' },
  CKP_ERR_SV2_OVERSIZED: { message: 'SV2 frame over the size limit: %s' },
  CKP_ERR_SV2_MESSAGE: { message: 'bad SV2 message: %s' },
  CKP_ERR_SV2_ENCODE: { message: 'cannot encode SV2 message: %s' },
  CKP_ERR_SV2_KEY: { message: 'bad SV2 key: %s' },
  CKP_ERR_SV2_STATE: { message: 'SV2 session: %s' },
  CKP_ERR_SV2_KEY_FILE: { message: 'SV2 key file %s: %s' },
  CKP_ERR_SV2_PROTOCOL: { message: 'SV2 client %s: %s' },
  CKP_ERR_SV2_LISTEN: { message: 'SV2 listener cannot listen on %s: %s' },

  // --- notifications (ts/notify) ------------------------------------------------
  // Webhook delivery never stops the pool: all but NOTIFY_CA (at start-up) are logged.
  CKP_ERR_NOTIFY_CA: { message: 'cannot read the CA file %s of %s: %s' },
  CKP_ERR_NOTIFY_OUTBOX: { message: 'notification outbox %s: %s' },
  CKP_ERR_NOTIFY_DELIVERY: { message: 'notification %s %s to %s failed (attempt %s): %s' },
  CKP_ERR_NOTIFY_REFUSED: { message: 'notification %s %s refused by %s, not retried: %s' },
  CKP_ERR_NOTIFY_DROPPED: { message: 'notification outbox full (%s pending): dropped %s %s for %s' },

  // --- ckpool-bench (ts/bench) ------------------------------------------------
  // The stratum load generator and its fake template source (benchmarks only).
  CKP_ERR_BENCH_OPTION: { message: '%s must be %s, got %s' },
  CKP_ERR_BENCH_HANDSHAKE: { message: 'no connection to %s finished subscribe + authorize (%s)' },
  CKP_ERR_BENCH_TRIGGER: { message: 'block change trigger failed: %s' },
  CKP_ERR_BENCH_PID: { message: 'cannot read /proc for pid %s: %s' },
  CKP_ERR_BENCH_LISTEN: { message: 'template source cannot listen on %s: %s' },
  CKP_ERR_BENCH_LIMIT: { message: 'system limit in the way: %s' },
  CKP_ERR_BENCH_CHILD: { message: 'generator process %s failed: %s' },
  CKP_ERR_BENCH_SV2_ENGINE: { message: 'the SV2 client engine %s %s (build it: cargo build --release -p ckpool-sv2 --example sv2-bench; or give --sv2-engine)' },

  // --- HTTP API, block ledger and history (ts/api, ts/work/ledger.ts, ts/history) ---
  // API errors are answered as { error: { code, message } } with the HTTP status noted.
  CKP_ERR_API_NOT_FOUND: { message: 'no such %s: %s' }, // 404
  CKP_ERR_API_PARAM: { message: 'bad parameter %s: %s' }, // 400
  CKP_ERR_API_BUSY: { message: 'too many live event streams (%s open, the limit); try again later' }, // 503
  CKP_ERR_API_UNAVAILABLE: { message: '%s is not available in %s mode' }, // 404
  CKP_ERR_API_AUTH: { message: 'this route needs "Authorization: Bearer <apitoken>"' }, // 401
  CKP_ERR_API_INTERNAL: { message: 'internal error: %s' }, // 500
  CKP_ERR_API_LISTEN: { message: 'HTTP API cannot listen on %s: %s' },
  CKP_ERR_LEDGER_FILE: { message: 'block ledger: cannot read %s: %s' },
  CKP_ERR_HISTORY_DB: { message: 'history database %s: %s' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof catalogue;

/** An Error with a stable `code` from the catalogue. */
export class CkpoolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CkpoolError';
    this.code = code;
  }
}

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

/** Build the error for `code`, filling its message template with `args`. */
export function ckError(code: ErrorCode, ...args: unknown[]): CkpoolError {
  return new CkpoolError(code, format(catalogue[code].message, args));
}

/** Same, with an underlying cause attached. */
export function ckErrorCause(code: ErrorCode, cause: unknown, ...args: unknown[]): CkpoolError {
  return new CkpoolError(code, format(catalogue[code].message, args), { cause });
}

export function isCkpoolError(err: unknown, code?: ErrorCode): err is CkpoolError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' &&
    (code === undefined || (err as unknown as { code: string }).code === code);
}
