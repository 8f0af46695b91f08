/**
 * The read-only shapes PoolStats hands out (control API, HTTP API, tests): plain numbers,
 * no live state. Kept apart from stats.ts so readers of the figures need not load it.
 */
import type { PeriodName } from './decay.js';

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

/** The pool's clients and times at one moment: what pool.status and the snapshot both report. */
export interface PoolCounts {
  /** Seconds since start. */
  readonly runtime: number;
  /** Unix seconds. */
  readonly lastupdate: number;
  readonly users: number;
  readonly workers: number;
  readonly idle: number;
  readonly disconnected: number;
}

/** Everything the control API needs, in plain numbers. */
export interface PoolSnapshot extends PoolCounts {
  readonly name: string;
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
