/**
 * Hashrate and share history (issue 15 point 5) in an embedded SQLite file,
 * logdir/history.sqlite (better-sqlite3, WAL).
 *
 * - 1-minute points are kept a day, 10-minute points (the average hashrate and the sum of
 *   shares of the ten 1-minute points) 30 days; older points are deleted. A series is a
 *   pool, user or worker; at most `maxSeries` exist (default 5000, pool included): a new
 *   user or worker past the cap gets no history (logged once). Series with no point left
 *   are deleted. See README "History" and BENCHMARKS.md for the size this gives.
 * - Written in one transaction per minute from a timer on the main thread (sampler.ts),
 *   never per share.
 * - Restarts and -H handovers open the same file: WAL lets the new process read and write
 *   while the old one is still closing (writes wait up to 5 s for the lock, busy_timeout);
 *   a point both write for the same minute is replaced, not doubled.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { ckErrorCause } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import type { HistoryRange, HistorySeries } from './types.js';

export type SeriesKind = 'pool' | 'user' | 'worker';

export interface HistorySample {
  kind: SeriesKind;
  /** '' for the pool */
  name: string;
  /** H/s (the 1-minute average) */
  hashrate: number;
  /** diff-1 shares accepted in the minute */
  shares: number;
}

export const FILE_NAME = 'history.sqlite';
export const DEFAULT_MAX_SERIES = 5000;
const MINUTE = 60;
const TEN = 600;
const KEEP_MINUTES_S = 86_400;
const KEEP_TENS_S = 30 * 86_400;

const RANGES: Record<HistoryRange, { seconds: number; step: number }> = {
  '1h': { seconds: 3600, step: MINUTE },
  '24h': { seconds: 86_400, step: MINUTE },
  '7d': { seconds: 7 * 86_400, step: TEN },
  '30d': { seconds: 30 * 86_400, step: TEN },
};

export interface HistoryStoreOptions {
  /** the file (default logdir/history.sqlite) */
  file: string;
  maxSeries?: number;
  logger?: Logger;
}

