/**
 * Pool, user, worker and client statistics, kept the way ckpool's stratifier keeps
 * them (stratifier.c: add_submit, check_best_diff, statsupdate, read_poolstats,
 * read_userstats, block_solve, throbber), and the files ckpool writes:
 *
 * - `<logdir>/pool/pool.status`: three one-line JSON objects, rewritten every minute;
 * - `<logdir>/users/<user>`: pretty JSON (indent 1) per user, with a worker array.
 *
 * The stratifier calls `clientAuthorised` / `clientDisconnected` and `addShare` for
 * every share that got as far as a job lookup (accepted or rejected; not malformed
 * submits). Every method takes `now` (ms since the epoch); only the timers started by
 * `start()` read the clock.
 *
 * Where this differs from ckpool on purpose:
 * - Difficulties are fractional here, so the diff-weighted sums and best shares are
 *   doubles. ckpool's int64 fields ("accepted", "rejected", "shares", "bestshare" in
 *   pool.status, "bestever") are written as integers when integral and otherwise as a
 *   real with 10 significant digits (format.ts COUNTER_DIGITS: no float noise),
 *   instead of being truncated (a sub-1 diff pool would otherwise report 0 forever).
 * - Decaying averages start at the client/worker/user's creation time; ckpool starts
 *   them at 1970, which makes the first share's contribution ~diff/1.7e9.
 * - Users and workers read back at start-up are really decayed for the downtime;
 *   ckpool's read_userstats calls decay_user right after setting last_decay = now, so
 *   the 50 ms batching turns that decay into a no-op.
 * - Users and workers that never submitted a share and have no connected client are
 *   forgotten at the minute update (ckpool keeps them forever; they are never written).
 * - Files are written atomically (temporary file + rename).
 *
 * Its parts: documents.ts (per-user state and the users/<user> document), files.ts (the
 * atomic file writes), pool-status.ts (pool.status and throbber lines), readback.ts
 * (reading the files back), views.ts (the API's types).
 */
import { ckError } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import {
  DecayingRates,
  NONCES,
  POOL_PERIODS,
  SPS_PERIODS,
  USER_PERIODS,
  type PeriodName,
} from './decay.js';
import {
  IDLE_SECONDS, WORKER_FILE_IDLE_SECONDS, blockSolvedLine, hr, userTree, type ClientState, type UserState, type WorkerState,
} from './documents.js';
import { StatsFiles } from './files.js';
import { J, dumpJson, toPlain } from './format.js';
import { poolStatusLines, throbberLine } from './pool-status.js';
import { readStatsFiles } from './readback.js';
import { ShareTotals } from './totals.js';
import type { ClientView, PoolCounts, PoolSnapshot, ReadBackResult, UserView, WorkerView } from './views.js';

export { IDLE_SECONDS, WORKER_FILE_IDLE_SECONDS } from './documents.js';

/** One share as the stratifier saw it (after hashing, before replying). */
export interface ShareEvent {
  /** The user name (the part of the worker name before the first '.' or '_'). */
  readonly user: string;
  /** The full worker name as given to mining.authorize ("alice.w1"). */
  readonly worker: string;
  readonly clientId: number;
  /** The credited difficulty: the client's diff, or the old diff for jobs before the last change. */
  readonly diff: number;
  /** The share's own difficulty; -1 (or any negative) if it was never hashed. */
  readonly sdiff: number;
  /** The share was accepted. */
  readonly accepted: boolean;
  /**
   * The share counts for hashrate even though it was rejected: ckpool's "submit" — a
   * stale share with sdiff ≥ the workbase diff (or anything that went to the block path).
   * Accepted shares always count.
   */
  readonly submitted: boolean;
  /** When the share arrived (ms since the epoch). */
  readonly now: number;
  /** Why it was rejected: the stratifier's reject kind ('STALE', 'DUPLICATE', …); counted in `totals`. */
  readonly reason?: string;
}

/** What a share improved, for the stratifier's "New best share" messages. */
/**
 * What the stratifier reports to the pool's accounting: PoolStats itself, or on a worker
 * thread the forwarder that replays the same calls into the main thread's PoolStats
 * (ts/stats/forward.ts).
 */
