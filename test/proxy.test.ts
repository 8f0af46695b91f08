/**
 * Proxy (-p) and userproxy (-u) modes over real TCP: miners → proxy → main pool →
 * bcoin regtest. Share attribution runs against a pool behind test/helpers/hardbits.ts
 * (difficulty-1 network target, so shares are not blocks); the block test against a
 * pool on the real regtest target.
 */
import test from 'ava';
import { once } from 'node:events';
import { MemoryLogger } from '../ts/log/logger.js';
import type { Client } from '../ts/pool/client.js';
import type { ShareVerdict } from '../ts/pool/stratifier.js';
import type { Pool } from '../ts/pool/pool.js';
import { ProxyMode } from '../ts/modes/proxy.js';
import { clientPart } from '../ts/modes/proxy.js';
import { StratumClient } from '../ts/miner/client.js';
import type { BcoinNode } from './helpers/bcoin.js';
import type { HardBits } from './helpers/hardbits.js';
import { mainPool, miner, mineOne, modeConfig, nextReconnect, startMainPoolEnv, stopMainPoolEnv, waitFor, submitUntilBlock } from './helpers/modes.js';

const DIFF = 0.00001;
let node: BcoinNode;
let hard: HardBits;
let pool: Pool;
const closers: (() => Promise<void> | void)[] = [];

test.before(async () => {
  ({ node, hard, pool } = await startMainPoolEnv(DIFF));
});

test.after.always(() => stopMainPoolEnv({ pool, hard }, closers));

async function startProxy(mode: 'proxy' | 'userproxy', ports: number[], extra: Record<string, unknown> = {}, opts: Record<string, unknown> = {}) {
  const logger = new MemoryLogger();
  const p: ProxyMode = await ProxyMode.start(modeConfig(mode, ports.map((port) => ({ port, auth: 'proxyuser', pass: 'x' })), { startdiff: DIFF, mindiff: 1e-9, ...extra }),
    { logger, server: { highdiffPort: 65535 }, retryMs: 100, ...opts });
  closers.push(() => p.stop());
  await p.waitReady(10_000);
  return p;
}

function track(c: StratumClient): StratumClient {
  closers.push(() => c.close());
  return c;
}

test('clientPart follows ckpool: 4/2/1/0 bytes, or upstream minus nonce2length', (t) => {
  t.is(clientPart(8, 0), 4);
  t.is(clientPart(7, 0), 2);
  t.is(clientPart(6, 0), 2);
  t.is(clientPart(5, 0), 1);
  t.is(clientPart(4, 0), 1);
  t.is(clientPart(3, 0), 0);
  t.is(clientPart(8, 6), 2);
  t.is(clientPart(8, 8), 0);
});

test.serial('proxy: two miners\' shares arrive upstream under the proxy\'s user, extranonces never collide', async (t) => {
  const proxy = await startProxy('proxy', [pool.addresses[0]!.port]);
  const port = proxy.addresses[0]!.port;
  const a = track(await miner(port, 'alice.rig1'));
  const b = track(await miner(port, 'bob.rig2'));
  // the upstream extranonce1 is every miner's prefix; each gets its own 4-byte client part
  const up = proxy.main.shape!;
  t.is(a.extranonce1.length, up.enonce1.length / 2 + 4);
  t.true(a.extranonce1.toString('hex').startsWith(up.enonce1));
  t.true(b.extranonce1.toString('hex').startsWith(up.enonce1));
  t.not(a.extranonce1.toString('hex'), b.extranonce1.toString('hex'));
  t.is(a.extranonce2Size, 4);
  // the proxy is one client of the main pool, authorised as the proxy's user
  const upstreamClients = [...pool.stratifier.clients.values()].filter((c) => c.authorised);
  t.true(upstreamClients.some((c) => c.workername === 'proxyuser'));

  const arrived: { client: Client; v: ShareVerdict }[] = [];
  const onShare = (client: Client, v: ShareVerdict) => arrived.push({ client, v });
  pool.stratifier.on('share', onShare);
  t.teardown(() => pool.stratifier.off('share', onShare));
  const forwarded: boolean[] = [];
  proxy.on('forwarded', (r) => forwarded.push(r.accepted));

  for (const [c, w] of [[a, 'alice.rig1'], [b, 'bob.rig2'], [a, 'alice.rig1'], [b, 'bob.rig2']] as const) {
    const { reply } = await mineOne(c, w);
    t.is(reply.result, true, JSON.stringify(reply));
  }
  await waitFor(() => forwarded.length >= 4, 5000, 'four forwarded shares');
  t.deepEqual(forwarded, [true, true, true, true]);
  t.is(arrived.length, 4);
  for (const { client, v } of arrived) {
    t.is(client.workername, 'proxyuser');
    t.true(v.accepted);
  }
  // upstream extranonce2 = the miner's client part + its own extranonce2: distinct per miner
  const parts = arrived.map(({ v }) => v.work!.nonce2.slice(0, 8));
  t.is(parts[0], a.extranonce1.subarray(-4).toString('hex'));
  t.is(parts[1], b.extranonce1.subarray(-4).toString('hex'));
  t.not(parts[0], parts[1]);
  // local per-miner stats
  t.truthy(proxy.stats.getUser('alice'));
  t.truthy(proxy.stats.getUser('bob'));
  const locals = [...proxy.main.stratifier!.clients.values()];
  t.deepEqual(locals.map((c) => c.accepted).sort(), [2, 2]);
});

