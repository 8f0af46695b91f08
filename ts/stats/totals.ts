/**
 * Share counters since the process started: never reset (a block starts a new round for
 * ckpool's pool.status counters, not for these), so Prometheus can take rates of them
 * (ts/metrics). PoolStats owns one; every share of the pool passes through its addShare
 * on the main thread (worker threads' shares are replayed there), so counting here is
 * exact and costs a few additions per share.
 */

/** Reject reasons as the stratifier names them (ts/pool/protocol.ts RejectKind), plus a catch-all. */
export type RejectKey = 'INVALID_JOB' | 'STALE' | 'NTIME' | 'VERSION' | 'DUPLICATE' | 'ABOVE_TARGET' | 'OTHER';

const KEYS: readonly RejectKey[] = ['INVALID_JOB', 'STALE', 'NTIME', 'VERSION', 'DUPLICATE', 'ABOVE_TARGET', 'OTHER'];

export class ShareTotals {
  accepted = 0;
  /** Sum of the credited difficulty of accepted shares. */
  acceptedDiff = 0;
  rejected = 0;
  rejectedDiff = 0;
  readonly #byReason = new Map<string, number>(KEYS.map((k) => [k, 0]));

  /** One judged share. `reason` is the stratifier's reject kind; anything unknown counts as OTHER. */
  add(accepted: boolean, diff: number, reason: string | undefined): void {
    if (accepted) {
      this.accepted++;
      this.acceptedDiff += diff;
      return;
    }
    this.rejected++;
    this.rejectedDiff += diff;
    const key = reason !== undefined && this.#byReason.has(reason) ? reason : 'OTHER';
    this.#byReason.set(key, this.#byReason.get(key)! + 1);
  }

  /** Rejected share counts by reason (every reason present, zeros included). */
  rejectedByReason(): ReadonlyMap<string, number> {
    return this.#byReason;
  }
}
