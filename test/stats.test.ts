import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecayingRates,
  NONCES,
  PoolStats,
  ShareLog,
  decayTime,
  dspsFromSuffixString,
  formatCreatedate,
  formatFixed,
  formatG,
  hashrateFromDsps,
  janssonReal,
  shareLogPath,
  suffixString,
  type ShareLogEntry,
} from '../ts/stats/index.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { StatsForwarder, replayStats } from '../ts/stats/forward.js';
import type { StatsSink } from '../ts/stats/stats.js';

/** A fresh temporary directory, removed when the test ends. */
function tempDir(t: ExecutionContext, prefix = 'ckp-stats-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Relative closeness for floating point results. */
function close(t: ExecutionContext, actual: number, expected: number, rel = 1e-12, msg?: string): void {
  const ok = expected === 0 ? Math.abs(actual) < 1e-300 : Math.abs(actual - expected) / Math.abs(expected) <= rel;
  t.true(ok, `${msg ?? ''} expected ${expected}, got ${actual}`);
}

const T0 = 1795464000_000; // ms
const PERIOD = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '6h': 21600, '1d': 86400, '7d': 604800 } as const;

// ---------------------------------------------------------------------------
// formatting

test('suffixString matches libckpool suffix_string (values checked against the C code)', (t) => {
  const cases: Array<[number, number, string]> = [
    [0, 0, '0'], [1, 0, '1'], [999, 0, '999'], [999.9, 0, '999'], [0.5, 0, '0'],
    [1000, 0, '1K'], [2500, 0, '2.5K'], [7100, 0, '7.1K'], [49700, 0, '49.7K'],
    [1160000, 0, '1.16M'], [31.5e6, 0, '31.5M'], [12345678, 0, '12.3M'],
    [999999.9, 0, '1e+03K'], // ckpool's %.3g rounds up past the unit boundary
    [1e18, 0, '1E'], [5e20, 0, '500E'],
    [0, 3, '0.00'], [1, 3, '1.00'], [999, 3, ' 999'], [999.9, 3, '1000'], [1000, 3, '1.00K'],
    [7100, 3, '7.10K'], [31.5e6, 3, '31.5M'], [0.5, 3, '0.500'], [5e20, 3, ' 500E'],
  ];
  for (const [v, sd, want] of cases) t.is(suffixString(v, sd), want, `suffix_string(${v}, ${sd})`);
});

test('printf %g / %f re-creation rounds like glibc (ties to even on the exact binary value)', (t) => {
  t.is(formatG(12.35, 3), '12.3'); // 12.35 is 12.3499999… in binary
  t.is(formatG(0.125, 2), '0.12'); // exact tie → even
  t.is(formatG(0.375, 2), '0.38');
  t.is(formatG(1234.5, 3), '1.23e+03');
  t.is(formatG(0.00001, 3), '1e-05');
  t.is(formatG(0, 3), '0');
  t.is(formatG(2.3600078616841889, 17), '2.3600078616841889');
  t.is(formatG(2.3600078616841889, 16), '2.360007861684189');
  t.is(formatFixed(2.5, 0), '2');
  t.is(formatFixed(3.5, 0), '4');
  t.is(formatFixed(0.05, 1), '0.1'); // 0.05 is slightly above .05 in binary
  t.is(formatFixed(-0.0001, 2), '-0.00');
  t.is(formatFixed(123.456, 1), '123.5');
});

test('janssonReal is jansson jsonp_dtostr', (t) => {
  t.is(janssonReal(0, 3), '0.0');
  t.is(janssonReal(12, 3), '12.0');
  t.is(janssonReal(1234.5, 3), '1.23e3');
  t.is(janssonReal(0.00001, 3), '1e-5');
  t.is(janssonReal(1e21), '1e21');
  t.is(janssonReal(1), '1.0');
  t.is(janssonReal(-1), '-1.0');
  t.is(janssonReal(2.3600078616841889), '2.3600078616841889');
  t.is(janssonReal(2.3600078616841889, 16), '2.360007861684189');
  t.is(janssonReal(0.1), '0.10000000000000001');
  t.is(janssonReal(NaN), '0.0');
});

test('dspsFromSuffixString parses ckpool hashrate strings back', (t) => {
  close(t, dspsFromSuffixString('31.5M') * NONCES, 31.5e6);
  close(t, dspsFromSuffixString('1.16M') * NONCES, 1.16e6);
  close(t, dspsFromSuffixString('7.1K') * NONCES, 7100);
  close(t, dspsFromSuffixString('1e+03K') * NONCES, 1e6);
  close(t, dspsFromSuffixString('877') * NONCES, 877);
  close(t, dspsFromSuffixString('2.5E') * NONCES, 2.5e18);
  t.is(dspsFromSuffixString('junk'), 0);
  t.is(dspsFromSuffixString(undefined), 0);
});

// ---------------------------------------------------------------------------
// decay

test('decayTime is libckpool decay_time', (t) => {
  const p = 1 - Math.exp(-10 / 60);
  close(t, decayTime(0, 4, 10, 60), ((4 / 10) * p) / (1 + p));
  close(t, decayTime(3, 0, 10, 60), 3 / (1 + p));
  // Δt/period is capped at 36
  close(t, decayTime(1, 0, 1e9, 60), 1 / (2 - Math.exp(-36)));
  // tiny values flush to zero; non-positive intervals change nothing
  t.is(decayTime(1e-16, 0, 1, 60), 0);
  t.is(decayTime(5, 100, 0, 60), 5);
  t.is(decayTime(5, 100, -1, 60), 5);
  t.is(hashrateFromDsps(1), 4294967296);
});

