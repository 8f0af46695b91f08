/**
 * JSON-RPC client for bitcoind (and bcoin) over HTTP.
 *
 * Unlike ckpool, which opens a new TCP connection per call, calls go over a
 * small keep-alive pool (node:http Agent, maxSockets 4 by default): the pool
 * polls getbestblockhash ten times a second, and a connection per poll costs
 * the node a thread wake-up and a TIME_WAIT socket each time.
 *
 * Every failure is a CkpoolError with a stable code, split in two kinds:
 *  - transport failures (see TRANSPORT_CODES): the server is unusable and the
 *    failover set (./servers.ts) moves on to the next one;
 *  - CKP_ERR_RPC_ERROR: the node answered with a JSON-RPC error. That is the
 *    node's verdict, so retrying it elsewhere would not help.
 * Error messages name the server as host:port only, never the credentials.
 */
import http from 'node:http';
import { CkpoolError, ckError, ckErrorCause, isCkpoolError, type ErrorCode } from '../errors.js';
import { NullLogger, redact, type Logger } from '../log/logger.js';
import { BulkConnection, MAX_PREALLOCATED_BODY } from './bulk.js';
import { decodeTemplate, templateHashes } from './template-reader.js';
import { CookieCredentials, StaticCredentials, type CredentialSource } from './auth.js';
import type {
  BlockTemplate,
  BlockTemplateRequest,
  BlockchainInfo,
  DecodedTransaction,
  NetworkInfo,
  SubmitBlockResult,
  ValidateAddressResult,
} from './rpc-types.js';

export type * from './rpc-types.js';

export interface RpcClientOptions {
  /** ckpool.conf style `host:port`, or `http://host:port[/path]`. */
  url: string;
  /** RPC user (ckpool.conf `auth`). */
  user?: string;
  /** RPC password (ckpool.conf `pass`). */
  pass?: string;
  /** Path of bitcoind's `.cookie` file; takes precedence over user/pass. */
  cookie?: string;
  /** Per-call time limit in ms (default 30 000). A call that exceeds it fails with CKP_ERR_RPC_TIMEOUT. */
  timeoutMs?: number;
  /** Keep-alive connections kept to this node (default 4). */
  maxSockets?: number;
  /** Calls slower than this are logged as a warning (default 5000 ms, as ckpool). */
  slowCallMs?: number;
  logger?: Logger;
}

export interface CallOptions {
  /** Overrides the client's per-call timeout, e.g. for GBT long polling. */
  timeoutMs?: number;
  /**
   * Read a reply body yourself (getBlockTemplate's native fast path). Called with the
   * HTTP status and the whole body; its return value is the call's result, or undefined
   * to read the body the ordinary way (JSON-RPC errors, odd replies: the usual coded errors).
   */
  decode?: (status: number, body: Buffer) => unknown;
}

/** Extra fields carried by every error this client raises. */
export interface RpcErrorDetails {
  /** host:port of the node. */
  readonly server: string;
  readonly method: string;
  readonly httpStatus?: number;
  /** JSON-RPC error code (e.g. -8, -22, -32601); undefined when the node sent none. */
  readonly rpcCode?: number;
  readonly rpcMessage?: string;
}
export type RpcError = CkpoolError & RpcErrorDetails;

/** Codes meaning "this server cannot be used right now" (fail over), as opposed to an RPC answer. */
export const TRANSPORT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CKP_ERR_RPC_CONNECT',
  'CKP_ERR_RPC_TIMEOUT',
  'CKP_ERR_RPC_AUTH',
  'CKP_ERR_RPC_HTTP',
  'CKP_ERR_RPC_NOT_JSON',
  'CKP_ERR_RPC_COOKIE',
  'CKP_ERR_RPC_RESULT',
]);

export function isTransportError(err: unknown): err is CkpoolError {
  return isCkpoolError(err) && TRANSPORT_CODES.has(err.code);
}

export function isRpcError(err: unknown): err is RpcError {
  return isCkpoolError(err, 'CKP_ERR_RPC_ERROR');
}

/** JSON-RPC "method not found" (Core -32601; bcoin also says "Method not found"). */
export function isMethodNotFound(err: unknown): boolean {
  return isRpcError(err) && (err.rpcCode === -32601 || /method not found/i.test(err.rpcMessage ?? ''));
}