export interface StatsSink {
  addShare(e: ShareEvent): unknown;
  clientAuthorised(user: string, worker: string, clientId: number, now: number): void;
  clientDisconnected(user: string, worker: string, clientId: number, now: number): void;
  setDisconnectedSessions(n: number): void;
  setNetworkDiff(d: number): void;
  blockFound(now: number, solver?: { readonly workername: string }): unknown;
}

export interface BestShareNews {
  /** The user's or worker's best-ever share improved ("New best ever share"). */
  readonly ever: boolean;
  /** The user's best share since the last block improved (else only the worker's). */
  readonly user: boolean;
  readonly worker: boolean;
  readonly sdiff: number;
}

export interface PoolStatsOptions {
  /** ckpool's logdir: pool/pool.status and users/<user> go under it. */
  readonly logdir: string;
  /** Pool instance name (ckpool's -n / "name"). */
  readonly name?: string;
  readonly logger?: Logger;
  /** When the pool started (ms); defaults to now. Used for "runtime". */
  readonly startedAt?: number;
  /** Where start() writes the throbber once a second (ckpool without -q); none by default. */
  readonly throbber?: { write(s: string): unknown } | null;
}

export type { RatesView, UserView, WorkerView, ClientView, PoolSnapshot, ReadBackResult } from './views.js';

/** ckpool's stats tick: 32 per minute. */
export const TICK_MS = 1875;

const sec = (ms: number): number => Math.floor(ms / 1000);

function finiteNonNeg(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : 0;
}

/** Add `src`'s averages to `dst`'s (two disjoint share streams over the same time: their sum). */
function addRates(dst: DecayingRates, src: DecayingRates): void {
  for (const p of dst.periods) dst.set(p, dst.get(p) + src.get(p));
}

function ratesView(r: DecayingRates): { dsps: Partial<Record<PeriodName, number>>; hashrate: Partial<Record<PeriodName, number>> } {
  const dsps = r.toObject();
  const hashrate: Partial<Record<PeriodName, number>> = {};
  for (const [k, v] of Object.entries(dsps)) hashrate[k as PeriodName] = v * NONCES;
  return { dsps, hashrate };
}

export class PoolStats {
  readonly logdir: string;
  readonly name: string;
  readonly startedAt: number;
  private readonly logger: Logger;
  private readonly throbberOut: { write(s: string): unknown } | null;

  private readonly users = new Map<string, UserState>();
  private readonly clients = new Map<number, ClientState>();
  /** Share counters since start, never reset (Prometheus metrics). */
  readonly totals = new ShareTotals();

  // Pool counters (ckpool's pool_stats_t)
  private unaccountedShares = 0;
  private unaccountedDiff = 0;
  private unaccountedRejects = 0;
  private accountedShares = 0;
  private accountedDiff = 0;
  private accountedRejects = 0;
  private readonly sps = new DecayingRates(SPS_PERIODS);
  private readonly dsps = new DecayingRates(POOL_PERIODS);
  private bestDiff = 0;
  private networkDiff = 0;
  private disconnected = 0;
  private lastTick: number;

  private throbberCounter = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private firstWriteTimer: NodeJS.Timeout | undefined;
  private throbberTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  /** users/<user> and pool/pool.status, and the bytes last written (the HTTP API serves these) */
  private readonly files: StatsFiles;

  constructor(opts: PoolStatsOptions) {
    if (typeof opts?.logdir !== 'string' || opts.logdir.length === 0) {
      throw ckError('CKP_ERR_STATS_OPTION', 'logdir', 'must be a non-empty directory path');
    }
    if (opts.startedAt !== undefined && !Number.isFinite(opts.startedAt)) {
      throw ckError('CKP_ERR_STATS_OPTION', 'startedAt', `must be a time in ms, got ${String(opts.startedAt)}`);
    }
    this.logdir = opts.logdir;
    this.name = opts.name ?? 'ckpool';
    this.logger = opts.logger ?? new NullLogger();
    this.startedAt = opts.startedAt ?? Date.now();
    this.lastTick = this.startedAt;
    this.throbberOut = opts.throbber ?? null;
    this.files = new StatsFiles(this.logdir, this.logger);
  }

