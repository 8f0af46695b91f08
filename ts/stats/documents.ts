/**
 * The per-user, per-worker and per-client state PoolStats keeps, and the documents
 * rendered from it: the users/<user> file (ckpool's statsupdate: user fields plus a
 * worker array) and the "Block solved after …" line. Kept apart from stats.ts, which
 * does the accounting, so that what the files and logs say is in one place.
 */
import { NONCES, type DecayingRates, type PeriodName } from './decay.js';
import { J, formatFixed, formatG, suffixString, type JVal } from './format.js';

export interface UserState {
  readonly name: string;
  readonly rates: DecayingRates;
  /** Diff-weighted accepted shares. */
  shares: number;
  /** Best share since the last block. */
  bestDiff: number;
  bestEver: number;
  /** ms; 0 = never. */
  lastShare: number;
  /** Has this user authorised since start-up (users read back are not, until they do). */
  authorised: boolean;
  /** Unix seconds of the first authorisation; kept across restarts. */
  authTime: number;
  /** Connected authorised clients. */
  instances: number;
  readonly workers: Map<string, WorkerState>;
}

export interface WorkerState {
  readonly name: string;
  readonly user: UserState;
  readonly rates: DecayingRates;
  shares: number;
  bestDiff: number;
  bestEver: number;
  lastShare: number;
  instances: number;
  idle: boolean;
}

export interface ClientState {
  readonly id: number;
  readonly user: UserState;
  readonly worker: WorkerState;
  readonly authorisedAt: number;
  readonly rates: DecayingRates;
  lastShare: number;
  bestDiff: number;
  idle: boolean;
}

/** A client/worker/user with no share for longer than this is idle (and decayed). */
export const IDLE_SECONDS = 60;

/** Workers idle longer than this are left out of the user files. */
export const WORKER_FILE_IDLE_SECONDS = 600000;

const sec = (ms: number): number => Math.floor(ms / 1000);

/** A hashrate as ckpool writes it: a suffixed string ("31.5M"). */
export const hr = (r: DecayingRates, p: PeriodName): JVal => J.str(suffixString(r.get(p) * NONCES, 0));

/** ckpool's five hashrate fields of a user or worker, in its order. */
function hashrates(r: DecayingRates): Array<[string, JVal]> {
  return [
    ['hashrate1m', hr(r, '1m')],
    ['hashrate5m', hr(r, '5m')],
    ['hashrate1hr', hr(r, '1h')],
    ['hashrate1d', hr(r, '1d')],
    ['hashrate7d', hr(r, '7d')],
  ];
}

/** The user fields of users/<user>, in ckpool's order. */
export function userFields(u: UserState): Array<[string, JVal]> {
  return [
    ...hashrates(u.rates),
    ['lastshare', J.int(sec(u.lastShare))],
    ['workers', J.int(u.instances)],
    ['shares', J.int(u.shares)],
    ['bestshare', J.real(u.bestDiff)],
    ['bestever', J.int(u.bestEver)],
    ['authorised', J.int(u.authTime)],
  ];
}

/**
 * The users/<user> document. As in ckpool, workers with no share for over a week
 * (which includes one that never shared) are left out; `connected: true` keeps the
 * ones with a connected client anyway, for the control socket, where a miner that has
 * just authorised is a worker all the same.
 */
export function userTree(u: UserState, now: number, opts: { connected?: boolean } = {}): JVal {
  const workers: JVal[] = [];
  for (const w of u.workers.values()) {
    const keep = (now - w.lastShare) / 1000 <= WORKER_FILE_IDLE_SECONDS || (opts.connected === true && w.instances > 0);
    if (!keep) continue;
    workers.push(J.obj([
      ['workername', J.str(w.name)],
      ...hashrates(w.rates),
      ['lastshare', J.int(sec(w.lastShare))],
      ['shares', J.int(w.shares)],
      ['bestshare', J.real(w.bestDiff)],
      ['bestever', J.int(w.bestEver)],
    ]));
  }
  return J.obj([...userFields(u), ['worker', J.arr(workers)]]);
}

/** `%.{n}g` without C's exponent padding quirks mattering: 0.001 → "0.001", 1234.5678 → "1234.57". */
const sig = (x: number, n: number): string => formatG(x, n);

/**
 * ckpool's block_solve line, "Block solved after %.0f shares at %.1f%% diff", made
 * readable when difficulties are fractional: the diff-weighted share count keeps six
 * significant digits instead of rounding to "0", and when the round took more than
 * 100 times the network difficulty (regtest: network diff ~4.7e-10, so one share of
 * diff 0.001 is two million times it) the percentage is given as a multiple of the
 * network difficulty, with that difficulty, instead of "214751616.0%".
 */
export function blockSolvedLine(acceptedDiff: number, networkDiff: number): string {
  const shares = Number.isInteger(acceptedDiff) ? formatFixed(acceptedDiff, 0) : sig(acceptedDiff, 6);
  if (!(networkDiff > 0)) return `Block solved after ${shares} shares`;
  const pct = (acceptedDiff * 100) / networkDiff;
  if (pct < 10000) return `Block solved after ${shares} shares at ${formatFixed(pct, 1)}% diff`;
  const times = pct / 100;
  return `Block solved after ${shares} shares at ${times < 1e15 ? formatFixed(times, 0) : sig(times, 4)}× the network diff (${sig(networkDiff, 4)})`;
}
