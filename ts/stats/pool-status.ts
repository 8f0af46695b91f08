/**
 * The pool-wide lines ckpool prints and writes: the three JSON lines of pool.status
 * (stratifier.c statsupdate) and the stdout throbber. Pure formatting of figures
 * PoolStats hands over, so the exact field order and rounding live in one place.
 */
import { stamp } from '../log/logger.js';
import { NONCES, type DecayingRates } from './decay.js';
import { hr } from './documents.js';
import { J, dumpJson, formatFixed, suffixString } from './format.js';
import type { PoolCounts } from './views.js';

/** The pool's figures at one moment, as pool.status reports them. */
export interface PoolStatusFigures extends PoolCounts {
  /** diff-1 shares per second, pool periods */
  readonly dsps: DecayingRates;
  /** shares per second */
  readonly sps: DecayingRates;
  /** accepted diff as a percentage of the network diff (0 when unknown) */
  readonly percent: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly bestshare: number;
}

/** The three lines of pool.status (no newlines), exactly as ckpool writes them. */
export function poolStatusLines(f: PoolStatusFigures): [string, string, string] {
  const l1 = dumpJson(J.obj([
    ['runtime', J.int(f.runtime)],
    ['lastupdate', J.int(f.lastupdate)],
    ['Users', J.int(f.users)],
    ['Workers', J.int(f.workers)],
    ['Idle', J.int(f.idle)],
    ['Disconnected', J.int(f.disconnected)],
  ]));
  const l2 = dumpJson(J.obj([
    ['hashrate1m', hr(f.dsps, '1m')],
    ['hashrate5m', hr(f.dsps, '5m')],
    ['hashrate15m', hr(f.dsps, '15m')],
    ['hashrate1hr', hr(f.dsps, '1h')],
    ['hashrate6hr', hr(f.dsps, '6h')],
    ['hashrate1d', hr(f.dsps, '1d')],
    ['hashrate7d', hr(f.dsps, '7d')],
  ]));
  const l3 = dumpJson(J.obj([
    ['diff', J.real(f.percent)],
    ['accepted', J.int(f.accepted)],
    ['rejected', J.int(f.rejected)],
    ['bestshare', J.int(f.bestshare)],
    ['SPS1m', J.real(f.sps.get('1m'))],
    ['SPS5m', J.real(f.sps.get('5m'))],
    ['SPS15m', J.real(f.sps.get('15m'))],
    ['SPS1h', J.real(f.sps.get('1h'))],
  ]), { precision: 3 });
  return [l1, l2, l3];
}

/**
 * ckpool's stdout throbber line (including its "\x1b[2K\r" prefix). `turn` picks the
 * spinner character; `shares` is the accepted diff since the last block.
 */
export function throbberLine(
  now: number, turn: number, f: { dsps: DecayingRates; sps: DecayingRates; users: number; workers: number; shares: number; networkDiff: number },
): string {
  const ch = '|/-\\'[turn & 3];
  const hashrate = suffixString(f.dsps.get('1m') * NONCES, 3);
  let line = `\x1b[2K\r${stamp(new Date(now))} ${ch} ${hashrate}H/s  ${formatFixed(f.sps.get('1m'), 1)} SPS  ` +
    `${f.users} users  ${f.workers} workers  ${formatFixed(f.shares, 0)} shares`;
  if (f.networkDiff > 0) line += `  ${formatFixed((f.shares / f.networkDiff) * 100, 1)}% diff`;
  return line;
}
