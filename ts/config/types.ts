/**
 * The typed shape of a loaded ckpool.conf.
 *
 * Field names are camelCase; `CONFIG_KEY` maps each field back to the key users write in
 * the file, so every message can name the key they will actually search for.
 */
import type { NotificationEntry } from './notifications.js';

/**
 * How ckpool-ts runs. ckpool sets several booleans at once (-N sets proxy and
 * passthrough, ...); we keep the single most specific one, and `isProxyMode` answers
 * "is the proxy flag set" as ckpool's `ckp->proxy` would.
 */
export type Mode = 'pool' | 'solo' | 'proxy' | 'userproxy' | 'passthrough' | 'node' | 'redirector';

export const MODES: readonly Mode[] = ['pool', 'solo', 'proxy', 'userproxy', 'passthrough', 'node', 'redirector'];

/** True for every mode that implies ckpool's proxy flag (-p, -u, -P, -N, -R). */
export function isProxyMode(mode: Mode): boolean {
  return mode !== 'pool' && mode !== 'solo';
}

export interface BtcdEntry {
  /** `host:port` of bitcoind's RPC (an `http://` prefix is accepted). */
  readonly url: string;
  /** rpcuser / rpcpassword. Both present, or `cookie` instead. */
  readonly auth?: string;
  readonly pass?: string;
  /**
   * Our extension: path to bitcoind's `.cookie` file (relative paths are relative to the
   * working directory, as ckpool treats logdir). It is not read here: bitcoind rewrites
   * it on every restart, so the RPC client reads it when it connects.
   */
  readonly cookie?: string;
  /** This node announces blocks (ZMQ or notifier), so it is not polled. */
  readonly notify: boolean;
  /** Line of the entry in the config file (0 for built-in defaults). */
  readonly line: number;
}

export interface ProxyEntry {
  /**
   * Upstream stratum `host:port` (a `stratum+tcp://` prefix is accepted;
   * `stratum+ssl://` or `stratum+tls://` connects over TLS).
   */
  readonly url: string;
  readonly auth: string;
  /** Optional in the file; '' when absent, as in ckpool. */
  readonly pass: string;
  /** A TLS upstream's certificate is not verified (self-signed test pools). Default false. */
  readonly insecure?: boolean;
  readonly line: number;
}

export interface ConfigWarning {
  /** ckpool key name (dotted/indexed for nested keys, e.g. `btcd[0].foo`). */
  readonly key: string;
  /** 0 when the warning is not about a particular line. */
  readonly line: number;
  readonly message: string;
}

export interface CkpoolConfig {
  /** Path the config came from, or '<embedded demo>'. */
  readonly source: string;
  /**
   * True when no config file was given and the default `<name>.conf` does not exist
   * (pool and solo modes only). The CLI then starts the embedded regtest demo, which
   * fills in `btcd` (empty here on purpose, so nothing connects to a mainnet node with
   * the default user/pass by accident) and `btcaddress`.
   */
  readonly embeddedDemo: boolean;
  readonly mode: Mode;

