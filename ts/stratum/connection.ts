/**
 * One accepted stratum client of a StratumServer (server.ts), and the socket listeners
 * and end-of-tick write pass shared by all of them. The policy (bounds, timeouts,
 * flood control, fair turns) stays with the server; a Client only queues its output
 * and hands everything else to the server's @internal methods. See server.ts for the
 * design notes (no per-connection closures or timers, one write per client per tick).
 */
import type net from 'node:net';
import { WriteBatch } from '../native/sockets.js';
import type { InputHolder } from './framing.js';
import type { FairClient } from './fairness.js';
import { CloseReason, type StratumConnection } from './server-types.js';
import type { StratumServer } from './server.js';

/** The socket's Client (shared listeners find it here: no closure per connection). */
export const kClient = Symbol('stratumClient');
export type ClientSocket = net.Socket & { [kClient]?: Client };

/** One accepted TCP client. Small on purpose: 10,000 idle ones must stay cheap. */
export class Client implements StratumConnection, InputHolder, FairClient {
  state: unknown = undefined;
  closed = false;
  closeReason: string | undefined = undefined;
  /** Input not handled yet: lines waiting for their turn, then an unterminated tail (fairness.ts). */
  input: Buffer | null = null;
  inputPos = 0;
  /** FairFlag bits: queued, reading paused, output over the bound. */
  fair = 0;
  /** Output queued so far (same units as socket.writableLength). */
  queued = 0;
  /** flood-control tokens and when they were last refilled (ms) */
  tokens = -1;
  tokenTime = 0;
  /** Output completed at the last look (queued - writableLength). */
  lastFlushed = 0;
  /** When output was last seen blocked without progress; 0 = not blocked. */
  blockedSince = 0;
  /**
   * Text sent this tick, not yet written: everything a message causes (reply, difficulty,
   * job) goes out in one write, and the server writes every client's text in one pass
   * at the end of the tick (one process.nextTick for all of them, not one per client).
   */
  out = '';
  /** Graceful close: destroy if still open by this time. */
  lingerUntil = 0;
  /** Per-connection overrides (setConnectionLimits); 0 = the server's value. */
  lineLimit = 0;
  pendingLimit = 0;
  noFlood = false;
  turnLines = 0;

  constructor(
    readonly server: StratumServer,
    readonly socket: ClientSocket,
    readonly id: number,
    readonly address: string,
    readonly port: number,
    readonly serverIndex: number,
    readonly highdiff: boolean,
    readonly connectedAt: number,
  ) {}

  send(line: string | Uint8Array): boolean {
    if (this.closed) return false;
    const socket = this.socket;
    let len: number;
    if (typeof line === 'string') {
      if (line.charCodeAt(line.length - 1) !== 0x0a) line += '\n';
      len = line.length;
      if (this.out === '') this.server._queueFlush(this);
      this.out += line;
    } else {
      // a pre-encoded line (broadcast): after this tick's text, in order
      this.flushOut();
      len = line.length;
      socket.write(line);
      if (line[len - 1] !== 0x0a) {
        socket.write(NEWLINE);
        len++;
      }
    }
    this.queued += len;
    this.server._bytesOut += len;
    // Output from earlier ticks the kernel has not taken; this tick's is judged once it
    // has been written and the kernel has had its chance (flushOut → _afterFlush).
    if (socket.writableLength > (this.pendingLimit || this.server._maxPendingBytes)) {
      this.server._drop(this, CloseReason.OUTPUT_BOUND, true);
      return false;
    }
    return true;
  }

  /**
   * Write this tick's text now (end of tick, a pre-encoded line, or a graceful close):
   * staged in `batch` (the end-of-tick pass) when it can be written directly, otherwise
   * through socket.write (not corked: the kernel takes what it can at once).
   */
  flushOut(batch?: WriteBatch<Client>): void {
    const text = this.out;
    if (text === '') return;
    this.out = '';
    const socket = this.socket;
    if (socket.destroyed) return;
    if (batch !== undefined && batch.add(socket, text, this)) return;
    socket.write(text);
    this.server._afterFlush(this);
  }

  sendJson(msg: unknown): boolean {
    if (this.closed) return false;
    return this.send(JSON.stringify(msg) + '\n');
  }

  close(reason: string, destroy = false): void {
    this.server._drop(this, reason, destroy);
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id, address: this.address, port: this.port, serverIndex: this.serverIndex,
      highdiff: this.highdiff, connectedAt: this.connectedAt, closed: this.closed,
    };
  }
}

export const NEWLINE = Buffer.from('\n');

/**
 * End of tick: write every client's queued text (StratumServer._queueFlush) in one
 * native call per 256 KB (ts/native/sockets.ts): one send(2) each, without Node's
 * per-write machinery. A client with output still queued in Node, or a text the kernel
 * does not take whole, goes through socket.write, so its bytes stay in order.
 */
export function flushClients(server: StratumServer): void {
  const list = server._dirty;
  server._dirty = [];
  const batch = (writeBatch ??= new WriteBatch<Client>((client) => client.server._afterFlush(client)));
  for (let i = 0; i < list.length; i++) list[i]!.flushOut(batch);
  batch.flush();
}

/** One staging buffer per thread, made on first use. */
let writeBatch: WriteBatch<Client> | undefined;

// Shared socket listeners (`this` is the socket): no closures per connection.
export function onSocketData(this: ClientSocket, chunk: Buffer): void {
  const client = this[kClient];
  if (client === undefined || client.closed) return;
  client.server._onData(client, chunk);
}
/** `onread` callback: `nread` bytes in the server's shared read buffer (framing copies what it keeps). */
export function onSocketRead(this: ClientSocket, nread: number, buf: Buffer): void {
  const client = this[kClient];
  if (client === undefined || client.closed) return;
  client.server._onData(client, buf.subarray(0, nread));
}
/** Set on a socket opened with `onread` (its reads need no 'data' listener). */
export const kFastRead = Symbol('onread');
export function onSocketEnd(this: ClientSocket): void {
  const client = this[kClient];
  if (client !== undefined) client.server._drop(client, CloseReason.CLIENT_CLOSED, false);
}
export function onSocketError(this: ClientSocket, err: Error): void {
  const client = this[kClient];
  if (client === undefined) return;
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  client.server._drop(client, `${CloseReason.SOCKET_ERROR}: ${code}`, true);
}
export function onSocketClose(this: ClientSocket): void {
  const client = this[kClient];
  if (client === undefined) return;
  client.server._onSocketClosed(client);
}
/** 'drain' while paused for unsent output (added only then: FairScheduler.outputOver). */
export function onSocketDrain(this: ClientSocket): void {
  const client = this[kClient];
  if (client !== undefined) client.server._fair.drained(client);
}
export function onLine(client: Client, line: string): boolean {
  return client.server._onLine(client, line);
}
export function emitClose(server: StratumServer, client: Client, reason: string): void {
  try {
    server.emit('close', client, reason);
  } catch (err) {
    server._listenerFailed('close', client, err);
  }
}
export function noop(): void {}
