/**
 * The stratum server's public shapes (options, connection, stats, events), its close
 * reasons and defaults: kept apart from ts/stratum/server.ts so the connector's code
 * stays one readable module. Re-exported from server.ts and index.ts.
 */
import type net from 'node:net';
import type { Logger } from '../log/logger.js';
import { ckError } from '../errors.js';
import { parseHostPort } from '../config/hostport.js';
import { STRATUM_SCHEMES } from '../config/stratum-url.js';
import type { TlsCredentials } from '../tls/credentials.js';

export interface StratumServerOptions {
  /** "host:port" (ckpool serverurl entries); index = serverIndex. Port 0 binds an ephemeral port. */
  urls: string[];
  /** Beyond this many connected clients new connections are closed at once ("Server full"). Default 18000. */
  maxClients?: number;
  /** Longest line, and most bytes buffered without a newline, before the client is dropped. Default 1024 (ckpool MAX_MSGSIZE). */
  maxLineBytes?: number;
  /** Output queued for one client beyond this drops it. Default 256 KiB. */
  maxPendingBytes?: number;
  /** A client whose queued output makes no progress this long is dropped. Default 60 s (ckpool). */
  sendTimeoutMs?: number;
  /** Listening ports above this are "highdiff" (ckpool: > 4000). Default 4000. */
  highdiffPort?: number;
  /** TCP keepalive initial delay. Default 45 s (ckpool keep_sockalive). TCP_NODELAY is always on. */
  keepAliveMs?: number;
  /** A gracefully closed client that has not finished flushing after this long is destroyed. Default 5 s. */
  closeLingerMs?: number;
  /** Send `{"id":null,"result":null,"error":[20,"Invalid JSON",null]}` before dropping a client for a bad line. Default true. */
  replyInvalidJson?: boolean;
  /** Retries of a failed bind, `bindRetryMs` apart (ckpool: 25 tries, 5 s apart). Default 0: fail at once. */
  bindRetries?: number;
  bindRetryMs?: number;
  /** listen(2) backlog. Default 8192 (ckpool). */
  backlog?: number;
  /**
   * Flood control, a token bucket per client: at most `floodBurst` messages at once
   * (default 4096) refilled at `floodRate` per second (default 10 000). Miners send a
   * few messages a second and load generators keep a pipeline of tens (raise the rate
   * for a benchmark that pushes one connection harder); a client that
   * pushes thousands of lines in one go without waiting for replies is dropped
   * ('flood') before its replies pile up in kernel buffers.
   */
  floodBurst?: number;
  floodRate?: number;
  /**
   * Limits of a passthrough or node link, and of a connection that subscribed as a
   * ckpool proxy (ts/modes/links.ts): its output bound (default 1 GiB: a notify per
   * miner per job when the downstream cannot take fan-out), and how many miners all
   * links together may carry (default 0: they count against maxClients with the direct
   * connections). Flood control never applies to them.
   */
  linkMaxPendingBytes?: number;
  linkMiners?: number;
  /**
   * Fair service (ts/stratum/fairness.ts): lines handled per connection per event-loop
   * turn (default 16; the rest of a burst waits, unread, for later turns in round-robin
   * order), and the work per turn before sockets are polled again (default 4 ms).
   */
  linesPerTurn?: number;
  sliceMs?: number;
  /**
   * A connection whose unsent output held in Node exceeds this (or half its
   * maxPendingBytes, if less) is not read or served until that output drains.
   * Default 64 KiB.
   */
  pauseOutputBytes?: number;
  /**
   * Connection ids: idStart, idStart + idStep, … (default: the number of urls, step 1).
   * The threads of one pool use disjoint progressions so a client id names one miner.
   */
  idStart?: number;
  idStep?: number;
  /**
   * Called for each accepted connection before it is served here: return 'taken' when
   * the callee now owns the socket (it went to a worker thread), 'full' to refuse it as
   * "Server full", 'local' to serve it on this server (ts/pool/workers.ts).
   */
  handoff?: (socket: net.Socket, serverIndex: number, highdiff: boolean) => 'taken' | 'full' | 'local';
  /**
   * Certificate and key (PEM text, plain data so it crosses to worker threads) for the
   * `stratum+ssl://` / `stratum+tls://` urls; required when one of the urls is TLS
   * (ts/tls/credentials.ts reads and checks the files). Replace with setTlsCredentials().
   */
  tls?: TlsCredentials;
  logger?: Logger;
}

