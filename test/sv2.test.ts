/**
 * Stratum V2 interoperability (issue 17): the pool's SV2 listener against an SV2 client
 * built only from the reference implementation's crates (crates/ckpool-sv2/examples/
 * sv2-testclient.rs, not our codec), on a real bcoin regtest node.
 *
 * Difficulties: regtest's network target is ~2^255, so half of all hashes solve a block.
 * startdiff 2e-10 is below the network difficulty (4.66e-10), so a channel's target is
 * the maximum and every hash is a share: a hash above the network target is a valid
 * share that is not a block (for the success and duplicate cases), one below it a block.
 * A channel asking for a maximum target of difficulty 1e-6 is clamped to the network
 * difficulty, so a hash above the network target is there "difficulty-too-low" (on jobs
 * of the next workbase: a target change applies to new work, as V1's set_difficulty).
 */
import test from 'ava';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { native } from '../ts/native/binding.js';
import { targetFromDifficulty } from '../ts/native/core.js';
import { clientInfo } from '../ts/control/queries.js';
import { parseConfig } from '../ts/config/parse.js';
import { addressToScript } from '../ts/bitcoin/address.js';
import { loadSv2Keys } from '../ts/sv2/keys.js';
import type { Client } from '../ts/pool/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import {
  buildSv2Client, extendedMerkleRoot, grind, header, le, nbitsTarget, Sv2TestClient, type Sv2Event,
} from './helpers/sv2-client.js';

let node: BcoinNode;
let pool: Pool;
let port: number;
let pubkey: string;
let logger: MemoryLogger;
const dirs: string[] = [];
const clients: Sv2TestClient[] = [];
const ALL_FF = 'ff'.repeat(32);

