/**
 * Variable difficulty, following ckpool's stratifier.c:add_submit (behaviour §7), with
 * fractional difficulties: sub-1 miners (CPUs, small ASICs) get sub-1 targets instead
 * of being stuck at 1.
 *
 * Per client: a 5-minute decaying average of diff-1 shares per second (dsps5), shares
 * since the last change (ssdc), the time of the first share (for the start-up bias),
 * and the last change time. The target is about 0.3 shares per second.
 */
import { decayTime } from '../stats/decay.js';
import { roundDiff } from './protocol.js';

export interface VardiffState {
  diff: number;
  /** diff in force for jobs sent before `diffChangeSeq` */
  oldDiff: number;
  /** first workbase seq the current diff applies to */
  diffChangeSeq: number;
  /** the miner's own floor (suggest_difficulty, highdiff port, password d=) or 0 */
  suggestDiff: number;
  dsps5: number;
  /** diff accumulated within 50 ms of the last decay (ckpool's uadiff batching) */
  uadiff: number;
  lastDecay: number;
  /** start of the rate measurement (client creation) */
  measureStart: number;
  lastDiffChange: number;
  ssdc: number;
}

export interface VardiffLimits {
  mindiff: number;
  /** 0 = none */
  maxdiff: number;
  /** network difficulty (a cap only when it is above mindiff: on regtest it is ~5e-10) */
  networkDiff: number;
}

export function newVardiff(diff: number, now: number): VardiffState {
  // The measurement starts now, not at the first share: ckpool starts its bias clock at
  // the first share, so a slow miner whose first share comes after 240 s has its rate
  // divided by a near-zero bias and its difficulty *raised* hundreds of times.
  return { diff, oldDiff: diff, diffChangeSeq: 0, suggestDiff: 0, dsps5: 0, uadiff: 0, lastDecay: now, measureStart: now, lastDiffChange: now, ssdc: 0 };
}

/**
 * When the client last sent a counted share (accepted, or stale but good: ckpool's
 * last_share), or was created if it has sent none: vardiff folds each counted share in
 * at once (shares within 50 ms are batched, so at most 50 ms early). What `dropidle`
 * measures idleness from.
 */
export function lastCountedShare(st: Pick<VardiffState, 'lastDecay'>): number {
  return st.lastDecay;
}

/** Clamp a wanted difficulty to the pool's and the miner's limits, in ckpool's order. */
export function clampDiff(want: number, st: Pick<VardiffState, 'suggestDiff'>, lim: VardiffLimits): number {
  let d = Math.max(want, lim.mindiff);
  if (st.suggestDiff > 0) d = Math.max(d, st.suggestDiff);
  if (lim.maxdiff > 0) d = Math.min(d, lim.maxdiff);
  if (lim.networkDiff > lim.mindiff) d = Math.min(d, lim.networkDiff);
  return d;
}

/**
 * Account a counted share (accepted, or stale-but-good) credited at `creditedDiff`.
 * Returns the new difficulty when it should change, else null; the caller applies it
 * with applyDiff (from the next job on).
 */
export function vardiffShare(st: VardiffState, creditedDiff: number, now: number, lim: VardiffLimits): number | null {
  // decay in whole steps; shares within 50 ms of the last step are batched
  const elapsed = (now - st.lastDecay) / 1000;
  if (elapsed < 0.05) {
    st.uadiff += creditedDiff;
  } else {
    st.dsps5 = decayTime(st.dsps5, st.uadiff + creditedDiff, elapsed, 300);
    st.uadiff = 0;
    st.lastDecay = now;
  }
  st.ssdc++;
  const sinceChange = (now - st.lastDiffChange) / 1000;
  if (st.ssdc < 72 && sinceChange < 240) return null;
  if (creditedDiff !== st.diff) {
    // a share from before the last change says nothing about the current rate
    st.ssdc = 0;
    return null;
  }
  const bias = 1 - Math.exp(-Math.max(now - st.measureStart, 1) / 1000 / 300);
  const dsps = st.dsps5 / bias;
  const drr = dsps / st.diff;
  if (drr > 0.15 && drr < 0.4) return null;
  let optimal: number;
  if (st.suggestDiff > 0) {
    if (drr < 0.5) return null;
    optimal = dsps * 2.4;
  } else {
    optimal = dsps * 3.33;
  }
  optimal = roundDiff(clampDiff(optimal, st, lim));
  if (!(optimal > 0) || optimal === st.diff) return null;
  if (optimal < st.diff && st.ssdc === 1) {
    // first share after a quiet spell: don't drop the diff on one data point
    st.lastDiffChange = now;
    return null;
  }
  return optimal;
}

/**
 * Apply a new difficulty. Jobs already sent keep the difficulty they were sent with
 * (`oldDiff`); `lastSentSeq` is the newest job this client has been sent.
 */
export function applyDiff(st: VardiffState, diff: number, now: number, nextSeq: number, lastSentSeq: number): void {
  // Only jobs sent since the previous change carry the current diff; if none was sent,
  // the older jobs still carry oldDiff.
  if (lastSentSeq >= st.diffChangeSeq) st.oldDiff = st.diff;
  st.diff = diff;
  st.diffChangeSeq = nextSeq;
  st.ssdc = 0;
  st.lastDiffChange = now;
}

/** The difficulty a share on job `seq` is judged and credited at. */
export function creditedDiff(st: VardiffState, seq: number): number {
  return seq < st.diffChangeSeq ? st.oldDiff : st.diff;
}
