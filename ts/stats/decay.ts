/**
 * ckpool's exponentially decaying share rates (libckpool.c `decay_time`, stratifier.c
 * `decay_client/worker/user`).
 *
 * A rate is "diff-1 shares per second" (dsps) averaged over a period; the hashrate is
 * dsps × 2^32. Every update folds the diff submitted since the last update into each
 * average:
 *
 *   f = (f + diff/Δt · (1 − e^(−Δt/period))) / (1 + (1 − e^(−Δt/period)))
 *
 * with Δt/period capped at 36 and results below 2e-16 flushed to 0. Updates that come
 * within 50 ms of the previous one are only accumulated (ckpool's `uadiff`) and folded
 * in at the next update, so a burst of shares is not averaged over tiny intervals.
 *
 * All times are passed in (milliseconds since the epoch); nothing here reads a clock.
 */
import { suffixString } from './format.js';

export { suffixString } from './format.js';

/** Seconds in each averaging period, by the names ckpool uses in its files. */
export const PERIOD_SECONDS = {
  '1m': 60,
  '5m': 300,
  '15m': 900,
  '1h': 3600,
  '6h': 21600,
  '1d': 86400,
  '7d': 604800,
} as const;
export type PeriodName = keyof typeof PERIOD_SECONDS;

/** The periods ckpool keeps per client, worker and user (dsps1/5/60/1440/10080). */
export const USER_PERIODS: readonly PeriodName[] = ['1m', '5m', '1h', '1d', '7d'];
/** The pool's diff-rate periods (dsps1 … dsps10080). */
export const POOL_PERIODS: readonly PeriodName[] = ['1m', '5m', '15m', '1h', '6h', '1d', '7d'];
/** The pool's share-count (SPS) periods. */
export const SPS_PERIODS: readonly PeriodName[] = ['1m', '5m', '15m', '1h'];

/** Hashes per diff-1 share. */
export const NONCES = 4294967296;

/** Updates closer together than this (seconds) are batched (ckpool: 20 per second at most). */
export const BATCH_SECONDS = 0.05;

/** libckpool.c `decay_time`, exactly: returns the new value of `f`. */
export function decayTime(f: number, diffAdded: number, intervalSec: number, periodSec: number): number {
  if (!(intervalSec > 0)) return f;
  let dexp = intervalSec / periodSec;
  // Sanity bound on how large the denominator can get
  if (dexp > 36) dexp = 36;
  const fprop = 1.0 - 1 / Math.exp(dexp);
  const ftotal = 1.0 + fprop;
  f += (diffAdded / intervalSec) * fprop;
  f /= ftotal;
  // Prevent meaningless tiny numbers that would underflow the JSON real output
  if (f < 2e-16) f = 0;
  return f;
}

/** libckpool.c `sane_tdiff`: seconds from start to end (ms), at least 0.001. */
export function saneTdiff(endMs: number, startMs: number): number {
  const t = (endMs - startMs) / 1000;
  return t < 0.001 ? 0.001 : t;
}

/** Hashes per second for a diff-1-shares-per-second rate. */
export function hashrateFromDsps(dsps: number): number {
  return dsps * NONCES;
}

/** ckpool's hashrate string for a dsps value ("31.5M"). */
export function hashrateString(dsps: number): string {
  return suffixString(dsps * NONCES, 0);
}

/** A set of decaying averages over several periods, updated like ckpool's decay_* functions. */
export class DecayingRates {
  readonly periods: readonly PeriodName[];
  private readonly values: Float64Array;
  /** Diff received within 50 ms of the last update, not yet folded in (ckpool's uadiff). */
  uadiff = 0;
  /** When the averages were last updated (ms). */
  lastDecay: number;

  /**
   * @param lastDecay the time the averaging starts from (ms). ckpool leaves this at 0
   *   (1970), which makes the first share's contribution negligible; we start it when
   *   the client/worker/user is created.
   */
  constructor(periods: readonly PeriodName[] = USER_PERIODS, lastDecay = 0) {
    this.periods = periods;
    this.values = new Float64Array(periods.length);
    this.lastDecay = lastDecay;
  }

  /** Fold in `diff` submitted at `now` (ms), batching updates < 50 ms apart. */
  add(diff: number, now: number): void {
    const tdiff = saneTdiff(now, this.lastDecay);
    if (tdiff < BATCH_SECONDS) {
      this.uadiff += diff;
      return;
    }
    this.lastDecay = now;
    const total = diff + this.uadiff;
    this.uadiff = 0;
    this.decayOver(total, tdiff);
  }

  /** Decay towards zero up to `now` (ckpool calls decay_*(x, 0, now) for idle miners). */
  decay(now: number): void {
    this.add(0, now);
  }

  /** Fold `diff` in over exactly `intervalSec` seconds, with no batching and no clock. */
  decayOver(diff: number, intervalSec: number): void {
    for (let i = 0; i < this.periods.length; i++) {
      this.values[i] = decayTime(this.values[i]!, diff, intervalSec, PERIOD_SECONDS[this.periods[i]!]);
    }
  }

  /** The average for `period` in diff-1 shares per second (0 if not tracked). */
  get(period: PeriodName): number {
    const i = this.periods.indexOf(period);
    return i < 0 ? 0 : this.values[i]!;
  }

  /** Set one average (used when reading stats back). */
  set(period: PeriodName, value: number): void {
    const i = this.periods.indexOf(period);
    if (i >= 0) this.values[i] = Number.isFinite(value) && value > 0 ? value : 0;
  }

  /** Hashes per second over `period`. */
  hashrate(period: PeriodName): number {
    return this.get(period) * NONCES;
  }

  /** All averages by period name. */
  toObject(): Partial<Record<PeriodName, number>> {
    const o: Partial<Record<PeriodName, number>> = {};
    this.periods.forEach((p, i) => { o[p] = this.values[i]!; });
    return o;
  }

  /** Zero every average (and the batch). */
  reset(): void {
    this.values.fill(0);
    this.uadiff = 0;
  }
}
