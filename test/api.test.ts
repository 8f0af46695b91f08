/**
 * The HTTP API (issue 15) on a real pool on bcoin regtest: a test miner mines shares and
 * a block through the pool; every endpoint is asked over real HTTP (fetch / node:http),
 * including 404s and bad parameters; the ckpool-compatible files are compared byte for
 * byte with the stats files; public-pool's shapes; SSE events arriving (pool, user,
 * block); the found block with verdict accepted; history and blocks surviving a restart.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

let node: BcoinNode;
const pools: Pool[] = [];
const clients: StratumClient[] = [];
const dirs: string[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: true, walletWitness: true });
  await node.fundWallet(432);
});
test.after.always(async () => {
  for (const c of clients) c.close();
  for (const p of pools) await p.stop();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startPool(logdir: string, api: Parameters<typeof Pool.start>[1] = {}) {
  const pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9,
    logdir, updateInterval: 600, blockpoll: 50, apiurl: '127.0.0.1:0',
  }, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, historyIntervalMs: 300, ...api });
  pools.push(pool);
  return pool;
}

async function get(pool: Pool, p: string): Promise<{ status: number; type: string; text: string; json: any }> {
  const r = await fetch(new URL(p, pool.api!.url));
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, json };
}

/** Collect SSE events of a stream until `until` says stop. */
function sse(url: string, until: (events: { event: string; data: any }[]) => boolean, timeoutMs = 30_000) {
  return new Promise<{ events: { event: string; data: any }[]; status: number }>((resolve, reject) => {
    const events: { event: string; data: any }[] = [];
    const req = http.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ events, status: res.statusCode ?? 0 });
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
        }
        if (until(events)) {
          req.destroy();
          resolve({ events, status: 200 });
        }
      });
    });
    req.on('error', (e) => { if (!req.destroyed) reject(e); });
    setTimeout(() => { req.destroy(); reject(new Error(`SSE timeout; got ${events.map((e) => e.event).join(',')}`)); }, timeoutMs).unref();
  });
}

const RATE_KEYS = ['1m', '5m', '15m', '1h', '6h', '1d', '7d'];

