/**
 * The pool end to end over real TCP, behind a real bcoin regtest node whose template
 * target is raised to difficulty 1 by test/helpers/hardbits.ts (so shares are not
 * blocks; see that file for why). Every stratum method and every rejection path.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';

let node: BcoinNode;
let proxy: HardBits;
let pool: Pool;
let port: number;
const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-pool-'));
const logger = new MemoryLogger();
const DIFF = 0.0001; // a few 100k hashes per share for the native grinder
const clients: StratumClient[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(5, REGTEST_ADDRESS);
  proxy = await hardBitsProxy({ host: node.host, port: node.port });
  pool = await Pool.start({
    btcd: [{ url: proxy.url, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: DIFF, mindiff: 1e-9, logdir,
    updateInterval: 600, blockpoll: 50,
  }, { logger, logShares: true, statsIntervalMs: 60_000, authTimeoutMs: 1500, server: { highdiffPort: 65535 } });
  port = pool.addresses[0]!.port;
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await pool?.stop();
  await proxy?.close();
  await stopAllBcoins();
  rmSync(logdir, { recursive: true, force: true });
});

async function connect(): Promise<StratumClient> {
  const c = await StratumClient.connect(port);
  clients.push(c);
  return c;
}

async function ready(worker = 'alice.w1'): Promise<StratumClient> {
  const c = await connect();
  const job = c.nextJob();
  await c.subscribe();
  await job;
  const r = await c.authorize(worker);
  if (r.result !== true) throw new Error(`authorize failed: ${JSON.stringify(r)}`);
  return c;
}

const codeOf = (r: { error: unknown }) => (Array.isArray(r.error) ? r.error[0] : null);

test.serial('subscribe: result, set_difficulty, clean notify; authorize user.worker and user_worker', async (t) => {
  const c = await connect();
  const diff = new Promise<number>((r) => c.once('difficulty', r));
  const job = c.nextJob();
  const sub = await c.subscribe('cgminer/4.11.1');
  const [subs, en1, en2size] = sub.result as [string[][], string, number];
  t.deepEqual(subs.map((s) => s[0]), ['mining.set_difficulty', 'mining.notify']);
  t.regex(en1, /^[0-9a-f]{8}$/);
  t.is(en2size, 8);
  t.is(sub.error, null);
  t.is(await diff, DIFF);
  const j = await job;
  t.true(j.clean);
  t.is(j.jobId, pool.generator.current!.jobId);
  t.is((j.params[6] as string), '1d00ffff');
  t.deepEqual((await c.authorize('alice.rig1')).result, true);
  t.deepEqual((await c.authorize('alice.rig1')).result, true, 'same worker again: still true');
  const other = await c.authorize('bob.rig');
  t.is(other.result, false);
  t.is(codeOf(other), 20);
  const c2 = await connect();
  await c2.subscribe();
  t.is((await c2.authorize('carol_rig2')).result, true);
  t.is(pool.stratifier.clients.get([...pool.stratifier.clients.keys()].at(-1)!)!.username, 'carol');
});

test.serial('authorize and submit errors are replies with stratum codes, never silence', async (t) => {
  const c = await connect();
  const notSub = await c.authorize('alice.w');
  t.is(codeOf(notSub), 25);
  const submitUnsub = await c.submit('alice.w', ['00', '00', '00', '00']);
  t.is(codeOf(submitUnsub), 25);
  await c.subscribe();
  t.is(codeOf(await c.submit('alice.w', ['1', '00000000', '00000000', '00000000'])), 24, 'unauthorised submit');
  t.is(codeOf(await c.request('mining.authorize', 'alice')), 20);
  t.is(codeOf(await c.request('mining.authorize', [42])), 20);
  t.is(codeOf(await c.request('mining.authorize', [''])), 20);
  t.is(codeOf(await c.request('mining.authorize', ['.w1'])), 20);
  t.is(codeOf(await c.request('mining.authorize', ['a/b'])), 20);
  t.is((await c.authorize('alice.w')).result, true, 'a good authorize after errors works (ckpool wedges here)');
  t.is(codeOf(await c.request('mining.unknown', [])), 20);
  t.is((await c.request('mining.extranonce.subscribe', [])).result, true);
  t.is((await c.request('mining.ping', [])).result, 'pong');
  const noMethod = await c.requestWithId(77, undefined as never, []);
  t.is(noMethod.id, 77);
  t.is(codeOf(noMethod), 20);
  t.is(codeOf(await c.requestWithId('str-id', 'mining.subscribe', [])), 20, 'already subscribed, string id echoed');
  // malformed submits: ckpool's error texts
  const w = 'alice.w';
  const bad = async (params: unknown, text: string) => {
    const r = await c.request('mining.submit', params);
    t.is(r.result, false);
    t.deepEqual(r.error, [20, text, null], text);
  };
  await bad('x', 'Params not array');
  await bad([w, '1'], 'Invalid array size');
  await bad(['', '1', '00', '00000000', '00000000'], 'No username');
  await bad(['bob', '1', '00', '00000000', '00000000'], 'Worker mismatch');
  await bad([w, '', '00', '00000000', '00000000'], 'No job_id');
  await bad([w, '1', 'zz', '00000000', '00000000'], 'No nonce2');
  await bad([w, '1', '00', '0000', '00000000'], 'No ntime');
  await bad([w, '1', '00', '00000000', 'xyz'], 'No nonce');
  await bad([w, '1', '00', '00000000', '00000000', 'nothex'], 'Invalid version mask');
});

test.serial('shares: accepted, above target, duplicate, invalid job, ntime out of range; ids echoed as given', async (t) => {
  const c = await ready('dave.w1');
  const s = c.grind();
  t.false(s.block);
  const ok = await c.requestWithId(4, 'mining.submit', ['dave.w1', ...s.params]);
  t.deepEqual([ok.id, ok.result, ok.error], [4, true, null]);
  const dup = await c.requestWithId(4, 'mining.submit', ['dave.w1', ...s.params]);
  t.is(dup.result, false);
  t.deepEqual(dup.error, [22, 'Duplicate', null]);
  t.is(dup['reject-reason'], 'Duplicate');
  // a share far below the pool difficulty: grind at a tiny diff until sdiff < DIFF
  let low;
  for (let i = 0; ; i++) {
    low = c.grind({ diff: 1e-9, start: 1000 + i * 7 });
    if (low.sdiff < DIFF) break;
  }
  const above = await c.submit('dave.w1', low.params);
  t.deepEqual(above.error, [23, 'Above target', null]);
  t.is(above['reject-reason'], 'Above target');
  const nojob = await c.submit('dave.w1', ['ffffffffffffffff', ...s.params.slice(1)]);
  t.deepEqual(nojob.error, [21, 'Invalid JobID', null]);
  const job = c.job!;
  const late = c.grind({ job: { ...job, ntime: job.ntime + 7001 } });
  t.deepEqual((await c.submit('dave.w1', late.params)).error, [20, 'Ntime out of range', null]);
  const early = c.grind({ job: { ...job, ntime: job.ntime - 1 } });
  t.deepEqual((await c.submit('dave.w1', early.params)).error, [20, 'Ntime out of range', null]);
  const rolled = c.grind({ job: { ...job, ntime: job.ntime + 6999 } });
  t.is((await c.submit('dave.w1', rolled.params)).result, true, 'ntime rolled forward within 7000 s');
  const cl = [...pool.stratifier.clients.values()].find((x) => x.workername === 'dave.w1')!;
  t.is(cl.accepted, 2);
  t.is(cl.rejected, 5);
});

test.serial('version rolling: configure answers the mask intersection; bits outside it are rejected', async (t) => {
  const c = await connect();
  const conf = await c.request('mining.configure', [['version-rolling', 'minimum-difficulty', 'subscribe-extranonce', 'info'],
    { 'version-rolling.mask': '1ff00000', 'version-rolling.min-bit-count': 2, 'minimum-difficulty.value': 0.0002 }]);
  t.deepEqual(conf.result, {
    'version-rolling': true, 'version-rolling.mask': '1ff00000', 'minimum-difficulty': true, 'subscribe-extranonce': true, info: false,
  });
  const job = c.nextJob();
  await c.subscribe();
  await job;
  t.is(c.difficulty, 0.0002, 'minimum-difficulty applied');
  await c.authorize('erin.w1');
  const inside = c.grind({ versionBits: 0x00600000 });
  t.is((await c.submit('erin.w1', inside.params)).result, true);
  const outside = c.grind({ versionBits: 0x00002000 }); // in the pool mask, not in the negotiated one
  t.deepEqual((await c.submit('erin.w1', outside.params)).error, [20, 'Invalid version mask', null]);
  const c2 = await ready('erin.w2');
  const noConfigure = c2.grind({ versionBits: 0x00002000 });
  t.is((await c2.submit('erin.w2', noConfigure.params)).result, true, 'without configure the pool mask applies');
  const beyond = c2.grind({ versionBits: 0x40000000 });
  t.deepEqual((await c2.submit('erin.w2', beyond.params)).error, [20, 'Invalid version mask', null]);
});

test.serial('suggest_difficulty (fractional, before authorize), suggest_target and d= password', async (t) => {
  const c = await connect();
  await c.subscribe();
  const set = new Promise<number>((r) => c.once('difficulty', r));
  const r = await c.request('mining.suggest_difficulty', [0.00037]);
  t.is(r.result, true);
  t.is(await set, 0.00037);
  t.is(codeOf(await c.request('mining.suggest_difficulty', ['abc'])), 20);
  // a number as a string is not a difficulty (ckpool reads it as 0 and ignores it)
  t.is(codeOf(await c.request('mining.suggest_difficulty', ['1'])), 20);
  // an unreadable version-rolling mask is an error, not a grant of the whole pool mask
  const zz = await c.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': 'zzzz' }]);
  t.is(zz.result, null);
  t.is(codeOf(zz), 20);
  const set2 = new Promise<number>((r2) => c.once('difficulty', r2));
  t.is((await c.request('mining.suggest_target', ['00000000ffff0000000000000000000000000000000000000000000000000000'.replace(/^00000000ffff/, '0000000fffff')])).result, true);
  t.true(Math.abs((await set2) - 1 / 16.00024) < 1e-6);
  const c2 = await connect();
  await c2.subscribe();
  const set3 = new Promise<number>((r3) => c2.once('difficulty', r3));
  t.is((await c2.authorize('frank.w1', 'x,d=0.0005')).result, true);
  t.is(await set3, 0.0005);
});

test.serial('a difficulty change applies to later jobs; shares on the older job are judged at its difficulty', async (t) => {
  const c = await ready('gina.w1');
  const oldJob = c.job!;
  // raise the difficulty: the current job keeps DIFF
  await c.request('mining.suggest_difficulty', [0.01]);
  t.is(c.difficulty, 0.01);
  let s;
  for (let i = 0; ; i++) {
    s = c.grind({ diff: DIFF, job: oldJob, start: i * 100_003 });
    if (s.sdiff < 0.01) break;
  }
  t.is((await c.submit('gina.w1', s.params)).result, true, 'old job: judged at the old difficulty');
  const next = c.nextJob();
  await pool.generator.update();
  const newJob = await next;
  t.false(newJob.clean);
  let s2;
  for (let i = 0; ; i++) {
    s2 = c.grind({ diff: DIFF, job: newJob, start: i * 100_003 });
    if (s2.sdiff < 0.01) break;
  }
  t.deepEqual((await c.submit('gina.w1', s2.params)).error, [23, 'Above target', null], 'new job: the new difficulty');
});

test.serial('a block change sends clean work; shares on older jobs are stale', async (t) => {
  const c = await ready('hank.w1');
  const old = c.job!;
  const s = c.grind({ job: old });
  const clean = c.nextJob(5000);
  await node.generateToAddress(1, REGTEST_ADDRESS);
  const j = await clean;
  t.true(j.clean);
  t.not(j.jobId, old.jobId);
  const stale = await c.submit('hank.w1', s.params);
  t.deepEqual(stale.error, [21, 'Stale', null]);
  t.is(stale['reject-reason'], 'Stale');
  const fresh = c.grind({ job: j });
  t.is((await c.submit('hank.w1', fresh.params)).result, true);
});

test.serial('get_transactions / get_txnhashes with rate limit', async (t) => {
  const c = await ready('ivy.w1');
  const r = await c.request('mining.get_txnhashes', [c.job!.jobId]);
  t.is(r.result, '', 'no transactions in this template');
  t.deepEqual((await c.request('mining.get_transactions', [c.job!.jobId])).error, [20, 'Ratelimit', null]);
  t.deepEqual((await c.request('mining.get_txnhashes', ['nope'])).error, [21, 'Invalid job_id', null]);
});

test.serial('session resume: a reconnecting miner gets its extranonce1 back', async (t) => {
  const c = await ready('jack.w1');
  const en1 = c.extranonce1.toString('hex');
  const session = c.sessionId;
  c.close();
  await new Promise((r) => setTimeout(r, 100));
  const c2 = await connect();
  await c2.subscribe('x', session);
  t.is(c2.extranonce1.toString('hex'), en1);
  t.is(c2.sessionId, session);
  const c3 = await connect();
  await c3.subscribe('x', 'deadbeef');
  t.not(c3.extranonce1.toString('hex'), en1, 'an unknown session gets a fresh extranonce1');
});

test.serial('clients that never authorise are dropped after the auth deadline', async (t) => {
  const c = await connect();
  await c.subscribe();
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  await closed;
  t.true(c.closed);
  t.true(logger.lines.some((l) => /not authorised in time/.test(l.msg)));
});

test.serial('invalid-share runs on ckpool\'s timings: resend work at 60 s, reconnect at 120 s, drop at 180 s', async (t) => {
  const c = await ready('lena.w1');
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset; // the pool runs in this process: move its clock
  t.teardown(() => { Date.now = realNow; });
  const seen: string[] = [];
  c.on('message', (m) => { if (typeof m.method === 'string') seen.push(m.method); });
  const bad = () => c.submit('lena.w1', [c.job!.jobId, '00', '00000000', 'nothex']); // malformed: "No nonce"
  t.deepEqual((await bad()).error, [20, 'No nonce', null]);
  offset = 61_000;
  const resent = c.nextJob(3000);
  await bad();
  t.true((await resent).clean, 'work resent (clean) after 60 s of invalid shares');
  t.true(seen.includes('mining.set_difficulty'));
  offset = 121_000;
  await bad();
  await new Promise((r) => setTimeout(r, 100));
  t.true(seen.includes('client.show_message') && seen.includes('client.reconnect'), seen.join(','));
  offset = 181_000;
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  await bad().catch(() => null);
  await closed;
  t.true(c.closed, 'dropped after 180 s');
});