test.serial('proxy: version-rolling bits are forwarded upstream; upstream difficulty caps local miners', async (t) => {
  const proxy = await startProxy('proxy', [pool.addresses[0]!.port], { startdiff: 1 });
  const port = proxy.addresses[0]!.port;
  const c = track(await miner(port, 'carol.vr'));
  // startdiff 1 is above the upstream's difficulty: capped
  t.is(c.difficulty, DIFF);
  const cfg = await c.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': 'ffffffff' }]);
  t.is((cfg.result as Record<string, unknown>)['version-rolling.mask'], '1fffe000');
  const arrived = once(pool.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  const s = c.grind({ job: c.job!, versionBits: 0x00a00000 });
  t.is((await c.submit('carol.vr', s.params)).result, true);
  const [client, v] = await arrived;
  t.is(client.workername, 'proxyuser');
  t.true(v.accepted);
  t.is(v.work!.versionBits, 0x00a00000);
  t.is(v.hash, s.hash, 'the same header upstream');
  // upstream lowers its diff: local miners follow at once
  const upClient = client;
  const lowered = new Promise<number>((r) => c.once('difficulty', r));
  upClient.conn.send(JSON.stringify({ id: null, method: 'mining.set_difficulty', params: [DIFF / 2] }));
  t.is(await lowered, DIFF / 2);
});

test.serial('userproxy: two credentials → two upstream connections, shares under each user', async (t) => {
  const proxy = await startProxy('userproxy', [pool.addresses[0]!.port]);
  const port = proxy.addresses[0]!.port;
  const users: [string, string][] = [['dave.w1', 'pw-dave'], ['erin.w1', 'pw-erin']];
  for (const [worker, pass] of users) {
    // it is moved to its own upstream connection once that has work: watched from before
    // authorize (the reply and the reconnect can arrive in one read)
    const first = track(await StratumClient.connect(port));
    const job = first.nextJob(10_000);
    t.true(Array.isArray((await first.subscribe()).result));
    await job;
    const moved = nextReconnect(first);
    t.is((await first.authorize(worker, pass)).result, true);
    await moved;
    await once(first, 'close');
    const c = track(await miner(port, worker, pass));
    const arrived = once(pool.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
    t.is((await mineOne(c, worker)).reply.result, true);
    const [client, v] = await arrived;
    t.is(client.workername, worker.split('.')[0], 'the upstream account is the miner\'s username');
    t.true(v.accepted);
  }
  // the proxy's own connection plus one per credential
  const authorised = [...pool.stratifier.clients.values()].filter((c) => c.authorised).map((c) => c.workername);
  for (const w of ['proxyuser', 'dave', 'erin']) t.true(authorised.includes(w), `${w} in ${authorised}`);
  t.is(proxy.sessions.size, 3);
});

test.serial('failover: the first upstream dies, the proxy moves to the second, miners keep mining; fail-back later', async (t) => {
  const logger = new MemoryLogger();
  const first = await mainPool(node, hard.url, { startdiff: DIFF }, logger);
  const firstPort = first.addresses[0]!.port;
  const second = await mainPool(node, hard.url, { startdiff: DIFF });
  closers.push(() => second.stop());
  const proxy = await startProxy('proxy', [firstPort, second.addresses[0]!.port], {}, { failbackMs: 300 });
  t.teardown(() => { if (!t.passed) console.log((proxy.logger as MemoryLogger).lines.map((l) => l.msg).join('\n')); });
  const port = proxy.addresses[0]!.port;
  let c = track(await miner(port, 'frank.w1'));
  const at1 = once(first.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  t.is((await mineOne(c, 'frank.w1')).reply.result, true);
  t.true((await at1)[1].accepted);

  // kill the first pool: the proxy fails over. A new upstream session means new
  // extranonce1s and a client.reconnect; the same extranonce1 (both pools seed their
  // counters from the clock) keeps the miners where they are.
  const follow = async (index: number, before: string) => {
    const reconnected = nextReconnect(c, 30_000).then(() => true, () => false);
    await waitFor(() => proxy.main.upstream.active?.index === index && proxy.main.ready, 30_000, `upstream ${index}`);
    if (proxy.main.shape!.enonce1 !== before) {
      t.true(await reconnected);
      c = track(await miner(port, 'frank.w1'));
    }
    await waitFor(() => c.job?.jobId === proxy.main.source!.current!.jobId, 20_000, 'the new upstream\'s job');
  };
  await first.stop();
  await follow(1, proxy.main.shape!.enonce1);
  const at2 = once(second.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  t.is((await mineOne(c, 'frank.w1')).reply.result, true);
  t.true((await at2)[1].accepted);

  // the first comes back on the same port: the proxy fails back to it
  const again = await mainPool(node, hard.url, { startdiff: DIFF, port: firstPort });
  closers.push(() => again.stop());
  await follow(0, proxy.main.shape!.enonce1);
  const at3 = once(again.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  t.is((await mineOne(c, 'frank.w1')).reply.result, true);
  t.true((await at3)[1].accepted);
  t.is(proxy.main.upstream.connects, 3);
});

test.serial('proxy: a block found by a miner goes upstream and is accepted by bcoin', async (t) => {
  // a main pool on the real regtest target: about half of all hashes are blocks
  const direct = await mainPool(node, node.url, { startdiff: 1e-6 });
  closers.push(() => direct.stop());
  const proxy = await startProxy('proxy', [direct.addresses[0]!.port], { startdiff: 1e-6 });
  const c = track(await miner(proxy.addresses[0]!.port, 'grace.w1'));
  const before = await node.rpc.getBlockCount();
  const found = once(direct.stratifier, 'block') as Promise<[Client, { accepted: boolean; hash: string }]>;
  const r = await submitUntilBlock(c, 'grace.w1');
  t.is(r.result, true, JSON.stringify(r));
  const [client, result] = await found;
  t.is(client.workername, 'proxyuser');
  t.true(result.accepted);
  t.is(await node.rpc.getBlockCount(), before + 1);
  t.is(await node.rpc.getBestBlockHash(), result.hash);
});

test.serial('proxy: dropidle from the config drops a local miner that sends no share', async (t) => {
  const proxy = await startProxy('proxy', [pool.addresses[0]!.port], { dropidle: 1 });
  const port = proxy.addresses[0]!.port;
  const idle = track(await miner(port, 'ida.w1'));
  const busy = track(await miner(port, 'bert.w1'));
  const closed = once(idle, 'close');
  // the busy one shares every 300 ms and stays
  const end = Date.now() + 2_500;
  while (Date.now() < end) {
    t.is((await mineOne(busy, 'bert.w1')).reply.result, true);
    await new Promise((r) => setTimeout(r, 300));
  }
  await closed;
  t.true(idle.closed);
  t.false(busy.closed);
});
