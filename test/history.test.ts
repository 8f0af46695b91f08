/**
 * The history store (ts/history/store.ts) on real SQLite files, with explicit
 * timestamps (record/series take the time; no clock is read): 1-minute points, the
 * 10-minute rollup, pruning after a day / 30 days, dropping emptied series, the series
 * cap and its log line, restarts (the rollup carries across them), two processes on one
 * file (a handover's overlap) and files of the earlier one-table layout. The tables are
 * also read directly with better-sqlite3 where the API cannot show what is on disk.
 *
 * Then the `ckpool` binary with apiurl on bcoin regtest across a -H handover: the found
 * block and the history are served by the new process on the same API port.
 */
import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HistoryStore, type HistorySample } from '../ts/history/store.js';
import { LogLevel, MemoryLogger } from '../ts/log/logger.js';
import { StratumClient } from '../ts/miner/client.js';
import { freePort } from '../ts/node/ports.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { connectMiner, killAllCkpools, startCkpool } from './helpers/ckpool-proc.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-history-'));
  dirs.push(d);
  return d;
};
let node: BcoinNode | undefined;
const clients: StratumClient[] = [];
test.after.always(async () => {
  for (const c of clients) c.close();
  killAllCkpools();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** 2026-01-01 00:00 UTC, ms: a ten-minute boundary. */
const T0 = Date.UTC(2026, 0, 1);
const S0 = T0 / 1000;
const MIN = 60_000;
const DAY = 1440 * MIN;
const pool = (hashrate: number, shares = 0): HistorySample => ({ kind: 'pool', name: '', hashrate, shares });
const user = (name: string, hashrate = 1, shares = 0): HistorySample => ({ kind: 'user', name, hashrate, shares });
const worker = (name: string, hashrate = 1, shares = 0): HistorySample => ({ kind: 'worker', name, hashrate, shares });

function rows(file: string, table: 'm1' | 'm10'): { series: number; t: number; hashrate: number; shares: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT series, t, hashrate, shares FROM ${table} ORDER BY series, t`).all() as never;
  } finally {
    db.close();
  }
}

test('1-minute points, the 10-minute rollup (average hashrate, summed shares), the ranges, the same minute written twice', (t) => {
  const file = path.join(tmp(), 'history.sqlite');
  const s = new HistoryStore({ file });
  for (let m = 0; m < 25; m++) s.record(T0 + m * MIN + 1234, [pool(100 + m, m), user('u', 10, 1), worker('u.w', 5, 0.5)]);
  const now = T0 + 24 * MIN + 30_000;
  const h1 = s.series('pool', '', '1h', now);
  t.like(h1, { range: '1h', stepSeconds: 60 });
  t.is(h1.t.length, 25);
  t.deepEqual(h1.t.slice(0, 3), [S0, S0 + 60, S0 + 120], 'points on the minute');
  t.is(h1.hashrate[0], 100);
  t.is(h1.shares[24], 24);
  // 7d: two rolled-up ten minutes, then the current ten from the 1-minute points
  const d7 = s.series('pool', '', '7d', now);
  t.like(d7, { range: '7d', stepSeconds: 600 });
  t.deepEqual(d7.t, [S0, S0 + 600, S0 + 1200]);
  t.deepEqual(d7.hashrate, [104.5, 114.5, 122]);
  t.deepEqual(d7.shares, [45, 145, 110]);
  t.deepEqual(rows(file, 'm10').filter((r) => r.series === 1).map((r) => r.t), [S0, S0 + 600], 'only finished tens are rolled up');
  t.is(s.series('worker', 'u.w', '24h', now).t.length, 25);
  t.deepEqual(s.series('user', 'u', '30d', now).shares, [10, 10, 5]);
  // a point one hour back is outside 1h
  t.is(s.series('pool', '', '1h', T0 + 84 * MIN).t.length, 1);
  t.true(s.has('user', 'u'));
  t.true(s.has('worker', 'u.w'));
  t.false(s.has('user', 'nobody'));
  t.deepEqual(s.series('user', 'nobody', '24h', now), { range: '24h', stepSeconds: 60, t: [], hashrate: [], shares: [] });
  // a second write for a minute replaces its point (a restart or handover writing it again)
  s.record(T0 + 24 * MIN, [pool(999, 7)]);
  const again = s.series('pool', '', '1h', now);
  t.is(again.t.length, 25);
  t.is(again.hashrate[24], 999);
  // bad numbers are stored as 0, never NaN
  s.record(T0 + 25 * MIN, [pool(Number.NaN, -1)]);
  const bad = s.series('pool', '', '1h', T0 + 25 * MIN);
  t.is(bad.hashrate.at(-1), 0);
  t.is(bad.shares.at(-1), 0);
  s.close();
});

test('pruning: 1-minute points kept a day, 10-minute points 30 days; a series with no point left is dropped', (t) => {
  const file = path.join(tmp(), 'history.sqlite');
  const s = new HistoryStore({ file });
  s.record(T0, [pool(1), worker('gone.w', 7, 3)]);
  s.record(T0 + 10 * MIN, [pool(2)]); // rolls up T0's ten
  t.is(s.seriesCount, 2);
  // a day and ten minutes later: the 1-minute points older than a day go, the 10-minute ones stay
  s.record(T0 + DAY + 10 * MIN, [pool(3)]);
  t.deepEqual(rows(file, 'm1').map((r) => r.t), [S0 + 600, S0 + 86_400 + 600]);
  const w = s.series('worker', 'gone.w', '7d', T0 + DAY + 10 * MIN);
  t.deepEqual([w.t, w.hashrate, w.shares], [[S0], [7], [3]]);
  t.deepEqual(s.series('worker', 'gone.w', '24h', T0 + DAY + 10 * MIN).t, [], 'nothing at 1-minute steps any more');
  // 31 days on: the 10-minute points of day 0 go, and the worker with them
  s.record(T0 + 31 * DAY, [pool(4)]);
  t.false(rows(file, 'm10').some((r) => r.t < S0 + DAY / 1000), 'no 10-minute point older than 30 days');
  t.false(s.has('worker', 'gone.w'));
  t.is(s.seriesCount, 1);
  // it may come back later as a new series
  s.record(T0 + 31 * DAY + MIN, [pool(5), worker('gone.w', 9)]);
  t.true(s.has('worker', 'gone.w'));
  t.is(s.seriesCount, 2);
  s.close();
});

test('the series cap: past it new users and workers get no history, logged once; known ones go on', (t) => {
  const file = path.join(tmp(), 'history.sqlite');
  const log = new MemoryLogger();
  const s = new HistoryStore({ file, maxSeries: 3, logger: log });
  s.record(T0, [pool(1), user('a'), user('b'), user('c'), worker('a.1')]);
  t.is(s.seriesCount, 3);
  t.true(s.has('user', 'b'));
  t.false(s.has('user', 'c'));
  t.false(s.has('worker', 'a.1'));
  s.record(T0 + MIN, [pool(1), user('a', 2), user('b'), user('c'), worker('a.1')]);
  t.is(s.series('user', 'a', '1h', T0 + MIN).t.length, 2);
  const lines = log.lines.filter((l) => /series kept, the cap/.test(l.msg));
  t.is(lines.length, 1);
  t.is(lines[0]!.msg, 'History: 3 series kept, the cap: new users and workers get no history');
  t.is(lines[0]!.level, LogLevel.WARNING);
  // the default cap
  const d = new HistoryStore({ file: path.join(tmp(), 'h.sqlite') });
  const many: HistorySample[] = [pool(1)];
  for (let i = 0; i < 5100; i++) many.push(worker(`u.${i}`));
  d.record(T0, many);
  t.is(d.seriesCount, 5000);
  t.true(d.has('worker', 'u.4998'));
  t.false(d.has('worker', 'u.4999'));
  d.close();
  s.close();
});

test('restarts: points and series survive, the rollup continues across the restart and a gap', (t) => {
  const file = path.join(tmp(), 'history.sqlite');
  let s = new HistoryStore({ file });
  for (let m = 0; m < 5; m++) s.record(T0 + m * MIN, [pool(10 * (m + 1), 1), user('u', 1)]);
  s.close();
  s = new HistoryStore({ file });
  t.true(s.has('user', 'u'));
  t.is(s.series('pool', '', '1h', T0 + 5 * MIN).t.length, 5);
  s.record(T0 + 12 * MIN, [pool(100, 2)]);
  t.deepEqual(rows(file, 'm10').filter((r) => r.series === 1).map((r) => [r.t, r.hashrate, r.shares]), [[S0, 30, 5]], 'the ten before the restart rolled up');
  s.close();
  // three hours down: every finished ten since the last rollup is rolled up on the next write
  s = new HistoryStore({ file });
  s.record(T0 + 192 * MIN, [pool(1)]);
  t.deepEqual(rows(file, 'm10').filter((r) => r.series === 1).map((r) => r.t), [S0, S0 + 600]);
  const d7 = s.series('pool', '', '7d', T0 + 192 * MIN);
  t.deepEqual(d7.t, [S0, S0 + 600, S0 + 11_400]);
  s.close();
});

test('two processes on one file (a handover\'s overlap): each sees the other\'s points, a minute written by both is one point', (t) => {
  const file = path.join(tmp(), 'history.sqlite');
  const a = new HistoryStore({ file });
  const b = new HistoryStore({ file });
  a.record(T0, [pool(1), user('old')]);
  t.true(b.has('user', 'old'));
  b.record(T0, [pool(2), user('new')]);
  a.record(T0 + MIN, [pool(3)]);
  const seen = b.series('pool', '', '1h', T0 + MIN);
  t.deepEqual([seen.t, seen.hashrate], [[S0, S0 + 60], [2, 3]]);
  a.close();
  b.record(T0 + 2 * MIN, [pool(4)]);
  t.is(b.series('pool', '', '1h', T0 + 2 * MIN).t.length, 3);
  b.close();
});

test('a file of the earlier layout (one points table with a step column) is migrated on open', (t) => {
  const file = path.join(tmp(), 'history.sqlite');
  const db = new Database(file);
  db.exec(`CREATE TABLE series (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (kind, name));
    CREATE TABLE points (series INTEGER NOT NULL, step INTEGER NOT NULL, t INTEGER NOT NULL, hashrate REAL NOT NULL, shares REAL NOT NULL,
      PRIMARY KEY (series, step, t)) WITHOUT ROWID;
    CREATE INDEX points_age ON points (step, t);
    INSERT INTO series VALUES (1, 'pool', ''), (2, 'user', 'u');
    INSERT INTO points VALUES (1, 60, ${S0 + 600}, 11, 1), (1, 60, ${S0 + 660}, 13, 1), (1, 600, ${S0}, 5, 10), (2, 60, ${S0 + 600}, 2, 0);`);
  db.close();
  const s = new HistoryStore({ file });
  t.is(s.seriesCount, 2);
  const d7 = s.series('pool', '', '7d', T0 + 11 * MIN);
  t.deepEqual([d7.t, d7.hashrate, d7.shares], [[S0, S0 + 600], [5, 12], [10, 2]]);
  t.is(s.series('user', 'u', '1h', T0 + 11 * MIN).t.length, 1);
  // the rollup goes on from after the old file's last ten
  s.record(T0 + 20 * MIN, [pool(1)]);
  t.deepEqual(rows(file, 'm10').filter((r) => r.series === 1).map((r) => r.t), [S0, S0 + 600]);
  s.close();
  const check = new Database(file, { readonly: true });
  t.is((check.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'points'").get() as { n: number }).n, 0);
  check.close();
});

test('ckpool -H with apiurl: the new process serves the API port, with the found block and the history of the old one', async (t) => {
  node = await startTestBcoin({ walletEnabled: true, walletWitness: true });
  await node.fundWallet(432);
  const apiPort = await freePort();
  const api = `http://127.0.0.1:${apiPort}`;
  const conf = {
    btcd: [{ ...node.btcd(false), notify: false }], btcaddress: REGTEST_ADDRESS, apiurl: `127.0.0.1:${apiPort}`,
    startdiff: 1e-6, mindiff: 1e-6, maxdiff: 1e-6, highdiff: 1e-6, update_interval: 600, blockpoll: 50,
  };
  const old = await startCkpool([], conf, { name: 'hist' });
  const getJson = async (p: string): Promise<any> => (await fetch(api + p)).json();
  t.is((await getJson('/api/v1/pool')).mode, 'pool');

  const c = await connectMiner(old.port, 'miner.one');
  clients.push(c);
  let hash = '';
  for (let i = 0; !hash; i++) {
    const s = c.grind({ job: c.job!, start: i * 1_000_003 });
    t.is((await c.submit('miner.one', s.params)).result, true);
    if (s.block) hash = s.hash;
  }
  const end = Date.now() + 20_000;
  while ((await getJson('/api/v1/blocks')).items[0]?.verdict !== 'accepted' && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  t.like((await getJson('/api/v1/blocks')).items[0], { hash, verdict: 'accepted', finder: 'miner' });
  // let the pool's 1.875 s tick fold the shares into its hashrate before the old process stops and writes its last point
  await new Promise((r) => setTimeout(r, 2500));

  // poll the API all through the handover: what answers, and what is refused
  let polling = true;
  const answers: { ok: boolean; at: number }[] = [];
  const poller = (async () => {
    while (polling) {
      const ok = await fetch(`${api}/api/v1/pool`).then((r) => r.ok, () => false);
      answers.push({ ok, at: Date.now() });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const fresh = await startCkpool(['-H'], conf, { name: 'hist', dir: old.dir, port: old.port });
  const gone = Date.now() + 20_000;
  while (old.child.exitCode === null && old.child.signalCode === null && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
  t.not(old.child.exitCode, null, 'the old process exited by itself');
  // only the new process is left: once the port answers again, it is the new one serving it
  const served = Date.now() + 15_000;
  while (!(await fetch(`${api}/api/v1/pool`).then((r) => r.ok, () => false)) && Date.now() < served) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  polling = false;
  await poller;
  const refused = answers.filter((a) => !a.ok);
  t.log(`API polled ${answers.length} times through the handover, refused ${refused.length} times` +
    (refused.length ? ` over ${refused.at(-1)!.at - refused[0]!.at + 50} ms` : ''));
  t.true(answers.at(-1)!.ok, 'the API answers after the handover');

  // the new process (the old one has exited) serves the same port, with the old one's data
  t.regex(fresh.log(), /HTTP API and dashboard on http:\/\/127\.0\.0\.1:\d+\//);
  t.notRegex(fresh.log(), /CKP_ERR_API_LISTEN|address already in use/i);
  const blocks = await getJson('/api/v1/blocks');
  t.is(blocks.total, 1);
  t.like(blocks.items[0], { hash, verdict: 'accepted', finder: 'miner', worker: 'miner.one' });
  const hp = await getJson('/api/v1/history/pool?range=1h');
  t.true(hp.t.length >= 1, 'the old process\'s last point is there');
  t.true(hp.hashrate.some((h: number) => h > 0), `pool hashrate history: ${JSON.stringify(hp.hashrate)}`);
  const hu = await fetch(`${api}/api/v1/history/users/miner?range=1h`);
  t.is(hu.status, 200);
  t.true(((await hu.json()) as { t: number[] }).t.length >= 1);
  const hw = await fetch(`${api}/api/v1/history/workers/miner.one?range=24h`);
  t.is(hw.status, 200);
});