test('DecayingRates: constant share rate follows the closed form, 50 ms batching', (t) => {
  // One diff-d share every second from creation: f_n = d (1 − (1+p)^−n), p = 1 − e^(−1/P)
  const d = 3;
  const r = new DecayingRates(['1m', '5m', '1h', '1d', '7d'], T0);
  const n = 900;
  for (let k = 1; k <= n; k++) r.add(d, T0 + k * 1000);
  for (const name of ['1m', '5m', '1h', '1d', '7d'] as const) {
    const p = 1 - Math.exp(-1 / PERIOD[name]);
    const want = d * (1 - Math.pow(1 + p, -n));
    close(t, r.get(name), want, 1e-11, name);
    close(t, r.hashrate(name), want * 2 ** 32, 1e-11, name);
  }

  // Updates < 50 ms after the last one are held back and folded in at the next update.
  const b = new DecayingRates(['1m'], T0);
  b.add(1, T0 + 1000);
  const after1 = b.get('1m');
  b.add(5, T0 + 1020);
  t.is(b.get('1m'), after1);
  t.is(b.uadiff, 5);
  b.add(0, T0 + 2020);
  t.is(b.uadiff, 0);
  close(t, b.get('1m'), decayTime(after1, 5, 1.02, 60));
});

// ---------------------------------------------------------------------------
// PoolStats accounting

test('shares: diff-weighted accepted/rejected, SPS, hashrates against the closed form', (t) => {
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  s.setNetworkDiff(1e9);
  s.clientAuthorised('alice', 'alice.w1', 7, T0);
  const d = 2;
  const n = 600;
  let accepted = 0;
  let rejected = 0;
  for (let k = 1; k <= n; k++) {
    const now = T0 + k * 1000;
    const stale = k % 10 === 0; // stale but hashed above the workbase diff: counts for hashrate
    s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 7, diff: d, sdiff: 2.5, accepted: !stale, submitted: stale, now });
    if (stale) rejected += d; else accepted += d;
    // an above-target share half a second later: rejected, not submitted → no hashrate
    s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 7, diff: d, sdiff: 0.7, accepted: false, submitted: false, now: now + 500 });
    rejected += d;
  }
  const u = s.getUser('alice')!;
  t.is(u.shares, accepted);
  t.is(u.workers[0]!.shares, accepted);
  for (const name of ['1m', '5m', '1h', '1d', '7d'] as const) {
    const p = 1 - Math.exp(-1 / PERIOD[name]);
    const want = d * (1 - Math.pow(1 + p, -n));
    close(t, u.dsps[name]!, want, 1e-11, `user ${name}`);
    close(t, u.hashrate[name]!, want * 2 ** 32, 1e-11, `user ${name}`);
    close(t, u.workers[0]!.dsps[name]!, want, 1e-11, `worker ${name}`);
    close(t, s.getClient(7)!.dsps[name]!, want, 1e-11, `client ${name}`);
  }
  t.is(u.lastShare, T0 + n * 1000);

  // Nothing reaches the pool totals until the 1.875 s tick folds it in.
  t.is(s.snapshot(T0 + n * 1000).accepted, 0);
  s.tick(T0 + n * 1000 + 1000);
  const snap = s.snapshot(T0 + n * 1000 + 1000);
  t.is(snap.accepted, accepted);
  t.is(snap.rejected, rejected);
  t.is(snap.shares, n - n / 10);
  t.is(snap.users, 1);
  t.is(snap.workers, 1);
});

test('pool SPS and hashrate: 1.875 s ticks follow the closed form', (t) => {
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  s.clientAuthorised('bob', 'bob', 1, T0);
  const perTick = 3;
  const diffEach = 0.25; // sub-1 difficulty
  const ticks = 100;
  for (let j = 1; j <= ticks; j++) {
    for (let i = 0; i < perTick; i++) {
      s.addShare({ user: 'bob', worker: 'bob', clientId: 1, diff: diffEach, sdiff: 0.3, accepted: true, submitted: true, now: T0 + (j - 1) * 1875 + 100 + i * 300 });
    }
    s.tick(T0 + j * 1875);
  }
  const snap = s.snapshot(T0 + ticks * 1875);
  for (const name of ['1m', '5m', '15m', '1h'] as const) {
    const p = 1 - Math.exp(-1.875 / PERIOD[name]);
    const k = 1 - Math.pow(1 + p, -ticks);
    close(t, snap.sps[name], (perTick / 1.875) * k, 1e-11, `SPS${name}`);
    close(t, snap.hashrate[name], ((perTick * diffEach) / 1.875) * k * 2 ** 32, 1e-11, `hashrate ${name}`);
  }
  t.is(snap.accepted, perTick * diffEach * ticks);
  t.is(snap.shares, perTick * ticks);
});

