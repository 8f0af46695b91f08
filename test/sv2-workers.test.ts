/**
 * Stratum V2 miners on the worker threads (issue 17: V1 and V2 miners share one pool,
 * worker threads included). A pool with `workers: 2` on a real bcoin regtest node; the
 * main thread accepts on the sv2url listener and hands each connection to the least
 * loaded thread (ts/pool/workers.ts handoffSv2), which runs its Noise session and
 * channels against its own stratifier. The clients are the reference-crate client
 * (crates/ckpool-sv2/examples/sv2-testclient, as in test/sv2.test.ts).
 *
 * Difficulties as in test/sv2.test.ts: startdiff 2e-10 is below regtest's network
 * difficulty, so every hash is a share, and a hash at or below the network target
 * (about half of them) is a block.
 */
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand, type CommandContext } from '../ts/control/commands.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { sha256d } from '../ts/native/core.js';
import { Pool } from '../ts/pool/pool.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { buildSv2Client, grind, header, le, nbitsTarget, Sv2TestClient, type Sv2Event } from './helpers/sv2-client.js';

const THREADS = 2;
const WAIT = 30_000;

let node: BcoinNode;
let pool: Pool;
let logger: MemoryLogger;
let logdir: string;
const dirs: string[] = [];
const clients: Sv2TestClient[] = [];

test.before(async () => {
  const [n] = await Promise.all([startTestBcoin({ walletEnabled: false }), buildSv2Client()]);
  node = n;
  await node.generateToAddress(2, REGTEST_ADDRESS);
  logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2w-'));
  const sockdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2w-sock-'));
  dirs.push(logdir, sockdir);
  logger = new MemoryLogger();
  pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'], startdiff: 2e-10, mindiff: 1e-10,
    logdir, updateInterval: 600, blockpoll: 50,
  }, { logger, logShares: true, sockdir, workers: THREADS, statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
});

