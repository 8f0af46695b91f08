/**
 * The upstream side of every proxy mode: one TCP link to an upstream pool
 * (UpstreamLink), and the `proxy` array as a failover set (Upstream) — ckpool's
 * generator.c proxy_* code.
 *
 * UpstreamLink: newline-delimited JSON over TCP with ts/stratum/framing.ts. Requests
 * are matched to replies by id (one sweep timer per link ages them out, no timer per
 * request); sends made in one tick leave in one write (cork until the next tick).
 * A line that is not JSON is logged and skipped (`dropclient=<id>` lines of the
 * passthrough protocol go to the raw-line hook first); it never closes the link.
 *
 * Upstream: entries in priority order. It connects to the first one whose handshake
 * succeeds (the mode supplies the handshake: subscribe + authorize for proxy,
 * mining.passthrough / mining.node for passthrough), and
 * - on a drop, a refusal or silence longer than `silenceMs` (a probe is sent at half
 *   of it), goes through the list again from the top ('down', then 'up' when one
 *   answers); a full round that fails waits `retryMs` (doubling up to 60 s);
 * - while on a lower-priority entry, tries the better ones every `failbackMs` and
 *   switches back as soon as one completes its handshake ('up' again; the old link
 *   is closed after the switch).
 * Messages that arrive during a handshake (a notify right after the subscribe reply)
 * are held and delivered, in order, right after 'up'.
 *
 * Differences from ckpool 0.9.9: silence means reconnect (0.9.9 exits after 600 s),
 * and fail-back is periodic rather than only on the next failure.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { ckError, ckErrorCause, type CkpoolError } from '../errors.js';
import { parseHostPort } from '../config/hostport.js';
import { STRATUM_SCHEMES, isTlsUrl } from '../config/stratum-url.js';
import { TLS_MIN_VERSION } from '../tls/credentials.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { FeedResult, LineFramer } from '../stratum/framing.js';

export interface UpstreamEntry {
  /** "host:port", a `stratum+tcp://` prefix is accepted; `stratum+ssl://` / `stratum+tls://` connect over TLS */
  readonly url: string;
  readonly auth: string;
  readonly pass: string;
  /** TLS without certificate verification (self-signed test pools). Default false: verified against the system CAs. */
  readonly insecure?: boolean;
}

export type Json = Record<string, unknown>;

export interface LinkOptions {
  /** longest line accepted from upstream (default 16 MiB: node workinfo carries whole templates) */
  maxLineBytes?: number;
  /** output held for the upstream beyond this closes the link (default 512 MiB) */
  maxPendingBytes?: number;
  connectTimeoutMs?: number;
  /** a TLS url's certificate is not verified */
  insecure?: boolean;
  /** extra trusted CA certificates (PEM) for TLS urls, on top of Node's bundled ones */
  ca?: string | string[];
  logger?: Logger;
}

interface Waiter {
  resolve: (msg: Json) => void;
  reject: (e: Error) => void;
  deadline: number;
  what: string;
}

export interface LinkEvents {
  /** one parsed JSON object from upstream (replies to request() are not repeated here) */
  message: [msg: Json];
  close: [reason: string];
}

/** Host part of an entry url (for logs and client.reconnect checks). */
export function entryHostPort(url: string): { host: string; port: number } {
  const hp = parseHostPort(url, STRATUM_SCHEMES);
  if (typeof hp === 'string') throw ckError('CKP_ERR_PROXY_URL', JSON.stringify(url), hp);
  return hp;
}

/**
 * A TLS error about the peer's certificate (OpenSSL's verify codes as Node reports
 * them: CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, ...), as opposed to a
 * refused connection or a protocol failure.
 */
function isCertificateError(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ISSUER|SIGNATURE/.test(code);
}

/** One TCP (or TLS) connection to an upstream pool. */
export class UpstreamLink extends EventEmitter<LinkEvents> {
  readonly url: string;
  closed = false;
  closeReason = '';
  /** Date.now() of the last byte received */
  lastRx = Date.now();
  readonly connectedAt = Date.now();
  bytesIn = 0;
  /** lines that were neither JSON objects nor taken by the raw hook */
  badLines = 0;
  /**
   * Sees every line before it is parsed; returning true consumes it (the passthrough's
   * fast path for `{"client_id":N,...}` and `dropclient=N` lines).
   */
  rawHook: ((line: string) => boolean) | null = null;
  readonly #sock: net.Socket;
  readonly #framer: LineFramer;
  readonly #log: Logger;
  readonly #maxPending: number;
  readonly #waiting = new Map<unknown, Waiter>();
  #nextId = 1;
  #corked = false;
  #sweep: NodeJS.Timeout | null = null;