  // -------------------------------------------------------------------------
  // events from the stratifier

  /** A client authorised as `worker` of `user` (ckpool's generate_user + client_auth). */
  clientAuthorised(user: string, worker: string, clientId: number, now: number): void {
    const old = this.clients.get(clientId);
    if (old) this.dropClient(old);
    const u = this.getCreateUser(user, now);
    u.authorised = true;
    if (!u.authTime) u.authTime = sec(now);
    const w = this.getCreateWorker(u, worker, now);
    u.instances++;
    w.instances++;
    this.clients.set(clientId, {
      id: clientId,
      user: u,
      worker: w,
      authorisedAt: now,
      rates: new DecayingRates(USER_PERIODS, now),
      lastShare: 0,
      bestDiff: 0,
      idle: false,
    });
  }

  /** Whether an authorised client with this id is known. */
  hasClient(clientId: number): boolean {
    return this.clients.has(clientId);
  }

  /** An authorised client went away. Unknown ids are ignored. */
  clientDisconnected(_user: string, _worker: string, clientId: number, _now: number): void {
    const c = this.clients.get(clientId);
    if (c) this.dropClient(c);
  }

  /** ckpool's count of remembered disconnected sessions (pool.status "Disconnected"). */
  setDisconnectedSessions(n: number): void {
    this.disconnected = Number.isInteger(n) && n > 0 ? n : 0;
  }

  /** The network difficulty of the current workbase (pool.status "diff" %, best-share cap). */
  setNetworkDiff(d: number): void {
    if (Number.isFinite(d) && d > 0) this.networkDiff = d;
  }

  /**
   * Account one share (stratifier.c check_best_diff + add_submit). Never throws.
   * Returns what the share improved, if anything, for "New best share" messages.
   */
  addShare(e: ShareEvent): BestShareNews | undefined {
    const diff = finiteNonNeg(e.diff);
    const now = e.now;
    this.totals.add(e.accepted, diff, e.reason);
    if (e.accepted) {
      this.unaccountedShares++;
      this.unaccountedDiff += diff;
    } else {
      this.unaccountedRejects += diff;
    }

    let c = this.clients.get(e.clientId);
    if (!c) {
      // The stratifier should have told us about the authorisation; cope anyway.
      this.clientAuthorised(e.user, e.worker, e.clientId, now);
      c = this.clients.get(e.clientId)!;
    }
    const user = c.user;
    const worker = c.worker;

    // parse_submit: best diffs are checked for every hashed share, whatever its verdict.
    let news: BestShareNews | undefined;
    const sdiff = typeof e.sdiff === 'number' && Number.isFinite(e.sdiff) ? e.sdiff : -1;
    if (sdiff > c.bestDiff) {
      c.bestDiff = sdiff;
      news = this.checkBestDiff(user, worker, sdiff);
    }

    // Count only accepted and stale-but-submitted shares towards hashrate.
    if (e.accepted) {
      worker.shares += diff;
      user.shares += diff;
    } else if (!e.submitted) {
      return news;
    }
    c.rates.add(diff, now);
    c.lastShare = now;
    c.idle = false;
    worker.rates.add(diff, now);
    worker.lastShare = now;
    worker.idle = false;
    user.rates.add(diff, now);
    user.lastShare = now;
    return news;
  }