test('best shares: per client/worker/user, pool best below network diff, block resets like ckpool', (t) => {
  const log = new MemoryLogger();
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0, logger: log });
  s.setNetworkDiff(100);
  s.clientAuthorised('carol', 'carol.a', 1, T0);
  s.clientAuthorised('carol', 'carol.b', 2, T0);
  const share = (clientId: number, worker: string, sdiff: number, accepted = true, at = 1000) =>
    s.addShare({ user: 'carol', worker, clientId, diff: 1, sdiff, accepted, submitted: accepted, now: T0 + at });

  let news = share(1, 'carol.a', 5.5);
  t.deepEqual(news, { ever: true, user: true, worker: true, sdiff: 5.5 });
  news = share(2, 'carol.b', 3.25);
  t.deepEqual(news, { ever: true, user: false, worker: true, sdiff: 3.25 });
  // a rejected (above target) but hashed share still counts for best diffs, as in ckpool
  news = share(2, 'carol.b', 4, false);
  t.deepEqual(news, { ever: true, user: false, worker: true, sdiff: 4 });
  t.is(share(1, 'carol.a', 2), undefined);
  // a block-level share does not become the pool's best share
  share(1, 'carol.a', 250);
  const snap = s.snapshot(T0 + 2000);
  t.is(snap.bestshare, 5.5);
  const u = s.getUser('carol')!;
  t.is(u.bestDiff, 250);
  t.is(u.bestEver, 250);
  t.is(s.getWorker('carol.b')!.bestDiff, 4);

  s.tick(T0 + 2000);
  t.is(s.snapshot(T0 + 2000).accepted, 4);
  const msg = s.blockFound(T0 + 2000, { workername: 'carol.a' });
  t.is(msg, 'Block solved after 4 shares at 4.0% diff');
  t.true(log.lines.some((l) => l.msg.startsWith('User carol:{"hashrate1m": ')));
  t.true(log.lines.some((l) => l.msg.startsWith('Worker carol.a:{"hashrate1m": ')));
  const after = s.snapshot(T0 + 2000);
  t.is(after.accepted, 0);
  t.is(after.rejected, 0);
  t.is(after.bestshare, 0);
  const u2 = s.getUser('carol')!;
  t.is(u2.bestDiff, 0);
  t.is(u2.bestEver, 250);
  t.is(s.getWorker('carol.a')!.bestDiff, 0);
  t.is(s.getClient(1)!.bestDiff, 0);
  t.is(u2.shares, 4); // user totals are not reset
});

// ---------------------------------------------------------------------------
// pool.status and users/<user>

test('pool.status: the §10.2 example state, byte for byte', (t) => {
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  s.clientAuthorised('alice', 'alice.w1', 1, T0);
  s.setDisconnectedSessions(2);
  for (let i = 0; i < 10; i++) {
    s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 1, diff: 2, sdiff: -1, accepted: false, submitted: false, now: T0 + 1000 + i });
  }
  s.tick(T0 + 1875);
  t.deepEqual(s.poolStatusLines(T0 + 120_000), [
    '{"runtime": 120, "lastupdate": 1795464120, "Users": 1, "Workers": 1, "Idle": 1, "Disconnected": 2}',
    '{"hashrate1m": "0", "hashrate5m": "0", "hashrate15m": "0", "hashrate1hr": "0", "hashrate6hr": "0", "hashrate1d": "0", "hashrate7d": "0"}',
    '{"diff": 0.0, "accepted": 0, "rejected": 20, "bestshare": 0, "SPS1m": 0.0, "SPS5m": 0.0, "SPS15m": 0.0, "SPS1h": 0.0}',
  ]);
});

test('pool.status: a busy state, byte for byte (values computed independently)', (t) => {
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  s.setNetworkDiff(1000);
  s.clientAuthorised('alice', 'alice.w1', 1, T0);
  s.clientAuthorised('bob', 'bob', 2, T0);
  // 10 accepted shares, 123.5 diff in all, one with sdiff 77.25
  for (let i = 0; i < 10; i++) {
    s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 1, diff: i < 9 ? 12 : 15.5, sdiff: i === 4 ? 77.25 : 20, accepted: true, submitted: true, now: T0 + 100 + i * 100 });
  }
  for (let i = 0; i < 10; i++) {
    s.addShare({ user: 'bob', worker: 'bob', clientId: 2, diff: 2, sdiff: 1, accepted: false, submitted: false, now: T0 + 1500 });
  }
  s.tick(T0 + 1875);
  // alice shared 59 s before "now", bob never: one idle client
  const lines = s.poolStatusLines(T0 + 60_000);
  t.deepEqual(lines, [
    '{"runtime": 60, "lastupdate": 1795464060, "Users": 2, "Workers": 2, "Idle": 1, "Disconnected": 0}',
    '{"hashrate1m": "8.44G", "hashrate5m": "1.75G", "hashrate15m": "588M", "hashrate1hr": "147M", "hashrate6hr": "24.6M", "hashrate1d": "6.14M", "hashrate7d": "877K"}',
    '{"diff": 12.3, "accepted": 123.5, "rejected": 20, "bestshare": 77.25, "SPS1m": 0.159, "SPS5m": 0.033, "SPS15m": 0.0111, "SPS1h": 0.00278}',
  ]);
  s.clientDisconnected('bob', 'bob', 2, T0 + 60_000);
  t.true(s.poolStatusLines(T0 + 60_000)[0].includes('"Users": 1, "Workers": 1, "Idle": 0'));
});

const ALICE_FILE = `{
 "hashrate1m": "229M",
 "hashrate5m": "54.5M",
 "hashrate1hr": "4.75M",
 "hashrate1d": "199K",
 "hashrate7d": "28.4K",
 "lastshare": 1795464010,
 "workers": 1,
 "shares": 4,
 "bestshare": 5.5,
 "bestever": 5.5,
 "authorised": 1795464000,
 "worker": [
  {
   "workername": "alice.w1",
   "hashrate1m": "229M",
   "hashrate5m": "54.5M",
   "hashrate1hr": "4.75M",
   "hashrate1d": "199K",
   "hashrate7d": "28.4K",
   "lastshare": 1795464010,
   "shares": 4,
   "bestshare": 5.5,
   "bestever": 5.5
  }
 ]
}
`;

function aliceState(logdir: string, logger?: MemoryLogger): PoolStats {
  const s = new PoolStats({ logdir, startedAt: T0, logger });
  s.clientAuthorised('alice', 'alice.w1', 1, T0);
  s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 1, diff: 4, sdiff: 5.5, accepted: true, submitted: true, now: T0 + 10_000 });
  // a user who authorised but never shared gets no file
  s.clientAuthorised('idler', 'idler.x', 2, T0);
  return s;
}

