/**
 * SV2 group channels (issue 17): the standard channels of a connection without
 * REQUIRES_STANDARD_JOBS (a proxy) get each new job once, as NewExtendedMiningJob +
 * SetNewPrevHash to their group channel id; an end device (REQUIRES_STANDARD_JOBS) gets
 * NewMiningJob per channel. The client is crates/ckpool-sv2/examples/sv2-testclient (SV2
 * reference crates); the pool runs on a real bcoin regtest node, which checks the block
 * mined from a group job (merkle root from the group job's coinbase parts + the channel's
 * extranonce_prefix, as spec 5.3.16 says).
 */
import test from 'ava';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addressToScript } from '../ts/bitcoin/address.js';
import { Pool } from '../ts/pool/pool.js';
import { MemoryLogger } from '../ts/log/logger.js';
import type { Client } from '../ts/pool/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { buildSv2Client, extendedMerkleRoot, grind, header, nbitsTarget, Sv2TestClient, type Sv2Event } from './helpers/sv2-client.js';

let node: BcoinNode;
let pool: Pool;
let port: number;
let pubkey: string;
const dirs: string[] = [];
const clients: Sv2TestClient[] = [];
const ALL_FF = 'ff'.repeat(32);

test.before(async () => {
  const [n] = await Promise.all([startTestBcoin({ walletEnabled: true, walletWitness: true }), buildSv2Client()]);
  node = n;
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-group-'));
  dirs.push(logdir);
  pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'], startdiff: 2e-10, mindiff: 1e-10,
    logdir, updateInterval: 600, blockpoll: 50,
  }, { logger: new MemoryLogger(), sockdir: logdir, server: { highdiffPort: 65535 } });
  port = pool.sv2!.addresses[0]!.port;
  pubkey = pool.sv2!.authorityPublic;
});
test.after.always(async () => {
  for (const c of clients) c.kill();
  await pool?.stop();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function connected(flags: number): Promise<Sv2TestClient> {
  const { client, first } = await Sv2TestClient.connect(port, pubkey);
  clients.push(client);
  if (first.event !== 'connected') throw new Error(`handshake failed: ${JSON.stringify(first)}`);
  const r = await client.request({ send: 'SetupConnection', flags }, (e) => e.event === 'message' && /^SetupConnection/.test(String(e.type)));
  if (r.type !== 'SetupConnectionSuccess') throw new Error(JSON.stringify(r));
  return client;
}

const open = (c: Sv2TestClient, requestId: number, user: string) =>
  c.request({ send: 'OpenStandardMiningChannel', requestId, user, maxTarget: ALL_FF }, c.msg('OpenStandardMiningChannelSuccess'));

const isJob = (e: Sv2Event) => e.type === 'NewMiningJob' || e.type === 'NewExtendedMiningJob' || e.type === 'SetNewPrevHash';

test.serial('standard channels of a proxy connection share one group: each job goes once to the group id, and a block from a group job is accepted by bcoin', async (t) => {
  const c = await connected(0);
  const a = await open(c, 1, 'grp.a');
  const b = await open(c, 2, 'grp.b');
  const G = a.groupChannelId as number;
  t.is(b.groupChannelId, G);
  t.true(G > 0);
  t.not(G, a.channelId);
  t.not(G, b.channelId);
  // an end device on another connection: jobs per channel
  const d = await connected(1);
  const dev = await open(d, 1, 'grp.device');

  // each channel's first job is its own (the group's earlier jobs were sent before it existed)
  const first = await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === a.channelId);
  await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === b.channelId);
  await d.next((e) => e.type === 'SetNewPrevHash' && e.channelId === dev.channelId);
  const firstJob = c.events.find((e) => e.type === 'NewMiningJob' && e.channelId === a.channelId && e.jobId === first.jobId)!;

  // a block from channel A's own job moves the tip
  const markC = c.events.length;
  const markD = d.events.length;
  const mk0 = (n: number) => header(firstJob.version as number, first.prevHash as string, firstJob.merkleRoot as string, first.minNtime as number, first.nbits as number, n);
  const blk0 = grind(mk0, (h) => h <= nbitsTarget(first.nbits as number));
  let blockEvent = once(pool.stratifier, 'block');
  const r0 = await c.request({ send: 'SubmitSharesStandard', channelId: a.channelId, sequenceNumber: 1, jobId: first.jobId, nonce: blk0.nonce, ntime: first.minNtime, version: firstJob.version },
    (e) => /^SubmitShares/.test(String(e.type)));
  t.is(r0.type, 'SubmitSharesSuccess');
  t.true(((await blockEvent) as [unknown, { accepted: boolean }])[1].accepted);

  // the new prevhash and its job: once, to the group
  const prev = await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === G, 20_000, markC);
  await d.next((e) => e.type === 'SetNewPrevHash' && e.channelId === dev.channelId, 20_000, markD);
  await new Promise((r) => setTimeout(r, 300)); // anything else the block change sends
  const after = c.events.slice(markC).filter(isJob);
  t.true(after.length >= 2);
  t.true(after.every((e) => e.channelId === G), JSON.stringify(after.map((e) => [e.type, e.channelId])));
  t.true(after.every((e) => e.type !== 'NewMiningJob'));
  const groupJob = after.find((e) => e.type === 'NewExtendedMiningJob' && e.jobId === prev.jobId)!;
  t.truthy(groupJob);
  t.is(groupJob.minNtime, null); // a future job that the group's SetNewPrevHash activates
  // one message per job for the group, not one per channel
  t.is(after.filter((e) => e.type === 'NewExtendedMiningJob' && e.jobId === prev.jobId).length, 1);
  // the end device got standard jobs on its own channel
  const devAfter = d.events.slice(markD).filter(isJob);
  t.true(devAfter.some((e) => e.type === 'NewMiningJob' && e.channelId === dev.channelId));
  t.false(devAfter.some((e) => e.type === 'NewExtendedMiningJob'));

  // the latest group job (a same-prevhash update may have followed)
  const latest = [...after].reverse().find((e) => e.type === 'NewExtendedMiningJob')!;
  const ntime = (latest.minNtime as number | null) ?? (prev.minNtime as number);
  const rootFor = (prefix: string) => extendedMerkleRoot(latest.coinbaseTxPrefix as string, Buffer.from(prefix, 'hex'), latest.coinbaseTxSuffix as string, (latest.merklePath as string[]).join(''));
  const netTarget = nbitsTarget(prev.nbits as number);
  // channel B: a share (not a block) on the group job
  const mkB = (n: number) => header(latest.version as number, prev.prevHash as string, rootFor(b.extranoncePrefix as string), ntime, prev.nbits as number, n);
  const shareB = grind(mkB, (h) => h > netTarget);
  const rB = await c.request({ send: 'SubmitSharesStandard', channelId: b.channelId, sequenceNumber: 1, jobId: latest.jobId, nonce: shareB.nonce, ntime, version: latest.version },
    (e) => /^SubmitShares/.test(String(e.type)) && e.channelId === b.channelId);
  t.is(rB.type, 'SubmitSharesSuccess');
  // channel A: a block on the group job, its merkle root derived from A's extranonce_prefix; bcoin checks it
  const mkA = (n: number) => header(latest.version as number, prev.prevHash as string, rootFor(a.extranoncePrefix as string), ntime, prev.nbits as number, n);
  const blkA = grind(mkA, (h) => h <= netTarget);
  blockEvent = once(pool.stratifier, 'block');
  const rA = await c.request({ send: 'SubmitSharesStandard', channelId: a.channelId, sequenceNumber: 2, jobId: latest.jobId, nonce: blkA.nonce, ntime, version: latest.version },
    (e) => /^SubmitShares/.test(String(e.type)) && e.channelId === a.channelId);
  t.is(rA.type, 'SubmitSharesSuccess');
  const [, mined] = (await blockEvent) as [unknown, { accepted: boolean; hash: string }];
  t.true(mined.accepted);
  t.is(await node.rpc.call<string>('getbestblockhash', []), mined.hash);

  // CloseChannel addressed to the group closes every channel in it
  c.send({ send: 'CloseChannel', channelId: G, reason: 'bye' });
  for (let i = 0; i < 100 && [...pool.stratifier.clients.values()].some((x: Client) => /^grp\.[ab]$/.test(x.workername)); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const names = [...pool.stratifier.clients.values()].map((x: Client) => x.workername);
  t.false(names.includes('grp.a'));
  t.false(names.includes('grp.b'));
  t.true(names.includes('grp.device'));
});