  /**
   * A block we submitted was accepted (ckpool's block_solve). Logs the solver's stats
   * (when `solver` is given) and "Block solved after N shares at P% diff", then resets
   * the pool's accepted/rejected counters, the pool best share and every user's, worker's
   * and client's best share since the last block. ckpool resets these on every solve
   * (even a re-submitted duplicate/stale block share); we keep that behaviour for
   * compatibility. Returns the "Block solved after…" line.
   */
  blockFound(now: number, solver?: { readonly workername: string }): string {
    if (solver) {
      const w = this.findWorker(solver.workername);
      if (w) {
        const u = w.user;
        this.logger.warning(`User ${u.name}:${dumpJson(J.obj([
          ['hashrate1m', hr(u.rates, '1m')],
          ['hashrate5m', hr(u.rates, '5m')],
          ['hashrate1hr', hr(u.rates, '1h')],
          ['hashrate1d', hr(u.rates, '1d')],
          ['hashrate7d', hr(u.rates, '7d')],
          ['shares', J.int(u.shares)],
          ['authorised', J.int(u.authTime)],
        ]))}`);
        this.logger.warning(`Worker ${w.name}:${dumpJson(J.obj([
          ['hashrate1m', hr(w.rates, '1m')],
          ['hashrate5m', hr(w.rates, '5m')],
          ['hashrate1hr', hr(w.rates, '1h')],
          ['hashrate1d', hr(w.rates, '1d')],
          ['hashrate7d', hr(w.rates, '7d')],
        ]))}`);
      }
    }
    const msg = blockSolvedLine(this.accountedDiff, this.networkDiff);
    this.logger.warning(msg);

    // Compatibility with ckpool: a solve starts a new round for the pool counters and
    // every best-share-since-last-block.
    this.resetShares();
    return msg;
  }

  /**
   * Start a new round: the pool's accepted/rejected counters and every best share since
   * the last block (ckpool's reset_bestshares; the control socket's `resetshares`).
   */
  resetShares(): void {
    this.accountedShares = 0;
    this.accountedDiff = 0;
    this.accountedRejects = 0;
    this.bestDiff = 0;
    for (const c of this.clients.values()) c.bestDiff = 0;
    for (const u of this.users.values()) {
      u.bestDiff = 0;
      for (const w of u.workers.values()) w.bestDiff = 0;
    }
  }

  // -------------------------------------------------------------------------
  // periodic work

  /**
   * ckpool's 1.875 s stats step: fold the shares received since the last tick into the
   * pool's accepted/rejected totals and its SPS / hashrate averages.
   */
  tick(now: number): void {
    const interval = (now - this.lastTick) / 1000;
    this.lastTick = now;
    const shares = this.unaccountedShares;
    const diff = this.unaccountedDiff;
    const rejects = this.unaccountedRejects;
    this.unaccountedShares = 0;
    this.unaccountedDiff = 0;
    this.unaccountedRejects = 0;
    this.accountedShares += shares;
    this.accountedDiff += diff;
    this.accountedRejects += rejects;
    this.sps.decayOver(shares, interval);
    this.dsps.decayOver(diff, interval);
  }

  /**
   * The per-minute pass of ckpool's statsupdate, without the file writes: clients,
   * users and workers with no share for over a minute are decayed towards zero and
   * flagged idle. writeFiles() calls this first.
   */
  minuteUpdate(now: number): void {
    for (const c of this.clients.values()) {
      const idleFor = (now - c.lastShare) / 1000;
      if (idleFor > IDLE_SECONDS) {
        c.rates.decay(now);
        if (idleFor > 600) c.idle = true;
      }
    }
    for (const [name, u] of this.users) {
      if (!u.lastShare && !u.instances) {
        // Never shared and nobody connected: nothing to report, don't keep it.
        this.users.delete(name);
        continue;
      }
      for (const [wname, w] of u.workers) {
        if (!w.lastShare && !w.instances) u.workers.delete(wname);
      }
      if (!u.authorised || !u.lastShare) continue;
      if ((now - u.lastShare) / 1000 > IDLE_SECONDS) u.rates.decay(now);
      for (const w of u.workers.values()) {
        if ((now - w.lastShare) / 1000 > IDLE_SECONDS) {
          w.rates.decay(now);
          w.idle = true;
        }
      }
    }
  }

  // -------------------------------------------------------------------------
  // rendering

  /** Authorised clients with no share for over a minute (pool.status "Idle"). */
  idleClients(now: number): number {
    let n = 0;
    for (const c of this.clients.values()) if ((now - c.lastShare) / 1000 > IDLE_SECONDS) n++;
    return n;
  }

  /** Connected authorised users (with at least one client). */
  connectedUsers(): number {
    let n = 0;
    for (const u of this.users.values()) if (u.instances > 0) n++;
    return n;
  }

  /** Connected authorised clients. */
  connectedWorkers(): number {
    return this.clients.size;
  }

  private percent(): number {
    if (!(this.networkDiff > 0)) return 0;
    // "Round to 4 significant digits"
    return Math.round((this.accountedDiff * 10000) / this.networkDiff) / 100;
  }