export class HistoryStore {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #maxSeries: number;
  readonly #ids = new Map<string, number>();
  #seriesCount: number;
  #capWarned = false;
  #lastTen = 0;
  readonly #q: {
    findSeries: Database.Statement<[string, string], { id: number }>;
    addSeries: Database.Statement<[string, string]>;
    upsert: Database.Statement<[number, number, number, number, number]>;
    rollup: Database.Statement<[{ from: number; to: number }]>;
    prune: Database.Statement<[number, number]>;
    dropEmpty: Database.Statement<[]>;
    count: Database.Statement<[], { n: number }>;
    select: Database.Statement<[number, number, number], { t: number; hashrate: number; shares: number }>;
  };

  static inLogdir(logdir: string, opts: Omit<HistoryStoreOptions, 'file'> = {}): HistoryStore {
    return new HistoryStore({ ...opts, file: path.join(logdir, FILE_NAME) });
  }

  constructor(opts: HistoryStoreOptions) {
    this.file = opts.file;
    this.#log = opts.logger ?? new NullLogger();
    this.#maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    try {
      this.#db = new Database(opts.file);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('busy_timeout = 5000');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (kind, name));
        CREATE TABLE IF NOT EXISTS points (
          series INTEGER NOT NULL, step INTEGER NOT NULL, t INTEGER NOT NULL, hashrate REAL NOT NULL, shares REAL NOT NULL,
          PRIMARY KEY (series, step, t)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS points_age ON points (step, t);`);
      this.#q = {
        findSeries: this.#db.prepare('SELECT id FROM series WHERE kind = ? AND name = ?'),
        addSeries: this.#db.prepare('INSERT INTO series (kind, name) VALUES (?, ?)'),
        upsert: this.#db.prepare('INSERT OR REPLACE INTO points (series, step, t, hashrate, shares) VALUES (?, ?, ?, ?, ?)'),
        // the ten 1-minute points of [from, to) into one 10-minute point at `from`
        rollup: this.#db.prepare(`INSERT OR REPLACE INTO points (series, step, t, hashrate, shares)
          SELECT series, ${TEN}, @from, AVG(hashrate), SUM(shares) FROM points WHERE step = ${MINUTE} AND t >= @from AND t < @to GROUP BY series`),
        prune: this.#db.prepare(`DELETE FROM points WHERE (step = ${MINUTE} AND t < ?) OR (step = ${TEN} AND t < ?)`),
        dropEmpty: this.#db.prepare('DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM points WHERE points.series = series.id)'),
        count: this.#db.prepare('SELECT COUNT(*) AS n FROM series'),
        select: this.#db.prepare('SELECT t, hashrate, shares FROM points WHERE series = ? AND step = ? AND t >= ? ORDER BY t'),
      };
      this.#seriesCount = this.#q.count.get()!.n;
    } catch (e) {
      throw ckErrorCause('CKP_ERR_HISTORY_DB', e, opts.file, (e as Error).message);
    }
  }

  /** The series' id, created if the cap allows (null: over the cap). */
  #seriesId(kind: SeriesKind, name: string, create: boolean): number | null {
    const key = `${kind}\0${name}`;
    const cached = this.#ids.get(key);
    if (cached !== undefined) return cached;
    const row = this.#q.findSeries.get(kind, name);
    if (row) {
      this.#ids.set(key, row.id);
      return row.id;
    }
    if (!create) return null;
    if (this.#seriesCount >= this.#maxSeries) {
      if (!this.#capWarned) {
        this.#capWarned = true;
        this.#log.warning(`History: ${this.#maxSeries} series kept, the cap: new users and workers get no history`);
      }
      return null;
    }
    const id = Number(this.#q.addSeries.run(kind, name).lastInsertRowid);
    this.#seriesCount++;
    this.#ids.set(key, id);
    return id;
  }

  /**
   * One minute's samples (`now` in ms), in one transaction; at each 10-minute boundary
   * the finished ten minutes are rolled up and old points pruned.
   */
  record(now: number, samples: readonly HistorySample[]): void {
    const t = Math.floor(now / 1000 / MINUTE) * MINUTE;
    try {
      this.#db.transaction(() => {
        for (const s of samples) {
          const id = this.#seriesId(s.kind, s.name, true);
          if (id === null) continue;
          this.#q.upsert.run(id, MINUTE, t, finite(s.hashrate), finite(s.shares));
        }
        const ten = Math.floor(t / TEN) * TEN;
        if (ten !== this.#lastTen) {
          // the previous ten minutes are complete (and any still un-rolled after a restart)
          this.#q.rollup.run({ from: this.#lastTen !== 0 ? this.#lastTen : ten - TEN, to: ten });
          this.#lastTen = ten;
          this.#q.prune.run(t - KEEP_MINUTES_S, t - KEEP_TENS_S);
          if (this.#q.dropEmpty.run().changes > 0) {
            this.#ids.clear();
            this.#seriesCount = this.#q.count.get()!.n;
          }
        }
      })();
    } catch (e) {
      this.#log.err(ckErrorCause('CKP_ERR_HISTORY_DB', e, this.file, (e as Error).message).message);
    }
  }

  series(kind: SeriesKind, name: string, range: HistoryRange, now: number): HistorySeries {
    const r = RANGES[range];
    const out: HistorySeries = { range, stepSeconds: r.step, t: [], hashrate: [], shares: [] };
    const id = this.#seriesId(kind, name, false);
    if (id === null) return out;
    const from = Math.floor(now / 1000) - r.seconds;
    const rows = this.#q.select.all(id, r.step, from);
    // the current, not yet rolled-up ten minutes come from the 1-minute points
    if (r.step === TEN) {
      const last = rows.length ? rows[rows.length - 1]!.t + TEN : from;
      const tail = this.#q.select.all(id, MINUTE, Math.max(last, from));
      const byTen = new Map<number, { h: number; n: number; s: number }>();
      for (const p of tail) {
        const k = Math.floor(p.t / TEN) * TEN;
        const e = byTen.get(k) ?? { h: 0, n: 0, s: 0 };
        e.h += p.hashrate;
        e.n++;
        e.s += p.shares;
        byTen.set(k, e);
      }
      for (const [k, e] of byTen) rows.push({ t: k, hashrate: e.h / e.n, shares: e.s });
    }
    for (const p of rows) {
      out.t.push(p.t);
      out.hashrate.push(p.hashrate);
      out.shares.push(p.shares);
    }
    return out;
  }

  has(kind: 'user' | 'worker', name: string): boolean {
    return this.#seriesId(kind, name, false) !== null;
  }

  get seriesCount(): number {
    return this.#seriesCount;
  }

  /** Bytes of the database file and its WAL (for the benchmark and the logs). */
  sizeBytes(): number {
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const size = this.#db.pragma('page_size', { simple: true }) as number;
    return pages * size;
  }

  close(): void {
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch { /* another process (a handover's) may hold it: the WAL stays, SQLite copes */ }
    this.#db.close();
  }
}

function finite(n: number): number {
  return Number.isFinite(n) && n >= 0 ? n : 0;
}