function withDetails(err: CkpoolError, details: RpcErrorDetails): RpcError {
  return Object.assign(err, details);
}

/** Socket errors on a reused keep-alive socket that mean "the node closed it while idle". */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Show at most this much of a non-JSON body in an error message. */
const SNIPPET = 80;

export interface RpcStats {
  /** Calls started (including ones that failed). */
  calls: number;
  /** Calls that ended in an error. */
  errors: number;
  /**
   * Distinct TCP connections used so far; stays 1 for sequential calls on a healthy
   * keep-alive link, plus 1 for getblocktemplate's own connection (ts/node/bulk.ts).
   */
  connections: number;
  /** Replies read over getblocktemplate's own connection rather than node:http. */
  bulkReplies: number;
  /** Calls per method name (what a test or a benchmark counts to prove "no polling"). */
  methods: Record<string, number>;
}

/**
 * An HTTP reply body read through node:http. With a Content-Length (bitcoind always
 * sends one) each chunk is copied into one buffer as it arrives, while the pool would
 * otherwise wait for the next: joining a 3.8 MB getblocktemplate reply's ~60 chunks at
 * the end cost 2–14 ms (a fresh allocation faulted in page by page, then the copy). That
 * call normally takes the bulk connection (ts/node/bulk.ts); this is its fallback, and
 * every other call's path. Without a usable length, or if the node sends more than it
 * announced, the chunks are joined at the end.
 */
class BodyCollector {
  #buf: Buffer | null = null;
  #len = 0;
  #chunks: Buffer[] = [];

  constructor(contentLength: string | undefined) {
    const n = contentLength === undefined ? NaN : Number(contentLength);
    if (Number.isSafeInteger(n) && n > 0 && n <= MAX_PREALLOCATED_BODY) this.#buf = Buffer.allocUnsafe(n);
  }