test.serial('solo mode, two users on one proxy connection: their coinbases differ, so the group stops and each channel gets its own jobs (a block pays its own miner)', async (t) => {
  const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-sv2-group-solo-'));
  dirs.push(logdir);
  const solo = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }], serverurl: ['127.0.0.1:0'], sv2url: ['127.0.0.1:0'],
    startdiff: 2e-10, mindiff: 1e-10, logdir, updateInterval: 600, blockpoll: 50,
  }, { solo: true, logger: new MemoryLogger(), sockdir: logdir, server: { highdiffPort: 65535 } });
  t.teardown(() => solo.stop());
  const { client: c, first } = await Sv2TestClient.connect(solo.sv2!.addresses[0]!.port, solo.sv2!.authorityPublic);
  clients.push(c);
  t.is(first.event, 'connected');
  t.is((await c.request({ send: 'SetupConnection', flags: 0 }, c.msg('SetupConnectionSuccess'))).type, 'SetupConnectionSuccess');
  const [addrA, addrB] = [await node.getWalletAddress(), await node.getWalletAddress()];
  const a = await open(c, 1, `${addrA}.rig`);
  const b = await open(c, 2, `${addrB}.rig`);
  t.is(a.groupChannelId, b.groupChannelId);
  const G = a.groupChannelId as number;
  const firstA = await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === a.channelId);
  await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === b.channelId);
  const jobA = c.events.find((e) => e.type === 'NewMiningJob' && e.channelId === a.channelId && e.jobId === firstA.jobId)!;
  const mark = c.events.length;
  let blockEvent = once(solo.stratifier, 'block');
  const blk0 = grind((n) => header(jobA.version as number, firstA.prevHash as string, jobA.merkleRoot as string, firstA.minNtime as number, firstA.nbits as number, n),
    (h) => h <= nbitsTarget(firstA.nbits as number));
  await c.request({ send: 'SubmitSharesStandard', channelId: a.channelId, sequenceNumber: 1, jobId: firstA.jobId, nonce: blk0.nonce, ntime: firstA.minNtime, version: jobA.version },
    (e) => /^SubmitShares/.test(String(e.type)));
  t.true(((await blockEvent) as [unknown, { accepted: boolean }])[1].accepted);
  // B's job for the new tip comes on B's own channel (A's may have gone to the group first)
  const prevB = await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === b.channelId, 20_000, mark);
  const jobB = c.events.slice(mark).find((e) => e.type === 'NewMiningJob' && e.channelId === b.channelId && e.jobId === prevB.jobId)!;
  t.truthy(jobB);
  t.true(c.events.slice(mark).filter((e) => e.type === 'NewExtendedMiningJob').every((e) => e.channelId === G));
  // a block from B's job pays B's address: the job was built on B's coinbase
  blockEvent = once(solo.stratifier, 'block');
  const blkB = grind((n) => header(jobB.version as number, prevB.prevHash as string, jobB.merkleRoot as string, prevB.minNtime as number, prevB.nbits as number, n),
    (h) => h <= nbitsTarget(prevB.nbits as number));
  const mark2 = c.events.length;
  const rB = await c.request({ send: 'SubmitSharesStandard', channelId: b.channelId, sequenceNumber: 1, jobId: prevB.jobId, nonce: blkB.nonce, ntime: prevB.minNtime, version: jobB.version },
    (e) => /^SubmitShares/.test(String(e.type)) && e.channelId === b.channelId);
  t.is(rB.type, 'SubmitSharesSuccess');
  const [, mined] = (await blockEvent) as [unknown, { accepted: boolean; hash: string }];
  t.true(mined.accepted);
  const block = await node.rpc.call<{ tx: Array<{ vout: Array<{ scriptPubKey: { hex: string } }> }> }>('getblock', [mined.hash, true, true]);
  t.is(block.tx[0]!.vout[0]!.scriptPubKey.hex, addressToScript(addrB, 'regtest').toString('hex'));
  // from now on no group jobs on this connection: the next tip's jobs are per channel
  await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === a.channelId, 20_000, mark2);
  await c.next((e) => e.type === 'SetNewPrevHash' && e.channelId === b.channelId, 20_000, mark2);
  t.false(c.events.slice(mark2).some((e) => e.channelId === G));
});
