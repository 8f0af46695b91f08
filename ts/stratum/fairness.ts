/**
 * Fair service for the stratum server: one heavy client must not delay the others
 * (issue 14; ckpool's connector promises the same through readiness-driven I/O).
 *
 * Before this, every line a read brought was handled inside that read callback, so a
 * client that sent 4,000 short requests in one burst had all of them parsed, answered
 * and written before the next socket was even looked at; 500 such clients pushed a quiet
 * miner's replies to seconds. Now:
 *
 * - **Lines per turn.** A read's lines are handled at once only up to `linesPerTurn`
 *   (the common case: a miner's few lines, a load generator's pipeline). The rest stays
 *   in the connection's input buffer, unframed, and the connection joins a round-robin
 *   queue; its socket stops being read until that backlog is handled, so what the server
 *   holds per connection is bounded by a read or two (16 KB each) and the kernel keeps
 *   the rest.
 * - **Rounds with a time slice.** At the end of the event-loop turn (setImmediate) the
 *   queue is served: connections that just arrived first, then the backlogged ones in
 *   round-robin order, each given `linesPerTurn` lines, until `sliceMs` has been used;
 *   then the loop polls sockets again. So a quiet miner's line waits for at most about
 *   one slice of other clients' work plus one poll, however many lines the others queue.
 * - **Reads within a slice too.** Lines are handled straight from the read callback only
 *   while the current turn has used less than `sliceMs`; past that a read is only copied
 *   and queued (a few µs), so 500 sockets becoming readable at once cannot fill one poll
 *   phase with their work either. Such a connection is not paused unless its waiting
 *   input passes `maxBacklogBytes`: 1000 miners with a share each would otherwise cost
 *   two epoll_ctl calls apiece per turn (in one paired 1000 × 1 run that lost ~17 % of replies per
 *   pool CPU-second to that).
 * - **Output bound.** A connection whose unsent output (what Node still holds after the
 *   kernel took what it could) is over `pauseOutputBytes` is neither read nor served
 *   until that output drains ('drain'): a client that does not read its replies stops
 *   costing CPU and memory instead of being answered into a backlog. The server's hard
 *   bound (maxPendingBytes, then a drop) and the send timeout stay as they were.
 *
 * Per thread: every StratumServer has its own scheduler, and worker threads each run
 * their own server, so the budget holds per thread.
 */
import type net from 'node:net';
import { FrameResult } from './framing.js';

/** What the scheduler needs of a connection (the server's Client). */
export interface FairClient {
  readonly socket: net.Socket;
  readonly closed: boolean;
  /** Unread input: complete lines not handled yet and/or an unterminated tail, from inputPos. */
  input: Buffer | null;
  inputPos: number;
  /** FairFlag bits. */
  fair: number;
  /** Lines per turn for this connection (0 = the scheduler's). */
  turnLines: number;
}

/** FairClient.fair bits. */
export const FairFlag = {
  /** In the queue (its lines are handled there, in order). */
  QUEUED: 1,
  /** socket.pause()d by the scheduler. */
  READ_PAUSED: 2,
  /** Unsent output over the bound: not served, not read, until 'drain'. */
  OUTPUT_PAUSED: 4,
} as const;

export interface FairOptions {
  /** Lines handled per connection per turn (default 16). */
  linesPerTurn?: number;
  /** Work per turn before sockets are polled again, in ms (default 4). */
  sliceMs?: number;
  /** A queued connection whose waiting input exceeds this stops being read (default 4 KiB: a pipeline of submits). */
  maxBacklogBytes?: number;
}

export const FAIR_DEFAULTS = { linesPerTurn: 16, sliceMs: 4, maxBacklogBytes: 4 * 1024 } as const;

/**
 * `frame(client, max)` handles up to `max` of the client's buffered lines and says
 * whether complete lines remain (FrameResult). `drainListener` is a shared 'drain'
 * listener (no closure per socket) that must call `drained(client)`.
 */
export class FairScheduler<C extends FairClient> {
  readonly linesPerTurn: number;
  readonly sliceMs: number;
  readonly maxBacklogBytes: number;
  /** Connections queued since the last round (served first), then the backlogged ones. */
  #fresh: C[] = [];
  #ring: C[] = [];
  #ringHead = 0;
  #turnOpen = false;
  #turnStart = 0;
  /** Rounds run (for stats and tests). */
  rounds = 0;
  /** Times a connection was paused because of its backlog / its unsent output. */
  backlogPauses = 0;
  outputPauses = 0;

  constructor(
    private readonly frame: (client: C, max: number) => FrameResult,
    private readonly drainListener: (this: net.Socket) => void,
    opts: FairOptions = {},
  ) {
    this.linesPerTurn = opts.linesPerTurn ?? FAIR_DEFAULTS.linesPerTurn;
    this.sliceMs = opts.sliceMs ?? FAIR_DEFAULTS.sliceMs;
    this.maxBacklogBytes = opts.maxBacklogBytes ?? FAIR_DEFAULTS.maxBacklogBytes;
  }

  /** Connections waiting to be served now. */
  get queued(): number {
    return this.#fresh.length + this.#ring.length - this.#ringHead;
  }

