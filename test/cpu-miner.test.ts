/**
 * The demo CPU miner (ts/miner/cpu.ts, issue 15 point 6) against a real pool on a real
 * bcoin regtest node: its workers connect as separate miners, their shares are accepted,
 * and on regtest (real bits) those shares solve blocks bcoin accepts. Also the native
 * nonce scan it hashes with, against plain sha256d.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { CpuMiner } from '../ts/miner/cpu.js';
import { scanNonces, sha256d, targetFromDifficulty, targetToBigInt } from '../ts/native/core.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

let node: BcoinNode;
let pool: Pool;
const miners: CpuMiner[] = [];
const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-cpuminer-'));

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(432, REGTEST_ADDRESS); // past segwit activation
  pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 0.001, mindiff: 0.0001, logdir, blockpoll: 100,
  }, { logger: new MemoryLogger(), workers: 1, statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
});

test.after.always(async () => {
  for (const m of miners) await m.stop();
  await pool?.stop();
  await stopAllBcoins();
  rmSync(logdir, { recursive: true, force: true });
});

test('scanNonces: the first hit is at or under the target and equals sha256d of that header; the ones before miss', (t) => {
  const header = Buffer.alloc(80);
  header.write('ckpool-ts demo miner', 4);
  // an easy target keeps the scan short: difficulty 2^-20 passes about one hash in 4096
  const easy = targetFromDifficulty(2 ** -20);
  const hit = scanNonces(header, 0, 1_000_000, easy);
  t.true(hit >= 0);
  const h = Buffer.from(header);
  h.writeUInt32LE(hit, 76);
  t.true(targetToBigInt(sha256d(h)) <= targetToBigInt(easy));
  for (let n = Math.max(0, hit - 50); n < hit; n++) {
    h.writeUInt32LE(n, 76);
    t.true(targetToBigInt(sha256d(h)) > targetToBigInt(easy), `nonce ${n} passed but was not returned`);
  }
  t.is(scanNonces(header, hit + 1, 0, easy), -1, 'an empty range finds nothing');
  t.throws(() => scanNonces(header.subarray(0, 79), 0, 10, easy), { code: 'CKP_ERR_NATIVE_LENGTH' });
  t.throws(() => scanNonces(header, -1, 10, easy), { code: 'CKP_ERR_NATIVE_RANGE' });
});

test('three demo workers connect as separate miners, get shares accepted and solve regtest blocks bcoin accepts', async (t) => {
  const height0 = await node.rpc.getBlockCount();
  const blocks: string[] = [];
  pool.generator.on('block', (r) => { if (r.accepted) blocks.push(r.hash); });
  const workers = ['demo.cpu0', 'demo.cpu1', 'demo.cpu2'];
  const miner = await CpuMiner.start({ port: pool.addresses[0]!.port, workers, logger: new MemoryLogger() });
  miners.push(miner);
  const seen = new Map<string, number>();
  miner.on('share', (w, ok) => { if (ok) seen.set(w, (seen.get(w) ?? 0) + 1); });
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline && (workers.some((w) => !seen.has(w)) || blocks.length === 0)) await new Promise((r) => setTimeout(r, 200));
  t.deepEqual([...seen.keys()].sort(), workers, 'every worker had a share accepted');
  // the pool saw them as three authorised miners, each under its own worker name
  const user = pool.stats.getUser('demo');
  t.truthy(user);
  t.deepEqual(user!.workers.map((w) => w.name).sort(), workers);
  t.true(pool.stats.totals.accepted >= 3);
  t.true(blocks.length >= 1, 'at least one share solved a block');
  const height = await node.rpc.getBlockCount();
  t.true(height > height0, `bcoin's chain grew (${height0} → ${height})`);
  t.true(miner.hashrate > 0);
  const counts = miner.counts;
  t.is(counts.length, 3);
  for (const c of counts) t.true(c.accepted >= 1);
  await miner.stop();
  // stopped: its connections are gone from the pool (worker-thread counts arrive within 50 ms)
  const until = Date.now() + 5000;
  while (Date.now() < until && pool.stats.connectedWorkers() > 0) await new Promise((r) => setTimeout(r, 50));
  t.is(pool.stats.connectedWorkers(), 0);
});
