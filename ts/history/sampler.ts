/**
 * Feeds the history store from PoolStats once a minute (main thread, one unref'd timer):
 * the pool, every user and every worker with a share in the last 10 minutes (or a
 * connected client). `shares` is the growth of the diff-weighted accepted shares since
 * the previous sample (the first sample after a start has none to compare with: 0); the
 * pool's from PoolStats.totals (since the process started, never reset).
 */
import type { PoolStats } from '../stats/stats.js';
import type { HistorySample, HistoryStore } from './store.js';

const ACTIVE_MS = 10 * 60_000;

export class HistorySampler {
  readonly #stats: PoolStats;
  readonly #store: HistoryStore;
  readonly #last = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(stats: PoolStats, store: HistoryStore) {
    this.#stats = stats;
    this.#store = store;
  }

  start(intervalMs = 60_000): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sample(Date.now()), intervalMs);
    this.#timer.unref();
  }

  #delta(key: string, total: number, seen: Map<string, number>): number {
    const prev = this.#last.get(key);
    seen.set(key, total);
    return prev === undefined || total < prev ? 0 : total - prev;
  }

  /** Take one sample now and write it (one transaction). */
  sample(now: number): HistorySample[] {
    const samples: HistorySample[] = [];
    // this sample's totals replace the last ones whole, so users and workers the stats
    // have forgotten drop out of the map instead of piling up
    const seen = new Map<string, number>();
    for (const name of this.#stats.userNames()) {
      const u = this.#stats.getUser(name);
      if (!u) continue;
      const userDelta = this.#delta(`u\0${name}`, u.shares, seen);
      if (now - u.lastShare > ACTIVE_MS && u.instances === 0) continue;
      samples.push({ kind: 'user', name, hashrate: u.hashrate['1m'] ?? 0, shares: userDelta });
      for (const w of u.workers) {
        const d = this.#delta(`w\0${w.name}`, w.shares, seen);
        if (now - w.lastShare > ACTIVE_MS && w.instances === 0) continue;
        samples.push({ kind: 'worker', name: w.name, hashrate: w.hashrate['1m'] ?? 0, shares: d });
      }
    }
    const snap = this.#stats.snapshot(now);
    // the pool's never-reset accepted difficulty, not a sum over the users: that sum drops
    // when the stats forget an idle user, and the minute's pool shares would read as 0
    samples.unshift({ kind: 'pool', name: '', hashrate: snap.hashrate['1m'], shares: this.#delta('pool', this.#stats.totals.acceptedDiff, seen) });
    this.#last.clear();
    for (const [k, v] of seen) this.#last.set(k, v);
    this.#store.record(now, samples);
    return samples;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