  /**
   * A read left input in `client.input`. Handle what this turn allows now, queue the
   * rest (in order: a connection already queued is only appended to).
   */
  arrived(client: C): void {
    const f = client.fair;
    if ((f & FairFlag.OUTPUT_PAUSED) !== 0) {
      this.#pause(client); // a read slipped in before the pause took hold
      return;
    }
    if ((f & FairFlag.QUEUED) !== 0) {
      // its earlier lines are still waiting: this read was appended behind them
      if (this.#backlog(client) > this.maxBacklogBytes) this.#pause(client);
      return;
    }
    if (!this.#turnOpen) this.#openTurn();
    else if (performance.now() - this.#turnStart >= this.sliceMs) {
      // this turn's time is used up: its lines go first next round. Reading goes on
      // (no pause/resume syscalls for the common one-line read) up to maxBacklogBytes.
      this.#enqueue(client, this.#fresh, this.#backlog(client) > this.maxBacklogBytes);
      return;
    }
    const r = this.frame(client, client.turnLines || this.linesPerTurn);
    if (r === FrameResult.MORE && !client.closed) this.#enqueue(client, this.#ring, true);
  }

  #backlog(client: C): number {
    return client.input === null ? 0 : client.input.length - client.inputPos;
  }

  /** The client's unsent output is over the bound: stop reading and serving it until 'drain'. */
  outputOver(client: C): void {
    if ((client.fair & FairFlag.OUTPUT_PAUSED) !== 0 || client.closed) return;
    client.fair |= FairFlag.OUTPUT_PAUSED;
    this.outputPauses++;
    this.#pause(client);
    client.socket.on('drain', this.drainListener);
  }

  /** Its output drained: serve and read it again. */
  drained(client: C): void {
    if ((client.fair & FairFlag.OUTPUT_PAUSED) === 0) return;
    client.fair &= ~FairFlag.OUTPUT_PAUSED;
    client.socket.removeListener('drain', this.drainListener);
    if (client.closed) return;
    if ((client.fair & FairFlag.QUEUED) !== 0) return; // still in the queue: served there
    if (client.input !== null) {
      this.#enqueue(client, this.#fresh, true);
    } else {
      this.#resume(client);
    }
  }

  /** Paused for its output (stats). */
  isOutputPaused(client: C): boolean {
    return (client.fair & FairFlag.OUTPUT_PAUSED) !== 0;
  }

  #enqueue(client: C, list: C[], pause: boolean): void {
    if ((client.fair & FairFlag.QUEUED) === 0) {
      client.fair |= FairFlag.QUEUED;
      list.push(client);
    }
    if (pause) this.#pause(client);
    if (!this.#turnOpen) this.#openTurn();
  }

  #pause(client: C): void {
    if ((client.fair & FairFlag.READ_PAUSED) !== 0) return;
    if ((client.fair & FairFlag.OUTPUT_PAUSED) === 0) this.backlogPauses++;
    client.fair |= FairFlag.READ_PAUSED;
    client.socket.pause();
  }

  #resume(client: C): void {
    if ((client.fair & FairFlag.READ_PAUSED) === 0) return;
    client.fair &= ~FairFlag.READ_PAUSED;
    if (!client.closed && !client.socket.destroyed) client.socket.resume();
  }

  #openTurn(): void {
    this.#turnOpen = true;
    this.#turnStart = performance.now();
    setImmediate(runRound, this);
  }

  /** @internal One round at the end of the turn: new arrivals, then round-robin, within the slice. */
  _round(): void {
    this.#turnOpen = false;
    if (this.queued === 0) return;
    this.rounds++;
    const deadline = performance.now() + this.sliceMs;
    // connections that just arrived go first (a quiet miner is one of them) …
    const fresh = this.#fresh;
    this.#fresh = [];
    let i = 0;
    while (i < fresh.length) {
      this.#serve(fresh[i++]!);
      if (performance.now() >= deadline) break;
    }
    // … those left over go first next round too
    if (i < fresh.length) this.#fresh = fresh.slice(i).concat(this.#fresh);
    // … then the backlog in round-robin order, at least one per round so it cannot starve
    let n = this.#ring.length - this.#ringHead;
    while (n-- > 0) {
      this.#serve(this.#ring[this.#ringHead++]!);
      if (performance.now() >= deadline) break;
    }
    if (this.#ringHead > 1024 && this.#ringHead * 2 > this.#ring.length) {
      this.#ring = this.#ring.slice(this.#ringHead);
      this.#ringHead = 0;
    }
    if (this.queued > 0) this.#openTurn();
  }

  /** Give one queued connection its lines for this round. */
  #serve(client: C): void {
    client.fair &= ~FairFlag.QUEUED;
    if (client.closed || (client.fair & FairFlag.OUTPUT_PAUSED) !== 0) return; // drained() re-queues it
    const r = this.frame(client, client.turnLines || this.linesPerTurn);
    if (client.closed) return;
    if (r === FrameResult.MORE) {
      client.fair |= FairFlag.QUEUED;
      this.#ring.push(client);
      this.#pause(client);
    } else if ((client.fair & FairFlag.OUTPUT_PAUSED) === 0) {
      this.#resume(client);
    }
  }
}

function runRound(s: { _round(): void }): void {
  s._round();
}
