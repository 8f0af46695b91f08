/**
 * Passthrough (-P), node (-N) and redirector (-R) modes over real TCP, and the main
 * pool's side of passthrough and node links: miners → passthrough → pool → bcoin
 * regtest. Attribution runs against a pool behind test/helpers/hardbits.ts (no share is
 * a block); blocks against pools on the real regtest target.
 */
import test from 'ava';
import { once } from 'node:events';
import { MemoryLogger } from '../ts/log/logger.js';
import type { Client } from '../ts/pool/client.js';
import type { ShareVerdict } from '../ts/pool/stratifier.js';
import type { Pool } from '../ts/pool/pool.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { startNode } from '../ts/modes/node.js';
import { startRedirector } from '../ts/modes/redirector.js';
import { StratumClient } from '../ts/miner/client.js';
import type { BlockSubmission } from '../ts/work/generator.js';
import { startTestBcoin, type BcoinNode } from './helpers/bcoin.js';
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

function track<T extends { close(): unknown }>(c: T): T {
  closers.push(() => void c.close());
  return c;
}

async function passthrough(ports: number[], opts: Record<string, unknown> = {}): Promise<PassthroughMode> {
  const pt = await PassthroughMode.start(modeConfig('passthrough', ports.map((port) => ({ port }))),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100, ...opts });
  closers.push(() => pt.stop());
  await pt.waitReady(10_000);
  return pt;
}

test.serial('passthrough: one connection to the main pool; each miner keeps its own identity, difficulty and stats there', async (t) => {
  const pt = await passthrough([pool.addresses[0]!.port]);
  const port = pt.addresses[0]!.port;
  const a = track(await miner(port, 'henry.rig1'));
  const b = track(await miner(port, 'irene.rig2'));
  t.is(pool.links.links.size, 1);
  const link = [...pool.links.links.values()].at(-1)!;
  t.is(link.kind, 'passthrough');
  t.is(link.subs.size, 2);
  // the main pool sees one TCP connection for both miners
  t.is(pool.server.stats().clients, 1);
  const subs = [...pool.stratifier.clients.values()].filter((c) => c.id >= 2 ** 32 && (c.conn as unknown as { link: unknown }).link === link);
  t.deepEqual(subs.map((c) => c.workername).sort(), ['henry.rig1', 'irene.rig2']);
  t.not(subs[0]!.enonce1Hex, subs[1]!.enonce1Hex);
  t.is(a.extranonce1.toString('hex'), subs.find((c) => c.workername === 'henry.rig1')!.enonce1Hex);

  const arrived: [Client, ShareVerdict][] = [];
  const onShare = (c: Client, v: ShareVerdict) => arrived.push([c, v]);
  pool.stratifier.on('share', onShare);
  t.teardown(() => pool.stratifier.off('share', onShare));
  for (const [c, w] of [[a, 'henry.rig1'], [b, 'irene.rig2'], [b, 'irene.rig2']] as const) {
    t.is((await mineOne(c, w)).reply.result, true);
  }
  t.deepEqual(arrived.map(([c, v]) => [c.workername, v.accepted]), [['henry.rig1', true], ['irene.rig2', true], ['irene.rig2', true]]);
  t.truthy(pool.stats.getUser('henry'));
  t.truthy(pool.stats.getUser('irene'));
  t.is(subs.find((c) => c.workername === 'irene.rig2')!.accepted, 2);

  // a difficulty change for one miner reaches only that miner
  const irene = subs.find((c) => c.workername === 'irene.rig2')!;
  const got = new Promise<number>((r) => b.once('difficulty', r));
  irene.conn.send(JSON.stringify({ id: null, method: 'mining.set_difficulty', params: [DIFF * 2] }));
  t.is(await got, DIFF * 2);
  t.is(a.difficulty, DIFF);

  // the miner leaves: mining.term removes it on the main pool
  a.close();
  await waitFor(() => link.subs.size === 1, 5000, 'mining.term');
  t.false([...pool.stratifier.clients.values()].some((c) => c.workername === 'henry.rig1'));
  // the pool drops a miner: dropclient=<id> closes it at the passthrough
  const closed = once(b, 'close');
  irene.conn.close('test drop');
  await closed;
  await waitFor(() => pt.miners.size === 0, 5000, 'dropclient');
});

test.serial('passthrough: a block found through the passthrough is accepted by bcoin', async (t) => {
  const direct = await mainPool(node, node.url, { startdiff: 1e-6 });
  closers.push(() => direct.stop());
  const pt = await passthrough([direct.addresses[0]!.port]);
  const c = track(await miner(pt.addresses[0]!.port, 'jack.w1'));
  const before = await node.rpc.getBlockCount();
  const found = once(direct.stratifier, 'block') as Promise<[Client, BlockSubmission]>;
  const r = await submitUntilBlock(c, 'jack.w1');
  t.is(r.result, true, JSON.stringify(r));
  const [client, result] = await found;
  t.is(client.workername, 'jack.w1');
  t.true(result.accepted);
  t.is(await node.rpc.getBlockCount(), before + 1);
  t.is(await node.rpc.getBestBlockHash(), result.hash);
});

