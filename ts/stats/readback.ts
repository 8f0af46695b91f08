/**
 * Reading ckpool's stats files back at start-up (stratifier.c: read_poolstats,
 * read_userstats): `<logdir>/pool/pool.status` and `<logdir>/users/*` parsed into plain
 * figures, already decayed for the downtime. PoolStats.readBack adds them to its own.
 *
 * Where this differs from ckpool on purpose: users and workers are really decayed for
 * the downtime (ckpool's read_userstats sets last_decay = now right before decay_user,
 * which makes the decay a no-op).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ckError, ckErrorCause } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { DecayingRates, POOL_PERIODS, SPS_PERIODS, USER_PERIODS } from './decay.js';
import { dspsFromSuffixString } from './format.js';

/** pool/pool.status as read back. */
export interface PoolFileFigures {
  /** ckpool's tvsec_diff: now − lastupdate − 60 s (0 without a lastupdate). */
  readonly downtime: number;
  readonly dsps: DecayingRates;
  readonly sps: DecayingRates;
  readonly accepted: number;
  readonly rejected: number;
  readonly bestshare: number;
}

/** One worker entry of users/<user> as read back. */
export interface WorkerFileFigures {
  readonly name: string;
  readonly rates: DecayingRates;
  /** ms since the epoch. */
  readonly lastShare: number;
  readonly shares: number;
  readonly bestDiff: number;
  readonly bestEver: number;
}

/** users/<user> as read back. */
export interface UserFileFigures extends WorkerFileFigures {
  /** Unix seconds of the first authorisation. */
  readonly authTime: number;
  readonly workers: readonly WorkerFileFigures[];
}

export interface StatsFiles {
  readonly pool?: PoolFileFigures;
  readonly users: readonly UserFileFigures[];
}

const sec = (ms: number): number => Math.floor(ms / 1000);

function finiteNonNeg(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : 0;
}

/** A user name that is safe as a file name under users/ (ckpool rejects '/' at authorise). */
export function safeFileName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !name.startsWith('.') && !/[/\\\0]/.test(name);
}

/**
 * Read pool/pool.status and users/* under `logdir`. Missing files are normal (a first
 * start); unreadable or malformed ones are logged and skipped, never thrown.
 */