  add(chunk: Buffer): void {
    const buf = this.#buf;
    if (buf !== null && this.#len + chunk.length <= buf.length) {
      chunk.copy(buf, this.#len);
      this.#len += chunk.length;
    } else {
      if (buf !== null) {
        this.#chunks.push(buf.subarray(0, this.#len));
        this.#buf = null;
      }
      this.#chunks.push(chunk);
    }
  }

  take(): Buffer {
    if (this.#buf !== null) return this.#len === this.#buf.length ? this.#buf : this.#buf.subarray(0, this.#len);
    return Buffer.concat(this.#chunks);
  }
}

interface Target {
  host: string;
  port: number;
  path: string;
  /** host:port, the only form of the URL that reaches logs and errors. */
  name: string;
  user?: string;
  pass?: string;
}

function parseUrl(url: string): Target {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`);
  } catch {
    // `url` may carry user:pass@; never echo it back as is.
    throw ckError('CKP_ERR_RPC_URL', JSON.stringify(redact(url).replace(/^[^@/]*@/, '***@')));
  }
  if (u.protocol !== 'http:' || !u.hostname) {
    throw ckError('CKP_ERR_RPC_URL', `${u.protocol}//${u.host} (only http://host:port is supported)`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : 8332;
  return {
    host,
    port,
    path: u.pathname || '/',
    name: u.port ? u.host : `${u.host}:${port}`,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    pass: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

export class RpcClient {
  /** host:port, safe to log. */
  readonly name: string;
  readonly agent: http.Agent;
  readonly timeoutMs: number;
  readonly stats: RpcStats = { calls: 0, errors: 0, connections: 0, bulkReplies: 0, methods: {} };
  /**
   * Told of every finished call: its method, how long it took (seconds) and its error
   * (null when it succeeded). The metrics module's hook; must not throw.
   */
  onCall: ((method: string, seconds: number, error: unknown) => void) | null = null;

  readonly #target: Target;
  readonly #creds: CredentialSource;
  readonly #logger: Logger;
  readonly #slowCallMs: number;
  readonly #seenSockets = new WeakSet<object>();
  /** getblocktemplate's own connection (ts/node/bulk.ts); null once the node answered in a way it does not take */
  #bulk: BulkConnection | null;
  #nextId = 0;
  #closed = false;

  constructor(opts: RpcClientOptions) {
    this.#target = parseUrl(opts.url);
    this.name = this.#target.name;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.#slowCallMs = opts.slowCallMs ?? 5_000;
    this.#logger = opts.logger ?? new NullLogger();
    if (opts.cookie) {
      this.#creds = new CookieCredentials(opts.cookie);
    } else {
      this.#creds = new StaticCredentials(opts.user ?? this.#target.user ?? '', opts.pass ?? this.#target.pass ?? '');
    }
    this.#bulk = this.#newBulk();
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 4,
      // Keep idle sockets a little: bitcoind closes idle HTTP connections
      // itself, and bcoin sends `Keep-Alive: timeout=5`.
      maxFreeSockets: opts.maxSockets ?? 4,
      scheduling: 'lifo',
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Make one JSON-RPC call and return its `result`. */
  async call<T = unknown>(method: string, params: unknown[] = [], opts: CallOptions = {}): Promise<T> {
    if (this.#closed) throw withDetails(ckError('CKP_ERR_RPC_CLOSED', this.name), { server: this.name, method });
    this.stats.calls++;
    this.stats.methods[method] = (this.stats.methods[method] ?? 0) + 1;
    const started = performance.now();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let failed: unknown = null;
    try {
      let header: string;
      try {
        header = await this.#creds.header();
      } catch (err) {
        throw withDetails(err as CkpoolError, { server: this.name, method });
      }
      try {
        if (opts.decode !== undefined && this.#bulk !== null && !this.#bulk.busy) {
          const fast = await this.#sendBulk(this.#bulk, method, params, header, timeoutMs, opts.decode);
          if (fast !== undefined) return fast as T;
          // closed while the call was in flight: do not start it again over node:http
          if (this.#closed) throw withDetails(ckError('CKP_ERR_RPC_CLOSED', this.name), { server: this.name, method });
        }
        return (await this.#send(method, params, header, timeoutMs, false, opts.decode)) as T;
      } catch (err) {
        // bitcoind rewrites its cookie on every restart: re-read it once.
        if (!isCkpoolError(err, 'CKP_ERR_RPC_AUTH')) throw err;
        let fresh: string | null;
        try {
          fresh = await this.#creds.refresh();
        } catch {
          throw err;
        }
        if (fresh === null) throw err;
        return (await this.#send(method, params, fresh, timeoutMs, false, opts.decode)) as T;
      }
    } catch (err) {
      this.stats.errors++;
      failed = err;
      throw err;
    } finally {
      const took = performance.now() - started;
      if (took > this.#slowCallMs) {
        this.#logger.warning(`Call to ${this.name} ${method} took ${(took / 1000).toFixed(1)} s`);
      }
      this.onCall?.(method, took / 1000, failed);
    }
  }

  /**
   * Close the idle keep-alive connections (the client stays usable). A node
   * shutting down waits for open HTTP connections, and one that failed should
   * not be reached through a socket from before.
   */
  dropConnections(): void {
    this.agent.destroy();
    this.#bulk?.close();
    if (this.#bulk !== null) this.#bulk = this.#newBulk();
  }

  /** Close the keep-alive connections. Later calls fail with CKP_ERR_RPC_CLOSED. */
  close(): void {
    this.#closed = true;
    this.agent.destroy();
    this.#bulk?.close();
  }

  /** A JSON-RPC 1.0 request body with the next id. */
  #requestBody(method: string, params: unknown[]): Buffer {
    return Buffer.from(JSON.stringify({ jsonrpc: '1.0', id: ++this.#nextId, method, params }), 'utf8');
  }

  #newBulk(): BulkConnection {
    return new BulkConnection(this.#target.host, this.#target.port, () => { this.stats.connections++; });
  }

  /**
   * A call with a large reply over the bulk connection. Undefined when that path did not
   * give a decoded result (another status, chunked, an early close, a reply the decoder
   * refuses): the caller repeats the call over node:http, which reports errors properly.
   * A timeout is final: the node did not answer in time.
   */
  async #sendBulk(bulk: BulkConnection, method: string, params: unknown[], auth: string, timeoutMs: number, decode: NonNullable<CallOptions['decode']>): Promise<unknown> {
    const t = this.#target;
    const body = this.#requestBody(method, params);
    const head = `POST ${t.path} HTTP/1.1\r\nHost: ${t.name}\r\nAuthorization: ${auth}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`;
    const r = await bulk.request(head, body, timeoutMs);
    if (r.ok) {
      this.stats.bulkReplies++;
      const decoded = decode(200, r.body);
      if (decoded !== undefined) return decoded;
      return this.#parse(method, 200, r.body.toString('utf8'));
    }
    if (r.reason === 'timeout') {
      throw withDetails(ckError('CKP_ERR_RPC_TIMEOUT', this.name, method, timeoutMs), { server: this.name, method });
    }
    if (r.reason === 'protocol' && this.#bulk === bulk) {
      this.#logger.debug(`${this.name}: ${method} replies are read through node:http from now on (not a plain 200 with a Content-Length)`);
      bulk.close();
      this.#bulk = null;
    }
    return undefined;
  }

  /** One HTTP exchange. `retried`: already retried once after a stale keep-alive socket. */
  #send(method: string, params: unknown[], auth: string, timeoutMs: number, retried: boolean, decode?: CallOptions['decode']): Promise<unknown> {
    const server = this.name;
    const body = this.#requestBody(method, params);

    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      let gotResponse = false;
      const settle = (err: RpcError | null, value?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };

      const req = http.request({
        agent: this.agent,
        host: this.#target.host,
        port: this.#target.port,
        path: this.#target.path,
        method: 'POST',
        headers: {
          Authorization: auth,
          'Content-Type': 'application/json',
          'Content-Length': body.length,
        },
      });

      // The whole exchange must finish in time, not just each socket read:
      // a node that trickles bytes forever must not hold the pool. Destroying
      // the request destroys its socket, so the agent never reuses it.
      const timer = setTimeout(() => {
        settle(withDetails(ckError('CKP_ERR_RPC_TIMEOUT', server, method, timeoutMs), { server, method }));
        req.destroy();
      }, timeoutMs);

      req.on('socket', (socket) => {
        if (!this.#seenSockets.has(socket)) {
          this.#seenSockets.add(socket);
          this.stats.connections++;
        }
      });

      req.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        // A keep-alive socket the node closed while it sat idle in the pool:
        // the request never reached the node, so sending it again is safe.
        if (!retried && !gotResponse && req.reusedSocket && STALE_SOCKET_CODES.has(err.code ?? '')) {
          settled = true;
          clearTimeout(timer);
          this.#send(method, params, auth, timeoutMs, true, decode).then(resolve, reject);
          return;
        }
        settle(withDetails(ckErrorCause('CKP_ERR_RPC_CONNECT', err, server, err.code ?? err.message), { server, method }));
      });

      req.on('response', (res) => {
        gotResponse = true;
        const body = new BodyCollector(res.headers['content-length']);
        res.on('data', (chunk: Buffer) => body.add(chunk));
        res.on('error', (err: NodeJS.ErrnoException) => {
          settle(withDetails(ckErrorCause('CKP_ERR_RPC_CONNECT', err, server, `connection lost during ${method}`), { server, method }));
        });
        res.on('aborted', () => {
          settle(withDetails(ckError('CKP_ERR_RPC_CONNECT', server, `connection lost during ${method}`), { server, method }));
        });
        res.on('end', () => {
          if (settled) return;
          try {
            const bytes = body.take();
            const status = res.statusCode ?? 0;
            const decoded = decode === undefined ? undefined : decode(status, bytes);
            settle(null, decoded !== undefined ? decoded : this.#parse(method, status, bytes.toString('utf8')));
          } catch (err) {
            settle(err as RpcError);
          }
        });
      });

      req.end(body);
    });
  }

  /** Turn an HTTP reply into the call's result, or the right coded error. */
  #parse(method: string, status: number, text: string): unknown {
    const server = this.name;
    if (status === 401 || status === 403) {
      throw withDetails(ckError('CKP_ERR_RPC_AUTH', server, status, method), { server, method, httpStatus: status });
    }
    let reply: unknown;
    try {
      reply = JSON.parse(text);
    } catch {
      if (status !== 200) {
        throw withDetails(ckError('CKP_ERR_RPC_HTTP', server, method, status), { server, method, httpStatus: status });
      }
      const snippet = text.length > SNIPPET ? `${text.slice(0, SNIPPET)}…` : text;
      throw withDetails(ckError('CKP_ERR_RPC_NOT_JSON', server, method, JSON.stringify(snippet)), {
        server, method, httpStatus: status,
      });
    }
    // bitcoind answers an RPC error with HTTP 500 (404 for an unknown method)
    // and a JSON body; bcoin answers it with HTTP 200. Either way a JSON
    // `error` is the node's answer, not a transport problem.
    if (reply !== null && typeof reply === 'object' && (reply as { error?: unknown }).error != null) {
      const e = (reply as { error: unknown }).error;
      const rpcCode = typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : undefined;
      const rpcMessage = typeof (e as { message?: unknown }).message === 'string'
        ? (e as { message: string }).message
        : JSON.stringify(e);
      throw withDetails(ckError('CKP_ERR_RPC_ERROR', server, method, rpcCode ?? 'without code', rpcMessage), {
        server, method, httpStatus: status, rpcCode, rpcMessage,
      });
    }
    if (status !== 200) {
      throw withDetails(ckError('CKP_ERR_RPC_HTTP', server, method, status), { server, method, httpStatus: status });
    }
    if (reply === null || typeof reply !== 'object' || !('result' in reply)) {
      throw withDetails(ckError('CKP_ERR_RPC_RESULT', server, method, 'not a JSON-RPC reply (no result member)'), {
        server, method, httpStatus: status,
      });
    }
    return (reply as { result: unknown }).result;
  }

  #badResult(method: string, what: string): RpcError {
    return withDetails(ckError('CKP_ERR_RPC_RESULT', this.name, method, what), { server: this.name, method });
  }

  // --- typed helpers for the calls the pool makes ---------------------------

  /** getblocktemplate; `{rules:['segwit']}` by default (Core refuses a template without it). */
  async getBlockTemplate(request: BlockTemplateRequest = { rules: ['segwit'] }, opts?: CallOptions): Promise<BlockTemplate> {
    // the native reader (ts/work/template.ts) skips building an object per transaction
    const t = await this.call<BlockTemplate>('getblocktemplate', [request], { decode: decodeTemplate, ...opts });
    if (t === null || typeof t !== 'object') throw this.#badResult('getblocktemplate', 'not an object');
    const missing = (['previousblockhash', 'bits', 'height', 'curtime', 'coinbasevalue', 'version'] as const)
      .filter((k) => t[k] === undefined);
    // a natively read template has its transactions (the reader insists); do not materialise them
    const hasTxs = templateHashes(t) !== undefined || Array.isArray(t.transactions);
    if (missing.length > 0 || !hasTxs) {
      throw this.#badResult('getblocktemplate', `missing ${[...missing, ...(hasTxs ? [] : ['transactions'])].join(', ')}`);
    }
    return t;
  }

  getBlockchainInfo(): Promise<BlockchainInfo> {
    return this.call<BlockchainInfo>('getblockchaininfo');
  }

  getNetworkInfo(): Promise<NetworkInfo> {
    return this.call<NetworkInfo>('getnetworkinfo');
  }

  validateAddress(address: string): Promise<ValidateAddressResult> {
    return this.call<ValidateAddressResult>('validateaddress', [address]);
  }

  async getBestBlockHash(): Promise<string> {
    const h = await this.call<unknown>('getbestblockhash');
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/i.test(h)) throw this.#badResult('getbestblockhash', 'not a block hash');
    return h;
  }

  getBlockCount(): Promise<number> {
    return this.call<number>('getblockcount');
  }

  getBlockHash(height: number): Promise<string> {
    return this.call<string>('getblockhash', [height]);
  }

  /** submitblock, with Core's bare reason and bcoin's `rejected: reason` normalised. */
  async submitBlock(blockHex: string): Promise<SubmitBlockResult> {
    const raw = await this.call<unknown>('submitblock', [blockHex]);
    return normaliseSubmitResult(raw);
  }

  /**
   * preciousblock. Returns false when the node does not have the method
   * (bcoin 1.0.2), which only means there is nothing to prefer.
   */
  async preciousBlock(hash: string): Promise<boolean> {
    try {
      await this.call('preciousblock', [hash]);
      return true;
    } catch (err) {
      if (isMethodNotFound(err)) return false;
      throw err;
    }
  }

  decodeRawTransaction(hex: string): Promise<DecodedTransaction> {
    return this.call<DecodedTransaction>('decoderawtransaction', [hex]);
  }
}

/** Core returns null or a bare reason; bcoin returns null or `rejected: <reason>`. */
export function normaliseSubmitResult(raw: unknown): SubmitBlockResult {
  if (raw === null || raw === undefined) return { accepted: true, reason: null, raw: null };
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const reason = text.replace(/^rejected:\s*/i, '').trim();
  return { accepted: reason === 'duplicate', reason, raw: text };
}
