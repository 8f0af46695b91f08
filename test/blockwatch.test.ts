/**
 * BlockWatcher against a real bcoin regtest node: polling sees generated
 * blocks; with notify:true the only sources are ZMQ and notify(), and the
 * node gets no polling calls at all. bcoin has no ZMQ, so the ZMQ test
 * publishes bitcoind's three-frame `hashblock` message itself, right after
 * generating the block on bcoin.
 */
import test from 'ava';
import { once } from 'node:events';
import { XPublisher } from 'zeromq';
import { MemoryLogger } from '../ts/log/logger.js';
import { BlockWatcher, type BlockSource } from '../ts/node/blockwatch.js';
import { freePort } from '../ts/node/ports.js';
import { ServerSet } from '../ts/node/servers.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

const BLOCKPOLL = 100;
let node: BcoinNode;
const cleanups: Array<() => unknown> = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
});

test.after.always(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await stopAllBcoins();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function setup(opts: { notify: boolean; zmqblock?: string }) {
  const logger = new MemoryLogger();
  const servers = new ServerSet({ btcds: [node.btcd(opts.notify)], logger, watchdogMs: 60_000 });
  await servers.start();
  const watcher = new BlockWatcher({ servers, blockpollMs: BLOCKPOLL, zmqblock: opts.zmqblock, logger });
  cleanups.push(() => servers.close(), () => watcher.close());
  const client = servers.servers[0]!.client;
  return { servers, watcher, client, logger };
}

async function nextBlock(w: BlockWatcher, ms: number): Promise<[string | null, BlockSource]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return (await once(w, 'block', { signal: ac.signal })) as [string | null, BlockSource];
  } catch {
    throw new Error(`no block event within ${ms} ms`);
  } finally {
    clearTimeout(timer);
  }
}

test.serial('polling: a generated block is seen within a couple of blockpolls', async (t) => {
  const { watcher, client } = await setup({ notify: false });
  await watcher.start();
  await sleep(2 * BLOCKPOLL); // the first poll learns the current tip silently
  t.is(watcher.lastHash, await node.rpc.getBestBlockHash());
  const polls = client.stats.methods.getbestblockhash ?? 0;
  t.true(polls >= 1);

  const event = nextBlock(watcher, 10 * BLOCKPOLL);
  const [hash] = await node.generateToAddress(1, REGTEST_ADDRESS);
  const generated = performance.now();
  t.deepEqual(await event, [hash!, 'poll']);
  const took = performance.now() - generated;
  t.log(`seen ${took.toFixed(0)} ms after generatetoaddress returned (blockpoll ${BLOCKPOLL} ms)`);
  t.true(took <= 2 * BLOCKPOLL + 50, `took ${took} ms`);
  await watcher.close();
  const after = client.stats.calls;
  await sleep(3 * BLOCKPOLL);
  t.is(client.stats.calls, after, 'no calls after close');
});

test.serial('ZMQ hashblock with notify:true: the block is seen without a single polling call', async (t) => {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  // An XPublisher is a Publisher that also reports subscriptions, so the test
  // can wait for the watcher's subscription instead of sleeping (ZMQ drops
  // messages published before a subscriber is connected).
  const pub = new XPublisher();
  cleanups.push(() => pub.close());
  await pub.bind(endpoint);

  const { watcher, client, logger } = await setup({ notify: true, zmqblock: endpoint });
  const callsAtStart = client.stats.calls;
  await watcher.start();
  const [sub] = await pub.receive();
  t.is(sub![0], 1); // subscribe…
  t.is(sub!.subarray(1).toString(), 'hashblock'); // …to hashblock
  t.true(logger.lines.some((l) => l.msg === `ZMQ connected to ${endpoint}`));

  await sleep(5 * BLOCKPOLL); // steady state: no polling at all
  t.is(client.stats.calls, callsAtStart);

  const event = nextBlock(watcher, 2000);
  const [hash] = await node.generateToAddress(1, REGTEST_ADDRESS);
  const seq = Buffer.alloc(4);
  seq.writeUInt32LE(0);
  // a message without a 32-byte part is ignored
  await pub.send(['hashblock', Buffer.from('short'), seq]);
  await pub.send(['hashblock', Buffer.from(hash!, 'hex'), seq]); // bitcoind: display order
  t.deepEqual(await event, [hash!, 'zmq']);
  t.is(watcher.lastHash, hash!);
  t.is(await node.rpc.getBestBlockHash(), hash!);

  // the same hash again (e.g. also from -blocknotify) is announced once
  let again = 0;
  watcher.on('block', () => again++);
  seq.writeUInt32LE(1);
  await pub.send(['hashblock', Buffer.from(hash!, 'hex'), seq]);
  t.false(watcher.notify(hash!));
  await sleep(2 * BLOCKPOLL);
  t.is(again, 0);
  t.is(client.stats.methods.getbestblockhash ?? 0, 0);
  t.is(client.stats.calls, callsAtStart);
  await watcher.close();
});

test.serial('notify() from outside (the notifier path) fires once per hash, and without a hash', async (t) => {
  const { watcher, client } = await setup({ notify: true });
  await watcher.start();
  const seen: Array<[string | null, BlockSource]> = [];
  watcher.on('block', (h, s) => seen.push([h, s]));
  const [hash] = await node.generateToAddress(1, REGTEST_ADDRESS);
  t.true(watcher.notify(hash!));
  t.false(watcher.notify(hash!));
  t.false(watcher.notify('not-a-hash'));
  t.true(watcher.notify());
  t.deepEqual(seen, [[hash!, 'notify'], [null, 'notify']]);
  t.is(client.stats.methods.getbestblockhash ?? 0, 0);
  await watcher.close();
});

test.serial('a zmqblock endpoint with nothing behind it is harmless; polling still works', async (t) => {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const { watcher, logger } = await setup({ notify: false, zmqblock: endpoint });
  await watcher.start();
  await sleep(2 * BLOCKPOLL);
  const event = nextBlock(watcher, 10 * BLOCKPOLL);
  const [hash] = await node.generateToAddress(1, REGTEST_ADDRESS);
  t.deepEqual(await event, [hash!, 'poll']);
  t.false(logger.lines.some((l) => l.level <= 3));
  await watcher.close();
});