export async function readStatsFiles(logdir: string, logger: Logger, now: number): Promise<StatsFiles> {
  let pool: PoolFileFigures | undefined;
  const poolFile = join(logdir, 'pool', 'pool.status');
  let text: string | undefined;
  try {
    text = await readFile(poolFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') logger.info('Pool does not have a logfile to read');
    else logger.warning(ckErrorCause('CKP_ERR_STATS_READ', e, poolFile, (e as Error).message).message);
  }
  if (text !== undefined) pool = parsePoolStatus(poolFile, text, now, logger);

  const users: UserFileFigures[] = [];
  const userDir = join(logdir, 'users');
  let names: string[] = [];
  try {
    names = await readdir(userDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') logger.notice('No user directory found');
    else logger.warning(ckErrorCause('CKP_ERR_STATS_READ', e, userDir, (e as Error).message).message);
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
      logger.warning(ckErrorCause('CKP_ERR_STATS_READ', e, file, (e as Error).message).message);
      continue;
    }
    // Without a pool.status, judge the downtime by the file's own age.
    const downtime = pool ? pool.downtime : sec(now) - sec(mtime) - 60;
    const u = parseUserFile(name, file, body, downtime, logger);
    if (u) users.push(u);
  }
  return { pool, users };
}

/** pool/pool.status's three lines, or undefined (logged) if unusable. */
export function parsePoolStatus(file: string, text: string, now: number, logger: Logger): PoolFileFigures | undefined {
  const lines = text.split('\n');
  if (lines.length < 4) {
    logger.info(ckError('CKP_ERR_STATS_PARSE', file, 'fewer than three lines').message);
    return undefined;
  }
  let l1: Record<string, unknown>, l2: Record<string, unknown>, l3: Record<string, unknown>;
  try {
    l1 = JSON.parse(lines[0]!);
    l2 = JSON.parse(lines[1]!);
    l3 = JSON.parse(lines[2]!);
    if (!l1 || !l2 || !l3 || typeof l1 !== 'object' || typeof l2 !== 'object' || typeof l3 !== 'object') throw new Error('not JSON objects');
  } catch (e) {
    logger.info(ckErrorCause('CKP_ERR_STATS_PARSE', e, file, (e as Error).message).message);
    return undefined;
  }
  const last = typeof l1.lastupdate === 'number' ? Math.trunc(l1.lastupdate) : 0;
  const downtime = last ? sec(now) - last - 60 : 0;
  const dsps = new DecayingRates(POOL_PERIODS);
  dsps.set('1m', dspsFromSuffixString(l2.hashrate1m));
  dsps.set('5m', dspsFromSuffixString(l2.hashrate5m));
  dsps.set('15m', dspsFromSuffixString(l2.hashrate15m));
  dsps.set('1h', dspsFromSuffixString(l2.hashrate1hr));
  dsps.set('6h', dspsFromSuffixString(l2.hashrate6hr));
  dsps.set('1d', dspsFromSuffixString(l2.hashrate1d));
  dsps.set('7d', dspsFromSuffixString(l2.hashrate7d));
  const sps = new DecayingRates(SPS_PERIODS);
  sps.set('1m', finiteNonNeg(l3.SPS1m));
  sps.set('5m', finiteNonNeg(l3.SPS5m));
  sps.set('15m', finiteNonNeg(l3.SPS15m));
  sps.set('1h', finiteNonNeg(l3.SPS1h));
  if (downtime > 60) {
    logger.notice(`Old pool stats indicate pool down for ${downtime} seconds, decaying stats`);
    sps.decayOver(0, downtime);
    dsps.decayOver(0, downtime);
  }
  return {
    downtime,
    dsps,
    sps,
    accepted: finiteNonNeg(l3.accepted),
    rejected: finiteNonNeg(l3.rejected),
    bestshare: finiteNonNeg(l3.bestshare),
  };
}

/** users/<user>, or undefined (logged) if the file is not a JSON object. */
export function parseUserFile(username: string, file: string, body: string, downtime: number, logger: Logger): UserFileFigures | undefined {
  let val: Record<string, unknown>;
  try {
    val = JSON.parse(body);
    if (!val || typeof val !== 'object' || Array.isArray(val)) throw new Error('not a JSON object');
  } catch (e) {
    logger.notice(ckErrorCause('CKP_ERR_STATS_PARSE', e, file, (e as Error).message).message);
    return undefined;
  }
  const workers: WorkerFileFigures[] = [];
  const arr = Array.isArray(val.worker) ? val.worker : [];
  for (const item of arr) {
    const wv = item as Record<string, unknown>;
    const wname = wv && typeof wv === 'object' ? wv.workername : undefined;
    if (typeof wname !== 'string' || !wname.length || !wname.includes(username)) {
      logger.warning(`Invalid workername in read_userstats ${String(wname)}`);
      continue;
    }
    workers.push({ name: wname, ...entryFigures(wv, downtime) });
  }
  logger.info(`Successfully read user ${username} stats`);
  return {
    name: username,
    ...entryFigures(val, downtime),
    authTime: Math.trunc(finiteNonNeg(val.authorised)),
    workers,
  };
}

/** The figures a user entry and its worker entries share. */
function entryFigures(v: Record<string, unknown>, downtime: number): Omit<WorkerFileFigures, 'name'> {
  const bestDiff = finiteNonNeg(v.bestshare);
  return {
    rates: userRatesFromFile(v, downtime),
    lastShare: finiteNonNeg(v.lastshare) * 1000,
    shares: finiteNonNeg(v.shares),
    bestDiff,
    bestEver: Math.max(finiteNonNeg(v.bestever), bestDiff),
  };
}

/**
 * The five hashrates of a user or worker entry of users/<user> (ckpool's suffixed
 * strings) as rates, decayed over `downtime` seconds when the pool was down over a minute.
 */
function userRatesFromFile(v: Record<string, unknown>, downtime: number): DecayingRates {
  const r = new DecayingRates(USER_PERIODS);
  r.set('1m', dspsFromSuffixString(v.hashrate1m));
  r.set('5m', dspsFromSuffixString(v.hashrate5m));
  r.set('1h', dspsFromSuffixString(v.hashrate1hr));
  r.set('1d', dspsFromSuffixString(v.hashrate1d));
  r.set('7d', dspsFromSuffixString(v.hashrate7d));
  if (downtime > 60) r.decayOver(0, downtime);
  return r;
}