test('writeFiles: users/<user> pretty JSON (indent 1) and pool/pool.status, atomically', async (t) => {
  const dir = tempDir(t);
  const log = new MemoryLogger();
  const s = aliceState(dir, log);
  t.is(s.userFileText('alice', T0 + 30_000), ALICE_FILE);
  await s.writeFiles(T0 + 30_000);
  t.is(readFileSync(join(dir, 'users', 'alice'), 'utf8'), ALICE_FILE);
  t.deepEqual(readdirSync(join(dir, 'users')), ['alice']); // no idler, no temporary files
  t.deepEqual(readdirSync(join(dir, 'pool')), ['pool.status']);
  const status = readFileSync(join(dir, 'pool', 'pool.status'), 'utf8');
  t.is(status.split('\n').length, 4);
  t.true(status.startsWith('{"runtime": 30, "lastupdate": 1795464030, "Users": 2, "Workers": 2, "Idle": 1, "Disconnected": 0}\n'));
  t.true(status.endsWith('"SPS1h": 0.0}\n'));
  // the minute log lines, as ckpool's statsupdate
  t.true(log.lines.some((l) => l.msg === 'User alice:{"hashrate1m":"229M","hashrate5m":"54.5M","hashrate1hr":"4.75M","hashrate1d":"199K","hashrate7d":"28.4K","lastshare":1795464010,"workers":1,"shares":4,"bestshare":5.5,"bestever":5.5,"authorised":1795464000}'));
  t.is(log.lines.filter((l) => l.msg.startsWith('Pool:{')).length, 3);
  // userJson is the same document as an object
  t.deepEqual(s.userJson('alice', T0 + 30_000), JSON.parse(ALICE_FILE));
  t.is(s.userJson('nobody', T0), undefined);
});

test('writeFiles: idle users and workers decay, week-idle workers are left out', async (t) => {
  const dir = tempDir(t);
  const s = new PoolStats({ logdir: dir, startedAt: T0 });
  s.clientAuthorised('dave', 'dave.old', 1, T0);
  s.clientAuthorised('dave', 'dave.new', 2, T0);
  s.addShare({ user: 'dave', worker: 'dave.old', clientId: 1, diff: 8, sdiff: 9, accepted: true, submitted: true, now: T0 + 1000 });
  const later = T0 + 1000 + 700_000_000; // > 600000 s
  s.addShare({ user: 'dave', worker: 'dave.new', clientId: 2, diff: 8, sdiff: 9, accepted: true, submitted: true, now: later });
  const before = s.getUser('dave')!.dsps['1m']!;
  await s.writeFiles(later + 120_000);
  const doc = JSON.parse(readFileSync(join(dir, 'users', 'dave'), 'utf8'));
  t.deepEqual(doc.worker.map((w: { workername: string }) => w.workername), ['dave.new']);
  const after = s.getUser('dave')!.dsps['1m']!;
  close(t, after, decayTime(before, 0, 120, 60));
  t.true(s.getWorker('dave.new')!.idle);
});

test('readBack restores pool and user stats, decayed for the downtime', async (t) => {
  const dir = tempDir(t);
  const s = aliceState(dir);
  s.setNetworkDiff(1000);
  s.tick(T0 + 1875);
  await s.writeFiles(T0 + 30_000);
  const written = readFileSync(join(dir, 'pool', 'pool.status'), 'utf8').split('\n');
  const l2 = JSON.parse(written[1]!);

  // Down for an hour after the last write (+60 s, which ckpool does not count).
  const now = T0 + 30_000 + (3600 + 60) * 1000;
  const r = new PoolStats({ logdir: dir, startedAt: now });
  const res = await r.readBack(now);
  t.deepEqual(res, { pool: true, users: 1, workers: 1, decayedSeconds: 3600 });
  const snap = r.snapshot(now);
  for (const [name, key] of [['1m', 'hashrate1m'], ['1h', 'hashrate1hr'], ['7d', 'hashrate7d']] as const) {
    const p = 1 - Math.exp(-Math.min(3600 / PERIOD[name], 36));
    close(t, snap.dsps[name], dspsFromSuffixString(l2[key]) / (1 + p), 1e-12, name);
  }
  t.is(snap.accepted, 4);
  t.is(snap.bestshare, 5.5);
  const u = r.getUser('alice')!;
  t.false(u.authorised);
  t.is(u.shares, 4);
  t.is(u.bestDiff, 5.5);
  t.is(u.bestEver, 5.5);
  t.is(u.authTime, 1795464000);
  t.is(u.lastShare, 1795464010_000);
  const p1h = 1 - Math.exp(-1);
  close(t, u.dsps['1h']!, dspsFromSuffixString('4.75M') / (1 + p1h));
  close(t, u.workers[0]!.dsps['1h']!, dspsFromSuffixString('4.75M') / (1 + p1h));

  // Not written again until someone authorises as alice; then authorised time is kept.
  r.clientAuthorised('alice', 'alice.w1', 9, now);
  t.is(r.getUser('alice')!.authTime, 1795464000);
  t.is(r.getUser('alice')!.instances, 1);

  // A short restart (≤ 60 s beyond the minute) is not decayed.
  const quick = new PoolStats({ logdir: dir, startedAt: T0 + 100_000 });
  const q = await quick.readBack(T0 + 100_000);
  t.is(q.decayedSeconds, 0);
  close(t, quick.getUser('alice')!.dsps['1m']!, dspsFromSuffixString('229M'));
});