export interface StratumConnection {
  /** Unique, increasing; the first is the number of urls (ckpool connector.c:accept_client). */
  readonly id: number;
  /** Remote IP (IPv4-mapped IPv6 addresses are shown as plain IPv4). */
  readonly address: string;
  /** Remote port. */
  readonly port: number;
  /** Index into `urls` of the listener that accepted it. */
  readonly serverIndex: number;
  /** Accepted on a port above `highdiffPort`. */
  readonly highdiff: boolean;
  /** Date.now() at accept. */
  readonly connectedAt: number;
  readonly closed: boolean;
  /** Why it was closed (undefined while open). */
  readonly closeReason: string | undefined;
  /**
   * Queue one already-serialised JSON line (the '\n' is added if missing). A Buffer is
   * written as is (no copy), so one encoded notify can go to many clients. Returns false
   * if the client is closed or was dropped for exceeding its output bound.
   */
  send(line: string | Uint8Array): boolean;
  /** JSON.stringify(msg) + '\n', then as send(). */
  sendJson(msg: unknown): boolean;
  /**
   * Optional: a line every subscribed miner gets (a new job). A miner behind a
   * passthrough link with notify fan-out (ts/modes/links.ts) returns true: the link
   * carries one copy for all its miners. Undefined or false: send() it as usual.
   */
  sendShared?(line: string): boolean;
  /**
   * Optional: the extranonce1 a miner carried over from an earlier link asks to keep (a
   * ckpool-ts passthrough's resume after its upstream link changed, ts/modes/links.ts).
   */
  resumeEnonce1?: string;
  /** Close after flushing what is queued (graceful), or at once with destroy=true. */
  close(reason: string, destroy?: boolean): void;
  /** Arbitrary per-connection state slot for the stratifier. */
  state: unknown;
}

export interface StratumServerStats {
  /** Connected clients now. */
  clients: number;
  /** Connections ever handed to 'connection'. */
  accepted: number;
  /** Closed connections whose sockets are still flushing a graceful close (at most closeLingerMs). */
  closing: number;
  /** Open connections whose output is currently blocked (watched for sendTimeoutMs). */
  blocked: number;
  /**
   * Closes by reason: every connection's close reason (including 'client closed'),
   * plus connections refused before they became connections ('server full',
   * 'not accepting').
   */
  dropped: Record<string, number>;
  /** Bytes received from clients. */
  bytesIn: number;
  /** Output queued to clients (bytes for Buffers, UTF-16 units for strings: equal for ASCII JSON). */
  bytesOut: number;
}

export interface StratumServerEvents {
  connection: [conn: StratumConnection];
  /** One parsed JSON object per line; `raw` is the line without its line ending. */
  message: [conn: StratumConnection, msg: Record<string, unknown>, raw: string];
  close: [conn: StratumConnection, reason: string];
  /** The urls actually bound ("host:port", ephemeral ports resolved). */
  listening: [urls: string[]];
}

/** Close reasons the server itself uses (close(reason) may pass any other string). */
export const CloseReason = {
  CLIENT_CLOSED: 'client closed',
  INVALID_JSON: 'invalid json',
  NOT_OBJECT: 'not a json object',
  LINE_TOO_LONG: 'line too long',
  FLOOD: 'flood',
  OUTPUT_BOUND: 'output bound exceeded',
  SEND_TIMEOUT: 'send timeout',
  SERVER_FULL: 'server full',
  NOT_ACCEPTING: 'not accepting',
  SERVER_CLOSING: 'server closing',
  INTERNAL_ERROR: 'internal error',
  /** Prefix: 'socket error: ECONNRESET' etc. */
  SOCKET_ERROR: 'socket error',
} as const;

export const INVALID_JSON_REPLY = '{"id":null,"result":null,"error":[20,"Invalid JSON",null]}\n';

export const DEFAULTS = {
  maxClients: 18000,
  maxLineBytes: 1024,
  maxPendingBytes: 256 * 1024,
  sendTimeoutMs: 60_000,
  highdiffPort: 4000,
  keepAliveMs: 45_000,
  closeLingerMs: 5_000,
  bindRetries: 0,
  bindRetryMs: 5_000,
  backlog: 8192,
  floodBurst: 4096,
  floodRate: 10_000,
  linkMaxPendingBytes: 1024 * 1024 * 1024,
  linkMiners: 0,
  linesPerTurn: 16,
  sliceMs: 4,
  pauseOutputBytes: 64 * 1024,
};

/** The ckpool.conf keys of the per-connection limits (issue 18), as server options; absent keys stay absent (defaults above). */
export function serverLimitsFromConfig(c: { floodrate?: number; floodburst?: number; maxpending?: number; linkmaxpending?: number; linkminers?: number }): Partial<StratumServerOptions> {
  const o: Partial<StratumServerOptions> = {};
  if (c.floodrate !== undefined) o.floodRate = c.floodrate;
  if (c.floodburst !== undefined) o.floodBurst = c.floodburst;
  if (c.maxpending !== undefined) o.maxPendingBytes = c.maxpending;
  if (c.linkmaxpending !== undefined) o.linkMaxPendingBytes = c.linkmaxpending;
  if (c.linkminers !== undefined) o.linkMiners = c.linkminers;
  return o;
}

// --- option checks and address text, used by the server

export function positive(name: string, value: number | undefined, dflt: number, allowZero = false): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw ckError('CKP_ERR_STRATUM_OPTION', name, allowZero ? 'a number >= 0' : 'a number > 0', value);
  }
  return value;
}

/** Parse one serverurl; "host:0" means an ephemeral port (tests). */
export function parseUrl(url: string): { host: string; port: number } {
  if (typeof url !== 'string') throw ckError('CKP_ERR_STRATUM_URL', String(url), 'expected a "host:port" string');
  const eph = /:0$/.test(url.trim());
  const parsed = parseHostPort(eph ? url.trim().replace(/:0$/, ':1') : url, STRATUM_SCHEMES);
  if (typeof parsed === 'string') throw ckError('CKP_ERR_STRATUM_URL', url, parsed);
  return { host: parsed.host, port: eph ? 0 : parsed.port };
}

export function hostPortText(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function plainAddress(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}
