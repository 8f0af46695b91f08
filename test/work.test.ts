/**
 * The generator against real bcoin regtest nodes: workbases from real templates,
 * blocks ground with the native hasher and submitted through the pool's own
 * submission path (pre-segwit, then after activation at height 432 with real wallet
 * transactions and the witness commitment), the block file written before the
 * submission, ZMQ-driven clean work, failover of work between two nodes, and fatal
 * start-up errors.
 */
import test from 'ava';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { XPublisher } from 'zeromq';
import { MemoryLogger } from '../ts/log/logger.js';
import { ServerSet } from '../ts/node/servers.js';
import { freePort } from '../ts/node/ports.js';
import { Generator, DONATION_ADDRESS } from '../ts/work/generator.js';
import { splitPayout, type Workbase } from '../ts/work/workbase.js';
import { ShareChecker } from '../ts/native/share.js';
import { addressToScript } from '../ts/bitcoin/address.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-work-'));
const cleanups: Array<() => unknown> = [];
let node: BcoinNode;

test.before(async () => {
  node = await startTestBcoin({ walletWitness: true });
});
test.after.always(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await stopAllBcoins();
  rmSync(logdir, { recursive: true, force: true });
});

function makeGenerator(t: import('ava').ExecutionContext, nodes: BcoinNode[], extra: Partial<ConstructorParameters<typeof Generator>[0]> = {}, notify = false) {
  const logger = new MemoryLogger();
  const servers = new ServerSet({ btcds: nodes.map((n) => n.btcd(notify)), logger, watchdogMs: 200 });
  const gen = new Generator({
    servers, btcaddress: REGTEST_ADDRESS, btcsig: '/ckpool-ts test/', donation: 0.5,
    nonce1length: 4, nonce2length: 8, updateInterval: 30, blockpollMs: 100, logdir, logger, ...extra,
  });
  // Close with the test: a generator left polling would make bcoin cache a template
  // (bcoin refreshes its GBT for new mempool transactions only every 10 s).
  t.teardown(() => gen.close());
  return { gen, logger, servers };
}

/** Grind extranonce2 until the header meets the (regtest) network target. */
function solve(wb: Workbase) {
  const en1 = randomBytes(4);
  const checker = new ShareChecker({
    coinb1: wb.coinb1, coinb2: wb.coinb2, branch: wb.branch, version: wb.version, versionMask: 0x1fffe000,
    prevhash: Buffer.from(wb.stratumPrevhash, 'hex').swap32(), nbits: wb.nbits, extranonce1Len: 4, extranonce2Len: 8,
  });
  for (let i = 0; i < 10_000; i++) {
    const en2 = Buffer.alloc(8);
    en2.writeUInt32LE(i);
    const r = checker.check({ extranonce1: en1, extranonce2: en2, ntime: wb.ntime, nonce: i * 7919, difficulty: 1e-9 });
    if (r.meetsNetworkTarget) {
      return {
        hash: r.hash,
        header: checker.header(en1, en2, wb.ntime, i * 7919),
        coinbase: Buffer.concat([wb.coinb1, en1, en2, wb.coinb2]),
      };
    }
  }
  throw new Error('no solution in 10000 tries at regtest difficulty');
}

async function nextWorkbase(gen: Generator, ms: number): Promise<[Workbase, boolean]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return (await once(gen, 'workbase', { signal: ac.signal })) as [Workbase, boolean];
  } finally {
    clearTimeout(timer);
  }
}

async function checkCoinbasePays(blockHash: string, wb: Workbase, t: import('ava').ExecutionContext) {
  const block = await node.rpc.call<{ height: number; tx: Array<{ vout: Array<{ value: number; scriptPubKey: { hex?: string } }> }> }>(
    'getblock', [blockHash, true, true]);
  t.is(block.height, wb.height);
  t.is(block.tx.length, 1 + wb.txCount, 'every template transaction is in the block');
  const outs = block.tx[0]!.vout;
  const split = splitPayout(wb.coinbasevalue, 0.5);
  t.true(split.donation > 0);
  t.is(split.pool + split.donation, wb.coinbasevalue);
  t.is(Math.round(outs[0]!.value * 1e8), split.pool, 'pool payout = coinbasevalue - donation');
  t.is(outs[0]!.scriptPubKey.hex, addressToScript(REGTEST_ADDRESS, 'regtest').toString('hex'));
  t.is(Math.round(outs[1]!.value * 1e8), split.donation, 'donation output');
  t.is(outs[1]!.scriptPubKey.hex, addressToScript(DONATION_ADDRESS.regtest, 'regtest').toString('hex'));
  return outs;
}

