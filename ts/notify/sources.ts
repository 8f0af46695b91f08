/**
 * The event sources the notifications add to the pool's bus (ts/events.ts): worker
 * presence from the stats, node state from the bitcoind set, upstream state from the
 * proxy modes' upstream set. All run on the main thread, off the share path: presence
 * is a timer reading the stats views, the others listen to events that already exist.
 */
import type { LinkState, PoolEvents } from '../events.js';
import type { ServerSet } from '../node/servers.js';
import type { PoolStats } from '../stats/stats.js';

/** What presence tracking reads: PoolStats's views (lastShare per worker). */
export type PresenceStats = Pick<PoolStats, 'userNames' | 'getUser'>;

export interface PresenceOptions {
  readonly stats: PresenceStats;
  readonly events: PoolEvents;
  /** Minutes without a share before a worker counts as offline. */
  readonly offlineMinutes: number;
  /** How often to look, ms (default: a quarter of the threshold, between 1 s and 60 s). */
  readonly checkMs?: number;
}

interface Seen {
  offline: boolean;
  lastShare: number;
}

/**
 * worker_offline when a worker that was mining has gone `offlineMinutes` without a
 * share; worker_online when an offline one sends a share again. A worker already
 * silent for longer than that when the tracker starts (read back from the stats files
 * after a restart) counts as offline without an event, so restarts do not repeat them.
 */
export class PresenceTracker {
  readonly #o: PresenceOptions;
  readonly #thresholdMs: number;
  readonly #seen = new Map<string, Seen>();
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: PresenceOptions) {
    this.#o = opts;
    this.#thresholdMs = opts.offlineMinutes * 60_000;
  }

  start(): void {
    const every = this.#o.checkMs ?? Math.max(1000, Math.min(60_000, Math.floor(this.#thresholdMs / 4)));
    this.check(Date.now());
    this.#timer = setInterval(() => this.check(Date.now()), every);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One look at every worker's last share. */
  check(now: number): void {
    const { stats, events, offlineMinutes } = this.#o;
    const present = new Set<string>();
    for (const user of stats.userNames()) {
      for (const w of stats.getUser(user)?.workers ?? []) {
        if (w.lastShare <= 0) continue;
        present.add(w.name);
        const quiet = now - w.lastShare >= this.#thresholdMs;
        const s = this.#seen.get(w.name);
        if (!s) {
          this.#seen.set(w.name, { offline: quiet, lastShare: w.lastShare });
          continue;
        }
        const info = { worker: w.name, user: w.user, lastShare: w.lastShare, offlineMinutes };
        if (!s.offline && quiet) {
          s.offline = true;
          events.emitSafe('worker_offline', info);
        } else if (s.offline && !quiet && w.lastShare > s.lastShare) {
          s.offline = false;
          events.emitSafe('worker_online', info);
        }
        s.lastShare = w.lastShare;
      }
    }
    for (const name of this.#seen.keys()) if (!present.has(name)) this.#seen.delete(name);
  }
}

/**
 * node_down when a bitcoind fails (a call or the watchdog's check), node_up when one
 * that was reported down answers again. Returns the function that stops listening.
 */
export function watchNodes(servers: ServerSet, events: PoolEvents): () => void {
  const down = new Set<string>();
  const onDead = (s: { name: string }, err: Error) => {
    down.add(s.name);
    events.emitSafe('node_down', { name: s.name, reason: err.message });
  };
  const onAlive = (s: { name: string }) => {
    if (!down.delete(s.name)) return; // first contact at start is no news
    events.emitSafe('node_up', { name: s.name });
  };
  servers.on('dead', onDead);
  servers.on('alive', onAlive);
  return () => {
    servers.off('dead', onDead);
    servers.off('alive', onAlive);
  };
}

/** The part of the proxy modes' Upstream (ts/modes/upstream.ts) watched here. */
export interface UpstreamLike {
  on(name: 'up', fn: (active: { entry: { url: string } }) => void): unknown;
  on(name: 'down', fn: (reason: string) => void): unknown;
}

/**
 * upstream_down when the active upstream pool is lost with no other up, upstream_up
 * when one is connected again (the first connection at start is not an event).
 */
export function watchUpstream(upstream: UpstreamLike, events: PoolEvents, label = ''): void {
  let last = '';
  let isDown = false;
  const name = (url: string) => (label ? `${url} (${label})` : url);
  upstream.on('up', (a) => {
    last = a.entry.url;
    if (!isDown) return;
    isDown = false;
    events.emitSafe('upstream_up', { name: name(a.entry.url) } satisfies LinkState);
  });
  upstream.on('down', (reason) => {
    if (isDown) return;
    isDown = true;
    events.emitSafe('upstream_down', { name: name(last), reason } satisfies LinkState);
  });
}
