/**
 * ckpool's unix-socket message framing (libckpool.c _send_unix_msg / _recv_unix_msg,
 * behaviour §2.1): a 4-byte little-endian uint32 length, then that many bytes of text.
 * One request and one reply per connection; the sender half-closes after its message
 * (shutdown(SHUT_WR)), so the server must allow half-open sockets to answer.
 *
 * ckpool accepts lengths 1..0x80000000. We refuse anything over that with a coded
 * error, and cap what we buffer at what a message can need: 64 KiB for a request (the
 * longest command is a `message=` text or an `addproxy={…}`; ckpool's own commands are a
 * few hundred bytes at most) and 256 MiB for a reply (a `clients` listing of a large
 * pool is megabytes). A frame's buffer grows as its bytes arrive, never from the length
 * its header announces: 64 connections announcing 16 MiB each and sending nothing more
 * once made the pool allocate 1 GB up front.
 *
 * Timeouts as ckpool: the server gives a request 5 s to arrive and its reply 10 s to
 * leave; a client waits up to 30 s for the first byte of the reply (the pool may be
 * busy) and 5 s for the rest, and 10 s for its own request to be written.
 */
import net from 'node:net';
import { ckError, ckErrorCause, isCkpoolError } from '../errors.js';

/** ckpool's upper bound on a frame's length. */
export const MAX_FRAME_LENGTH = 0x80000000;
/** What the server buffers for one request (see above). */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;
/** What a client buffers for one reply. */
export const DEFAULT_MAX_REPLY_BYTES = 256 * 1024 * 1024;
/** Server: the whole request must arrive within this (ckpool: 5 s read timeout). */
export const READ_TIMEOUT_MS = 5_000;
/** Either side: a message must be written within this (ckpool: 10 s write timeout). */
export const WRITE_TIMEOUT_MS = 10_000;
/** Client: wait this long for the reply's first byte (ckpmsg RECV_UNIX_TIMEOUT1, -t). */
export const REPLY_TIMEOUT_MS = 30_000;
/** Client: and this long for the rest once it started (ckpmsg RECV_UNIX_TIMEOUT2, -T). */
export const REPLY_REST_TIMEOUT_MS = 5_000;

const HEADER = 4;

/** The frame for `text`: length prefix + UTF-8 bytes. Throws for an empty or oversized message. */
export function encodeFrame(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  checkLength(body.length, MAX_FRAME_LENGTH);
  const frame = Buffer.allocUnsafe(HEADER + body.length);
  frame.writeUInt32LE(body.length, 0);
  body.copy(frame, HEADER);
  return frame;
}

/** CKP_ERR_CONTROL_FRAME outside ckpool's 1..0x80000000, CKP_ERR_CONTROL_TOO_BIG over our cap. */
export function checkLength(length: number, max: number): void {
  if (length < 1 || length > MAX_FRAME_LENGTH) throw ckError('CKP_ERR_CONTROL_FRAME', length, MAX_FRAME_LENGTH);
  if (length > max) throw ckError('CKP_ERR_CONTROL_TOO_BIG', length, max);
}

/**
 * Incremental decoder for the one frame a connection carries. push() returns the
 * message body once complete (bytes after it are ignored: there is nothing after it
 * in the protocol), null while more is needed, and throws on a bad length.
 */
export class FrameDecoder {
  #header = Buffer.alloc(HEADER);
  #headerHave = 0;
  /** body length announced by the header, -1 before it is complete */
  #length = -1;
  /** the body's bytes so far, as they came (joined once complete) */
  #chunks: Buffer[] = [];
  #bodyHave = 0;
  #done = false;

  constructor(readonly maxBytes: number) {}

  /** Bytes received so far (header included): also what this decoder holds. */
  get received(): number {
    return this.#headerHave + this.#bodyHave;
  }

  /** Body length announced by the header, or -1 before it is complete. */
  get expected(): number {
    return this.#length;
  }

