/**
 * The pool with worker threads (`workers: 2`, ts/pool/workers.ts) end to end: a real
 * bcoin regtest node, real TCP miners (ts/miner/client.ts), the real Pool. The main thread
 * keeps the listeners, the generator and PoolStats; every miner is served on one of the
 * two worker threads. Shares are judged with the template target raised to difficulty 1
 * (test/helpers/hardbits.ts) so they are not blocks, except in the block tests, which
 * run pools on the real regtest target (every share is a block there).
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { addressToScript } from '../ts/bitcoin/address.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { StratumClient } from '../ts/miner/client.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { Pool } from '../ts/pool/pool.js';
import type { ClientRecord } from '../ts/pool/thread-protocol.js';
import { REGTEST_ADDRESS, startTestBcoin, type BcoinNode } from './helpers/bcoin.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';
import { mineOne, modeConfig, stopMainPoolEnv, tempDir, waitFor } from './helpers/modes.js';

const DIFF = 1e-6; // a few thousand hashes per share for the native grinder
/** waits for events: generous, the CI machine runs other bcoin-backed files alongside */
const WAIT = 30_000;
const THREADS = 2;
/** thread slots: 0 is the main thread, 1…THREADS the workers */
const SLOTS = THREADS + 1;

let node: BcoinNode;
let hard: HardBits;
let pool: Pool;
let port: number;
const logger = new MemoryLogger();
const closers: (() => Promise<void> | void)[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: true, walletWitness: true });
  await node.fundWallet(432); // past segwit activation, and coins for a mempool transaction
  hard = await hardBitsProxy({ host: node.host, port: node.port });
  pool = await startPool({ btcdUrl: hard.url, startdiff: DIFF, logger });
  port = pool.addresses[0]!.port;
});

test.after.always(() => stopMainPoolEnv({ pool, hard }, closers));

// each test starts with no miners on the main pool (the previous test's were closed in its teardown)
test.beforeEach(() => waitFor(() => pool.workers!.clients === 0, WAIT, 'the previous test\'s miners to be gone'));

interface PoolArgs {
  btcdUrl: string;
  startdiff: number;
  solo?: boolean;
  port?: number;
  logger?: MemoryLogger;
  logShares?: boolean;
}

