/**
 * The history store (ts/history/store.ts) over a simulated stretch of pool life:
 *
 *   npm run bench:history -- [--days 7] [--workers 1000] [--users 100] [--file /tmp/h.sqlite] [--store <module>]
 *
 * One batch per simulated minute, as the sampler writes it (the pool, every user, every
 * worker: 1 + users + workers samples), with explicit timestamps one minute apart, written
 * through the store's real write path (record(): one transaction, the 10-minute rollup and
 * pruning inside it) as fast as it goes. Synthetic rates: every worker ~14 TH/s with noise,
 * shares to match. Reports the write time per minute batch (all, and the batches that
 * roll up and prune), the file size (database + WAL) at each simulated day, RSS (before the
 * first write and the highest seen), and the time of the API's reads (24h of a worker,
 * 7d of the pool). JSON on the last line.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HistorySample, HistoryStore as Store } from '../ts/history/store.js';

const { values } = parseArgs({
  options: {
    days: { type: 'string', default: '7' },
    workers: { type: 'string', default: '1000' },
    users: { type: 'string', default: '100' },
    file: { type: 'string' },
    // another store module with the same API (the before/after runs of BENCHMARKS.md)
    store: { type: 'string', default: '../ts/history/store.js' },
  },
});
const { HistoryStore } = (await import(values.store!)) as { HistoryStore: typeof Store };
const days = Number(values.days);
const nWorkers = Number(values.workers);
const nUsers = Number(values.users);
const dir = values.file ? null : mkdtempSync(path.join(tmpdir(), 'ckpool-ts-bench-history-'));
const file = values.file ?? path.join(dir!, 'history.sqlite');

const store = new HistoryStore({ file });
const users = Array.from({ length: nUsers }, (_, i) => `user${i}`);
const workers = Array.from({ length: nWorkers }, (_, i) => `user${i % nUsers}.rig${i}`);

/** A deterministic pseudo-random stream (the same file every run). */
let seed = 12345;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);

function batch(): HistorySample[] {
  const out: HistorySample[] = [];
  const userRate = new Map<string, number>();
  let pool = 0;
  for (const w of workers) {
    const h = 14e12 * (0.8 + 0.4 * rand());
    const u = w.slice(0, w.indexOf('.'));
    userRate.set(u, (userRate.get(u) ?? 0) + h);
    pool += h;
    out.push({ kind: 'worker', name: w, hashrate: h, shares: Math.round((h * 60) / 2 ** 32) });
  }
  for (const u of users) {
    const h = userRate.get(u) ?? 0;
    out.push({ kind: 'user', name: u, hashrate: h, shares: Math.round((h * 60) / 2 ** 32) });
  }
  out.unshift({ kind: 'pool', name: '', hashrate: pool, shares: Math.round((pool * 60) / 2 ** 32) });
  return out;
}

const fileBytes = (): number => {
  let n = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      n += statSync(f).size;
    } catch { /* no WAL */ }
  }
  return n;
};
const mb = (b: number): number => Math.round(b / 1e5) / 10;
const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ms = (x: number): number => Math.round(x * 100) / 100;

// a minute boundary, so rollups fall every tenth batch
const start = Math.floor(Date.UTC(2026, 0, 1) / 60_000) * 60_000;
const minutes = Math.round(days * 1440);
const plain: number[] = [];
const rolling: number[] = [];
let rssMax = 0;
const perDay: { day: number; fileMB: number; rssMB: number }[] = [];
// the process before any write (node, tsx, better-sqlite3): the store's share is rssMax − this
batch();
const rssStart = process.memoryUsage.rss();
seed = 12345;
const t0 = performance.now();
for (let m = 0; m < minutes; m++) {
  const now = start + m * 60_000;
  const samples = batch();
  const a = performance.now();
  store.record(now, samples);
  const dt = performance.now() - a;
  ((now / 60_000) % 10 === 0 ? rolling : plain).push(dt);
  if (m % 60 === 0) rssMax = Math.max(rssMax, process.memoryUsage.rss());
  if ((m + 1) % 1440 === 0) {
    const d = { day: (m + 1) / 1440, fileMB: mb(fileBytes()), rssMB: mb(process.memoryUsage.rss()) };
    perDay.push(d);
    console.log(`day ${d.day}: file ${d.fileMB} MB, RSS ${d.rssMB} MB, ${Math.round((performance.now() - t0) / 1000)} s so far`);
  }
}
const total = performance.now() - t0;
const end = start + minutes * 60_000;
// the API's reads at the end
const r0 = performance.now();
const w24 = store.series('worker', workers[0]!, '24h', end);
const r1 = performance.now();
const p7 = store.series('pool', '', '7d', end);
const r2 = performance.now();
const sizeBeforeClose = fileBytes();
store.close();
const sizeClosed = fileBytes();
plain.sort((x, y) => x - y);
rolling.sort((x, y) => x - y);
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const result = {
  days, workers: nWorkers, users: nUsers, seriesPerMinute: 1 + nUsers + nWorkers, minutes,
  fileMB: mb(sizeBeforeClose), fileMBAfterCheckpoint: mb(sizeClosed), rssStartMB: mb(rssStart), rssMaxMB: mb(rssMax),
  batchMs: { mean: ms(mean(plain)), p50: ms(pct(plain, 50)), p99: ms(pct(plain, 99)), max: ms(plain.at(-1) ?? 0) },
  rollupBatchMs: { mean: ms(mean(rolling)), p50: ms(pct(rolling, 50)), p99: ms(pct(rolling, 99)), max: ms(rolling.at(-1) ?? 0) },
  totalWriteS: Math.round(total / 100) / 10,
  readMs: { worker24h: ms(r1 - r0), worker24hPoints: w24.t.length, pool7d: ms(r2 - r1), pool7dPoints: p7.t.length },
  perDay,
};
console.log(JSON.stringify(result));
if (dir) rmSync(dir, { recursive: true, force: true });
