/**
 * GET /api/v1/events: server-sent events for the dashboard. One shared timer for all
 * streams (started with the first stream, stopped with the last): every tick the pool
 * JSON is built once and each distinct ?user= once, however many streams listen. Block
 * events from the bus are pushed as they happen (plus a fresh `pool` event).
 *
 * A stream whose socket stops draining (more than MAX_BUFFERED bytes queued) is closed,
 * so a stuck browser cannot make the pool hold its events in memory. Past `maxStreams`
 * new streams get a 503 (CKP_ERR_API_BUSY).
 */
import type { ServerResponse } from 'node:http';
import type { BlockRecord } from '../events.js';
import type { Logger } from '../log/logger.js';
import type { ApiSource } from './source.js';
import { poolJson, sortWorkers, userJson } from './views.js';

const MAX_BUFFERED = 1 << 20;
const USER_WORKERS = 50;

interface Stream {
  readonly res: ServerResponse;
  readonly user: string | undefined;
}

export class EventHub {
  readonly #src: ApiSource;
  readonly #intervalMs: number;
  readonly #maxStreams: number;
  readonly #log: Logger | undefined;
  readonly #streams = new Set<Stream>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  readonly #onBlock = (b: BlockRecord): void => {
    if (this.#streams.size === 0) return;
    this.#broadcast(frame('block', b));
    this.#broadcast(frame('pool', poolJson(this.#src, Date.now())));
  };

  constructor(src: ApiSource, opts: { intervalMs?: number; maxStreams?: number; logger?: Logger } = {}) {
    this.#src = src;
    this.#intervalMs = opts.intervalMs ?? 5000;
    this.#maxStreams = opts.maxStreams ?? 100;
    this.#log = opts.logger;
    src.events?.on('block_found', this.#onBlock);
    src.events?.on('block_verdict', this.#onBlock);
  }

  get size(): number {
    return this.#streams.size;
  }

  get full(): boolean {
    return this.#streams.size >= this.#maxStreams;
  }

  get maxStreams(): number {
    return this.#maxStreams;
  }

  /** Take over a response as an event stream; sends the first events at once. */
  add(res: ServerResponse, user: string | undefined): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and friends: do not buffer the stream
      'x-accel-buffering': 'no',
    });
    const s: Stream = { res, user };
    this.#streams.add(s);
    res.on('close', () => this.#remove(s));
    res.write(`retry: ${this.#intervalMs}\n\n`);
    // a rejected first round (a worker thread's clients() during shutdown) must not become
    // an unhandled rejection, which would end the process
    this.#sendTo([s]).catch((e) => this.#log?.warning(`API event stream: first events failed: ${(e as Error).message}`));
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#tick(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** End every stream and stop listening (server shutdown). */
  close(): void {
    this.#src.events?.off('block_found', this.#onBlock);
    this.#src.events?.off('block_verdict', this.#onBlock);
    for (const s of [...this.#streams]) s.res.end();
    this.#streams.clear();
    this.#stopTimer();
  }

  #remove(s: Stream): void {
    this.#streams.delete(s);
    if (this.#streams.size === 0) this.#stopTimer();
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return; // a slow clients() round: skip, never pile up
    this.#ticking = true;
    try {
      await this.#sendTo([...this.#streams]);
    } catch (e) {
      this.#log?.warning(`API event stream tick failed: ${(e as Error).message}`);
    } finally {
      this.#ticking = false;
    }
  }

  /** The pool event (built once) and each distinct user's event (built once) to these streams. */
  async #sendTo(streams: Stream[]): Promise<void> {
    const pool = frame('pool', poolJson(this.#src, Date.now()));
    const users = new Map<string, string | null>();
    for (const s of streams) {
      if (s.user !== undefined && !users.has(s.user)) {
        const u = await userJson(this.#src, s.user);
        users.set(s.user, u ? frame('user', { user: u.user, workers: sortWorkers(u.workers, 'hashrate').slice(0, USER_WORKERS) }) : null);
      }
    }
    for (const s of streams) {
      if (!this.#streams.has(s)) continue;
      this.#write(s, pool);
      const u = s.user === undefined ? null : users.get(s.user);
      if (u) this.#write(s, u);
    }
  }

  #broadcast(text: string): void {
    for (const s of this.#streams) this.#write(s, text);
  }

  #write(s: Stream, text: string): void {
    if (s.res.writableLength > MAX_BUFFERED) {
      this.#log?.notice('API event stream not draining: closed');
      s.res.destroy();
      this.#remove(s);
      return;
    }
    s.res.write(text);
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