  /** What pool.status and the snapshot both report of the pool's clients and times. */
  private counts(now: number): PoolCounts {
    return {
      runtime: Math.max(0, sec(now - this.startedAt)),
      lastupdate: sec(now),
      users: this.connectedUsers(),
      workers: this.connectedWorkers(),
      idle: this.idleClients(now),
      disconnected: this.disconnected,
    };
  }

  /** The three lines of pool.status (no newlines), exactly as ckpool writes them. */
  poolStatusLines(now: number): [string, string, string] {
    return poolStatusLines({
      ...this.counts(now),
      dsps: this.dsps,
      sps: this.sps,
      percent: this.percent(),
      accepted: this.accountedDiff,
      rejected: this.accountedRejects,
      bestshare: this.bestDiff,
    });
  }

  /**
   * The users/<user> document as a plain object (undefined for an unknown user), its
   * numbers rounded as the file writes them. `connected: true` also lists the workers
   * the file leaves out that have a connected client (see documents.ts userTree).
   */
  userJson(user: string, now: number, opts: { connected?: boolean } = {}): object | undefined {
    const u = this.users.get(user);
    return u ? (toPlain(userTree(u, now, opts), { precision: 16 }) as object) : undefined;
  }

  /** The users/<user> file text, exactly as ckpool writes it (pretty, indent 1, EOL). */
  userFileText(user: string, now: number): string | undefined {
    const u = this.users.get(user);
    return u ? `${dumpJson(userTree(u, now), { indent: 1, precision: 16 })}\n` : undefined;
  }

  /**
   * The bytes of users/<user> (`user`) or pool/pool.status (null) as last written by this
   * process; before its first write, the text it would write now. undefined: no such file.
   */
  statsFileText(user: string | null, now: number): string | undefined {
    if (user === null) return this.files.writtenPool ?? `${this.poolStatusLines(now).join('\n')}\n`;
    const written = this.files.writtenUsers.get(user);
    if (written !== undefined || this.files.writtenPool !== undefined) return written;
    const u = this.users.get(user);
    return u?.authorised && u.lastShare ? this.userFileText(user, now) : undefined;
  }

  /** ckpool's stdout throbber line (including its "\x1b[2K\r" prefix). */
  throbberLine(now: number): string {
    return throbberLine(now, this.throbberCounter++, {
      dsps: this.dsps, sps: this.sps, users: this.connectedUsers(), workers: this.connectedWorkers(),
      shares: this.accountedDiff, networkDiff: this.networkDiff,
    });
  }

  /** Plain numbers for the control API. */
  snapshot(now: number): PoolSnapshot {
    const hashrate = {} as Record<PeriodName, number>;
    const dsps = {} as Record<PeriodName, number>;
    for (const p of POOL_PERIODS) {
      dsps[p] = this.dsps.get(p);
      hashrate[p] = dsps[p] * NONCES;
    }
    return {
      name: this.name,
      ...this.counts(now),
      hashrate,
      dsps,
      sps: { '1m': this.sps.get('1m'), '5m': this.sps.get('5m'), '15m': this.sps.get('15m'), '1h': this.sps.get('1h') },
      accepted: this.accountedDiff,
      rejected: this.accountedRejects,
      shares: this.accountedShares,
      bestshare: this.bestDiff,
      networkDiff: this.networkDiff,
      diffPercent: this.percent(),
      unaccounted: { shares: this.unaccountedShares, diff: this.unaccountedDiff, rejects: this.unaccountedRejects },
    };
  }

  // -------------------------------------------------------------------------
  // lookups

  getUser(user: string): UserView | undefined {
    const u = this.users.get(user);
    if (!u) return undefined;
    return {
      name: u.name,
      ...ratesView(u.rates),
      lastShare: u.lastShare,
      bestDiff: u.bestDiff,
      bestEver: u.bestEver,
      shares: u.shares,
      authorised: u.authorised,
      authTime: u.authTime,
      instances: u.instances,
      workers: [...u.workers.values()].map((w) => this.workerView(w)),
    };
  }

