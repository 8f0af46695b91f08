/**
 * dropidle (ckpool 1.2's key): a miner that sends no share for that long is
 * disconnected by the stratifier's client sweep; a miner that keeps sending shares
 * stays. Real parts only: a bcoin regtest node, the pool on real TCP sockets, and
 * miners that grind real shares. Checked on the main thread (workers 0, dropidle from
 * the config in seconds) and on a worker thread (workers 1, the library's dropIdleMs).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

let node: BcoinNode;
const pools: Pool[] = [];
const dirs: string[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
});

test.after.always(async () => {
  for (const p of pools) await p.stop().catch(() => undefined);
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startPool(config: { dropidle?: number }, opts: { workers: number; dropIdleMs?: number }): Promise<{ pool: Pool; port: number }> {
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-dropidle-'));
  dirs.push(logdir);
  const pool = await Pool.start({
    btcd: [{ url: `${node.host}:${node.port}`, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    // a share takes a few thousand hashes: the test's own grinding must not hold its timers up
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9, logdir, updateInterval: 600,
    ...config,
    // the ephemeral port is above 4000: not a highdiff port here
  }, { logger: new MemoryLogger(), statsIntervalMs: 3_600_000, server: { highdiffPort: 65535 }, ...opts });
  pools.push(pool);
  return { pool, port: pool.addresses[0]!.port };
}

/** Resolves with the ms the socket stayed open after `since`, or null if still open after `ms`. */
function closedWithin(c: StratumClient, ms: number, since: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (c.socket.destroyed) return resolve(Date.now() - since);
    const timer = setTimeout(() => resolve(null), ms);
    c.socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - since);
    });
  });
}

async function miner(port: number, worker: string): Promise<StratumClient> {
  const c = await StratumClient.connect(port);
  await c.subscribe();
  const r = await c.authorize(worker);
  if (r.result !== true) throw new Error(`authorize ${worker}: ${JSON.stringify(r)}`);
  await c.nextJob(5000, true);
  return c;
}

async function idleDropped(t: ExecutionContext, port: number, idleMs: number): Promise<void> {
  const busy = await miner(port, 'busy.w1');
  const idle = await miner(port, 'idle.w1');
  const authorisedAt = Date.now();
  // the busy miner sends an accepted share every idleMs / 3
  let shares = 0;
  let stop = false;
  const mining = (async () => {
    while (!stop) {
      const s = busy.grind({ job: busy.job!, start: Math.floor(Math.random() * 1e9) });
      const r = await busy.submit('busy.w1', s.params, 3000);
      if (r.result === true) shares++;
      await new Promise((res) => setTimeout(res, idleMs / 3));
    }
  })();
  const idleFor = await closedWithin(idle, idleMs * 4, authorisedAt);
  t.not(idleFor, null, 'the idle miner was dropped');
  t.true(idleFor! >= idleMs - 100, `not before dropidle: dropped after ${idleFor} ms`);
  t.true(idleFor! <= idleMs * 1.5 + 200, `within a sweep of dropidle: dropped after ${idleFor} ms`);
  // two more dropidle periods: the miner that keeps sending shares stays
  const busyClosed = await closedWithin(busy, idleMs * 2, Date.now());
  stop = true;
  await mining;
  t.is(busyClosed, null, 'the busy miner stays connected');
  t.true(shares >= 4, `the busy miner kept mining (${shares} accepted shares)`);
  busy.close();
}

test('dropidle from the config (seconds), miners on the main thread', async (t) => {
  const { port } = await startPool({ dropidle: 1 }, { workers: 0 });
  await idleDropped(t, port, 1000);
});

test('dropIdleMs on a worker thread', async (t) => {
  const { port } = await startPool({}, { workers: 1, dropIdleMs: 1200 });
  await idleDropped(t, port, 1200);
});

test('dropidle 0 (the default) drops nobody', async (t) => {
  const { port } = await startPool({ dropidle: 0 }, { workers: 0 });
  const idle = await miner(port, 'idle.w2');
  t.is(await closedWithin(idle, 2500, Date.now()), null);
  idle.close();
});