test('readBack copes with missing and damaged files', async (t) => {
  const dir = tempDir(t);
  const log = new MemoryLogger();
  const s = new PoolStats({ logdir: dir, startedAt: T0, logger: log });
  t.deepEqual(await s.readBack(T0), { pool: false, users: 0, workers: 0, decayedSeconds: 0 });

  mkdirSync(join(dir, 'pool'));
  mkdirSync(join(dir, 'users'));
  writeFileSync(join(dir, 'pool', 'pool.status'), 'not json\n');
  writeFileSync(join(dir, 'users', 'broken'), '{');
  writeFileSync(join(dir, 'users', '.hidden.tmp'), '{}');
  const old = JSON.parse(ALICE_FILE);
  old.worker.push({ workername: 'mallory.x', hashrate1m: '1G' });
  writeFileSync(join(dir, 'users', 'alice'), JSON.stringify(old));
  // no pool.status: the user file's own age decides the downtime
  const age = (T0 - 2 * 3600_000) / 1000;
  utimesSync(join(dir, 'users', 'alice'), age, age);
  const s2 = new PoolStats({ logdir: dir, startedAt: T0, logger: log });
  const res = await s2.readBack(T0);
  t.deepEqual(res, { pool: false, users: 1, workers: 1, decayedSeconds: 0 });
  t.true(log.lines.some((l) => l.msg.startsWith('ignoring stats file') && l.msg.includes('pool.status')));
  t.true(log.lines.some((l) => l.msg.startsWith('ignoring stats file') && l.msg.includes('broken')));
  t.true(log.lines.some((l) => l.msg.includes('Invalid workername in read_userstats mallory.x')));
  const p = 1 - Math.exp(-(7200 - 60) / 60);
  close(t, s2.getUser('alice')!.dsps['1m']!, dspsFromSuffixString('229M') / (1 + p));
});

test('writeFiles reports an unwritable logdir with CKP_ERR_STATS_WRITE', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const s = aliceState(file);
  const err = await t.throwsAsync(s.writeFiles(T0 + 30_000));
  t.is((err as { code?: string }).code, 'CKP_ERR_STATS_WRITE');
});

test('user names that are not safe file names are never written', async (t) => {
  const dir = tempDir(t);
  const log = new MemoryLogger();
  const s = new PoolStats({ logdir: dir, startedAt: T0, logger: log });
  s.clientAuthorised('../evil', '../evil.x', 1, T0);
  s.addShare({ user: '../evil', worker: '../evil.x', clientId: 1, diff: 1, sdiff: 1, accepted: true, submitted: true, now: T0 + 1000 });
  await s.writeFiles(T0 + 2000);
  t.deepEqual(readdirSync(join(dir, 'users')), []);
  t.false(existsSync(join(dir, 'evil')));
  t.true(log.lines.some((l) => l.msg.includes('not usable as a file name')));
});

test('idle clients, minute decay of clients, forgetting users that never shared', (t) => {
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  s.clientAuthorised('erin', 'erin.1', 1, T0);
  s.clientAuthorised('ghost', 'ghost', 2, T0);
  s.addShare({ user: 'erin', worker: 'erin.1', clientId: 1, diff: 1, sdiff: 1, accepted: true, submitted: true, now: T0 + 1000 });
  t.is(s.idleClients(T0 + 61_000), 1); // ghost never shared
  t.is(s.idleClients(T0 + 61_001), 2);
  const before = s.clientDsps(1, '5m');
  s.minuteUpdate(T0 + 200_000);
  close(t, s.clientDsps(1, '5m'), decayTime(before, 0, 199, 300));
  s.clientDisconnected('ghost', 'ghost', 2, T0 + 200_000);
  s.minuteUpdate(T0 + 260_000);
  t.deepEqual(s.userNames(), ['erin']);
});

test('throbber line and snapshot', (t) => {
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  s.clientAuthorised('alice', 'alice.w1', 1, T0);
  const a = s.throbberLine(T0);
  t.regex(a, /^\x1b\[2K\r\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \| 0\.00H\/s {2}0\.0 SPS {2}1 users {2}1 workers {2}0 shares$/);
  t.true(s.throbberLine(T0).includes('] / '));
  t.true(s.throbberLine(T0).includes('] - '));
  t.true(s.throbberLine(T0).includes('] \\ '));
  s.setNetworkDiff(200);
  for (let i = 0; i < 5; i++) s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 1, diff: 1, sdiff: 2, accepted: true, submitted: true, now: T0 + i * 100 });
  s.tick(T0 + 1875);
  const line = s.throbberLine(T0 + 2000);
  t.regex(line, /\] \| +[\d.]+[KMGTPE]?H\/s {2}0\.1 SPS {2}1 users {2}1 workers {2}5 shares {2}2\.5% diff$/);
  const snap = s.snapshot(T0 + 2000);
  t.is(snap.runtime, 2);
  t.is(snap.diffPercent, 2.5);
  t.is(snap.networkDiff, 200);
  t.deepEqual(snap.unaccounted, { shares: 0, diff: 0, rejects: 0 });
});

