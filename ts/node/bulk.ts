/**
 * A second keep-alive connection to a node, for the one large reply on the block-change
 * path: getblocktemplate (~3.8 MB of JSON with 4000 transactions).
 *
 * Through node:http that reply arrives as ~60 chunks of 64 KB, each a freshly allocated
 * Buffer pushed through the HTTP parser and the stream machinery, then copied into the
 * body: 4–12 ms on this project's benchmark machine where curl takes under 2 ms for the
 * same bytes. Here the socket reads with `onread` into one reused 256 KB buffer and the
 * body goes straight into one buffer of its Content-Length, taken from a spare that was
 * allocated and touched in advance (a fresh 4 MB allocation is ~1000 page faults on the
 * critical path): 1.5–2.5 ms (BENCHMARKS.md, "block change").
 *
 * It takes only the plain case — `HTTP/1.x 200` with a Content-Length — and answers
 * `unusable` for anything else (another status, chunked encoding, a connection that
 * fails or closes early), so the caller repeats the call through node:http, which has
 * all the error handling. getblocktemplate has no side effects, so repeating it is safe.
 */
import net from 'node:net';

export type BulkResult =
  | { ok: true; body: Buffer }
  /**
   * `status`: not a 200 (an RPC error, a stale cookie: the ordinary path reports it);
   * `protocol`: a 200 in a form this path does not take (chunked, no length): do not use it again
   */
  | { ok: false; reason: 'status' | 'protocol' | 'connection' | 'timeout' };

/** Replies at least this large keep a pre-faulted spare body buffer ready. */
const SPARE_MIN = 1 << 20;
/** A Content-Length beyond this is not preallocated (the chunks are joined at the end). */
export const MAX_PREALLOCATED_BODY = 64 << 20;
const MAX_HEAD = 16 * 1024;
const READ_BYTES = 256 * 1024;

export class BulkConnection {
  #socket: net.Socket | null = null;
  #busy = false;
  #closed = false;
  readonly #read = Buffer.allocUnsafe(READ_BYTES);
  /** what the current exchange does with each read */
  #onBytes: ((b: Buffer) => void) | null = null;
  #onGone: (() => void) | null = null;
  #spare: Buffer | null = null;
  #spareTimer: NodeJS.Timeout | null = null;

  /** `connected` is told of each new TCP connection (the client's stats). */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly connected: () => void,
  ) {}

  /** An exchange is in flight (the caller then takes the ordinary path). */
  get busy(): boolean {
    return this.#busy;
  }

  /** Send `head` (request line and headers, ending with the blank line) and `body`; read the reply. */
  request(head: string, body: Buffer, timeoutMs: number): Promise<BulkResult> {
    if (this.#closed || this.#busy) return Promise.resolve({ ok: false, reason: 'connection' });
    this.#busy = true;
    const socket = this.#socket ?? this.#connect();
    return new Promise<BulkResult>((resolve) => {
      let headBuf: Buffer | null = null;
      let out: Buffer | null = null;
      let got = 0;
      let keepAlive = true;
      const done = (r: BulkResult): void => {
        clearTimeout(timer);
        this.#onBytes = null;
        this.#onGone = null;
        this.#busy = false;
        if (!r.ok || !keepAlive) this.#drop();
        resolve(r);
      };
      const timer = setTimeout(() => done({ ok: false, reason: 'timeout' }), timeoutMs);
      this.#onGone = () => done({ ok: false, reason: 'connection' });
      this.#onBytes = (b: Buffer) => {
        if (out === null) {
          headBuf = headBuf === null ? Buffer.from(b) : Buffer.concat([headBuf, b]);
          const end = headBuf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (headBuf.length > MAX_HEAD) done({ ok: false, reason: 'protocol' });
            return;
          }
          const parsed = parseHead(headBuf.toString('latin1', 0, end));
          if (parsed === null) return done({ ok: false, reason: 'protocol' });
          if (parsed.status !== 200) return done({ ok: false, reason: 'status' });
          keepAlive = parsed.keepAlive;
          if (parsed.length <= 0) return done({ ok: false, reason: 'protocol' });
          out = this.#bodyBuffer(parsed.length);
          b = headBuf.subarray(end + 4);
          headBuf = null;
        }
        const take = Math.min(b.length, out.length - got);
        b.copy(out, got, 0, take);
        got += take;
        // bytes beyond the announced length: not a reply this path understands
        if (take < b.length) return done({ ok: false, reason: 'protocol' });
        if (got === out.length) done({ ok: true, body: out });
      };
      socket.write(head);
      socket.write(body);
    });
  }

  /** Close the connection; later requests answer `connection`. */
  close(): void {
    this.#closed = true;
    if (this.#spareTimer) clearTimeout(this.#spareTimer);
    this.#spare = null;
    this.#drop();
  }

  #connect(): net.Socket {
    const socket = net.connect({
      host: this.host,
      port: this.port,
      onread: {
        buffer: this.#read,
        callback: (n: number, buf: Uint8Array) => {
          if (this.#socket === socket) this.#onBytes?.((buf as Buffer).subarray(0, n));
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#onGone?.();
    });
    // a reply nobody asked for (or the node closing its side): not ours to read
    socket.on('end', () => socket.destroy());
    this.#socket = socket;
    this.connected();
    return socket;
  }

  #drop(): void {
    const s = this.#socket;
    this.#socket = null;
    s?.destroy();
    // an exchange still in flight (close() during a call) ends now, not at its timeout
    this.#onGone?.();
  }

  /** A buffer for a body of `len` bytes: the pre-touched spare when it fits. */
  #bodyBuffer(len: number): Buffer {
    const spare = this.#spare;
    let out: Buffer;
    if (spare !== null && spare.length >= len) {
      out = spare.subarray(0, len);
      this.#spare = null;
    } else {
      out = Buffer.allocUnsafe(len);
    }
    // the next spare, a little later and off the block-change path: a quarter more
    // room than this reply, every page touched once so the kernel has mapped it
    if (len >= SPARE_MIN && this.#spare === null && this.#spareTimer === null && !this.#closed) {
      const size = Math.min(MAX_PREALLOCATED_BODY, Math.ceil(len * 1.25));
      this.#spareTimer = setTimeout(() => {
        this.#spareTimer = null;
        if (!this.#closed) this.#spare = Buffer.allocUnsafeSlow(size).fill(0);
      }, 200);
      this.#spareTimer.unref();
    }
    return out;
  }
}

/**
 * The status line and the headers that matter here, or null when they cannot be read.
 * `length` is -1 when there is no usable Content-Length, or the body is chunked.
 */
export function parseHead(text: string): { status: number; length: number; keepAlive: boolean } | null {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
  if (!m) return null;
  let length = -1;
  let chunked = false;
  let keepAlive = m[1] === '1';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d+$/.test(value) || length >= 0) return null;
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      chunked = true;
    } else if (name === 'connection') {
      const v = value.toLowerCase();
      if (v.includes('close')) keepAlive = false;
      else if (v.includes('keep-alive')) keepAlive = true;
    }
  }
  if (chunked || length > MAX_PREALLOCATED_BODY) length = -1;
  return { status: Number(m[2]), length, keepAlive };
}