  readonly btcd: readonly BtcdEntry[];
  readonly btcaddress?: string;
  /** Coinbase signature text, at most 38 bytes of UTF-8. '' when unset. */
  readonly btcsig: string;
  /** getbestblockhash poll interval, ms. */
  readonly blockpoll: number;
  /** Percent of the block reward, 0 or 0.1..99.9. */
  readonly donation: number;
  readonly nonce1length: number;
  /** 0 in proxy modes means "derive from upstream". */
  readonly nonce2length: number;
  /** Seconds between template refreshes (pool) or pings (proxy). */
  readonly updateInterval: number;
  /** BIP310 version-rolling mask as an unsigned 32-bit number. */
  readonly versionMask: number;
  /** Stratum listen urls, `host:port` (`stratum+ssl://host:port`: TLS, see tlscert/tlskey). */
  readonly serverurl: readonly string[];
  readonly nodeserver: readonly string[];
  /**
   * ckpool-ts extension: PEM certificate (a chain file works) and key of the TLS
   * listeners; both required when a serverurl or nodeserver url is TLS. Re-read on
   * SIGHUP and by a -H handover's new process.
   */
  readonly tlscert?: string;
  readonly tlskey?: string;
  readonly trusted: readonly string[];
  readonly upstream?: string;
  readonly mindiff: number;
  readonly startdiff: number;
  readonly highdiff: number;
  /** 0 = no maximum. */
  readonly maxdiff: number;
  readonly logdir: string;
  readonly maxclients: number;
  /**
   * ckpool 1.2's `dropidle`: drop a miner that has sent no share (accepted or stale)
   * for this many seconds; 0 = never. Checked by one sweep every few seconds.
   */
  readonly dropidle: number;
  /**
   * ckpool-ts extension: worker threads serving the miners ("auto" in the file = one per
   * CPU). Absent: the ckpool binary uses one per CPU, the library Pool serves on its own
   * thread.
   */
  readonly workers?: number;
  readonly proxy: readonly ProxyEntry[];
  readonly redirecturl: readonly string[];
  readonly zmqblock: string;
  /**
   * ckpool-ts extension: `host:port` of the HTTP API and dashboard (ts/api); absent = off.
   * Bound only there (use 127.0.0.1 unless it is meant to be reachable).
   */
  readonly apiurl?: string;
  /** ckpool-ts extension: Bearer token that would guard state-changing API routes (none exist yet). */
  readonly apitoken?: string;
  /** ckpool-ts extension: webhooks told about blocks, workers, nodes (ts/notify; absent = none). */
  readonly notifications?: readonly NotificationEntry[];
  /** ckpool-ts extension: most deliveries waiting in the notification outbox (default 1000). */
  readonly notifyqueue?: number;
  /**
   * ckpool-ts extension: how many users and how many workers get their own hashrate series
   * in the Prometheus metrics (the rest are summed as "__other__"); default 100.
   */
  readonly metricsmaxworkers?: number;
  /**
   * ckpool-ts extensions, per-connection limits (issue 18; absent = the defaults in
   * ts/stratum/server-types.ts DEFAULTS and ts/pool/stratifier.ts): flood control per
   * direct miner connection (messages/s and burst), invalid submits in a row before a
   * miner is dropped (0 = never), a miner connection's output bound in bytes, a
   * passthrough/node/proxy link's output bound, how many miners all links together may
   * carry (0 = they count against maxclients with the direct ones), and whether a
   * passthrough asks its pool for notify fan-out.
   */
  readonly floodrate?: number;
  readonly floodburst?: number;
  readonly invalidburst?: number;
  readonly maxpending?: number;
  readonly linkmaxpending?: number;
  readonly linkminers?: number;
  readonly notifyfanout?: boolean;
  /**
   * ckpool 1.2: Stratum V2 listen urls (`host[:port]`, port 3336 when absent, or
   * `stratum2+tcp://host:port`); empty = no SV2 listener (ts/sv2).
   */
  readonly sv2url: readonly string[];
  /** ckpool 1.2: SV2 authority key file; absent = `<sockdir>/sv2_authority.key`, created on first start. */
  readonly sv2AuthorityKey?: string;
  /** ckpool 1.2: SV2 static key file; absent = `<sockdir>/sv2_static.key`, created on first start. */
  readonly sv2StaticKey?: string;

  /** Non-fatal findings (unknown keys, truncated btcsig, ...), in file order. */
  readonly warnings: readonly ConfigWarning[];
  /** Line of each top-level key that appeared in the file, by ckpool key name. */
  readonly lines: Readonly<Partial<Record<ConfigKey, number>>>;
}

/** Config field → the key name in ckpool.conf. */
export const CONFIG_KEY = {
  btcd: 'btcd',
  btcaddress: 'btcaddress',
  btcsig: 'btcsig',
  blockpoll: 'blockpoll',
  donation: 'donation',
  nonce1length: 'nonce1length',
  nonce2length: 'nonce2length',
  updateInterval: 'update_interval',
  versionMask: 'version_mask',
  serverurl: 'serverurl',
  nodeserver: 'nodeserver',
  tlscert: 'tlscert',
  tlskey: 'tlskey',
  trusted: 'trusted',
  upstream: 'upstream',
  mindiff: 'mindiff',
  startdiff: 'startdiff',
  highdiff: 'highdiff',
  maxdiff: 'maxdiff',
  logdir: 'logdir',
  maxclients: 'maxclients',
  dropidle: 'dropidle',
  workers: 'workers',
  proxy: 'proxy',
  redirecturl: 'redirecturl',
  zmqblock: 'zmqblock',
  apiurl: 'apiurl',
  apitoken: 'apitoken',
  notifications: 'notifications',
  notifyqueue: 'notifyqueue',
  metricsmaxworkers: 'metricsmaxworkers',
  floodrate: 'floodrate',
  floodburst: 'floodburst',
  invalidburst: 'invalidburst',
  maxpending: 'maxpending',
  linkmaxpending: 'linkmaxpending',
  linkminers: 'linkminers',
  notifyfanout: 'notifyfanout',
  sv2url: 'sv2url',
  sv2AuthorityKey: 'sv2_authority_key',
  sv2StaticKey: 'sv2_static_key',
} as const satisfies Partial<Record<keyof CkpoolConfig, string>>;

export type ConfigField = keyof typeof CONFIG_KEY;
export type ConfigKey = (typeof CONFIG_KEY)[ConfigField];

/** Every key ckpool.conf may contain, as written in the file. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.values(CONFIG_KEY);