  private constructor(url: string, sock: net.Socket, opts: LinkOptions) {
    super();
    this.url = url;
    this.#sock = sock;
    this.#framer = new LineFramer(opts.maxLineBytes ?? 16 * 1024 * 1024);
    this.#log = opts.logger ?? new NullLogger();
    this.#maxPending = opts.maxPendingBytes ?? 512 * 1024 * 1024;
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 45_000);
    sock.on('data', (chunk: Buffer) => this.#onData(chunk));
    sock.on('error', (e) => this.close(`socket error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    sock.on('end', () => this.close('upstream closed the connection'));
    sock.on('close', () => this.close('connection closed'));
  }

  /** Connect (CKP_ERR_PROXY_CONNECT / _TIMEOUT on failure). */
  static connect(url: string, opts: LinkOptions = {}): Promise<UpstreamLink> {
    let hp: { host: string; port: number };
    try {
      hp = entryHostPort(url);
    } catch (e) {
      return Promise.reject(e);
    }
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const secure = isTlsUrl(url);
    return new Promise((resolve, reject) => {
      // TLS: the certificate is verified (chain and host name) unless the entry says
      // insecure; a refusal is CKP_ERR_PROXY_TLS and the entry counts as down
      const sock = secure
        ? tls.connect({
          host: hp.host, port: hp.port, minVersion: TLS_MIN_VERSION, rejectUnauthorized: opts.insecure !== true,
          ...(net.isIP(hp.host) === 0 ? { servername: hp.host } : {}), ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        })
        : net.connect({ host: hp.host, port: hp.port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(ckError('CKP_ERR_PROXY_TIMEOUT', url, secure ? 'the TLS handshake' : 'the connection', timeoutMs));
      }, timeoutMs);
      sock.once('error', (e) => {
        clearTimeout(timer);
        const code = (e as NodeJS.ErrnoException).code ?? e.message;
        reject(secure && isCertificateError(e)
          ? ckErrorCause('CKP_ERR_PROXY_TLS', e, url, code, e.message)
          : ckErrorCause('CKP_ERR_PROXY_CONNECT', e, url, code));
      });
      sock.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new UpstreamLink(url, sock, opts));
      });
    });
  }

  /** Queue one line (a '\n' is added); false when closed. */
  send(line: string): boolean {
    if (this.closed) return false;
    if (!this.#corked) {
      this.#corked = true;
      this.#sock.cork();
      process.nextTick(() => {
        this.#corked = false;
        if (!this.#sock.destroyed) this.#sock.uncork();
      });
    }
    this.#sock.write(line.endsWith('\n') ? line : line + '\n');
    if (this.#sock.writableLength > this.#maxPending) {
      this.close(`more than ${this.#maxPending} bytes queued for upstream`);
      return false;
    }
    return true;
  }

  sendJson(msg: unknown): boolean {
    return this.send(JSON.stringify(msg));
  }

  /** Output queued and not yet taken by the kernel. */
  get pendingBytes(): number {
    return this.#sock.writableLength;
  }

  /** Send `{id, method, params}` and wait for the reply with that id (no client_id). */
  request(method: string, params: unknown, timeoutMs = 10_000): Promise<Json> {
    const id = this.#nextId++;
    const p = this.#wait(id, method, timeoutMs);
    this.send(JSON.stringify({ id, method, params }));
    return p;
  }

  /**
   * Send a request but deliver its reply through a callback (many in flight, e.g.
   * forwarded shares). The callback gets null when the reply never came.
   */
  requestCb(method: string, params: unknown, timeoutMs: number, cb: (reply: Json | null) => void): void {
    const id = this.#nextId++;
    this.#wait(id, method, timeoutMs).then(cb, () => cb(null));
    this.send(JSON.stringify({ id, method, params }));
  }

  /** The first message (not a reply to request()) matching `pred`, within timeoutMs. */
  waitFor(pred: (msg: Json) => boolean, what: string, timeoutMs: number): Promise<Json> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(ckError('CKP_ERR_PROXY_TIMEOUT', this.url, what, timeoutMs));
      }, timeoutMs);
      const onMsg = (m: Json) => {
        if (!pred(m)) return;
        cleanup();
        resolve(m);
      };
      const onClose = (reason: string) => {
        cleanup();
        reject(ckError('CKP_ERR_PROXY_CLOSED', this.url, reason));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.off('message', onMsg);
        this.off('close', onClose);
      };
      this.on('message', onMsg);
      this.on('close', onClose);
    });
  }

  #wait(id: number, what: string, timeoutMs: number): Promise<Json> {
    if (this.closed) return Promise.reject(ckError('CKP_ERR_PROXY_CLOSED', this.url, this.closeReason));
    if (this.#sweep === null) {
      this.#sweep = setInterval(() => this.#sweepWaiting(), 250);
      this.#sweep.unref();
    }
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, deadline: Date.now() + timeoutMs, what });
    });
  }

  #sweepWaiting(): void {
    const now = Date.now();
    for (const [id, w] of this.#waiting) {
      if (now < w.deadline) continue;
      this.#waiting.delete(id);
      w.reject(ckError('CKP_ERR_PROXY_TIMEOUT', this.url, w.what, 'its time limit'));
    }
  }

  get inFlight(): number {
    return this.#waiting.size;
  }

  #onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    this.bytesIn += chunk.length;
    const r = this.#framer.feed(chunk, this, onLinkLine);
    if (r === FeedResult.TOO_LONG) this.close(`a line over ${this.#framer.maxLineBytes} bytes`);
  }

  /** @internal One line; a handler that throws is logged, never allowed to crash the process. */
  _line(line: string): boolean {
    try {
      return this.#handleLine(line);
    } catch (e) {
      this.#log.err(`upstream ${this.url}: handling ${JSON.stringify(line.slice(0, 120))} failed: ${(e as Error)?.stack ?? String(e)}`);
      return !this.closed;
    }
  }

  #handleLine(line: string): boolean {
    if (this.closed) return false;
    const hook = this.rawHook;
    if (hook !== null && hook(line)) return !this.closed;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      msg = undefined;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      // bad JSON from upstream: skipped, never fatal (the miners must not suffer for it)
      if (this.badLines++ % 100 === 0) {
        this.#log.warning(ckError('CKP_ERR_PROXY_PROTOCOL', this.url, 'line', JSON.stringify(line.slice(0, 120))).message);
      }
      return true;
    }
    const m = msg as Json;
    if (m.method === undefined && m.client_id === undefined && this.#waiting.size > 0) {
      const w = this.#waiting.get(m.id);
      if (w !== undefined) {
        this.#waiting.delete(m.id);
        w.resolve(m);
        return !this.closed;
      }
    }
    this.emit('message', m);
    return !this.closed;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
    this.#sock.destroy();
    const err = ckError('CKP_ERR_PROXY_CLOSED', this.url, reason);
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
    this.emit('close', reason);
  }
}

