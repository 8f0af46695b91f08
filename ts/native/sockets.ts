/**
 * Batched socket writes (src/netio.rs): the stratum server's end-of-tick flush hands
 * every client's text to one native call that makes one non-blocking `send(2)` per
 * socket, instead of one `socket.write` each. Node's write path costs several
 * microseconds of JavaScript per call on top of the kernel's work, and a block change
 * pays it once per miner on one thread (BENCHMARKS.md, "Batched writes").
 *
 * Node keeps ownership of every socket: only a socket with nothing queued in Node is
 * written to directly, and whatever the kernel does not take (its buffer is full, or an
 * error) goes to `socket.write`, which queues it, reports the error, or closes the
 * socket exactly as before. Bytes therefore always reach the peer in order.
 */
import type net from 'node:net';
import { native } from './binding.js';
import { handleFd } from './handover.js';

/** Bytes per native call: bounds the staging buffer (a 10,000-miner notify is ~13 MB). */
const CHUNK_BYTES = 256 * 1024;
/** A text longer than this (a `get_transactions` reply) goes through socket.write. */
const MAX_TEXT = 64 * 1024;
const MAX_ITEMS = 4096;

/**
 * The descriptor to write `socket`'s next bytes to directly, or -1 when the bytes must
 * go through Node: output already queued there (order), a socket still connecting,
 * closing or destroyed, a TLS socket, or a handle without a descriptor (a pipe on Windows).
 */
export function directFd(socket: net.Socket): number {
  if (socket.writableLength !== 0 || !socket.writable || socket.connecting || socket.destroyed) return -1;
  // a TLS socket's handle (TLSWrap) reports the TCP descriptor too: plaintext must not go there
  if ((socket as { encrypted?: boolean }).encrypted === true) return -1;
  return handleFd(socket);
}

/**
 * Texts for many sockets, sent by `flush` in one native call per CHUNK_BYTES. `T` is
 * the caller's owner of each socket, handed back to `leftover` for a socket that now
 * has output queued in Node (so the caller can watch it drain).
 */
export class WriteBatch<T> {
  #buf = Buffer.allocUnsafeSlow(CHUNK_BYTES + MAX_TEXT * 3);
  #fds = new Int32Array(MAX_ITEMS);
  #ends = new Uint32Array(MAX_ITEMS);
  #result = new Int32Array(MAX_ITEMS);
  #sockets: net.Socket[] = [];
  #owners: T[] = [];
  #n = 0;
  #bytes = 0;

  constructor(private readonly leftover: (owner: T) => void) {}

  /**
   * Stage `text` for `socket`. False if it cannot be written directly (see directFd, or
   * a very long text): the caller writes it with socket.write. A socket may be staged
   * once per flush.
   */
  add(socket: net.Socket, text: string, owner: T): boolean {
    if (text.length > MAX_TEXT) return false;
    const fd = directFd(socket);
    if (fd < 0) return false;
    // utf8 takes at most 3 bytes per UTF-16 unit; the buffer keeps MAX_TEXT * 3 spare
    const n = this.#n;
    this.#bytes += this.#buf.write(text, this.#bytes, 'utf8');
    this.#fds[n] = fd;
    this.#ends[n] = this.#bytes;
    this.#sockets[n] = socket;
    this.#owners[n] = owner;
    this.#n = n + 1;
    if (this.#bytes >= CHUNK_BYTES || this.#n === MAX_ITEMS) this.flush();
    return true;
  }

  /** Send everything staged; give what the kernel did not take to socket.write. */
  flush(): void {
    const n = this.#n;
    if (n === 0) return;
    const result = this.#result.subarray(0, n);
    try {
      native.writeBatch(this.#fds.subarray(0, n), this.#buf.subarray(0, this.#bytes), this.#ends.subarray(0, n), result);
    } catch {
      // cannot happen for arrays built here; should it, nothing was sent: Node sends it all
      result.fill(0);
    }
    let start = 0;
    for (let i = 0; i < n; i++) {
      const end = this.#ends[i]!;
      const took = result[i]!;
      if (took !== end - start) {
        // full buffer (EAGAIN / a short send) or an error: Node queues the rest, or
        // meets the error itself and closes the socket as for any failed write
        const rest = Buffer.from(this.#buf.subarray(start + Math.max(took, 0), end));
        const socket = this.#sockets[i]!;
        if (!socket.destroyed) {
          socket.write(rest);
          this.leftover(this.#owners[i]!);
        }
      }
      start = end;
    }
    this.#n = 0;
    this.#bytes = 0;
    this.#sockets.length = 0;
    this.#owners.length = 0;
  }
}
