/**
 * Feeds the history store from PoolStats once a minute (main thread, one unref'd timer):
 * the pool, every user and every worker with a share in the last 10 minutes (or a
 * connected client). `shares` is the growth of the diff-weighted accepted shares since
 * the previous sample (the first sample after a start has none to compare with: 0).
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

  #delta(key: string, total: number): number {
    const prev = this.#last.get(key);
    this.#last.set(key, total);
    return prev === undefined || total < prev ? 0 : total - prev;
  }

  /** Take one sample now and write it (one transaction). */
  sample(now: number): HistorySample[] {
    const samples: HistorySample[] = [];
    let poolShares = 0;
    for (const name of this.#stats.userNames()) {
      const u = this.#stats.getUser(name);
      if (!u) continue;
      poolShares += u.shares;
      const userDelta = this.#delta(`u\0${name}`, u.shares);
      if (now - u.lastShare > ACTIVE_MS && u.instances === 0) continue;
      samples.push({ kind: 'user', name, hashrate: u.hashrate['1m'] ?? 0, shares: userDelta });
      for (const w of u.workers) {
        const d = this.#delta(`w\0${w.name}`, w.shares);
        if (now - w.lastShare > ACTIVE_MS && w.instances === 0) continue;
        samples.push({ kind: 'worker', name: w.name, hashrate: w.hashrate['1m'] ?? 0, shares: d });
      }
    }
    const snap = this.#stats.snapshot(now);
    samples.unshift({ kind: 'pool', name: '', hashrate: snap.hashrate['1m'], shares: this.#delta('pool', poolShares) });
    this.#store.record(now, samples);
    return samples;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