  getWorker(workername: string): WorkerView | undefined {
    const w = this.findWorker(workername);
    return w ? this.workerView(w) : undefined;
  }

  getClient(clientId: number): ClientView | undefined {
    const c = this.clients.get(clientId);
    if (!c) return undefined;
    return {
      id: c.id,
      user: c.user.name,
      worker: c.worker.name,
      authorisedAt: c.authorisedAt,
      idle: c.idle,
      ...ratesView(c.rates),
      lastShare: c.lastShare,
      bestDiff: c.bestDiff,
    };
  }

  /** One client's diff-1 shares per second over `period` (vardiff uses '5m'). */
  clientDsps(clientId: number, period: PeriodName): number {
    return this.clients.get(clientId)?.rates.get(period) ?? 0;
  }

  /** Names of all known users (connected or read back). */
  userNames(): string[] {
    return [...this.users.keys()];
  }

  // -------------------------------------------------------------------------
  // files

  /**
   * ckpool's minute job: minuteUpdate(now), then users/<user> for every user that
   * authorised and has a share, then pool/pool.status; the same figures are logged at
   * NOTICE ("User x:{…}" for users active in the last minute, "Pool:{…}" ×3).
   * Writes are atomic. Rejects with CKP_ERR_STATS_WRITE if any file failed (the others
   * are still written).
   */
  async writeFiles(now: number): Promise<void> {
    this.minuteUpdate(now);
    await this.files.write(this.users.values(), () => this.poolStatusLines(now), now);
  }

  /**
   * Restore pool and user stats from pool/pool.status and users/* at start-up (ckpool's
   * read_poolstats and read_userstats; the parsing is ./readback.ts). Figures read are
   * added to what this process already counted (miners that moved here during a
   * handover). Problems are logged, never thrown.
   */
  async readBack(now: number): Promise<ReadBackResult> {
    const files = await readStatsFiles(this.logdir, this.logger, now);
    if (files.pool) {
      const p = files.pool;
      addRates(this.dsps, p.dsps);
      addRates(this.sps, p.sps);
      this.accountedDiff += p.accepted;
      this.accountedRejects += p.rejected;
      this.bestDiff = Math.max(this.bestDiff, p.bestshare);
    }
    let workers = 0;
    for (const f of files.users) {
      const u = this.getCreateUser(f.name, now);
      addRates(u.rates, f.rates);
      u.lastShare = Math.max(u.lastShare, f.lastShare);
      u.shares += f.shares;
      u.bestDiff = Math.max(u.bestDiff, f.bestDiff);
      u.bestEver = Math.max(u.bestEver, f.bestEver, u.bestDiff);
      u.authTime ||= f.authTime;
      for (const fw of f.workers) {
        const w = this.getCreateWorker(u, fw.name, now);
        addRates(w.rates, fw.rates);
        w.lastShare = Math.max(w.lastShare, fw.lastShare);
        w.bestDiff = Math.max(w.bestDiff, fw.bestDiff);
        w.bestEver = Math.max(w.bestEver, fw.bestEver, w.bestDiff);
        w.shares += fw.shares;
        workers++;
      }
    }
    const users = files.users.length;
    if (users) this.logger.warning(`Loaded ${users} users and ${workers} workers`);
    const downtime = files.pool?.downtime ?? 0;
    return { pool: files.pool !== undefined, users, workers, decayedSeconds: downtime > 60 ? downtime : 0 };
  }

  // -------------------------------------------------------------------------
  // timers