test.before(async () => {
  const [n] = await Promise.all([startTestBcoin({ walletEnabled: true, walletWitness: true }), buildSv2Client()]);
  node = n;
  await node.fundWallet(432);
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-'));
  const sockdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-sock-'));
  dirs.push(logdir, sockdir);
  logger = new MemoryLogger();
  pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'], startdiff: 2e-10, mindiff: 1e-10,
    logdir, updateInterval: 600, blockpoll: 50,
  }, { logger, logShares: true, sockdir, server: { highdiffPort: 65535 }, authTimeoutMs: 3000 });
  port = pool.sv2!.addresses[0]!.port;
  pubkey = pool.sv2!.authorityPublic;
});
test.after.always(async () => {
  for (const c of clients) c.kill();
  await pool?.stop();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function connected(): Promise<Sv2TestClient> {
  const { client, first } = await Sv2TestClient.connect(port, pubkey);
  clients.push(client);
  if (first.event !== 'connected') throw new Error(`handshake failed: ${JSON.stringify(first)}`);
  return client;
}

async function setup(c: Sv2TestClient, extra: Record<string, unknown> = {}): Promise<Sv2Event> {
  return c.request({ send: 'SetupConnection', ...extra }, (e) => e.event === 'message' && /^SetupConnection/.test(String(e.type)));
}

interface Job { jobId: number; version: number; prevHash: string; nbits: number; ntime: number; merkleRoot?: string; ext?: Sv2Event }

/** The channel's active job: the latest job and the SetNewPrevHash that activated it (or its min_ntime). */
async function activeJob(c: Sv2TestClient, channelId: number, from = 0): Promise<Job> {
  const prev = await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === channelId, 20_000, from);
  const job = c.events.filter((e) => (e.type === 'NewMiningJob' || e.type === 'NewExtendedMiningJob') && e.channelId === channelId && e.jobId === prev.jobId)[0]!;
  return {
    jobId: job.jobId as number, version: job.version as number, prevHash: prev.prevHash as string, nbits: prev.nbits as number,
    ntime: prev.minNtime as number, merkleRoot: job.merkleRoot as string | undefined, ext: job.type === 'NewExtendedMiningJob' ? job : undefined,
  };
}

test.serial('key files are created 0600 with the .pub beside them; a client expecting another authority refuses the server', async (t) => {
  const sockdir = dirs[1]!;
  const key = path.join(sockdir, 'sv2_authority.key');
  t.is(statSync(key).mode & 0o777, 0o600);
  t.is(statSync(path.join(sockdir, 'sv2_static.key')).mode & 0o777, 0o600);
  t.is(readFileSync(path.join(sockdir, 'sv2_authority.pub'), 'utf8').trim(), pubkey);
  t.is(native.sv2PublicKey(readFileSync(key, 'utf8')), pubkey);
  t.true(logger.lines.some((l) => l.msg.includes(pubkey)), 'the public key is printed at start');

  const other = native.sv2PublicKey(native.sv2GenerateKey());
  const { client, first } = await Sv2TestClient.connect(port, other);
  clients.push(client);
  t.is(first.event, 'handshake-failed');
  const good = await connected();
  t.is((await setup(good)).type, 'SetupConnectionSuccess');
});

test.serial('SetupConnection: unsupported protocol, flags and versions get SetupConnection.Error with the spec codes', async (t) => {
  for (const [extra, code, flags] of [
    [{ protocol: 1 }, 'unsupported-protocol', 0],
    [{ flags: 2 }, 'unsupported-feature-flags', 2],
    [{ minVersion: 3, maxVersion: 3 }, 'protocol-version-mismatch', 0],
  ] as const) {
    const c = await connected();
    const r = await setup(c, extra);
    t.is(r.type, 'SetupConnectionError');
    t.is(r.errorCode, code);
    t.is(r.flags, flags);
    await c.next((e) => e.event === 'closed');
  }
});

test.serial('standard channel: jobs, a valid share, duplicate, unknown job, version rolling, a block bcoin accepts, then stale', async (t) => {
  const c = await connected();
  t.is((await setup(c, { flags: 1 })).type, 'SetupConnectionSuccess');
  const open = await c.request({ send: 'OpenStandardMiningChannel', requestId: 7, user: 'sv2user.std', maxTarget: ALL_FF }, (e) => /^OpenStandardMiningChannel|OpenMiningChannelError/.test(String(e.type)));
  t.is(open.type, 'OpenStandardMiningChannelSuccess', JSON.stringify(open));
  t.is(open.requestId, 7);
  const channelId = open.channelId as number;
  const prefix = Buffer.from(open.extranoncePrefix as string, 'hex');
  t.is(prefix.length, pool.config.nonce1length + pool.config.nonce2length);
  const job = await activeJob(c, channelId);
  const netTarget = nbitsTarget(job.nbits);
  const shareTarget = le(open.target as string);
  t.true(shareTarget >= netTarget);
  const mk = (version: number) => (nonce: number) => header(version, job.prevHash, job.merkleRoot!, job.ntime, job.nbits, nonce);

  // the pool lists the channel as a V2 miner
  const ch = [...pool.stratifier.clients.values()].find((x: Client) => x.workername === 'sv2user.std')!;
  t.is(clientInfo(pool, ch).protocol, 'sv2');

  let seq = 0;
  const submit = (jobId: number, nonce: number, version = job.version) =>
    c.request({ send: 'SubmitSharesStandard', channelId, sequenceNumber: ++seq, jobId, nonce, ntime: job.ntime, version },
      (e) => (e.type === 'SubmitSharesSuccess' || e.type === 'SubmitSharesError') && (e.lastSequenceNumber ?? e.sequenceNumber) === seq);

  // valid, not a block: hash above the network target
  const share = grind(mk(job.version), (h) => h > netTarget && h <= shareTarget);
  const ok = await submit(job.jobId, share.nonce);
  t.is(ok.type, 'SubmitSharesSuccess', JSON.stringify(ok));
  t.is(ok.newSubmitsAcceptedCount, 1);
  const dup = await submit(job.jobId, share.nonce);
  t.is(dup.errorCode, 'duplicate-share');
  t.is((await submit(job.jobId + 1000, share.nonce)).errorCode, 'invalid-job-id');
  // version rolling inside the mask (bit 13) is accepted
  const rolled = (job.version | 0x2000) >>> 0;
  const r2 = grind(mk(rolled), (h) => h > netTarget, share.nonce + 1);
  t.is((await submit(job.jobId, r2.nonce, rolled)).type, 'SubmitSharesSuccess');

  // a block
  const before = await node.rpc.getBlockCount();
  const blockEvent = once(pool.stratifier, 'block');
  const from = c.events.length;
  const blk = grind(mk(job.version), (h) => h <= netTarget);
  t.is((await submit(job.jobId, blk.nonce)).type, 'SubmitSharesSuccess');
  const [, result] = (await blockEvent) as [unknown, { accepted: boolean; hash: string }];
  t.true(result.accepted);
  t.is(await node.rpc.getBlockCount(), before + 1);
  t.is(await node.rpc.call<string>('getbestblockhash', []), result.hash);

  // the new tip arrives as a new job and SetNewPrevHash; the old job is now stale
  const next = await activeJob(c, channelId, from);
  t.not(next.prevHash, job.prevHash);
  const late = grind(mk(job.version), (h) => h > netTarget, blk.nonce + 1);
  t.is((await submit(job.jobId, late.nonce)).errorCode, 'stale-share');

  // the shares went through the V1 pipeline: client counters and the share log saw them
  t.true(ch.accepted >= 3);
  t.true(ch.rejected >= 3);
  const logdir = dirs[0]!;
  const shareLog = () => readdirSync(logdir).filter((d) => /^[0-9a-f]{8}$/.test(d)).flatMap((d) =>
    readdirSync(path.join(logdir, d)).flatMap((f) => readFileSync(path.join(logdir, d, f), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
  let mine: Record<string, unknown>[] = [];
  for (let i = 0; i < 100 && !mine.some((l) => l['reject-reason'] === 'Stale'); i++) {
    mine = shareLog().filter((l) => l.workername === 'sv2user.std');
    await new Promise((r) => setTimeout(r, 50));
  }
  t.true(mine.filter((l) => l.result === true).length >= 3, JSON.stringify(mine.slice(0, 2)));
  t.true(mine.some((l) => l['reject-reason'] === 'Duplicate'));
  t.true(mine.some((l) => l['reject-reason'] === 'Stale'));
});

test.serial('extended channel: extranonce prefix and size, extended jobs, valid share, bad extranonce size, low difficulty', async (t) => {
  const c = await connected();
  t.is((await setup(c)).type, 'SetupConnectionSuccess');
  const tooBig = await c.request({ send: 'OpenExtendedMiningChannel', requestId: 1, user: 'sv2user.ext', maxTarget: ALL_FF, minExtranonceSize: 32 }, c.msg('OpenMiningChannelError'));
  t.is(tooBig.errorCode, 'min-extranonce-size-too-large');
  const open = await c.request({ send: 'OpenExtendedMiningChannel', requestId: 2, user: 'sv2user.ext', maxTarget: ALL_FF, minExtranonceSize: 4 }, c.msg('OpenExtendedMiningChannelSuccess'));
  const channelId = open.channelId as number;
  const size = open.extranonceSize as number;
  t.is(size, pool.config.nonce2length);
  t.is((open.extranoncePrefix as string).length / 2, pool.config.nonce1length);
  const job = await activeJob(c, channelId);
  t.truthy(job.ext);
  t.true(job.ext!.versionRollingAllowed as boolean);
  const en = Buffer.alloc(size, 0x42);
  const root = extendedMerkleRoot(job.ext!.coinbaseTxPrefix as string, Buffer.concat([Buffer.from(open.extranoncePrefix as string, 'hex'), en]),
    job.ext!.coinbaseTxSuffix as string, (job.ext!.merklePath as string[]).join(''));
  const netTarget = nbitsTarget(job.nbits);
  const mk = (nonce: number) => header(job.version, job.prevHash, root, job.ntime, job.nbits, nonce);
  let seq = 100;
  const submit = (nonce: number, extranonce = en) =>
    c.request({ send: 'SubmitSharesExtended', channelId, sequenceNumber: ++seq, jobId: job.jobId, nonce, ntime: job.ntime, version: job.version, extranonce: extranonce.toString('hex') },
      (e) => (e.type === 'SubmitSharesSuccess' || e.type === 'SubmitSharesError') && (e.lastSequenceNumber ?? e.sequenceNumber) === seq);
  const share = grind(mk, (h) => h > netTarget);
  t.is((await submit(share.nonce)).type, 'SubmitSharesSuccess');
  t.is((await submit(share.nonce + 1, Buffer.alloc(size - 1))).errorCode, 'bad-extranonce-size');
  // a block from the extended channel: the coinbase the pool rebuilds from prefix +
  // extranonce prefix + the client's extranonce + suffix is the one bcoin accepts
  const blockEvent = once(pool.stratifier, 'block');
  const blk = grind(mk, (h) => h <= netTarget, share.nonce + 1);
  t.is((await submit(blk.nonce)).type, 'SubmitSharesSuccess');
  const [, mined] = (await blockEvent) as [unknown, { accepted: boolean; hash: string }];
  t.true(mined.accepted);
  t.is(await node.rpc.call<string>('getbestblockhash', []), mined.hash);

  // a channel with a maximum target of difficulty 1e-6: clamped to the network
  // difficulty, where a hash above the network target is too low
  const hard = await c.request({ send: 'OpenExtendedMiningChannel', requestId: 3, user: 'sv2user.hard', maxTarget: targetFromDifficulty(1e-6).toString('hex'), minExtranonceSize: 0 }, c.msg('OpenExtendedMiningChannelSuccess'));
  const hid = hard.channelId as number;
  const target = await c.next((e) => e.type === 'SetTarget' && e.channelId === hid);
  t.true(le(target.maximumTarget as string) <= netTarget);
  // as V1's set_difficulty, a new target judges work from the next workbase on (older
  // jobs keep the target they were sent with): a new block brings that workbase
  const from = c.events.length;
  await node.rpc.call('generatetoaddress', [1, REGTEST_ADDRESS]);
  const hjob = await activeJob(c, hid, from);
  const hroot = extendedMerkleRoot(hjob.ext!.coinbaseTxPrefix as string, Buffer.concat([Buffer.from(hard.extranoncePrefix as string, 'hex'), en]),
    hjob.ext!.coinbaseTxSuffix as string, (hjob.ext!.merklePath as string[]).join(''));
  const low = grind((n) => header(hjob.version, hjob.prevHash, hroot, hjob.ntime, hjob.nbits, n), (h) => h > netTarget);
  const r = await c.request({ send: 'SubmitSharesExtended', channelId: hid, sequenceNumber: 999, jobId: hjob.jobId, nonce: low.nonce, ntime: hjob.ntime, version: hjob.version, extranonce: en.toString('hex') }, c.msg('SubmitSharesError'));
  t.is(r.errorCode, 'difficulty-too-low');

  // UpdateChannel: a lower maximum target raises the channel's difficulty floor (SetTarget)
  const upd = await c.request({ send: 'UpdateChannel', channelId, hashrate: 1e12, maxTarget: targetFromDifficulty(1e-6).toString('hex') }, (e) => e.type === 'SetTarget' && e.channelId === channelId);
  t.true(le(upd.maximumTarget as string) <= netTarget);
  // UpdateChannel on an unknown channel; CloseChannel removes the miner from the pool
  t.is((await c.request({ send: 'UpdateChannel', channelId: 4242, maxTarget: ALL_FF }, c.msg('UpdateChannelError'))).errorCode, 'invalid-channel-id');
  const n = pool.stratifier.clients.size;
  c.send({ send: 'CloseChannel', channelId: hid });
  const until = Date.now() + 5_000;
  while (pool.stratifier.clients.size !== n - 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.is(pool.stratifier.clients.size, n - 1);
});

test.serial('garbage, malformed frames and oversized messages close that connection only', async (t) => {
  const bystander = await connected();
  t.is((await setup(bystander)).type, 'SetupConnectionSuccess');
  await bystander.request({ send: 'OpenStandardMiningChannel', requestId: 1, user: 'still.here', maxTarget: ALL_FF }, bystander.msg('OpenStandardMiningChannelSuccess'));

  // handshake garbage from a plain socket (more than the 64-byte key, none of it a frame)
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(Buffer.alloc(4096, 0x33));
  sock.resume();
  await once(sock, 'close');
  t.pass();

  for (const cmd of ['Garbage', 'Oversized']) {
    const c = await connected();
    t.is((await setup(c)).type, 'SetupConnectionSuccess');
    c.send({ send: cmd });
    const ev = await c.next((e) => e.event === 'closed' || e.event === 'decode-error');
    t.is(ev.event, 'closed', cmd);
  }
  t.true(logger.lines.some((l) => l.msg.includes('CKP_ERR_SV2_OVERSIZED')));
  t.true(logger.lines.some((l) => l.msg.includes('CKP_ERR_SV2_FRAME')));

  // the bystander is still served
  const r = await bystander.request({ send: 'UpdateChannel', channelId: 999, maxTarget: ALL_FF }, bystander.msg('UpdateChannelError'));
  t.is(r.errorCode, 'invalid-channel-id');
  t.falsy(bystander.events.find((e) => e.event === 'closed'));
});

test.serial('the stratifier dropping a channel (control `drop`, flood, dropidle) sends CloseChannel and, for the last channel, closes', async (t) => {
  const c = await connected();
  t.is((await setup(c)).type, 'SetupConnectionSuccess');
  const open = await c.request({ send: 'OpenStandardMiningChannel', requestId: 5, user: 'drop.me', maxTarget: ALL_FF }, c.msg('OpenStandardMiningChannelSuccess'));
  const client = [...pool.stratifier.clients.values()].find((x: Client) => x.workername === 'drop.me')!;
  client.conn.close('dropped by operator');
  const closeMsg = await c.next(c.msg('CloseChannel'));
  t.is(closeMsg.channelId, open.channelId);
  t.is(closeMsg.reasonCode, 'dropped by operator');
  await c.next((e) => e.event === 'closed');
  t.false([...pool.stratifier.clients.values()].some((x: Client) => x.workername === 'drop.me'));
});

test.serial('a connection that opens no channel is closed after the authorisation deadline', async (t) => {
  const c = await connected();
  t.is((await setup(c)).type, 'SetupConnectionSuccess');
  const at = Date.now();
  await c.next((e) => e.event === 'closed', 15_000);
  t.true(Date.now() - at >= 2000);
});

test.serial('flood control as V1\'s (floodrate/floodburst): a connection sending more than the burst at once is dropped; its neighbour goes on', async (t) => {
  // a pool of its own with a small bucket: 50 messages, refilled at 20 a second
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-flood-'));
  const sockdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-flood-sock-'));
  dirs.push(logdir, sockdir);
  const log = new MemoryLogger();
  const small = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'], startdiff: 2e-10, mindiff: 1e-10, logdir, updateInterval: 600,
    floodburst: 50, floodrate: 20,
  }, { logger: log, sockdir, server: { highdiffPort: 65535 } });
  try {
    const open = async (user: string) => {
      const { client, first } = await Sv2TestClient.connect(small.sv2!.addresses[0]!.port, small.sv2!.authorityPublic);
      clients.push(client);
      t.is(first.event, 'connected');
      t.is((await setup(client)).type, 'SetupConnectionSuccess');
      const o = await client.request({ send: 'OpenStandardMiningChannel', requestId: 1, user, maxTarget: ALL_FF }, client.msg('OpenStandardMiningChannelSuccess'));
      return { client, channelId: o.channelId as number };
    };
    const flooder = await open('flood.er');
    const neighbour = await open('good.neighbour');
    // shares for a job that does not exist: each is judged (an invalid-job-id error), none can be a block
    const submit = (channelId: number, n: number) => ({ send: 'SubmitSharesStandard', channelId, sequenceNumber: 1, jobId: 0x7fffffff, nonce: 1, ntime: 1, version: 0x20000000, repeat: n });
    const replies = (c: Sv2TestClient) => c.events.filter((e) => e.type === 'SubmitSharesError').length;

    // within the burst: every message answered, the connection stays
    flooder.client.send(submit(flooder.channelId, 40));
    for (let i = 0; i < 400 && replies(flooder.client) < 40; i++) await new Promise((r) => setTimeout(r, 25));
    t.is(replies(flooder.client), 40);
    t.false(flooder.client.events.some((e) => e.event === 'closed'));

    // 200 at once empties the bucket: dropped before any of them is judged
    flooder.client.send(submit(flooder.channelId, 200));
    await flooder.client.next((e) => e.event === 'closed', 10_000);
    t.is(replies(flooder.client), 40, 'none of the flood was answered');
    t.true(log.lines.some((l) => /SV2 client .* flooded more than 50 messages, dropping/.test(l.msg)), 'logged with the limit');
    t.false([...small.stratifier.clients.values()].some((x: Client) => x.workername === 'flood.er'), 'its channel left the pool');

    // the neighbour on the same pool is served as before
    const r = await neighbour.client.request(submit(neighbour.channelId, 1), neighbour.client.msg('SubmitSharesError'));
    t.is(r.errorCode, 'invalid-job-id');
    t.true([...small.stratifier.clients.values()].some((x: Client) => x.workername === 'good.neighbour'));
  } finally {
    await small.stop();
  }
});

test('config: sv2url like serverurl (string or array), port 3336 by default, stratum2+tcp:// accepted; key paths', (t) => {
  const conf = (o: Record<string, unknown>) => parseConfig(JSON.stringify({ btcaddress: REGTEST_ADDRESS, ...o }), 'pool', 'sv2.conf', { openFileLimit: 10000 });
  t.deepEqual(conf({}).sv2url, []);
  t.deepEqual(conf({ sv2url: '0.0.0.0' }).sv2url, ['0.0.0.0:3336']);
  t.deepEqual(conf({ sv2url: ['127.0.0.1:4444', 'stratum2+tcp://[::1]'] }).sv2url, ['127.0.0.1:4444', '[::1]:3336']);
  for (const bad of [42, '10.0.0.1:', 'host:99999']) {
    const e = t.throws(() => conf({ sv2url: bad }));
    t.regex(String((e as { code?: string }).code), /^CKP_ERR_CONFIG_/);
  }
  const k = conf({ sv2url: '0.0.0.0', sv2_authority_key: '/etc/ckpool/a.key', sv2_static_key: '/etc/ckpool/s.key' });
  t.is(k.sv2AuthorityKey, '/etc/ckpool/a.key');
  t.is(k.sv2StaticKey, '/etc/ckpool/s.key');
});

test.serial('solo mode: a non-address identity is refused; a block from a standard channel pays the miner\'s own address', async (t) => {
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-solo-'));
  dirs.push(logdir);
  const solo = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'],
    startdiff: 2e-10, mindiff: 1e-10, logdir, updateInterval: 600, blockpoll: 50,
  }, { solo: true, logger: new MemoryLogger(), sockdir: logdir, server: { highdiffPort: 65535 } });
  t.teardown(() => solo.stop());
  const { client: c, first } = await Sv2TestClient.connect(solo.sv2!.addresses[0]!.port, solo.sv2!.authorityPublic);
  clients.push(c);
  t.is(first.event, 'connected');
  t.is((await setup(c)).type, 'SetupConnectionSuccess');
  const bad = await c.request({ send: 'OpenStandardMiningChannel', requestId: 1, user: 'notanaddress.rig', maxTarget: ALL_FF }, c.msg('OpenMiningChannelError'));
  t.is(bad.errorCode, 'unknown-user');
  const mine = await node.getWalletAddress();
  const open = await c.request({ send: 'OpenStandardMiningChannel', requestId: 2, user: `${mine}.rig`, maxTarget: ALL_FF }, c.msg('OpenStandardMiningChannelSuccess'));
  const channelId = open.channelId as number;
  const job = await activeJob(c, channelId);
  const blockEvent = once(solo.stratifier, 'block');
  const blk = grind((n) => header(job.version, job.prevHash, job.merkleRoot!, job.ntime, job.nbits, n), (h) => h <= nbitsTarget(job.nbits));
  const r = await c.request({ send: 'SubmitSharesStandard', channelId, sequenceNumber: 1, jobId: job.jobId, nonce: blk.nonce, ntime: job.ntime, version: job.version }, (e) => /^SubmitShares/.test(String(e.type)));
  t.is(r.type, 'SubmitSharesSuccess');
  const [, result] = (await blockEvent) as [unknown, { accepted: boolean; hash: string }];
  t.true(result.accepted);
  const block = await node.rpc.call<{ tx: Array<{ vout: Array<{ scriptPubKey: { hex: string } }> }> }>('getblock', [result.hash, true, true]);
  t.is(block.tx[0]!.vout[0]!.scriptPubKey.hex, addressToScript(mine, 'regtest').toString('hex'));
});

test('key files: an existing key is kept, one readable by others is reported, garbage is refused with CKP_ERR_SV2_KEY_FILE', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-keys-'));
  dirs.push(dir);
  const first = loadSv2Keys({ sockdir: dir });
  t.deepEqual(first.created.map((f) => path.basename(f)), ['sv2_authority.key', 'sv2_static.key']);
  t.deepEqual(first.exposed, []);
  const again = loadSv2Keys({ sockdir: dir });
  t.deepEqual(again.created, []);
  t.is(again.authorityPublic, first.authorityPublic);
  chmodSync(first.authorityPath, 0o644);
  t.deepEqual(loadSv2Keys({ sockdir: dir }).exposed, [first.authorityPath]);
  const bad = path.join(dir, 'bad.key');
  writeFileSync(bad, 'not a key\n', { mode: 0o600 });
  const e = t.throws(() => loadSv2Keys({ sockdir: dir, authorityPath: bad }));
  t.is((e as { code?: string }).code, 'CKP_ERR_SV2_KEY_FILE');
});