test.serial('passthrough: the upstream goes away — miners wait, then are carried over to the next one (same extranonce1, no reconnect)', async (t) => {
  const first = await mainPool(node, hard.url, { startdiff: DIFF });
  const second = await mainPool(node, hard.url, { startdiff: DIFF });
  closers.push(() => second.stop());
  const pt = await passthrough([first.addresses[0]!.port, second.addresses[0]!.port], { failbackMs: 60_000 });
  const port = pt.addresses[0]!.port;
  const again = track(await miner(port, 'kate.w1'));
  const en1 = again.extranonce1.toString('hex');
  await first.stop();
  // the passthrough subscribes and authorizes it again on the next pool, asking for its extranonce1 (issue 18)
  await waitFor(() => pt.counters.resumed === 1, 10_000, 'the miner carried over');
  t.is(pt.upstream.active!.index, 1);
  t.false(again.closed);
  t.is(pt.counters.reconnected, 0);
  t.is([...second.stratifier.clients.values()].find((c) => c.workername === 'kate.w1')?.enonce1Hex, en1);
  await waitFor(() => second.generator.workbase(again.job!.jobId) !== undefined, 10_000, 'the second pool\'s job at the miner');
  const at2 = once(second.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  t.is((await mineOne(again, 'kate.w1')).reply.result, true);
  const [client, v] = await at2;
  t.is(client.workername, 'kate.w1');
  t.true(v.accepted);

  // no upstream at all: the miner stays connected, requests are answered, new miners refused
  await second.stop();
  await waitFor(() => pt.upstream.active === null, 5000, 'link loss');
  const r = await again.request('mining.suggest_difficulty', [1]);
  t.regex(JSON.stringify(r.error), /Upstream pool unavailable/);
  t.false(again.closed);
  const refused = await StratumClient.connect(port);
  await once(refused, 'close');
});

test.serial('passthrough: miners behind a link count against the main pool\'s maxclients', async (t) => {
  const small = await mainPool(node, hard.url, { startdiff: DIFF, maxclients: 3 });
  closers.push(() => small.stop());
  const pt = await passthrough([small.addresses[0]!.port]);
  const port = pt.addresses[0]!.port;
  track(await miner(port, 'nina.w1'));
  track(await miner(port, 'nina.w2'));
  // the link plus two miners fill it: the third is dropped with dropclient=<id>
  const third = track(await StratumClient.connect(port));
  const closed = once(third, 'close');
  third.write('{"id":1,"method":"mining.subscribe","params":[]}\n');
  await closed;
  t.is(small.links.subClients, 2);
});

test.serial('redirector: a miner with an accepted share is redirected; an idle one is not', async (t) => {
  const { mode, tap } = await startRedirector(
    modeConfig('redirector', [{ port: pool.addresses[0]!.port }], { redirecturl: ['127.0.0.1:3999', '127.0.0.1:3998'] }),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => mode.stop());
  await mode.waitReady(10_000);
  const port = mode.addresses[0]!.port;
  const idle = track(await miner(port, 'liam.idle'));
  let idleRedirected = false;
  idle.on('message', (m) => { if (m.method === 'client.reconnect') idleRedirected = true; });
  const worker = track(await miner(port, 'mia.busy'));
  const redirect = nextReconnect(worker, 5000);
  const { reply } = await mineOne(worker, 'mia.busy');
  t.is(reply.result, true);
  t.deepEqual(await redirect, ['127.0.0.1', '3999', 0]);
  await new Promise((r) => setTimeout(r, 300));
  t.false(idleRedirected, 'a miner that never had a share accepted is not redirected');
  t.is(tap.redirected, 1);
  // the same address authorising again is redirected right away, to the same target
  const next = await StratumClient.connect(port);
  track(next);
  await next.subscribe();
  const again = nextReconnect(next, 5000);
  t.is((await next.authorize('mia.second')).result, true);
  t.deepEqual(await again, ['127.0.0.1', '3999', 0]);
});

test.serial('node: validates its miners\' shares and submits a block itself to its own bitcoind', async (t) => {
  // the node's own bcoin, with the same chain as the pool's (blocks copied over)
  const own = await startTestBcoin({ walletEnabled: false });
  const height = await node.rpc.getBlockCount();
  for (let h = 1; h <= height; h++) {
    const hash = await node.rpc.call<string>('getblockhash', [h]);
    const hex = await node.rpc.call<string>('getblock', [hash, false]);
    await own.rpc.call('submitblock', [hex]);
  }
  t.is(await own.rpc.getBestBlockHash(), await node.rpc.getBestBlockHash());
  const direct = await mainPool(node, node.url, { startdiff: 1e-6, nodeserver: true });
  closers.push(() => direct.stop());
  const nodePort = direct.addresses[1]!.port;
  // mining.node is refused on an ordinary serverurl
  const wrong = await StratumClient.connect(direct.addresses[0]!.port);
  wrong.write('{"id":1,"method":"mining.node","params":["x"]}\n');
  await once(wrong, 'close');

  const cfg = modeConfig('node', [{ port: nodePort }], { btcd: [{ url: own.url, auth: own.user, pass: own.pass }] });
  const { mode, tap } = await startNode(cfg, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => mode.stop());
  await mode.waitReady(10_000);
  t.is([...direct.links.links.values()].at(-1)!.kind, 'node');
  await waitFor(() => tap.jobs.size > 0, 5000, 'workinfo');
  const c = track(await miner(mode.addresses[0]!.port, 'noah.w1'));
  t.true(tap.jobs.has(c.job!.jobId), 'the node has the template of the job its miner works on');
  const nodeBlock = once(tap, 'block') as Promise<[BlockSubmission]>;
  const poolBlock = once(direct.stratifier, 'block') as Promise<[Client, BlockSubmission]>;
  let sharesSeen = 0;
  tap.on('share', () => sharesSeen++);
  const r = await submitUntilBlock(c, 'noah.w1');
  t.is(r.result, true, JSON.stringify(r));
  const [mine] = await nodeBlock;
  t.true(mine.accepted, JSON.stringify(mine.verdicts));
  t.is(mine.verdicts[0]!.server, own.url);
  t.is(await own.rpc.getBestBlockHash(), mine.hash, 'the node\'s own bitcoind has the block');
  const [, theirs] = await poolBlock;
  t.is(theirs.hash, mine.hash);
  t.true(sharesSeen >= 1);
});