function onLinkLine(link: UpstreamLink, line: string): boolean {
  return link._line(line);
}

// ---------------------------------------------------------------------------- failover

export interface Active<S> {
  readonly link: UpstreamLink;
  readonly entry: UpstreamEntry;
  /** position in the entry list, 0 = preferred */
  readonly index: number;
  /** what the handshake returned */
  readonly session: S;
}

export interface UpstreamEvents<S> {
  /** a link completed its handshake and is now the active one (first, after a loss, or a fail-back) */
  up: [active: Active<S>, previous: Active<S> | null];
  /** the active link was lost and no other is up yet */
  down: [reason: string];
  /** a message from the active link */
  message: [msg: Json, active: Active<S>];
}

export interface UpstreamOptions<S> {
  entries: readonly UpstreamEntry[];
  /**
   * Bring a fresh link into service: subscribe/authorize, or the passthrough handshake.
   * Throw (a CkpoolError says why) to refuse the entry. `previous` is the session of the
   * last active link, for resuming it.
   */
  handshake: (link: UpstreamLink, entry: UpstreamEntry, index: number, previous: S | null) => Promise<S>;
  /** no byte from the active link for this long → reconnect (default 300 000) */
  silenceMs?: number;
  /** called once when half of silenceMs has passed quietly (send something that gets an answer) */
  probe?: (link: UpstreamLink) => void;
  /** whether silence counts right now (a passthrough with no miners expects none); default always */
  silenceApplies?: () => boolean;
  /** first pause after a round of failures, doubling up to 60 s (default 5000) */
  retryMs?: number;
  /** how often better entries are retried while on a worse one (default 60 000) */
  failbackMs?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  link?: Omit<LinkOptions, 'logger' | 'connectTimeoutMs'>;
  /** for log lines, e.g. "proxy" or "userproxy alice" */
  name?: string;
  logger?: Logger;
}

