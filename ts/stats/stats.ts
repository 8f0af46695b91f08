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
 */
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { ensurePrivateDir } from '../safe-files.js';
import { basename, dirname, join } from 'node:path';
import { ckError, ckErrorCause, type CkpoolError } from '../errors.js';
import { NullLogger, stamp, type Logger } from '../log/logger.js';
import {
  DecayingRates,
  NONCES,
  POOL_PERIODS,
  SPS_PERIODS,
  USER_PERIODS,
  type PeriodName,
} from './decay.js';
import {
  WORKER_FILE_IDLE_SECONDS, blockSolvedLine, hr, userFields, userTree, type ClientState, type UserState, type WorkerState,
} from './documents.js';
import { J, dspsFromSuffixString, dumpJson, formatFixed, suffixString, toPlain } from './format.js';

export { WORKER_FILE_IDLE_SECONDS } from './documents.js';

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

/** A read-only view of one user's, worker's or client's figures. */
export interface RatesView {
  /** Diff-1 shares per second by period. */
  readonly dsps: Partial<Record<PeriodName, number>>;
  /** Hashes per second by period (dsps × 2^32). */
  readonly hashrate: Partial<Record<PeriodName, number>>;
  /** ms since the epoch; 0 = never. */
  readonly lastShare: number;
  readonly bestDiff: number;
}
export interface UserView extends RatesView {
  readonly name: string;
  readonly shares: number;
  readonly bestEver: number;
  readonly authorised: boolean;
  readonly authTime: number;
  /** Connected authorised clients. */
  readonly instances: number;
  readonly workers: readonly WorkerView[];
}
export interface WorkerView extends RatesView {
  readonly name: string;
  readonly user: string;
  readonly shares: number;
  readonly bestEver: number;
  readonly instances: number;
  readonly idle: boolean;
}
export interface ClientView extends RatesView {
  readonly id: number;
  readonly user: string;
  readonly worker: string;
  readonly authorisedAt: number;
  readonly idle: boolean;
}

/** Everything the control API needs, in plain numbers. */
export interface PoolSnapshot {
  readonly name: string;
  /** Seconds since start. */
  readonly runtime: number;
  /** Unix seconds. */
  readonly lastupdate: number;
  readonly users: number;
  readonly workers: number;
  readonly idle: number;
  readonly disconnected: number;
  /** Hashes per second by period. */
  readonly hashrate: Record<PeriodName, number>;
  readonly dsps: Record<PeriodName, number>;
  /** Shares (not diff) per second. */
  readonly sps: Record<'1m' | '5m' | '15m' | '1h', number>;
  /** Diff-weighted accepted shares since the last block (folded in by the 1.875 s tick). */
  readonly accepted: number;
  readonly rejected: number;
  /** Accepted share count since the last block. */
  readonly shares: number;
  readonly bestshare: number;
  readonly networkDiff: number;
  /** accepted / network diff × 100, rounded to 2 decimals. */
  readonly diffPercent: number;
  /** Not yet folded in by the tick. */
  readonly unaccounted: { readonly shares: number; readonly diff: number; readonly rejects: number };
}

/** Result of readBack(). */
export interface ReadBackResult {
  readonly pool: boolean;
  readonly users: number;
  readonly workers: number;
  /** Seconds the stats were decayed for (ckpool: now − lastupdate − 60, applied if > 60). */
  readonly decayedSeconds: number;
}

/** ckpool's stats tick: 32 per minute. */
export const TICK_MS = 1875;
/** A client/worker/user with no share for longer than this is idle (and decayed). */
export const IDLE_SECONDS = 60;

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

/** A user name that is safe as a file name under users/ (ckpool rejects '/' at authorise). */
function safeFileName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !name.startsWith('.') && !/[/\\\0]/.test(name);
}

export class PoolStats {
  readonly logdir: string;
  readonly name: string;
  readonly startedAt: number;
  private readonly logger: Logger;
  private readonly throbberOut: { write(s: string): unknown } | null;

  private readonly users = new Map<string, UserState>();
  private readonly clients = new Map<number, ClientState>();

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
  private dirsMade = false;
  private readonly warnedNames = new Set<string>();

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