test.serial('pre-segwit: a block ground from the pool\'s workbase is written to disk first, then accepted by bcoin', async (t) => {
  await node.generateToAddress(5, REGTEST_ADDRESS);
  const { gen, servers } = makeGenerator(t, [node]);
  const wb = await gen.start(10_000);
  t.is(gen.network, 'regtest');
  t.is(wb.witnessCommitment, null, 'no commitment before segwit activates on bcoin');
  const heightBefore = await node.rpc.getBlockCount();
  t.is(wb.height, heightBefore + 1);

  // The block file must exist when submitblock is called.
  const client = servers.servers[0]!.client;
  const submit = client.submitBlock.bind(client);
  let fileAtSubmit: string[] = [];
  client.submitBlock = async (hex: string) => {
    fileAtSubmit = readdirSync(path.join(logdir, 'blocks')).filter((f) => f.includes(hex.length ? '' : 'x'));
    return submit(hex);
  };
  const s = solve(wb);
  // clean work, from whichever update first sees the new tip (the one after the submission
  // or the block watcher's poll): listened for from before the submission on
  const cleanWork: Workbase[] = [];
  gen.on('workbase', (w: Workbase, c: boolean) => { if (c) cleanWork.push(w); });
  const result = await gen.submitBlock(wb, s.header, s.coinbase, { workername: 'alice.w1' });
  t.true(fileAtSubmit.some((f) => f.endsWith(`${s.hash}.json`)), 'block file written before submitblock');
  t.true(result.accepted);
  t.true(result.confirmed);
  t.is(result.hash, s.hash);
  t.deepEqual(result.verdicts.map((v) => v.accepted), [true]);
  t.is(await node.rpc.getBlockCount(), heightBefore + 1);
  t.is(await node.rpc.getBestBlockHash(), s.hash);
  const saved = JSON.parse(readFileSync(result.file!, 'utf8'));
  t.is(saved.hash, s.hash);
  t.is(saved.workername, 'alice.w1');
  t.true(saved.hex.startsWith(s.header.toString('hex')));
  t.true(existsSync(result.file!.replace(/\.json$/, '.result.json')));
  await checkCoinbasePays(s.hash, wb, t);
  // the submission triggers new clean work on the new tip
  const end = Date.now() + 5000;
  while (!cleanWork.some((w) => w.prevhash === s.hash) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const next = cleanWork.find((w) => w.prevhash === s.hash)!;
  t.truthy(next, 'clean work on the new tip');
  t.is(next.prevhash, s.hash);
  t.true(next.seq > wb.seq);
  t.true(gen.blockChangeSeq > wb.seq && gen.blockChangeSeq <= next.seq, 'jobs before blockChangeSeq are stale');
  t.is(gen.current!.prevhash, s.hash);
});

test.serial('after segwit (height ≥ 432) with real wallet transactions: block with witness commitment accepted', async (t) => {
  const addr = await node.fundWallet(440);
  t.true((await node.rpc.getBlockCount()) >= 432);
  for (let i = 0; i < 5; i++) await node.sendToAddress(addr, 10_000_000 + i);
  const { gen } = makeGenerator(t, [node]);
  const wb = await gen.start(10_000);
  t.true(wb.txCount >= 5, `template carries the wallet transactions (${wb.txCount})`);
  t.true(wb.template.transactions.some((tx) => tx.hash !== tx.txid), 'witness transactions (wtxid ≠ txid)');
  t.not(wb.witnessCommitment, null);
  // the Workbase recomputed the commitment from the wtxids and compared it to the node's
  t.is(wb.template.default_witness_commitment, '6a24aa21a9ed' + wb.witnessCommitment!.toString('hex'));
  t.true(wb.branch.length >= 3);
  const s = solve(wb);
  const result = await gen.submitBlock(wb, s.header, s.coinbase);
  t.true(result.accepted, JSON.stringify(result.verdicts));
  t.true(result.confirmed);
  const outs = await checkCoinbasePays(s.hash, wb, t);
  t.is(outs[2]!.scriptPubKey.hex, '6a24aa21a9ed' + wb.witnessCommitment!.toString('hex'));
  t.is(outs[2]!.value, 0);
  const mempool = await node.rpc.call<string[]>('getrawmempool');
  t.is(mempool.length, 0, 'the block confirmed every mempool transaction');
});

test.serial('a rejected block is reported with the node\'s reason and the file is kept', async (t) => {
  const { gen } = makeGenerator(t, [node]);
  const wb = await gen.start(10_000);
  const s = solve(wb);
  s.header[40] ^= 0xff; // corrupt the prevhash: the node cannot connect it
  const result = await gen.submitBlock(wb, s.header, s.coinbase);
  t.false(result.accepted);
  t.false(result.confirmed);
  t.truthy(result.verdicts[0]!.reason);
  t.true(existsSync(result.file!));
});

test.serial('ZMQ hashblock with notify:true: new clean work without polling', async (t) => {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const pub = new XPublisher();
  cleanups.push(() => pub.close());
  await pub.bind(endpoint);
  const { gen, servers } = makeGenerator(t, [node], { zmqblock: endpoint }, true);
  const wb = await gen.start(10_000);
  await pub.receive(); // the generator's subscription arrived
  const client = servers.servers[0]!.client;
  const next = nextWorkbase(gen, 3000);
  const [hash] = await node.generateToAddress(1, REGTEST_ADDRESS);
  await pub.send(['hashblock', Buffer.from(hash!, 'hex'), Buffer.alloc(4)]);
  const [nwb, clean] = await next;
  t.true(clean);
  t.is(nwb.prevhash, hash!);
  t.is(nwb.height, wb.height + 1);
  t.is(client.stats.methods.getbestblockhash ?? 0, 0, 'no polling with notify:true');
});

test.serial('failover: stop the first node, work comes from the second within 2 × blockpoll; fail back', async (t) => {
  const a = await startTestBcoin({ walletEnabled: false });
  const b = await startTestBcoin({ walletEnabled: false });
  await b.generateToAddress(3, REGTEST_ADDRESS); // different chains tell the nodes apart
  const { gen, servers } = makeGenerator(t, [a, b]);
  const wb = await gen.start(10_000);
  t.is(wb.prevhash, await a.rpc.getBestBlockHash());
  const bTip = await b.rpc.getBestBlockHash();
  const t0 = Date.now();
  await a.stop();
  // nothing but the generator's own machinery: the poller hits the dead node, the set
  // fails over, and new work is made from the second node
  let fromB: Workbase | null = null;
  while (!fromB && Date.now() - t0 < 3000) {
    const [nwb] = await nextWorkbase(gen, 3000);
    if (nwb.prevhash === bTip) fromB = nwb;
  }
  const took = Date.now() - t0;
  t.truthy(fromB, 'work from the second node');
  t.true(took <= 2 * 100 + 150, `work from the second node after ${took} ms (blockpoll 100 ms)`);
  t.is(servers.current()!.name, b.url);
  await a.restart();
  const deadline = Date.now() + 3000;
  while (servers.current()?.name !== a.url && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(servers.current()!.name, a.url, 'failed back to the first node');
  const aTip = await a.rpc.getBestBlockHash();
  if (gen.current!.prevhash !== aTip) {
    const [back] = await nextWorkbase(gen, 3000);
    t.is(back.prevhash, aTip);
  }
  t.is(gen.current!.prevhash, aTip, 'work from the first node again');
});

test.serial('an invalid btcaddress is fatal with a clear coded error', async (t) => {
  const { gen } = makeGenerator(t, [node], { btcaddress: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' });
  const err = await t.throwsAsync(gen.start(10_000));
  t.is((err as { code?: string }).code, 'CKP_ERR_WORK_ADDRESS');
  t.regex(err!.message, /not valid on regtest/);
});