async function startPool(a: PoolArgs): Promise<Pool> {
  return Pool.start({
    btcd: [{ url: a.btcdUrl, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: a.solo ? undefined : REGTEST_ADDRESS, serverurl: [`127.0.0.1:${a.port ?? 0}`],
    startdiff: a.startdiff, mindiff: 1e-9, logdir: tempDir('workers'), updateInterval: 600, blockpoll: 50,
  }, { solo: a.solo, logger: a.logger ?? new MemoryLogger(), logShares: a.logShares, workers: THREADS, statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
}

/** A pool for one test, stopped when the file ends (or by the test itself). */
async function extraPool(a: PoolArgs): Promise<Pool> {
  const p = await startPool(a);
  let stopped = false;
  closers.push(async () => { if (!stopped) await p.stop(); });
  const stop = p.stop.bind(p);
  p.stop = async () => { stopped = true; await stop(); };
  return p;
}

/** A miner connection, closed when the test ends. */
async function connect(t: ExecutionContext, p: number): Promise<StratumClient> {
  const c = await StratumClient.connect(p);
  t.teardown(() => c.close());
  return c;
}

/** Connect, subscribe, wait for work (pool mode), authorise. */
async function miner(t: ExecutionContext, p: number, worker: string, opts: { solo?: boolean; pass?: string } = {}): Promise<StratumClient> {
  const c = await connect(t, p);
  const job = c.nextJob(WAIT);
  const sub = await c.subscribe(undefined, undefined);
  if (!Array.isArray(sub.result)) throw new Error(`subscribe failed: ${JSON.stringify(sub)}`);
  if (!opts.solo) await job;
  const a = await c.authorize(worker, opts.pass ?? 'x');
  if (a.result !== true) throw new Error(`authorize failed: ${JSON.stringify(a)}`);
  if (opts.solo) await job;
  return c;
}

/** Which thread slot a miner is on, from its extranonce1 (≡ slot mod SLOTS). */
function slotOf(c: StratumClient): number {
  let v = 0n;
  for (let i = c.extranonce1.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(c.extranonce1[i]!);
  return Number(v % BigInt(SLOTS));
}

/** Which thread slot a client id belongs to (one serverurl: ids are 1 + slot + k·SLOTS). */
const slotOfId = (id: number, urls = 1) => (id >= 2 ** 32 ? (id - 2 ** 32) : id - urls) % SLOTS;

/** The worker threads' view of this miner (by extranonce1). */
async function recordOf(p: Pool, c: StratumClient): Promise<ClientRecord> {
  const en1 = c.extranonce1.toString('hex');
  const r = (await p.workers!.clientList()).find((x) => x.enonce1Hex === en1);
  if (!r) throw new Error(`no worker thread serves extranonce1 ${en1}`);
  return r;
}

/** A show_message whose text matches, within the wait. */
function nextMessage(c: StratumClient, re: RegExp, timeoutMs = WAIT): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { c.off('message', on); reject(new Error(`no client.show_message matching ${re} within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (m: Record<string, unknown>) => {
      if (m.method !== 'client.show_message') return;
      const text = String((m.params as unknown[])[0]);
      if (!re.test(text)) return;
      clearTimeout(timer);
      c.off('message', on);
      resolve(text);
    };
    c.on('message', on);
  });
}

/** Drop these miners and wait until the threads have reported them gone. */
async function leave(p: Pool, ...cs: StratumClient[]): Promise<void> {
  for (const c of cs) c.close();
  await waitFor(() => p.workers!.clients === 0, WAIT, 'the threads to report their miners gone');
}

/** Solved blocks a pool wrote (<height>-<hash>.json; the verdict is beside it in .result.json). */
function blockFiles(p: Pool): string[] {
  const dir = path.join(p.config.logdir, 'blocks');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.result.json')) : [];
}
const resultFile = (p: Pool, f: string) => path.join(p.config.logdir, 'blocks', f.replace(/\.json$/, '.result.json'));

const poolShares = (p: Pool) => {
  const s = p.stats.snapshot(Date.now());
  return { shares: s.shares + s.unaccounted.shares, diff: s.accepted + s.unaccounted.diff, rejects: s.rejected + s.unaccounted.rejects };
};

test.serial('miners are spread over both threads, least-loaded first; extranonce1, client and session ids are all distinct', async (t) => {
  t.is(pool.workers!.threads, THREADS);
  // all at once: the hand-off must count connections still on their way to a thread
  const ms = await Promise.all(Array.from({ length: 6 }, (_, i) => miner(t, port, `spread.w${i}`)));
  const slots = ms.map(slotOf);
  t.deepEqual([...slots].sort(), [1, 1, 1, 2, 2, 2], `slots ${slots.join(',')}`);
  t.is(pool.stratifier.clients.size, 0, 'the main thread serves no miner itself');
  const records = await pool.workers!.clientList();
  t.is(records.length, 6);
  const byEn1 = new Map(records.map((r) => [r.enonce1Hex, r]));
  t.is(byEn1.size, 6, 'extranonce1 values distinct');
  t.is(new Set(records.map((r) => r.id)).size, 6, 'client ids distinct');
  t.is(new Set(records.map((r) => r.sessionId)).size, 6, 'session ids distinct');
  for (const c of ms) {
    const r = byEn1.get(c.extranonce1.toString('hex'))!;
    t.truthy(r);
    t.is(slotOfId(r.id), slotOf(c), 'client id and extranonce1 name the same thread');
    t.is(parseInt(r.sessionId, 16) % SLOTS, slotOf(c), 'session id in the thread\'s residue class');
    t.is(c.sessionId, r.sessionId);
  }
  const counts = await pool.workers!.counts();
  t.is(counts.clients, 6);
  await waitFor(() => pool.workers!.clients === 6, WAIT, 'thread reports');
  // two miners of thread 1 leave: the next one goes to thread 1 (1 miner against 3)
  for (const c of ms.filter((x) => slotOf(x) === 1).slice(0, 2)) c.close();
  await waitFor(() => pool.workers!.clients === 4, WAIT, 'two miners gone');
  const next = await miner(t, port, 'spread.w6');
  t.is(slotOf(next), 1, 'a new miner goes to the thread with fewer miners');
  await leave(pool, ...ms, next);
});

test.serial('a miner that reconnects to the other thread resumes its session and keeps its extranonce1', async (t) => {
  const a = await miner(t, port, 'sess.a');
  const home = slotOf(a);
  const { sessionId, extranonce1 } = a;
  a.close();
  // the session reaches every thread's copy of the table (and the pool's count once)
  await waitFor(() => pool.workers!.clients === 0 && pool.workers!.sessions >= 1, WAIT, 'the session to be remembered');
  // load the home thread until the other one has fewer miners: the reconnection goes there
  const fillers: StratumClient[] = [];
  const on = (s: number) => fillers.filter((f) => slotOf(f) === s).length;
  while (on(home) <= on(3 - home)) {
    fillers.push(await miner(t, port, `sess.fill${fillers.length}`));
    await waitFor(() => pool.workers!.clients === fillers.length, WAIT, 'the filler to be counted');
  }
  const back = await connect(t, port);
  const job = back.nextJob(WAIT);
  const sub = await back.subscribe(undefined, sessionId);
  t.true(Array.isArray(sub.result), JSON.stringify(sub));
  await job;
  t.is(back.sessionId, sessionId, 'same session id');
  t.deepEqual(back.extranonce1, extranonce1, 'same extranonce1');
  t.is((await back.authorize('sess.a', 'x')).result, true);
  const r = await recordOf(pool, back);
  t.not(slotOfId(r.id), home, 'served by the other thread this time');
  // resumed: no thread offers that session again
  const again = await connect(t, port);
  const sub2 = await again.subscribe(undefined, sessionId);
  t.true(Array.isArray(sub2.result));
  t.notDeepEqual(again.extranonce1, extranonce1, 'a session resumes once');
  await leave(pool, back, again, ...fillers);
});

test.serial('shares on worker threads are counted exactly in the main thread\'s PoolStats; duplicates and stale shares rejected', async (t) => {
  const before = poolShares(pool);
  const [a, b] = await Promise.all([miner(t, port, 'acct.a'), miner(t, port, 'acct.b')]);
  t.not(slotOf(a), slotOf(b), 'one miner per thread');
  const ra = await recordOf(pool, a);
  const rb = await recordOf(pool, b);
  await waitFor(() => pool.stats.hasClient(ra.id) && pool.stats.hasClient(rb.id), WAIT, 'authorisations replayed');
  const N = 5;
  const shares: string[][] = [];
  for (let i = 0; i < N; i++) {
    for (const [c, w] of [[a, 'acct.a'], [b, 'acct.b']] as const) {
      const { share, reply } = await mineOne(c, w, i * 1_000_003);
      t.is(reply.result, true, JSON.stringify(reply));
      shares.push(share.params);
    }
  }
  // a duplicate on each thread
  const dupA = await a.submit('acct.a', shares[0]!);
  t.deepEqual(dupA.error, [22, 'Duplicate', null]);
  const dupB = await b.submit('acct.b', shares[1]!);
  t.deepEqual(dupB.error, [22, 'Duplicate', null]);
  // a share on the job before a block change is stale
  const old = a.job!;
  const s = a.grind({ job: old });
  const clean = a.nextJob(WAIT);
  await node.generateToAddress(1, REGTEST_ADDRESS);
  const j = await clean;
  t.true(j.clean);
  const stale = await a.submit('acct.a', s.params);
  t.deepEqual(stale.error, [21, 'Stale', null]);

  // the main thread's accounting: exactly what was submitted
  // (sums of equal values: the same in any order, so exact comparisons hold)
  let sum = 0;
  for (let i = 0; i < N; i++) sum += DIFF;
  let total = 0;
  for (let i = 0; i < 2 * N; i++) total += DIFF;
  await waitFor(() => pool.stats.getUser('acct')?.shares === total, WAIT, `user shares ${pool.stats.getUser('acct')?.shares} = ${total}`);
  // the three rejects were replayed too (the last stats batch may follow the shares')
  await waitFor(() => poolShares(pool).rejects - before.rejects > 2.5 * DIFF, WAIT, 'rejects replayed');
  const user = pool.stats.getUser('acct')!;
  t.is(user.instances, 2);
  t.deepEqual(user.workers.map((w) => [w.name, w.shares]).sort(), [['acct.a', sum], ['acct.b', sum]]);
  t.is(pool.stats.getClient(ra.id)!.worker, 'acct.a');
  t.is(pool.stats.getClient(rb.id)!.worker, 'acct.b');
  t.true(pool.stats.getClient(ra.id)!.lastShare > 0);
  const after = poolShares(pool);
  t.is(after.shares - before.shares, 2 * N, 'accepted share count');
  t.true(Math.abs(after.diff - before.diff - 2 * N * DIFF) < 1e-15, `accepted diff ${after.diff - before.diff}`);
  t.true(Math.abs(after.rejects - before.rejects - 3 * DIFF) < 1e-15, `rejected diff ${after.rejects - before.rejects}`);
  // the threads' own per-client counters agree
  const ra2 = await recordOf(pool, a);
  const rb2 = await recordOf(pool, b);
  t.deepEqual([ra2.accepted, ra2.rejected, rb2.accepted, rb2.rejected], [N, 2, N, 1]);
  // and so does the users/ file the pool writes
  await pool.stats.writeFiles(Date.now());
  const file = JSON.parse(readFileSync(path.join(pool.config.logdir, 'users', 'acct'), 'utf8'));
  t.is(file.shares, total);
  t.deepEqual(file.worker.map((w: { workername: string }) => w.workername).sort(), ['acct.a', 'acct.b']);
  // gone miners are gone from the main thread's stats too
  await leave(pool, a, b);
  await waitFor(() => !pool.stats.hasClient(ra.id) && !pool.stats.hasClient(rb.id), WAIT, 'disconnects replayed');
  t.is(pool.stats.getUser('acct')!.instances, 0);
});

test.serial('vardiff on a worker thread: a fast miner is sent a higher difficulty', async (t) => {
  const c = await miner(t, port, 'fast.w1');
  t.is(c.difficulty, DIFF);
  const raised = new Promise<number>((resolve) => c.on('difficulty', resolve));
  let got: number | undefined;
  void raised.then((d) => { got = d; });
  for (let i = 0; i < 200 && got === undefined; i++) {
    const { reply } = await mineOne(c, 'fast.w1', i * 1_000_003);
    t.is(reply.result, true, JSON.stringify(reply));
  }
  const d = await Promise.race([raised, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no set_difficulty')), WAIT))]);
  t.true(d > DIFF, `new difficulty ${d}`);
  t.is((await recordOf(pool, c)).vd.diff, d);
  await leave(pool, c);
});

test.serial('get_txnhashes / get_transactions on worker threads answer with the template\'s transactions', async (t) => {
  const [a, b] = await Promise.all([miner(t, port, 'txn.a'), miner(t, port, 'txn.b')]);
  t.not(slotOf(a), slotOf(b));
  // bcoin rebuilds its cached template for a new mempool transaction only when the
  // cache is over 10 s old: send one a second until a template carries them
  const addr = await node.getWalletAddress();
  const sent: string[] = [];
  const deadline = Date.now() + WAIT;
  let ja, jb;
  for (;;) {
    sent.push(await node.sendToAddress(addr, 50_000_000));
    const na = a.nextJob(WAIT);
    const nb = b.nextJob(WAIT);
    await pool.generator.update();
    [ja, jb] = await Promise.all([na, nb]);
    if (pool.generator.workbase(ja.jobId)!.txCount > 0) break;
    if (Date.now() > deadline) return t.fail('no template with the mempool transactions');
    await new Promise((r) => setTimeout(r, 1000));
  }
  t.is(ja.jobId, jb.jobId);
  const wb = pool.generator.workbase(ja.jobId)!;
  const txids = wb.txids();
  t.true(sent.every((id) => txids.includes(id)), 'the mempool transactions are in the template');
  const hashes = await a.request('mining.get_txnhashes', [ja.jobId], WAIT);
  t.is(hashes.error, null);
  t.is(hashes.result, txids.map((h) => h + ' ').join(''));
  const txs = await b.request('mining.get_transactions', [jb.jobId], WAIT);
  t.is(txs.error, null);
  t.deepEqual(txs.result, wb.template.transactions.map((x) => x.data));
  // rate limit and unknown job, answered on the thread
  t.deepEqual((await a.request('mining.get_transactions', [ja.jobId], WAIT)).error, [20, 'Ratelimit', null]);
  t.deepEqual((await b.request('mining.get_txnhashes', ['nope'], WAIT)).error, [21, 'Invalid job_id', null]);
  await leave(pool, a, b);
});

test.serial('a block found on a worker thread is written to blocks/, accepted by bcoin, and announced on the other thread', async (t) => {
  const blockLogger = new MemoryLogger();
  const bp = await extraPool({ btcdUrl: node.url, startdiff: 1e-6, logger: blockLogger });
  const bport = bp.addresses[0]!.port;
  const [a, b] = await Promise.all([miner(t, bport, 'finder.rig'), miner(t, bport, 'other.rig')]);
  t.not(slotOf(a), slotOf(b), 'finder and listener on different threads');
  const before = await node.rpc.getBlockCount();
  const toOther = nextMessage(b, /^Block \d+ solved by finder\.rig @ /);
  const toFinder = nextMessage(a, /^Block \d+ solved by finder\.rig @ /);
  const s = a.grind({ job: a.job! });
  t.true(s.block, 'on regtest every share at this difficulty is a block');
  const r = await a.submit('finder.rig', s.params, WAIT);
  t.is(r.result, true, JSON.stringify(r));
  const text = await toOther;
  await toFinder;
  t.is(text, `Block ${before + 1} solved by finder.rig @ ckpool-ts!`);
  await waitFor(() => blockFiles(bp).length > 0, WAIT, 'block file');
  const files = blockFiles(bp);
  t.is(files.length, 1);
  const record = JSON.parse(readFileSync(path.join(bp.config.logdir, 'blocks', files[0]!), 'utf8'));
  await waitFor(() => existsSync(resultFile(bp, files[0]!)), WAIT, 'block result file');
  t.true(JSON.parse(readFileSync(resultFile(bp, files[0]!), 'utf8')).accepted);
  t.is(record.workername, 'finder.rig');
  t.is(record.height, before + 1);
  t.is(await node.rpc.getBlockCount(), before + 1);
  t.is(await node.rpc.getBestBlockHash(), record.hash);
  // the block (with the mempool transactions of the previous test, when run with it) was
  // assembled on the main thread from the full template, with the coinbase the thread built
  const block = await node.rpc.call<{ tx: unknown[] }>('getblock', [record.hash, true, false]);
  t.is(block.tx.length, 1 + bp.generator.workbase(record.jobId)!.txCount, 'every template transaction is in the block');
  // the solve is in the main thread's stats (replayed)
  await waitFor(() => blockLogger.lines.some((l) => /Block solved after/.test(l.msg)), WAIT, 'block stats replayed');
  await bp.stop();
});

test.serial('solo mode with workers: the coinbase built on the thread pays the miner, and its block is accepted', async (t) => {
  const sp = await extraPool({ btcdUrl: node.url, startdiff: 1e-6, solo: true });
  const sport = sp.addresses[0]!.port;
  // a non-address username is refused on the thread
  const bad = await connect(t, sport);
  await bad.subscribe();
  const refused = await bad.authorize('notanaddress.rig');
  t.is(refused.result, false);
  t.regex(String((refused.error as unknown[])[1]), /valid regtest address/);
  const mine = await node.getWalletAddress();
  const c = await miner(t, sport, `${mine}.rig1`, { solo: true });
  t.true(slotOf(c) >= 1);
  const script = addressToScript(mine, 'regtest').toString('hex');
  t.true((c.job!.params[3] as string).includes(script), 'coinb2 pays the miner');
  t.false((c.job!.params[3] as string).includes(addressToScript(REGTEST_ADDRESS, 'regtest').toString('hex')));
  const before = await node.rpc.getBlockCount();
  const s = c.grind({ job: c.job! });
  t.true(s.block);
  t.is((await c.submit(`${mine}.rig1`, s.params, WAIT)).result, true);
  await waitFor(() => blockFiles(sp).length > 0, WAIT, 'block file');
  const file = blockFiles(sp)[0]!;
  const record = JSON.parse(readFileSync(path.join(sp.config.logdir, 'blocks', file), 'utf8'));
  const deadline = Date.now() + WAIT;
  while ((await node.rpc.getBlockCount()) < before + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.is(await node.rpc.getBestBlockHash(), record.hash);
  const block = await node.rpc.call<{ tx: Array<{ vout: Array<{ value: number; scriptPubKey: { hex: string } }> }> }>('getblock', [record.hash, true, true]);
  t.is(block.tx[0]!.vout[0]!.scriptPubKey.hex, script);
  t.true(block.tx[0]!.vout[0]!.value > 0);
  await sp.stop();
});

test.serial('pool.stop() ends every worker thread, and a new pool can listen on the same port', async (t) => {
  const p1 = await extraPool({ btcdUrl: hard.url, startdiff: DIFF });
  const p1port = p1.addresses[0]!.port;
  const [a, b] = await Promise.all([miner(t, p1port, 'stop.a'), miner(t, p1port, 'stop.b')]);
  t.not(slotOf(a), slotOf(b));
  t.is(p1.workers!.running, THREADS);
  const closedA = new Promise<void>((r) => (a.closed ? r() : a.once('close', () => r())));
  const closedB = new Promise<void>((r) => (b.closed ? r() : b.once('close', () => r())));
  const t0 = Date.now();
  await p1.stop();
  const took = Date.now() - t0;
  t.true(took < 8000, `stop took ${took} ms (a thread that does not end is terminated after 10 s)`);
  t.is(p1.workers!.running, 0, 'no thread left');
  await Promise.all([closedA, closedB]);
  // the threads flushed their last stats before ending
  t.is(p1.stats.getUser('stop')?.instances ?? 0, 0);
  const p2 = await extraPool({ btcdUrl: hard.url, startdiff: DIFF, port: p1port });
  t.is(p2.addresses[0]!.port, p1port);
  const c = await miner(t, p1port, 'stop.c');
  t.is((await mineOne(c, 'stop.c')).reply.result, true);
  await p2.stop();
  t.is(p2.workers!.running, 0);
});

test.serial('a passthrough connecting to a pool with workers: its miners are served on a worker thread', async (t) => {
  const pt = await PassthroughMode.start(modeConfig('passthrough', [{ port }]),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => pt.stop());
  await pt.waitReady(WAIT);
  const ptPort = pt.addresses[0]!.port;
  const [a, b] = await Promise.all([miner(t, ptPort, 'pass.a'), miner(t, ptPort, 'pass.b')]);
  t.is(pool.links.links.size, 0, 'the link is not on the main thread');
  const records = (await pool.workers!.clientList()).filter((r) => r.username === 'pass');
  t.is(records.length, 2);
  t.true(records.every((r) => r.id >= 2 ** 32), 'sub-clients of a link');
  const slots = new Set(records.map((r) => slotOfId(r.id)));
  t.is(slots.size, 1, 'both behind the one link, on one thread');
  t.true(slots.has(1) || slots.has(2));
  t.not(a.extranonce1.toString('hex'), b.extranonce1.toString('hex'));
  for (const [c, w] of [[a, 'pass.a'], [b, 'pass.b'], [b, 'pass.b']] as const) {
    t.is((await mineOne(c, w)).reply.result, true);
  }
  await waitFor(() => pool.stats.getUser('pass')?.shares === DIFF + DIFF + DIFF, WAIT, 'shares replayed');
  t.deepEqual(pool.stats.getUser('pass')!.workers.map((w) => [w.name, w.shares]).sort(), [['pass.a', DIFF], ['pass.b', DIFF + DIFF]]);
  a.close();
  b.close();
  await pt.stop();
  await waitFor(() => pool.workers!.clients === 0, WAIT, 'the link to close');
});

/**
 * Make worker thread `index` of the pool logging shares to `logdir` call
 * process.exit(code): what a crash looks like from the main thread (the thread ends with
 * a non-zero code). Done from outside through the inspector's NodeWorker domain, so the
 * pool carries no hook for it. Every pool in this file names its threads alike
 * ("[worker <id>] ckpool-ts worker <index>"), so each candidate is asked for its
 * workerData.shareLogDir (the console API's `require`).
 */
async function exitThread(logdir: string, index: number, code: number): Promise<void> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params: object) => new Promise<T>((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r as T))));
  try {
    const candidates: string[] = [];
    session.on('NodeWorker.attachedToWorker', (m: { params: { sessionId: string; workerInfo: { title: string } } }) => {
      if (m.params.workerInfo.title.endsWith(`] ckpool-ts worker ${index}`)) candidates.push(m.params.sessionId);
    });
    const replies = new Map<string, string>();
    session.on('NodeWorker.receivedMessageFromWorker', (m: { params: { sessionId: string; message: string } }) => replies.set(m.params.sessionId, m.params.message));
    await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    await waitFor(() => candidates.length > 0, 5000, `a thread named ckpool-ts worker ${index}`);
    await new Promise((r) => setTimeout(r, 200)); // the other pools' threads, if any
    const ask = JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: "require('node:worker_threads').workerData.shareLogDir", includeCommandLineAPI: true, returnByValue: true } });
    for (const sessionId of candidates) await post('NodeWorker.sendMessageToWorker', { sessionId, message: ask });
    await waitFor(() => candidates.every((c) => replies.has(c)), 5000, 'every candidate thread to answer');
    const target = candidates.find((c) => (JSON.parse(replies.get(c)!) as { result?: { result?: { value?: unknown } } }).result?.result?.value === logdir);
    if (target === undefined) throw new Error(`no thread ${index} of the pool logging to ${logdir}: ${[...replies.values()].join(' ')}`);
    // the session stays attached until the thread has run it (it then detaches: it is gone)
    const gone = new Promise<void>((resolve) => session.on('NodeWorker.detachedFromWorker', (m: { params: { sessionId: string } }) => {
      if (m.params.sessionId === target) resolve();
    }));
    await post('NodeWorker.sendMessageToWorker', { sessionId: target, message: JSON.stringify({ id: 2, method: 'Runtime.evaluate', params: { expression: `process.exit(${code})` } }) });
    await gone;
  } finally {
    session.disconnect();
  }
}

test.serial('a worker thread that dies is replaced: its miners are disconnected and leave the stats, the other thread\'s stay, new miners are served', async (t) => {
  const log = new MemoryLogger();
  const p = await extraPool({ btcdUrl: hard.url, startdiff: DIFF, logger: log, logShares: true });
  const pport = p.addresses[0]!.port;
  const [a, b] = await Promise.all([miner(t, pport, 'crash.a'), miner(t, pport, 'crash.b')]);
  t.not(slotOf(a), slotOf(b), 'one miner on each thread');
  const [victim, survivor] = slotOf(a) === 1 ? [a, b] : [b, a];
  await waitFor(() => p.stats.snapshot(Date.now()).workers === 2, WAIT, 'both miners in the stats');

  await exitThread(p.config.logdir, 1, 3);
  await waitFor(() => victim.closed, WAIT, 'the miner on the dead thread to be disconnected');
  await waitFor(() => p.stats.snapshot(Date.now()).workers === 1, WAIT, 'the dead thread\'s miner to leave the stats');
  t.true(log.lines.some((l) => /Worker thread 1 exited \(code 3\)/.test(l.msg)), 'the crash is logged');
  t.false(survivor.closed);
  t.is((await mineOne(survivor, 'crash.' + (survivor === a ? 'a' : 'b'))).reply.result, true, 'the other thread\'s miner keeps mining');

  // a new thread 1 within ~1 s; the next miners are served on both threads again
  await waitFor(() => p.workers!.running === THREADS, WAIT, 'thread 1 to be restarted');
  const [c, d] = await Promise.all([miner(t, pport, 'crash.c'), miner(t, pport, 'crash.d')]);
  t.deepEqual([...new Set([slotOf(survivor), slotOf(c), slotOf(d)])].sort(), [1, 2], 'the restarted thread 1 takes miners again');
  for (const [m, w] of [[c, 'crash.c'], [d, 'crash.d']] as const) t.is((await mineOne(m, w)).reply.result, true);
  await p.stop();
});

test.serial('a worker thread that dies under load: the other thread\'s miners keep mining through it, every one of their submits accepted', async (t) => {
  const log = new MemoryLogger();
  const p = await extraPool({ btcdUrl: hard.url, startdiff: DIFF, logger: log, logShares: true });
  const pport = p.addresses[0]!.port;
  const names = ['load.a', 'load.b', 'load.c', 'load.d', 'load.e', 'load.f'];
  const ms = await Promise.all(names.map((n) => miner(t, pport, n)));
  const onThread1 = ms.filter((m) => slotOf(m) === 1);
  const others = ms.filter((m) => slotOf(m) !== 1);
  t.true(onThread1.length >= 1 && others.length >= 1, `miners on both threads (${ms.map(slotOf).join(',')})`);
  // every miner mines continuously; the crash comes in the middle of it
  let mining = true;
  const tallies = new Map<StratumClient, { ok: number; bad: string[] }>();
  const loops = ms.map(async (m, i) => {
    const tally = { ok: 0, bad: [] as string[] };
    tallies.set(m, tally);
    while (mining && !m.closed) {
      try {
        const r = await mineOne(m, names[i]!);
        if (r.reply.result === true) tally.ok++;
        else tally.bad.push(JSON.stringify(r.reply));
      } catch (e) {
        if (!m.closed) tally.bad.push((e as Error).message);
      }
      await new Promise((r) => setImmediate(r));
    }
  });
  await waitFor(() => others.every((m) => (tallies.get(m)?.ok ?? 0) >= 2), WAIT, 'shares before the crash');
  const before = new Map(others.map((m) => [m, tallies.get(m)!.ok]));
  await exitThread(p.config.logdir, 1, 7);
  await waitFor(() => onThread1.every((m) => m.closed), WAIT, 'the dead thread\'s miners to be disconnected');
  await waitFor(() => others.every((m) => tallies.get(m)!.ok >= before.get(m)! + 3), WAIT, 'the other thread\'s miners to mine on');
  mining = false;
  await Promise.all(loops);
  t.true(log.lines.some((l) => /Worker thread 1 exited \(code 7\)/.test(l.msg)), 'the crash is logged');
  for (const m of others) {
    t.false(m.closed, 'a miner of the other thread stays connected');
    t.deepEqual(tallies.get(m)!.bad, [], 'and none of its submits failed');
  }
  await waitFor(() => p.workers!.running === THREADS, WAIT, 'thread 1 to be restarted');
  for (const m of ms) m.close();
  await p.stop();
});