  /** The three lines of pool.status (no newlines), exactly as ckpool writes them. */
  poolStatusLines(now: number): [string, string, string] {
    const l1 = dumpJson(J.obj([
      ['runtime', J.int(Math.max(0, sec(now - this.startedAt)))],
      ['lastupdate', J.int(sec(now))],
      ['Users', J.int(this.connectedUsers())],
      ['Workers', J.int(this.connectedWorkers())],
      ['Idle', J.int(this.idleClients(now))],
      ['Disconnected', J.int(this.disconnected)],
    ]));
    const l2 = dumpJson(J.obj([
      ['hashrate1m', hr(this.dsps, '1m')],
      ['hashrate5m', hr(this.dsps, '5m')],
      ['hashrate15m', hr(this.dsps, '15m')],
      ['hashrate1hr', hr(this.dsps, '1h')],
      ['hashrate6hr', hr(this.dsps, '6h')],
      ['hashrate1d', hr(this.dsps, '1d')],
      ['hashrate7d', hr(this.dsps, '7d')],
    ]));
    const l3 = dumpJson(J.obj([
      ['diff', J.real(this.percent())],
      ['accepted', J.int(this.accountedDiff)],
      ['rejected', J.int(this.accountedRejects)],
      ['bestshare', J.int(this.bestDiff)],
      ['SPS1m', J.real(this.sps.get('1m'))],
      ['SPS5m', J.real(this.sps.get('5m'))],
      ['SPS15m', J.real(this.sps.get('15m'))],
      ['SPS1h', J.real(this.sps.get('1h'))],
    ]), { precision: 3 });
    return [l1, l2, l3];
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

  /** ckpool's stdout throbber line (including its "\x1b[2K\r" prefix). */
  throbberLine(now: number): string {
    const ch = '|/-\\'[this.throbberCounter++ & 3];
    const hashrate = suffixString(this.dsps.get('1m') * NONCES, 3);
    const sdiff = this.accountedDiff;
    let line = `\x1b[2K\r${stamp(new Date(now))} ${ch} ${hashrate}H/s  ${formatFixed(this.sps.get('1m'), 1)} SPS  ` +
      `${this.connectedUsers()} users  ${this.connectedWorkers()} workers  ${formatFixed(sdiff, 0)} shares`;
    if (this.networkDiff > 0) line += `  ${formatFixed((sdiff / this.networkDiff) * 100, 1)}% diff`;
    return line;
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
      runtime: Math.max(0, sec(now - this.startedAt)),
      lastupdate: sec(now),
      users: this.connectedUsers(),
      workers: this.connectedWorkers(),
      idle: this.idleClients(now),
      disconnected: this.disconnected,
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
    const userDir = join(this.logdir, 'users');
    const poolDir = join(this.logdir, 'pool');
    let firstErr: CkpoolError | undefined;
    if (!this.dirsMade) {
      try {
        // ours and not writable by others: no file here can be a planted link
        ensurePrivateDir(userDir, 'users dir');
        ensurePrivateDir(poolDir, 'pool dir');
        this.dirsMade = true;
      } catch (e) {
        throw ckErrorCause('CKP_ERR_STATS_WRITE', e, this.logdir, (e as Error).message);
      }
    }

    for (const u of this.users.values()) {
      if (!u.authorised || !u.lastShare) continue;
      if (!safeFileName(u.name)) {
        if (!this.warnedNames.has(u.name)) {
          this.warnedNames.add(u.name);
          this.logger.warning(`Not writing stats for user ${JSON.stringify(u.name)}: not usable as a file name`);
        }
        continue;
      }
      if ((now - u.lastShare) / 1000 <= IDLE_SECONDS) {
        this.logger.notice(`User ${u.name}:${dumpJson(J.obj(userFields(u)), { compact: true })}`);
      }
      const text = `${dumpJson(userTree(u, now), { indent: 1, precision: 16 })}\n`;
      try {
        await atomicWrite(join(userDir, u.name), text);
      } catch (e) {
        const err = ckErrorCause('CKP_ERR_STATS_WRITE', e, join(userDir, u.name), (e as Error).message);
        this.logger.err(err.message);
        firstErr ??= err;
      }
    }

    const lines = this.poolStatusLines(now);
    for (const l of lines) this.logger.notice(`Pool:${l}`);
    const poolFile = join(poolDir, 'pool.status');
    try {
      await atomicWrite(poolFile, `${lines.join('\n')}\n`);
    } catch (e) {
      const err = ckErrorCause('CKP_ERR_STATS_WRITE', e, poolFile, (e as Error).message);
      this.logger.err(err.message);
      firstErr ??= err;
    }
    if (firstErr) throw firstErr;
  }

  /**
   * Restore pool and user stats from pool/pool.status and users/* at start-up (ckpool's
   * read_poolstats and read_userstats). If the files say the pool was down for more than
   * a minute, every average is decayed for that time (now − lastupdate − 60 s, as
   * ckpool). Users read back are not "authorised" until a client authorises as them
   * again, so their files are left alone until then. Problems are logged, never thrown.
   */
  async readBack(now: number): Promise<ReadBackResult> {
    let pool = false;
    let tvsecDiff = 0;
    const poolFile = join(this.logdir, 'pool', 'pool.status');
    let text: string | undefined;
    try {
      text = await readFile(poolFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') this.logger.info('Pool does not have a logfile to read');
      else this.logger.warning(ckErrorCause('CKP_ERR_STATS_READ', e, poolFile, (e as Error).message).message);
    }
    if (text !== undefined) {
      const r = this.readPoolStatus(poolFile, text, now);
      if (r !== undefined) {
        pool = true;
        tvsecDiff = r;
      }
    }

    let users = 0;
    let workers = 0;
    const userDir = join(this.logdir, 'users');
    let names: string[] = [];
    try {
      names = await readdir(userDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') this.logger.notice('No user directory found');
      else this.logger.warning(ckErrorCause('CKP_ERR_STATS_READ', e, userDir, (e as Error).message).message);
    }
    for (const name of names) {
      if (!safeFileName(name)) continue; // ".", "..", our temporary files
      const file = join(userDir, name);
      let body: string;
      let mtime: number;
      try {
        const st = await stat(file);
        if (!st.isFile()) continue;
        mtime = st.mtimeMs;
        body = await readFile(file, 'utf8');
      } catch (e) {
        this.logger.warning(ckErrorCause('CKP_ERR_STATS_READ', e, file, (e as Error).message).message);
        continue;
      }
      // Without a pool.status, judge the downtime by the file's own age.
      const downtime = pool ? tvsecDiff : sec(now) - sec(mtime) - 60;
      const n = this.readUserFile(name, file, body, now, downtime);
      if (n >= 0) {
        users++;
        workers += n;
      }
    }
    if (users) this.logger.warning(`Loaded ${users} users and ${workers} workers`);
    return { pool, users, workers, decayedSeconds: tvsecDiff > 60 ? tvsecDiff : 0 };
  }

  /** Returns the downtime in seconds (ckpool's tvsec_diff) or undefined if unusable. */
  private readPoolStatus(file: string, text: string, now: number): number | undefined {
    const lines = text.split('\n');
    if (lines.length < 4) {
      this.logger.info(ckError('CKP_ERR_STATS_PARSE', file, 'fewer than three lines').message);
      return undefined;
    }
    let l1: Record<string, unknown>, l2: Record<string, unknown>, l3: Record<string, unknown>;
    try {
      l1 = JSON.parse(lines[0]!);
      l2 = JSON.parse(lines[1]!);
      l3 = JSON.parse(lines[2]!);
      if (!l1 || !l2 || !l3 || typeof l1 !== 'object' || typeof l2 !== 'object' || typeof l3 !== 'object') throw new Error('not JSON objects');
    } catch (e) {
      this.logger.info(ckErrorCause('CKP_ERR_STATS_PARSE', e, file, (e as Error).message).message);
      return undefined;
    }
    const last = typeof l1.lastupdate === 'number' ? Math.trunc(l1.lastupdate) : 0;
    let tvsecDiff = 0;
    if (last) tvsecDiff = sec(now) - last - 60;
    // Added to what this process has counted itself: nothing at a plain start, the
    // shares of miners that already moved to us during a handover (readBack then runs
    // once the old process has written its final files; see ts/pool/start.ts).
    const dsps = new DecayingRates(this.dsps.periods);
    dsps.set('1m', dspsFromSuffixString(l2.hashrate1m));
    dsps.set('5m', dspsFromSuffixString(l2.hashrate5m));
    dsps.set('15m', dspsFromSuffixString(l2.hashrate15m));
    dsps.set('1h', dspsFromSuffixString(l2.hashrate1hr));
    dsps.set('6h', dspsFromSuffixString(l2.hashrate6hr));
    dsps.set('1d', dspsFromSuffixString(l2.hashrate1d));
    dsps.set('7d', dspsFromSuffixString(l2.hashrate7d));
    const sps = new DecayingRates(this.sps.periods);
    sps.set('1m', finiteNonNeg(l3.SPS1m));
    sps.set('5m', finiteNonNeg(l3.SPS5m));
    sps.set('15m', finiteNonNeg(l3.SPS15m));
    sps.set('1h', finiteNonNeg(l3.SPS1h));
    if (tvsecDiff > 60) {
      this.logger.notice(`Old pool stats indicate pool down for ${tvsecDiff} seconds, decaying stats`);
      sps.decayOver(0, tvsecDiff);
      dsps.decayOver(0, tvsecDiff);
    }
    addRates(this.dsps, dsps);
    addRates(this.sps, sps);
    this.accountedDiff += finiteNonNeg(l3.accepted);
    this.accountedRejects += finiteNonNeg(l3.rejected);
    this.bestDiff = Math.max(this.bestDiff, finiteNonNeg(l3.bestshare));
    return tvsecDiff;
  }

  /** Returns the number of workers restored, or -1 if the file was not used. */
  private readUserFile(username: string, file: string, body: string, now: number, downtime: number): number {
    let val: Record<string, unknown>;
    try {
      val = JSON.parse(body);
      if (!val || typeof val !== 'object' || Array.isArray(val)) throw new Error('not a JSON object');
    } catch (e) {
      this.logger.notice(ckErrorCause('CKP_ERR_STATS_PARSE', e, file, (e as Error).message).message);
      return -1;
    }
    // a user this process already has (a miner that moved to us during a handover):
    // the file's figures are added to ours, as for the pool above
    const u = this.getCreateUser(username, now);
    addRates(u.rates, userRatesFromFile(val, u.rates.periods, downtime));
    u.lastShare = Math.max(u.lastShare, finiteNonNeg(val.lastshare) * 1000);
    u.shares += finiteNonNeg(val.shares);
    u.bestDiff = Math.max(u.bestDiff, finiteNonNeg(val.bestshare));
    u.bestEver = Math.max(u.bestEver, finiteNonNeg(val.bestever), u.bestDiff);
    u.authTime ||= Math.trunc(finiteNonNeg(val.authorised));

    let workers = 0;
    const arr = Array.isArray(val.worker) ? val.worker : [];
    for (const item of arr) {
      const wv = item as Record<string, unknown>;
      const wname = wv && typeof wv === 'object' ? wv.workername : undefined;
      if (typeof wname !== 'string' || !wname.length || !wname.includes(username)) {
        this.logger.warning(`Invalid workername in read_userstats ${String(wname)}`);
        continue;
      }
      const w = this.getCreateWorker(u, wname, now);
      addRates(w.rates, userRatesFromFile(wv, w.rates.periods, downtime));
      w.lastShare = Math.max(w.lastShare, finiteNonNeg(wv.lastshare) * 1000);
      w.bestDiff = Math.max(w.bestDiff, finiteNonNeg(wv.bestshare));
      w.bestEver = Math.max(w.bestEver, finiteNonNeg(wv.bestever), w.bestDiff);
      w.shares += finiteNonNeg(wv.shares);
      workers++;
    }
    this.logger.info(`Successfully read user ${username} stats`);
    return workers;
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

let tmpCounter = 0;

/** Write `text` to `file` via a temporary file in the same directory and a rename. */
async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o640 });
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/**
 * The five hashrates of a user or worker entry of users/<user> (ckpool's suffixed
 * strings) as rates, decayed over `downtime` seconds when the pool was down over a minute.
 */
function userRatesFromFile(v: Record<string, unknown>, periods: DecayingRates['periods'], downtime: number): DecayingRates {
  const r = new DecayingRates(periods);
  r.set('1m', dspsFromSuffixString(v.hashrate1m));
  r.set('5m', dspsFromSuffixString(v.hashrate5m));
  r.set('1h', dspsFromSuffixString(v.hashrate1hr));
  r.set('1d', dspsFromSuffixString(v.hashrate1d));
  r.set('7d', dspsFromSuffixString(v.hashrate7d));
  if (downtime > 60) r.decayOver(0, downtime);
  return r;
}