test.serial('pool with apiurl: every endpoint, a block found on bcoin, SSE, files byte-equal, public-pool shapes, restart', async (t) => {
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-api-'));
  dirs.push(logdir);
  const pool = await startPool(logdir);
  t.truthy(pool.api);
  t.regex(pool.api!.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  const c = await StratumClient.connect(pool.addresses[0]!.port);
  clients.push(c);
  const job = c.nextJob(20_000);
  await c.subscribe();
  await job;
  t.is((await c.authorize('miner.one')).result, true);

  // a live stream for the user, opened before the block
  const streamDone = sse(`${pool.api!.url}api/v1/events?user=miner`, (ev) => ev.some((e) => e.event === 'block' && e.data.verdict === 'accepted'));

  const blockEvent = once(pool.stratifier, 'block');
  let found = false;
  for (let i = 0; !found; i++) {
    const s = c.grind({ job: c.job!, start: i * 1_000_003 });
    t.is((await c.submit('miner.one', s.params)).result, true);
    found = s.block;
  }
  const [, result] = (await blockEvent) as [unknown, { accepted: boolean; hash: string; height: number }];
  t.true(result.accepted);

  // --- SSE: pool, user and block events arrived
  const { events } = await streamDone;
  const pe = events.find((e) => e.event === 'pool')!;
  t.truthy(pe);
  t.deepEqual(Object.keys(pe.data.hashrate).sort(), [...RATE_KEYS].sort());
  const ue = events.find((e) => e.event === 'user')!;
  t.is(ue.data.user.user, 'miner');
  t.is(ue.data.workers[0].worker, 'miner.one');
  const be = events.filter((e) => e.event === 'block');
  t.is(be[0]!.data.hash, result.hash);
  t.true(be.some((e) => e.data.verdict === 'accepted'));
  // the closed stream is cleaned up
  for (let i = 0; i < 100 && pool.api!.events.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(pool.api!.events.size, 0);

  // --- blocks
  const blocks = await get(pool, '/api/v1/blocks');
  t.is(blocks.status, 200);
  t.is(blocks.json.total, 1);
  const b = blocks.json.items[0];
  t.like(b, { hash: result.hash, height: result.height, finder: 'miner', worker: 'miner.one', verdict: 'accepted' });
  t.true(b.reward > 0 && Number.isInteger(b.reward));
  t.true(b.diff > 0 && typeof b.time === 'number');

  // --- pool
  const p = await get(pool, '/api/v1/pool');
  t.is(p.status, 200);
  t.like(p.json, { mode: 'pool', miners: 1, users: 1, workers: 1, blocksFound: 1 });
  t.is(p.json.lastBlock.hash, result.hash);
  t.true(p.json.network.height >= result.height);
  t.is(typeof p.json.uptimeSeconds, 'number');

  // --- users and workers
  const u = await get(pool, '/api/v1/users/miner');
  t.is(u.status, 200);
  t.like(u.json, { user: 'miner', workers: 1 });
  t.true(u.json.sharesAccepted >= 1);
  t.true(u.json.acceptedDiff > 0);
  t.deepEqual(Object.keys(u.json.hashrate).sort(), [...RATE_KEYS].sort());
  const missing = await get(pool, '/api/v1/users/nobody');
  t.is(missing.status, 404);
  t.is(missing.json.error.code, 'CKP_ERR_API_NOT_FOUND');
  const w = await get(pool, '/api/v1/users/miner/workers?offset=0&limit=10&sort=name');
  t.like(w.json, { total: 1, offset: 0, limit: 10 });
  t.like(w.json.items[0], { worker: 'miner.one', online: true });
  for (const bad of ['limit=0', 'limit=501', 'offset=-1', 'sort=size', 'limit=abc', 'limit=1&limit=2']) {
    const r = await get(pool, `/api/v1/users/miner/workers?${bad}`);
    t.is(r.status, 400, bad);
    t.is(r.json.error.code, 'CKP_ERR_API_PARAM', bad);
  }
  t.is((await get(pool, '/api/v1/users/nobody/workers')).status, 404);

  // --- clients
  const cl = await get(pool, '/api/v1/clients?limit=5');
  t.like(cl.json, { total: 1, limit: 5 });
  t.like(cl.json.items[0], { user: 'miner', worker: 'miner.one', address: '127.0.0.1', protocol: 'v1' });
  t.is((await get(pool, '/api/v1/clients?offset=x')).status, 400);

  // --- ckpool-compatible files, byte-equal with what is on disk
  await pool.stats.writeFiles(Date.now());
  const ps = await get(pool, '/pool/pool.status');
  t.is(ps.status, 200);
  t.regex(ps.type, /^text\/plain/);
  t.is(ps.text, readFileSync(path.join(logdir, 'pool', 'pool.status'), 'utf8'));
  const uf = await get(pool, '/users/miner');
  t.regex(uf.type, /^application\/json/);
  t.is(uf.text, readFileSync(path.join(logdir, 'users', 'miner'), 'utf8'));
  t.is((await get(pool, '/users/nobody')).json.error.code, 'CKP_ERR_API_NOT_FOUND');

  // --- public-pool shapes
  const info = await get(pool, '/api/info');
  t.deepEqual(Object.keys(info.json).sort(), ['blockData', 'highScores', 'uptime', 'userAgents']);
  t.deepEqual(info.json.blockData, [{ height: result.height, minerAddress: 'miner', worker: 'one', sessionId: null }]);
  t.deepEqual(Object.keys(info.json.userAgents[0]).sort(), ['bestDifficulty', 'count', 'totalHashRate', 'userAgent']);
  t.is(info.json.userAgents[0].count, 1);
  t.deepEqual(Object.keys(info.json.highScores[0]).sort(), ['bestDifficulty', 'bestDifficultyUserAgent', 'updatedAt']);
  t.false(Number.isNaN(Date.parse(info.json.uptime)));
  const pc = await get(pool, '/api/client/miner');
  t.deepEqual(Object.keys(pc.json).sort(), ['bestDifficulty', 'workers', 'workersCount']);
  t.is(pc.json.workersCount, 1);
  t.deepEqual(Object.keys(pc.json.workers[0]).sort(), ['bestDifficulty', 'hashRate', 'lastSeen', 'name', 'sessionId', 'startTime']);
  t.is(pc.json.workers[0].name, 'one');
  t.is(typeof pc.json.workers[0].bestDifficulty, 'string'); // public-pool sends toFixed(2)
  t.deepEqual((await get(pool, '/api/client/nobody')).json, { workersCount: 0, workers: [] });
  const pp = await get(pool, '/api/pool');
  t.deepEqual(Object.keys(pp.json).sort(), ['blockHeight', 'blocksFound', 'fee', 'totalHashRate', 'totalMiners']);

  // --- history (sampled every 300 ms in this test)
  // (the pool's own hashrate is folded in by its 1.875 s tick)
  for (let i = 0; i < 100 && !(await get(pool, '/api/v1/history/pool?range=1h')).json.hashrate.some((h: number) => h > 0); i++) await new Promise((r) => setTimeout(r, 100));
  const hp = await get(pool, '/api/v1/history/pool?range=1h');
  t.like(hp.json, { range: '1h', stepSeconds: 60 });
  t.true(hp.json.t.length >= 1);
  t.is(hp.json.t.length, hp.json.hashrate.length);
  t.is(hp.json.t.length, hp.json.shares.length);
  t.true(hp.json.hashrate.some((h: number) => h > 0));
  const hu = await get(pool, '/api/v1/history/users/miner?range=7d');
  t.like(hu.json, { range: '7d', stepSeconds: 600 });
  t.true(hu.json.t.length >= 1);
  t.is((await get(pool, '/api/v1/history/workers/miner.one')).status, 200);
  t.is((await get(pool, '/api/v1/history/users/nobody')).status, 404);
  t.is((await get(pool, '/api/v1/history/workers/nobody.x')).status, 404);
  t.is((await get(pool, '/api/v1/history/pool?range=2h')).json.error.code, 'CKP_ERR_API_PARAM');

  // --- dashboard files and unknown routes
  const index = await get(pool, '/');
  t.is(index.status, 200);
  t.regex(index.type, /^text\/html/);
  t.is(index.text, readFileSync(path.join(import.meta.dirname, '..', 'web', 'index.html'), 'utf8'));
  const uplot = await get(pool, '/assets/uplot/uPlot.iife.min.js');
  t.is(uplot.status, 200);
  t.regex(uplot.type, /javascript/);
  t.is((await get(pool, '/assets/uplot/uPlot.min.css')).status, 200);
  const nofile = await get(pool, '/no/such/file.js');
  t.is(nofile.status, 404);
  t.is(nofile.json.error.code, 'CKP_ERR_API_NOT_FOUND');
  t.is((await get(pool, '/../package.json')).status, 404);
  t.is((await get(pool, '/%2e%2e/package.json')).status, 404);
  t.is((await get(pool, '/api/v1/nope')).json.error.code, 'CKP_ERR_API_NOT_FOUND');

  // --- restart on the same logdir: the block (from blocks/) and the history are still there
  const hashBefore = hp.json.t[0];
  c.close();
  await pool.stop();
  pools.splice(pools.indexOf(pool), 1);
  const again = await startPool(logdir);
  const blocks2 = await get(again, '/api/v1/blocks');
  t.is(blocks2.json.total, 1);
  t.like(blocks2.json.items[0], { hash: result.hash, verdict: 'accepted', finder: 'miner', worker: 'miner.one', reward: b.reward });
  const hp2 = await get(again, '/api/v1/history/pool?range=1h');
  t.is(hp2.json.t[0], hashBefore);
  t.true(hp2.json.hashrate.some((h: number) => h > 0));
  t.is((await get(again, '/api/v1/history/users/miner?range=24h')).status, 200);
});

test.serial('event streams: capped with a clear 503; server closes cleanly with streams open', async (t) => {
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-api-'));
  dirs.push(logdir);
  const pool = await startPool(logdir, { api: { maxEventStreams: 1, eventIntervalMs: 200 } });
  const first = sse(`${pool.api!.url}api/v1/events`, (ev) => ev.filter((e) => e.event === 'pool').length >= 3);
  for (let i = 0; i < 100 && pool.api!.events.size < 1; i++) await new Promise((r) => setTimeout(r, 20));
  const second = await get(pool, '/api/v1/events');
  t.is(second.status, 503);
  t.is(second.json.error.code, 'CKP_ERR_API_BUSY');
  // the shared timer keeps the first one fed
  t.true((await first).events.filter((e) => e.event === 'pool').length >= 3);
  // a stream left open does not hold up the pool's stop
  const open = sse(`${pool.api!.url}api/v1/events`, () => false, 60_000).catch(() => undefined);
  for (let i = 0; i < 100 && pool.api!.events.size < 1; i++) await new Promise((r) => setTimeout(r, 20));
  await pool.stop();
  pools.splice(pools.indexOf(pool), 1);
  t.pass();
  void open;
});