/** The `proxy` array: one active link, failover in priority order, fail-back. */
export class Upstream<S> extends EventEmitter<UpstreamEvents<S>> {
  active: Active<S> | null = null;
  /** successful handshakes so far (reconnects and switches included) */
  connects = 0;
  /** why the most recent connection attempt of each entry failed ('' = it worked) */
  readonly lastErrors: string[];
  readonly #o: UpstreamOptions<S>;
  readonly #log: Logger;
  readonly #name: string;
  #closed = false;
  #connecting = false;
  #failingBack = false;
  #lastSession: S | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastFailback = Date.now();
  /** when the silence probe was sent (0 = not since the last byte received) */
  #probedAt = 0;
  #wake: (() => void) | null = null;

  constructor(opts: UpstreamOptions<S>) {
    super();
    if (!opts.entries.length) throw ckError('CKP_ERR_PROXY_OPTION', 'entries', 'a non-empty list of upstream pools', '[]');
    for (const e of opts.entries) entryHostPort(e.url);
    this.#o = opts;
    this.#log = opts.logger ?? new NullLogger();
    this.#name = opts.name ?? 'upstream';
    this.lastErrors = opts.entries.map(() => '');
  }

  get entries(): readonly UpstreamEntry[] {
    return this.#o.entries;
  }