  /**
   * Start the 1.875 s pool tick, the file writes (first after 1 s, then every
   * `intervalMs`) and, if a throbber stream was given, the once-a-second throbber.
   * All timers are unref'd.
   */
  start(intervalMs = 60_000): void {
    if (this.tickTimer) return;
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
      throw ckError('CKP_ERR_STATS_OPTION', 'intervalMs', `must be a positive number of ms, got ${String(intervalMs)}`);
    }
    this.lastTick = Date.now();
    this.tickTimer = setInterval(() => this.tick(Date.now()), TICK_MS);
    this.tickTimer.unref();
    const write = (): void => {
      if (this.writing) return;
      this.writing = this.writeFiles(Date.now())
        .catch((e) => this.logger.err(`Stats update failed: ${(e as Error).message}`))
        .finally(() => { this.writing = undefined; });
    };
    this.firstWriteTimer = setTimeout(write, Math.min(1000, intervalMs));
    this.firstWriteTimer.unref();
    this.writeTimer = setInterval(write, intervalMs);
    this.writeTimer.unref();
    const out = this.throbberOut;
    if (out) {
      this.throbberTimer = setInterval(() => {
        try { out.write(this.throbberLine(Date.now())); } catch { /* a closed stdout must not kill the pool */ }
      }, 1000);
      this.throbberTimer.unref();
    }
  }

  /** Stop the timers, wait for a write in progress and (unless told not to) write the files once more. */
  async stop(opts: { finalWrite?: boolean } = {}): Promise<void> {
    for (const t of [this.tickTimer, this.writeTimer, this.throbberTimer]) if (t) clearInterval(t);
    if (this.firstWriteTimer) clearTimeout(this.firstWriteTimer);
    const wasRunning = this.tickTimer !== undefined;
    this.tickTimer = this.writeTimer = this.throbberTimer = this.firstWriteTimer = undefined;
    if (this.writing) await this.writing;
    if (wasRunning && opts.finalWrite !== false) {
      const now = Date.now();
      this.tick(now);
      try {
        await this.writeFiles(now);
      } catch (e) {
        this.logger.err(`Stats update failed: ${(e as Error).message}`);
      }
    }
  }

  // -------------------------------------------------------------------------
  // internals

  private getCreateUser(name: string, now: number): UserState {
    let u = this.users.get(name);
    if (!u) {
      u = {
        name,
        rates: new DecayingRates(USER_PERIODS, now),
        shares: 0,
        bestDiff: 0,
        bestEver: 0,
        lastShare: 0,
        authorised: false,
        authTime: 0,
        instances: 0,
        workers: new Map(),
      };
      this.users.set(name, u);
    }
    return u;
  }

  private getCreateWorker(u: UserState, name: string, now: number): WorkerState {
    let w = u.workers.get(name);
    if (!w) {
      w = {
        name,
        user: u,
        rates: new DecayingRates(USER_PERIODS, now),
        shares: 0,
        bestDiff: 0,
        bestEver: 0,
        lastShare: 0,
        instances: 0,
        idle: false,
      };
      u.workers.set(name, w);
    }
    return w;
  }

  private findWorker(workername: string): WorkerState | undefined {
    for (const u of this.users.values()) {
      const w = u.workers.get(workername);
      if (w) return w;
    }
    return undefined;
  }

  private workerView(w: WorkerState): WorkerView {
    return {
      name: w.name,
      user: w.user.name,
      ...ratesView(w.rates),
      lastShare: w.lastShare,
      bestDiff: w.bestDiff,
      bestEver: w.bestEver,
      shares: w.shares,
      instances: w.instances,
      idle: w.idle,
    };
  }

  private dropClient(c: ClientState): void {
    this.clients.delete(c.id);
    if (c.user.instances > 0) c.user.instances--;
    if (c.worker.instances > 0) c.worker.instances--;
  }

  /** stratifier.c check_best_diff. */
  private checkBestDiff(user: UserState, worker: WorkerState, sdiff: number): BestShareNews | undefined {
    let ever = false;
    let bestWorker = false;
    let bestUser = false;
    if (sdiff > user.bestEver) {
      user.bestEver = sdiff;
      ever = true;
    }
    if (sdiff > worker.bestEver) {
      worker.bestEver = sdiff;
      ever = true;
    }
    if (sdiff > worker.bestDiff) {
      worker.bestDiff = sdiff;
      bestWorker = true;
    }
    if (sdiff > user.bestDiff) {
      user.bestDiff = sdiff;
      bestUser = true;
    }
    // Not a block (that would have reset the pool's best share to zero).
    if (bestUser && sdiff > this.bestDiff && (!(this.networkDiff > 0) || sdiff < this.networkDiff)) {
      this.bestDiff = sdiff;
    }
    if (!bestUser && !bestWorker) return undefined;
    return { ever, user: bestUser, worker: bestWorker, sdiff };
  }
}
