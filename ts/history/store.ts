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
  /** the 10-minute points exist up to here (unix s; 0: none yet) — kept in `meta` */
  #rolledTo: number;
  readonly #q: {
    findSeries: Database.Statement<[string, string], { id: number }>;
    addSeries: Database.Statement<[string, string]>;
    upsert: Database.Statement<[number, number, number, number]>;
    rollup: Database.Statement<[{ from: number; to: number }]>;
    pruneMinutes: Database.Statement<[number]>;
    pruneTens: Database.Statement<[number]>;
    dropEmpty: Database.Statement<[]>;
    count: Database.Statement<[], { n: number }>;
    setRolled: Database.Statement<[number]>;
    selectMinutes: Database.Statement<[number, number], { t: number; hashrate: number; shares: number }>;
    selectTens: Database.Statement<[number, number], { t: number; hashrate: number; shares: number }>;
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
      // Each minute's batch touches one leaf page per series (the tables are in series
      // order): checkpointing every 5000 pages (a WAL of at most ~20 MB, instead of
      // SQLite's 1000) writes a page back once for several minutes' points, and a 16 MB
      // page cache keeps those pages in memory. About half the write time per minute
      // (BENCHMARKS.md "History store").
      this.#db.pragma('wal_autocheckpoint = 5000');
      this.#db.pragma('cache_size = -16384');
      // One table per step, keyed (series, t) without a rowid and with no other index: a
      // point is its key plus two numbers. Rollup and pruning go series by series along
      // that key (the series table drives the loop), so nothing needs an index on t.
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (kind, name));
        CREATE TABLE IF NOT EXISTS m1 (series INTEGER NOT NULL, t INTEGER NOT NULL, hashrate REAL NOT NULL, shares REAL NOT NULL,
          PRIMARY KEY (series, t)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS m10 (series INTEGER NOT NULL, t INTEGER NOT NULL, hashrate REAL NOT NULL, shares REAL NOT NULL,
          PRIMARY KEY (series, t)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);`);
      migrateV1(this.#db);
      this.#q = {
        findSeries: this.#db.prepare('SELECT id FROM series WHERE kind = ? AND name = ?'),
        addSeries: this.#db.prepare('INSERT INTO series (kind, name) VALUES (?, ?)'),
        upsert: this.#db.prepare('INSERT OR REPLACE INTO m1 (series, t, hashrate, shares) VALUES (?, ?, ?, ?)'),
        // the 1-minute points of [from, to) into one point per series and ten minutes
        // (CROSS JOIN keeps series outside: one key range of m1 per series, no scan of m1)
        rollup: this.#db.prepare(`INSERT OR REPLACE INTO m10 (series, t, hashrate, shares)
          SELECT m.series, (m.t / ${TEN}) * ${TEN} AS ten, AVG(m.hashrate), SUM(m.shares)
          FROM series s CROSS JOIN m1 m ON m.series = s.id AND m.t >= @from AND m.t < @to GROUP BY m.series, ten`),
        pruneMinutes: this.#db.prepare('DELETE FROM m1 WHERE series IN (SELECT id FROM series) AND t < ?'),
        pruneTens: this.#db.prepare('DELETE FROM m10 WHERE series IN (SELECT id FROM series) AND t < ?'),
        dropEmpty: this.#db.prepare(`DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM m1 WHERE m1.series = series.id)
          AND NOT EXISTS (SELECT 1 FROM m10 WHERE m10.series = series.id)`),
        count: this.#db.prepare('SELECT COUNT(*) AS n FROM series'),
        setRolled: this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('rolled_to', ?)"),
        selectMinutes: this.#db.prepare('SELECT t, hashrate, shares FROM m1 WHERE series = ? AND t >= ? ORDER BY t'),
        selectTens: this.#db.prepare('SELECT t, hashrate, shares FROM m10 WHERE series = ? AND t >= ? ORDER BY t'),
      };
      this.#seriesCount = this.#q.count.get()!.n;
      const rolled = this.#db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'rolled_to'").get();
      // no record (a new file): from the oldest 1-minute point, if any
      this.#rolledTo = rolled?.value ?? Math.floor((this.#db.prepare<[], { t: number | null }>('SELECT MIN(t) AS t FROM m1').get()?.t ?? 0) / TEN) * TEN;
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
   * One minute's samples (`now`: ms since the epoch, the minute they belong to), in one
   * transaction; at each 10-minute boundary the finished ten minutes (all since the last
   * rollup, also across a restart) are rolled up and old points pruned.
   */
  record(now: number, samples: readonly HistorySample[]): void {
    const t = Math.floor(now / 1000 / MINUTE) * MINUTE;
    try {
      this.#db.transaction(() => {
        for (const s of samples) {
          const id = this.#seriesId(s.kind, s.name, true);
          if (id === null) continue;
          // whole H/s: SQLite keeps an integral REAL in 6 bytes instead of 8 (TH/s … PH/s)
          this.#q.upsert.run(id, t, Math.round(finite(s.hashrate)), finite(s.shares));
        }
        const ten = Math.floor(t / TEN) * TEN;
        if (ten > this.#rolledTo) {
          if (this.#rolledTo > 0) this.#q.rollup.run({ from: this.#rolledTo, to: ten });
          this.#rolledTo = ten;
          this.#q.setRolled.run(ten);
          this.#q.pruneMinutes.run(t - KEEP_MINUTES_S);
          this.#q.pruneTens.run(t - KEEP_TENS_S);
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
    const rows = (r.step === TEN ? this.#q.selectTens : this.#q.selectMinutes).all(id, from);
    // the current, not yet rolled-up ten minutes come from the 1-minute points
    if (r.step === TEN) {
      const last = rows.length ? rows[rows.length - 1]!.t + TEN : from;
      const tail = this.#q.selectMinutes.all(id, Math.max(last, from));
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

/**
 * Files written before the store had one table per step (a `points` table keyed
 * (series, step, t) plus an index on (step, t)): their points move over, then it goes.
 */
function migrateV1(db: Database.Database): void {
  const old = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'points'").get()!.n;
  if (!old) return;
  db.transaction(() => {
    db.exec(`INSERT OR IGNORE INTO m1 SELECT series, t, hashrate, shares FROM points WHERE step = ${MINUTE};
      INSERT OR IGNORE INTO m10 SELECT series, t, hashrate, shares FROM points WHERE step = ${TEN};
      INSERT OR REPLACE INTO meta (key, value) SELECT 'rolled_to', MAX(t) + ${TEN} FROM points WHERE step = ${TEN} HAVING COUNT(*) > 0;
      DROP TABLE points;`);
  })();
  db.exec('VACUUM');
}

function finite(n: number): number {
  return Number.isFinite(n) && n >= 0 ? n : 0;
}