  /** Start connecting (returns at once; listen for 'up'). */
  start(): void {
    const tick = Math.max(10, Math.min(1000, Math.floor((this.#o.silenceMs ?? 300_000) / 8)));
    this.#timer = setInterval(() => this.#tick(), tick);
    this.#timer.unref();
    void this.#connectLoop();
  }

  /** Resolves at the next 'up' (at once when a link is active). */
  waitUp(timeoutMs?: number): Promise<Active<S>> {
    if (this.active) return Promise.resolve(this.active);
    return new Promise((resolve, reject) => {
      const t = timeoutMs === undefined ? null : setTimeout(() => {
        this.off('up', onUp);
        reject(ckError('CKP_ERR_PROXY_NONE_ALIVE', this.lastErrors.filter(Boolean).join('; ') || 'timed out'));
      }, timeoutMs);
      const onUp = (a: Active<S>) => {
        if (t) clearTimeout(t);
        resolve(a);
      };
      this.once('up', onUp);
    });
  }

  /** Drop the active link on purpose (client.reconnect from upstream, a bad session); reconnects. */
  reconnect(reason: string): void {
    this.active?.link.close(reason);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#wake?.();
    const a = this.active;
    this.active = null;
    a?.link.close('shutting down');
  }

  async #attempt(index: number): Promise<Active<S> | null> {
    const entry = this.#o.entries[index]!;
    let link: UpstreamLink | null = null;
    const held: Json[] = [];
    const hold = (m: Json) => held.push(m);
    try {
      link = await UpstreamLink.connect(entry.url, { ...this.#o.link, connectTimeoutMs: this.#o.connectTimeoutMs, insecure: entry.insecure ?? this.#o.link?.insecure, logger: this.#log });
      link.on('message', hold);
      const hsTimeout = this.#o.handshakeTimeoutMs ?? 15_000;
      const l = link;
      let timer: NodeJS.Timeout | undefined;
      const session = await Promise.race([
        this.#o.handshake(l, entry, index, this.#lastSession),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(ckError('CKP_ERR_PROXY_TIMEOUT', entry.url, 'the handshake', hsTimeout)), hsTimeout);
        }),
      ]).finally(() => clearTimeout(timer));
      if (link.closed) throw ckError('CKP_ERR_PROXY_CLOSED', entry.url, link.closeReason);
      link.off('message', hold);
      this.lastErrors[index] = '';
      return { link, entry, index, session, held } as Active<S> & { held: Json[] };
    } catch (e) {
      link?.close('handshake failed');
      const msg = (e as CkpoolError).message ?? String(e);
      if (this.lastErrors[index] !== msg) this.#log.warning(`${this.#name}: upstream ${index} ${entry.url}: ${msg}`);
      this.lastErrors[index] = msg;
      return null;
    }
  }

  #activate(a: Active<S> & { held?: Json[] }): void {
    const previous = this.active;
    const held = a.held ?? [];
    delete a.held;
    this.active = a;
    this.#lastSession = a.session;
    this.connects++;
    this.#probedAt = 0;
    this.#lastFailback = Date.now();
    const link = a.link;
    link.on('message', (m) => {
      if (this.active?.link === link) this.emit('message', m, this.active);
    });
    link.on('close', (reason) => {
      if (this.active?.link !== link) return;
      this.active = null;
      this.#log.warning(`${this.#name}: lost upstream ${a.index} ${a.entry.url}: ${reason}`);
      this.emit('down', reason);
      void this.#connectLoop();
    });
    this.#log.notice(`${this.#name}: ${previous ? `switched from upstream ${previous.index} to` : 'connected to'} upstream ${a.index} ${a.entry.url}`);
    this.emit('up', a, previous);
    if (previous && previous.link !== link) previous.link.close(`replaced by upstream ${a.index}`);
    for (const m of held) {
      if (this.active?.link !== link) break;
      this.emit('message', m, a);
    }
  }

  async #connectLoop(): Promise<void> {
    if (this.#connecting || this.#closed) return;
    this.#connecting = true;
    try {
      let pause = this.#o.retryMs ?? 5000;
      while (!this.#closed && !this.active) {
        for (let i = 0; i < this.#o.entries.length && !this.#closed && !this.active; i++) {
          const a = await this.#attempt(i);
          if (!a) continue;
          if (this.#closed || this.active) {
            a.link.close('not needed');
            break;
          }
          this.#activate(a);
        }
        if (this.active || this.#closed) break;
        this.#log.err(`${this.#name}: ${ckError('CKP_ERR_PROXY_NONE_ALIVE', `retrying in ${pause} ms`).message}`);
        await new Promise<void>((r) => {
          this.#wake = r;
          setTimeout(r, pause).unref();
        });
        this.#wake = null;
        pause = Math.min(pause * 2, 60_000);
      }
    } finally {
      this.#connecting = false;
    }
  }

  async #failback(): Promise<void> {
    const cur = this.active;
    if (!cur || cur.index === 0 || this.#failingBack) return;
    this.#failingBack = true;
    try {
      for (let i = 0; i < cur.index && !this.#closed; i++) {
        const a = await this.#attempt(i);
        if (!a) continue;
        if (this.#closed || this.active !== cur) {
          a.link.close('not needed');
          return;
        }
        this.#activate(a);
        return;
      }
    } finally {
      this.#failingBack = false;
      this.#lastFailback = Date.now();
    }
  }

  #tick(): void {
    const a = this.active;
    if (!a || this.#closed) return;
    const now = Date.now();
    const silenceMs = this.#o.silenceMs ?? 300_000;
    const quiet = now - a.link.lastRx;
    if (this.#o.silenceApplies && !this.#o.silenceApplies()) {
      a.link.lastRx = Math.max(a.link.lastRx, now - silenceMs / 4);
    } else if (quiet < silenceMs / 2) {
      this.#probedAt = 0;
    } else if (this.#probedAt === 0 || this.#probedAt < a.link.lastRx) {
      // half the timeout without a byte: ask for an answer, and give it the other half
      // (also when our own event loop was busy and we are late: never close unprobed)
      this.#probedAt = now;
      this.#o.probe?.(a.link);
    } else if (quiet > silenceMs && now - this.#probedAt >= silenceMs / 2) {
      a.link.close(`silent for ${Math.round(quiet / 1000)} s`);
      return;
    }
    if (a.index > 0 && now - this.#lastFailback >= (this.#o.failbackMs ?? 60_000)) void this.#failback();
  }
}