test('start/stop: timers write the files and stop() flushes once more', async (t) => {
  const dir = tempDir(t);
  const s = new PoolStats({ logdir: dir });
  s.clientAuthorised('alice', 'alice.w1', 1, Date.now());
  s.addShare({ user: 'alice', worker: 'alice.w1', clientId: 1, diff: 1, sdiff: 1, accepted: true, submitted: true, now: Date.now() + 100 });
  s.start(40);
  // the timers write the files (poll: a loaded CI machine may run them late)
  for (let i = 0; i < 250 && !(existsSync(join(dir, 'pool', 'pool.status')) && existsSync(join(dir, 'users', 'alice'))); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  t.true(existsSync(join(dir, 'pool', 'pool.status')));
  t.true(existsSync(join(dir, 'users', 'alice')));
  await s.stop();
  const status = readFileSync(join(dir, 'pool', 'pool.status'), 'utf8');
  t.true(status.includes('"accepted": 1,'));
  t.throws(() => new PoolStats({ logdir: '' }), { code: 'CKP_ERR_STATS_OPTION' } as never);
  t.throws(() => new PoolStats({ logdir: dir }).start(0), { code: 'CKP_ERR_STATS_OPTION' } as never);
});

// ---------------------------------------------------------------------------
// share logs

const HASH = '000000006c78f9ac2b4cd2c7d1e1a0d02c0e8fbbbeb9e9a4f1cd1a8e0a1b3f09';

function entry(over: Partial<ShareLogEntry> = {}): ShareLogEntry {
  return {
    clientid: 0,
    enonce1: '109b046b',
    nonce2: '0000000000001234',
    nonce: '259e95ea',
    ntime: '6b049b0b',
    diff: 1,
    sdiff: 2.3600078616841889,
    hash: HASH,
    result: true,
    errn: 0,
    createdate: '1795464637,123456789',
    createinet: '0.0.0.0:3333',
    workername: 'alice.w1',
    username: 'alice',
    address: '127.0.0.1',
    agent: 'cgminer/4.11.1',
    ...over,
  };
}

test('share log: ckpool path, fields, order and number formatting, exactly', async (t) => {
  const dir = tempDir(t);
  const sl = new ShareLog(dir);
  sl.append(1, '6b049b0a00000001', entry());
  sl.append(1, '6b049b0a00000001', entry({ result: false, rejectReason: 'Duplicate', errn: 4, clientid: 12 }));
  sl.append(1, '6b049b0a00000001', entry({ diff: 0.5, sdiff: -1, hash: '', result: false, rejectReason: 'Invalid JobID', errn: 1, workinfoid: 42, error: 'x' }));
  const file = join(dir, '00000001', '6b049b0a00000001.sharelog');
  t.is(file, shareLogPath(dir, 1, '6b049b0a00000001'));
  t.false(existsSync(file)); // buffered until the end of this turn
  await sl.flush();
  const lines = readFileSync(file, 'utf8').split('\n');
  t.is(lines.length, 4);
  t.is(lines[3], '');
  const tail = '"createdate": "1795464637,123456789", "createby": "code", "createcode": "parse_submit", "createinet": "0.0.0.0:3333", "workername": "alice.w1", "username": "alice", "address": "127.0.0.1", "agent": "cgminer/4.11.1"}';
  t.is(lines[0], `{"workinfoid": 7711458929217110017, "clientid": 0, "enonce1": "109b046b", "nonce2": "0000000000001234", "nonce": "259e95ea", "ntime": "6b049b0b", "diff": 1.0, "sdiff": 2.3600078616841889, "hash": "${HASH}", "result": true, "errn": 0, ${tail}`);
  t.is(lines[1], `{"workinfoid": 7711458929217110017, "clientid": 12, "enonce1": "109b046b", "nonce2": "0000000000001234", "nonce": "259e95ea", "ntime": "6b049b0b", "diff": 1.0, "sdiff": 2.3600078616841889, "hash": "${HASH}", "result": false, "reject-reason": "Duplicate", "errn": 4, ${tail}`);
  t.is(lines[2], `{"workinfoid": 42, "clientid": 0, "enonce1": "109b046b", "nonce2": "0000000000001234", "nonce": "259e95ea", "ntime": "6b049b0b", "diff": 0.5, "sdiff": -1.0, "hash": "", "result": false, "reject-reason": "Invalid JobID", "error": "x", "errn": 1, ${tail}`);
  // every line is valid JSON
  for (const l of lines.slice(0, 3)) t.notThrows(() => JSON.parse(l));
  await sl.close();
});

test('share log: batches per turn, keeps order across files, never throws', async (t) => {
  const dir = tempDir(t);
  const log = new MemoryLogger();
  const sl = new ShareLog(dir, log);
  for (let i = 0; i < 1000; i++) sl.append(0x10 + (i % 2), (0xabc + (i % 3)).toString(16), entry({ clientid: i }));
  t.is(sl.backlog, 1000);
  await new Promise((r) => setImmediate(r)); // the scheduled flush runs
  await sl.flush();
  t.is(sl.backlog, 0);
  const dirs = readdirSync(dir).sort();
  t.deepEqual(dirs, ['00000010', '00000011']);
  let total = 0;
  for (const d of dirs) {
    for (const f of readdirSync(join(dir, d))) {
      t.regex(f, /^0{13}ab[cde]\.sharelog$/);
      const ids = readFileSync(join(dir, d, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l).clientid as number);
      t.deepEqual(ids, [...ids].sort((a, b) => a - b));
      total += ids.length;
    }
  }
  t.is(total, 1000);

  // bad input is logged, not thrown
  t.notThrows(() => sl.append(1, 'not-hex', entry()));
  t.notThrows(() => sl.append(-1, 'ab', entry()));
  t.notThrows(() => sl.append(1, 'ab', entry({ clientid: 1.5 })));
  t.notThrows(() => sl.append(1, 'ab', null as unknown as ShareLogEntry));
  t.is(log.lines.filter((l) => l.msg.startsWith('share log entry dropped')).length, 4);
  await sl.close();
  sl.append(1, 'ab', entry()); // after close: dropped quietly
  t.is(sl.backlog, 0);
});

test('share log: write failures are logged with CKP_ERR_STATS_SHARELOG_WRITE, backlog is capped', async (t) => {
  const dir = tempDir(t);
  const blocker = join(dir, 'file');
  writeFileSync(blocker, '');
  const log = new MemoryLogger();
  const sl = new ShareLog(blocker, log, { maxBacklog: 5 });
  for (let i = 0; i < 8; i++) sl.append(1, 'ab', entry());
  t.is(sl.backlog, 5);
  await sl.flush();
  t.true(log.lines.some((l) => l.msg.startsWith('cannot append 5 share log line(s)')));
  t.true(log.lines.some((l) => l.msg === 'share log backlog over 5 lines: dropped 3 line(s)'));
  t.throws(() => new ShareLog(''), { code: 'CKP_ERR_STATS_OPTION' } as never);
  t.is(formatCreatedate(1795464637123), '1795464637,123000000');
});

// ---------------------------------------------------------------------------
// worker threads: a forwarder's events replayed on the main thread

test('StatsForwarder + replayStats: the same PoolStats state as direct calls, batch by batch', (t) => {
  const directLog = new MemoryLogger();
  const replayLog = new MemoryLogger();
  const direct = new PoolStats({ logdir: '/nonexistent', startedAt: T0, name: 'x', logger: directLog });
  const replayed = new PoolStats({ logdir: '/nonexistent', startedAt: T0, name: 'x', logger: replayLog });
  for (const s of [direct, replayed]) s.setNetworkDiff(50);
  let fulls = 0;
  const fwd = new StatsForwarder(() => fulls++);
  const effects: { authorised: number[]; gone: number[]; sessions: (number | undefined)[] } = { authorised: [], gone: [], sessions: [] };
  // one sequence of stratifier calls, to both sinks; every batch then crosses a "thread"
  // (structured clone) and is replayed, and both sides tick at the same moments
  const both = (f: (s: StatsSink) => void) => {
    f(direct);
    f(fwd);
  };
  const batch = (now: number) => {
    const fx = replayStats(replayed, structuredClone(fwd.take()));
    effects.authorised.push(...fx.authorised);
    effects.gone.push(...fx.gone);
    effects.sessions.push(fx.sessions);
    if (fx.sessions !== undefined) replayed.setDisconnectedSessions(fx.sessions);
    direct.tick(now);
    replayed.tick(now);
  };
  const share = (clientId: number, user: string, worker: string, diff: number, sdiff: number, accepted: boolean, submitted: boolean, now: number) =>
    both((s) => s.addShare({ user, worker, clientId, diff, sdiff, accepted, submitted, now }));

  both((s) => s.clientAuthorised('alice', 'alice.w1', 5, T0 + 10));
  both((s) => s.clientAuthorised('alice', 'alice.w2', 8, T0 + 20));
  both((s) => s.clientAuthorised('bob', 'bob', 11, T0 + 30));
  let now = T0 + 100;
  for (let k = 0; k < 300; k++) {
    now += 37 + (k % 7) * 11;
    const id = [5, 8, 11][k % 3]!;
    const [user, worker] = id === 11 ? ['bob', 'bob'] : ['alice', id === 5 ? 'alice.w1' : 'alice.w2'];
    const kind = k % 10;
    const diff = k < 150 ? 0.001 : 0.0025; // a vardiff change half way
    if (kind === 7) share(id, user, worker, diff, diff * 1.5, false, true, now); // stale, hashed
    else if (kind === 8) share(id, user, worker, diff, diff / 3, false, false, now); // above target
    else if (kind === 9) share(id, user, worker, diff, -1, false, false, now); // invalid job: never hashed
    else share(id, user, worker, diff, diff * (1 + (k % 13)), true, true, now);
    if (k % 50 === 49) batch(now + 1);
  }
  both((s) => s.clientDisconnected('alice', 'alice.w2', 8, now + 5));
  both((s) => s.setDisconnectedSessions(1));
  // a worker's network difficulty is dropped: the main thread sets it from its own workbases
  const pending = fwd.size;
  fwd.setNetworkDiff(1e9);
  t.is(fwd.size, pending);
  direct.setNetworkDiff(1e9);
  replayed.setNetworkDiff(1e9);
  share(5, 'alice', 'alice.w1', 0.0025, 0.01, true, true, now + 10);
  both((s) => s.blockFound(now + 20, { workername: 'alice.w1' }));
  share(11, 'bob', 'bob', 0.0025, 0.004, true, true, now + 30);
  both((s) => s.clientAuthorised('carol', 'carol.x', 14, now + 40)); // a new miner after the block
  share(14, 'carol', 'carol.x', 0.0025, 0.003, true, true, now + 50);
  both((s) => s.clientDisconnected('carol', 'carol.x', 14, now + 60));
  batch(now + 100);

  const at = now + 200;
  t.deepEqual(replayed.snapshot(at), direct.snapshot(at));
  for (const u of ['alice', 'bob', 'carol']) {
    t.deepEqual(replayed.getUser(u), direct.getUser(u), u);
    t.is(replayed.userFileText(u, at), direct.userFileText(u, at), `users/${u}`);
  }
  for (const id of [5, 8, 11, 14]) t.deepEqual(replayed.getClient(id), direct.getClient(id), `client ${id}`);
  t.deepEqual(replayed.poolStatusLines(at), direct.poolStatusLines(at));
  t.is(replayed.throbberLine(at), direct.throbberLine(at));
  t.deepEqual(replayed.userNames().sort(), direct.userNames().sort());
  // the block's log lines (solver's stats, "Block solved after …") are the same
  const blockLines = (l: MemoryLogger) => l.lines.filter((x) => /^(User|Worker) |^Block solved/.test(x.msg)).map((x) => x.msg);
  t.deepEqual(blockLines(replayLog), blockLines(directLog));
  t.is(blockLines(replayLog).length, 3);
  // what the main thread tracks per worker thread
  t.deepEqual(effects.authorised, [5, 8, 11, 14]);
  t.deepEqual(effects.gone, [8, 14]);
  t.deepEqual(effects.sessions.filter((x) => x !== undefined), [1]);
  t.is(fulls, 0);
  t.is(fwd.size, 0);
});

test('StatsForwarder: asks for an early flush when full; replayStats skips what it cannot use', (t) => {
  let fulls = 0;
  // an auth is 5 entries, a share 7 (tag, client, diff, sdiff, flags, time, reject reason)
  const fwd = new StatsForwarder(() => fulls++, 13);
  fwd.clientAuthorised('dave', 'dave.1', 3, T0);
  t.is(fulls, 0);
  fwd.addShare({ user: 'dave', worker: 'dave.1', clientId: 3, diff: 1, sdiff: 2, accepted: true, submitted: true, now: T0 + 1 });
  t.is(fulls, 0, '12 entries: below the limit');
  fwd.addShare({ user: 'dave', worker: 'dave.1', clientId: 3, diff: 1, sdiff: 0.5, accepted: false, submitted: false, now: T0 + 2 });
  t.is(fulls, 1, '19 entries: flush early');
  const ev = fwd.take();
  t.is(fwd.size, 0);
  const s = new PoolStats({ logdir: '/nonexistent', startedAt: T0 });
  // a share of a client never seen authorised (its auth was in a lost batch) is dropped,
  // not attributed to an empty user name
  replayStats(s, [1, 99, 1, 2, 3, T0, 0]);
  t.is(s.getUser(''), undefined);
  t.is(s.hasClient(99), false);
  // an unknown event tag stops the replay rather than misreading the rest
  const fx = replayStats(s, [...ev, 42, 1, 2, 3]);
  t.deepEqual(fx.authorised, [3]);
  t.is(s.getUser('dave')!.shares, 1);
  t.deepEqual(replayStats(s, ['junk', 1]).authorised, []);
});

// --- number formatting (documents.ts, format.ts counterText) ----------------------------

test('the block line stays meaningful with sub-1 difficulties', async (t) => {
  const { blockSolvedLine } = await import('../ts/stats/documents.js');
  // ckpool's own form where it reads well
  t.is(blockSolvedLine(4, 100), 'Block solved after 4 shares at 4.0% diff');
  t.is(blockSolvedLine(123456, 100000), 'Block solved after 123456 shares at 123.5% diff');
  // fractional share sums keep six significant digits instead of "0.00"
  t.is(blockSolvedLine(0.07100000000000005, 10), 'Block solved after 0.071 shares at 0.7% diff');
  t.is(blockSolvedLine(1234.56789, 1e6), 'Block solved after 1234.57 shares at 0.1% diff');
  // regtest: network diff 4.656542373906925e-10, one share of 0.001 — not "214751616.0%"
  t.is(blockSolvedLine(0.001, 4.656542373906925e-10), 'Block solved after 0.001 shares at 2147516× the network diff (4.657e-10)');
  t.is(blockSolvedLine(0, 0), 'Block solved after 0 shares');
  // PoolStats logs and returns the same line
  const log = new MemoryLogger();
  const s = new PoolStats({ logdir: '/nonexistent', logger: log });
  s.setNetworkDiff(4.656542373906925e-10);
  for (let i = 0; i < 3; i++) s.addShare({ user: 'u', worker: 'u.w', clientId: 1, diff: 0.001, sdiff: 0.002, accepted: true, submitted: true, now: T0 });
  s.tick(T0 + 1875);
  const msg = s.blockFound(T0 + 1875);
  t.is(msg, 'Block solved after 0.003 shares at 6442548× the network diff (4.657e-10)');
  t.true(log.lines.some((l) => l.msg === msg));
});

test('fractional counters: 10 significant digits in the files and the API, no float noise', async (t) => {
  const { counterText, COUNTER_DIGITS, dumpJson, J, toPlain } = await import('../ts/stats/format.js');
  t.is(COUNTER_DIGITS, 10);
  let sum = 0;
  for (let i = 0; i < 71; i++) sum += 0.001;
  t.is(String(sum), '0.07100000000000005');
  t.is(counterText(sum), '0.071');
  t.is(counterText(42), '42');
  t.is(counterText(1234567.891234567), '1234567.891');
  t.is(counterText(123456789012.75), '123456789013', 'past 10 digits: a whole number, never an exponent');
  t.is(counterText(5.00000000001), '5.0');
  const doc = J.obj([['shares', J.int(sum)], ['bestshare', J.real(2.3600078616841889)], ['n', J.int(3)]]);
  t.is(dumpJson(doc, { precision: 16 }), '{"shares": 0.071, "bestshare": 2.360007861684189, "n": 3}');
  t.deepEqual(toPlain(doc, { precision: 16 }), { shares: 0.071, bestshare: 2.360007861684189, n: 3 });
  // the users/<user> file and userJson agree
  const s = new PoolStats({ logdir: '/nonexistent', logger: new MemoryLogger() });
  s.clientAuthorised('dave', 'dave.1', 7, T0);
  for (let i = 0; i < 71; i++) s.addShare({ user: 'dave', worker: 'dave.1', clientId: 7, diff: 0.001, sdiff: 0.002, accepted: true, submitted: true, now: T0 });
  const file = s.userFileText('dave', T0 + 1000)!;
  t.regex(file, /"shares": 0\.071,/);
  t.false(/0\.0710000/.test(file), file);
  t.is((s.userJson('dave', T0 + 1000) as { shares: number }).shares, 0.071);
});