test.after.always(async () => {
  for (const c of clients) c.kill();
  await pool?.stop();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function command(text: string): Promise<string> {
  const ctx: CommandContext = {
    socket: 'listener', target: pool, logger, startedAt: Date.now(), counters: { shares: 0 },
    shutdown: () => undefined, now: Date.now(),
  };
  return runCommand(text, ctx).then((r) => r.reply);
}

interface Miner {
  c: Sv2TestClient;
  channelId: number;
  target: bigint;
  seq: number;
}

/** Connect, SetupConnection, open a standard channel for `user`. */
async function openChannel(user: string): Promise<Miner> {
  const { client: c, first } = await Sv2TestClient.connect(pool.sv2!.addresses[0]!.port, pool.sv2!.authorityPublic);
  clients.push(c);
  if (first.event !== 'connected') throw new Error(`handshake failed: ${JSON.stringify(first)}`);
  await c.request({ send: 'SetupConnection', flags: 1 }, c.msg('SetupConnectionSuccess'));
  const open = await c.request({ send: 'OpenStandardMiningChannel', requestId: 1, user, maxTarget: 'ff'.repeat(32) },
    (e) => /^OpenStandardMiningChannel|OpenMiningChannelError/.test(String(e.type)));
  if (open.type !== 'OpenStandardMiningChannelSuccess') throw new Error(JSON.stringify(open));
  return { c, channelId: open.channelId as number, target: le(open.target as string), seq: 0 };
}

interface Job { jobId: number; version: number; prevHash: string; nbits: number; ntime: number; merkleRoot: string }

/** The channel's active job (the latest SetNewPrevHash seen since `from` and its job). */
async function activeJob(m: Miner, from = 0): Promise<Job> {
  const prev = await m.c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === m.channelId, WAIT, from);
  const job = m.c.events.find((e) => e.type === 'NewMiningJob' && e.channelId === m.channelId && e.jobId === prev.jobId)!;
  return {
    jobId: job.jobId as number, version: job.version as number, prevHash: prev.prevHash as string, nbits: prev.nbits as number,
    ntime: prev.minNtime as number, merkleRoot: job.merkleRoot as string,
  };
}

function submit(m: Miner, job: Job, nonce: number): Promise<Sv2Event> {
  const seq = ++m.seq;
  return m.c.request({ send: 'SubmitSharesStandard', channelId: m.channelId, sequenceNumber: seq, jobId: job.jobId, nonce, ntime: job.ntime, version: job.version },
    (e) => (e.type === 'SubmitSharesSuccess' || e.type === 'SubmitSharesError') && (e.lastSequenceNumber ?? e.sequenceNumber) === seq);
}

const mk = (job: Job) => (nonce: number) => header(job.version, job.prevHash, job.merkleRoot, job.ntime, job.nbits, nonce);

test.serial('SV2 connections are served on the worker threads: jobs, shares, stats, share log, a block bcoin accepts, clients, Reconnect', async (t) => {
  t.truthy(pool.workers);
  const a = await openChannel('sv2wa.rig');
  const b = await openChannel('sv2wb.rig');
  const [ja, jb] = await Promise.all([activeJob(a), activeJob(b)]);

  // not on the main thread's stratifier: each on a worker thread, one per thread (least loaded)
  t.false([...pool.stratifier.clients.values()].some((c) => c.workername.startsWith('sv2w')));
  t.is(pool.sv2!.connections.size, 0, 'the main thread serves no SV2 connection itself');
  const counts = await pool.workers!.counts();
  t.is(counts.sv2Connections, 2);
  t.is(counts.sv2Channels, 2);
  t.deepEqual(counts.perThread.map((p) => p.sv2Connections).sort(), [1, 1], JSON.stringify(counts.perThread));
  t.is(pool.sv2!.stats().handed, 2);

  // `clients` lists both as sv2 miners (from the threads' records)
  const listed = (JSON.parse(await command('clients')) as { clients: Record<string, unknown>[] }).clients
    .filter((c) => String(c.workername).startsWith('sv2w'));
  t.deepEqual(listed.map((c) => [c.workername, c.protocol, c.authorised]).sort(), [['sv2wa.rig', 'sv2', true], ['sv2wb.rig', 'sv2', true]]);
  const records = await pool.workers!.clientList();
  t.is(records.filter((r) => r.conn.protocol === 'sv2').length, 2);

  // a valid share from each, judged on its thread (a duplicate is caught there too)
  const netA = nbitsTarget(ja.nbits);
  const shareA = grind(mk(ja), (h) => h > netA && h <= a.target);
  const okA = await submit(a, ja, shareA.nonce);
  t.is(okA.type, 'SubmitSharesSuccess', JSON.stringify(okA));
  t.is((await submit(a, ja, shareA.nonce)).errorCode, 'duplicate-share');
  const netB = nbitsTarget(jb.nbits);
  const shareB = grind(mk(jb), (h) => h > netB && h <= b.target);
  const okB = await submit(b, jb, shareB.nonce);
  t.is(okB.type, 'SubmitSharesSuccess', JSON.stringify(okB));

  // the shares reach the main thread's PoolStats (forwarded) and the share log
  await waitFor(() => (pool.stats.getUser('sv2wa')?.shares ?? 0) > 0 && (pool.stats.getUser('sv2wb')?.shares ?? 0) > 0, 'forwarded stats of both users');
  const shareLog = () => readdirSync(logdir).filter((d) => /^[0-9a-f]{8}$/.test(d)).flatMap((d) =>
    readdirSync(path.join(logdir, d)).flatMap((f) => readFileSync(path.join(logdir, d, f), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
  await waitFor(() => {
    const lines = shareLog();
    return lines.some((l) => l.workername === 'sv2wa.rig' && l.result === true) && lines.some((l) => l.workername === 'sv2wb.rig' && l.result === true);
  }, 'share log lines of both workers');

  // client b solves a block: its thread sends it to the main thread, which submits it to bcoin
  const before = await node.rpc.getBlockCount();
  const fromA = a.c.events.length;
  const fromB = b.c.events.length;
  const blk = grind(mk(jb), (h) => h <= netB, shareB.nonce + 1);
  const hash = Buffer.from(sha256d(mk(jb)(blk.nonce))).reverse().toString('hex');
  t.is((await submit(b, jb, blk.nonce)).type, 'SubmitSharesSuccess');
  await waitFor(async () => (await node.rpc.getBlockCount()) === before + 1, 'bcoin to take the block');
  t.is(await node.rpc.call<string>('getbestblockhash', []), hash);
  await waitFor(() => logger.lines.some((l) => l.msg.includes(hash)), 'the block in the pool log');
  // both threads' miners move to the new tip
  const [na, nb] = await Promise.all([activeJob(a, fromA), activeJob(b, fromB)]);
  t.not(na.prevHash, ja.prevHash);
  t.not(nb.prevHash, jb.prevHash);
  const late = grind(mk(jb), (h) => h > netB, blk.nonce + 1);
  t.is((await submit(b, jb, late.nonce)).errorCode, 'stale-share');

  // the operator's reconnect (what -H sends the old process's miners) reaches both threads' SV2 miners
  const ra = a.c.events.length;
  const rb = b.c.events.length;
  t.is(await command('reconnect'), 'reconnecting');
  const [rca, rcb] = await Promise.all([a.c.next(a.c.msg('Reconnect'), WAIT, ra), b.c.next(b.c.msg('Reconnect'), WAIT, rb)]);
  t.is(rca.newPort, 0);
  t.is(rcb.newPort, 0);
});