  push(chunk: Buffer): Buffer | null {
    if (this.#done) return null;
    let off = 0;
    if (this.#headerHave < HEADER) {
      const n = Math.min(HEADER - this.#headerHave, chunk.length);
      chunk.copy(this.#header, this.#headerHave, 0, n);
      this.#headerHave += n;
      off = n;
      if (this.#headerHave < HEADER) return null;
      const length = this.#header.readUInt32LE(0);
      checkLength(length, this.maxBytes);
      this.#length = length;
    }
    const n = Math.min(this.#length - this.#bodyHave, chunk.length - off);
    if (n > 0) this.#chunks.push(chunk.subarray(off, off + n));
    this.#bodyHave += n;
    if (this.#bodyHave < this.#length) return null;
    this.#done = true;
    const body = this.#chunks.length === 1 ? Buffer.from(this.#chunks[0]!) : Buffer.concat(this.#chunks, this.#length);
    this.#chunks = [];
    return body;
  }
}

export interface ReadFrameOptions {
  /** Limit for the first byte (and, without restTimeoutMs, for the whole frame). */
  readonly timeoutMs: number;
  /** Once the first byte is in, the rest must follow within this. */
  readonly restTimeoutMs?: number;
  readonly maxBytes: number;
  /** For messages: the socket path or peer. */
  readonly label: string;
}

/**
 * Read one frame from `socket`. Resolves the body, or null when the peer closed
 * without sending a single byte (ckpool's "empty reply"). Rejects with
 * CKP_ERR_CONTROL_TIMEOUT / _CLOSED / _FRAME / _TOO_BIG. Leaves the socket open.
 */
export function readFrame(socket: net.Socket, opts: ReadFrameOptions): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder(opts.maxBytes);
    let timer: NodeJS.Timeout | undefined;
    let started = false;
    const arm = (ms: number, what: string) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(ckError('CKP_ERR_CONTROL_TIMEOUT', opts.label, what, ms)), ms);
    };
    const finish = (err: Error | null, value: Buffer | null = null) => {
      if (timer) clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      if (!started) {
        started = true;
        if (opts.restTimeoutMs !== undefined) arm(opts.restTimeoutMs, 'complete message');
      }
      let body: Buffer | null;
      try {
        body = decoder.push(chunk);
      } catch (e) {
        finish(e as Error);
        return;
      }
      if (body) finish(null, body);
    };
    const onEnd = () => {
      if (decoder.received === 0) finish(null, null);
      else finish(ckError('CKP_ERR_CONTROL_CLOSED', opts.label, Math.max(0, decoder.received - HEADER), decoder.expected < 0 ? '?' : decoder.expected));
    };
    const onError = (e: Error) => finish(ckErrorCause('CKP_ERR_CONTROL_CONNECT', e, opts.label, e.message));
    arm(opts.timeoutMs, opts.restTimeoutMs !== undefined ? 'reply' : 'complete message');
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
  });
}

/**
 * Write `frame`, then half-close (or close, with end=true on a server reply) — with a
 * deadline, so a peer that stops reading cannot hold us. Rejects with
 * CKP_ERR_CONTROL_TIMEOUT or CKP_ERR_CONTROL_CONNECT.
 */
export function writeFrame(socket: net.Socket, frame: Buffer, timeoutMs: number, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(ckError('CKP_ERR_CONTROL_TIMEOUT', label, 'write completion', timeoutMs));
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(ckErrorCause('CKP_ERR_CONTROL_CONNECT', e, label, e.message));
    });
    // end(): the write side is shut after the data, as ckpool's shutdown(SHUT_WR).
    socket.end(frame, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface SendControlOptions {
  /** Wait this long for the reply to start (default 30 s, ckpmsg -t). */
  readonly timeoutMs?: number;
  /** And this long for the rest of it (default 5 s, ckpmsg -T). */
  readonly restTimeoutMs?: number;
  /** Largest reply accepted (default 256 MiB). */
  readonly maxReplyBytes?: number;
}

/** Open the unix socket, mapping "nothing there" to CKP_ERR_CONTROL_NOT_RUNNING. */
function connectUnix(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(ckError('CKP_ERR_CONTROL_TIMEOUT', path, 'connection', timeoutMs));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // ENOENT: no socket file; ECONNREFUSED: a file left by a dead instance.
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        reject(ckErrorCause('CKP_ERR_CONTROL_NOT_RUNNING', e, path, e.code === 'ENOENT' ? 'no such socket' : 'connection refused'));
      } else {
        reject(ckErrorCause('CKP_ERR_CONTROL_CONNECT', e, path, e.message));
      }
    };
    socket.once('error', onError);
  });
}

/**
 * Send one message to a control socket and return the reply text; '' when the
 * instance closed the connection without replying (ckpool's stubbed commands do).
 * Rejects with a CKP_ERR_CONTROL_* error.
 */
export async function sendControl(socketPath: string, text: string, opts: SendControlOptions = {}): Promise<string> {
  const frame = encodeFrame(text);
  const socket = await connectUnix(socketPath, WRITE_TIMEOUT_MS);
  try {
    // Listen for the reply before writing: a fast server may answer at once.
    const reply = readFrame(socket, {
      timeoutMs: opts.timeoutMs ?? REPLY_TIMEOUT_MS,
      restTimeoutMs: opts.restTimeoutMs ?? REPLY_REST_TIMEOUT_MS,
      maxBytes: opts.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES,
      label: socketPath,
    });
    reply.catch(() => undefined); // observed below; avoid an unhandled rejection if the write fails first
    await writeFrame(socket, frame, WRITE_TIMEOUT_MS, socketPath);
    const body = await reply;
    return body ? body.toString('utf8') : '';
  } catch (e) {
    throw isCkpoolError(e) ? e : ckErrorCause('CKP_ERR_CONTROL_CONNECT', e, socketPath, (e as Error).message);
  } finally {
    socket.destroy();
  }
}
