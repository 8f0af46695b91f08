/**
 * Pool and solo mode on Bitcoin Core (bitcoind v31.99 regtest), through the `ckpool`
 * binary, with the independent test miner (test/helpers/indie-miner.ts):
 * - across height 144, where Core's template version becomes 0x30000000 (the test
 *   deployment signals on bit 28, inside the version-rolling mask): a miner that does not
 *   roll, a BIP310 miner and a delta (Bitaxe-style) miner, every share accepted and every
 *   block accepted by Core with the version the miner hashed;
 * - past height 432 with wallet transactions in the blocks;
 * - solo mode paying the miner's own address; cookie auth; ZMQ hashblock with polling off;
 * - submitblock verdicts: "inconclusive" (a competing block came first) and "duplicate".
 */
import test from 'ava';
import type { StratumClient } from '../ts/miner/client.js';
import { mineBlock, jobOnTip, type MinedBlock } from './helpers/chain.js';
import { connectMiner, killAllCkpools, startCkpool, type CkpoolProc } from './helpers/ckpool-proc.js';
import { coreTests, startCore, stopAllCores, CORE_BURN_ADDRESS, type CoreNode } from './helpers/core.js';
import { grindIndependent } from './helpers/indie-miner.js';

const DIFF = 0.000001;
const bin = coreTests('core-blocks');

if (bin) {
  let core: CoreNode;
  let wallet: string;
  let payout: string;
  let pool: CkpoolProc;
  const miners: StratumClient[] = [];

  test.before(async () => {
    core = await startCore(bin);
    wallet = await core.wallet('w');
    payout = await core.rpc<string>('getnewaddress', [], 'w');
    await core.generate(140, wallet);
    // cookie auth, ZMQ hashblock and notify:true (ckpool's "no polling" switch)
    pool = await startCkpool([], {
      btcd: [core.btcd({ notify: true })], zmqblock: core.zmqUrl, btcaddress: payout,
      startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF,
    });
  });

  test.after.always(async () => {
    for (const m of miners) m.close();
    killAllCkpools();
    await stopAllCores();
  });

  const track = (c: StratumClient) => (miners.push(c), c);

  test.serial('pool on Core across height 144 (bit 28 in the template): non-rolling, BIP310 and delta miners — every share and every block accepted', async (t) => {
    const a = track(await connectMiner(pool.port, 'alice.none'));
    const b = track(await connectMiner(pool.port, 'bob.bip310', { configure: true }));
    const d = track(await connectMiner(pool.port, 'dora.delta', { configure: true }));
    t.is(b.versionMask, 0x1fffe000);
    const plan: [StratumClient, string, 'none' | 'bip310' | 'delta', number?][] = [
      [a, 'alice.none', 'none'], [b, 'bob.bip310', 'bip310', 0x2000], [d, 'dora.delta', 'delta', 0x6000],
      // rolling bit 28 itself: a BIP310 miner clears the template's bit, a delta miner too
      [b, 'bob.bip310', 'bip310', 0x10004000], [d, 'dora.delta', 'delta', 0x10008000],
    ];
    const blocks: MinedBlock[] = [];
    for (let i = 0; (await core.height()) < 152; i++) {
      const [c, worker, kind, roll] = plan[i % plan.length]!;
      blocks.push(await mineBlock(core, c, worker, kind, DIFF, roll));
    }
    const summary = blocks.map((x) => `${x.height} ${x.kind} job ${x.jobVersion.toString(16)} hashed ${x.share.version.toString(16)} core ${x.coreVersion.toString(16)} reply ${JSON.stringify(x.reply)}`);
    t.log(summary.join('\n'));
    for (const x of blocks) {
      t.is((x.reply as { result: unknown }).result, true, `share accepted: ${x.height} ${x.kind}`);
      t.true(x.confirmations >= 1, `block ${x.share.hash} (${x.kind}) in Core's best chain`);
      t.is(x.coreVersion, x.share.version, `Core has the header the miner hashed (${x.kind})`);
    }
    // the case that matters was met: templates with bit 28, all three kinds on them
    const signalling = blocks.filter((x) => x.height >= 144 && x.jobVersion === 0x30000000);
    t.true(signalling.length >= 5, `jobs at 0x30000000 from 144 on: ${signalling.length}`);
    for (const kind of ['none', 'bip310', 'delta'] as const) t.true(signalling.some((x) => x.kind === kind), kind);
    t.true(signalling.some((x) => x.kind === 'none' && x.coreVersion === 0x30000000));
    t.true(signalling.some((x) => x.share.version === 0x20004000 || x.share.version === 0x20008000), 'bit 28 rolled off');
    t.notRegex(pool.log(), /MISMATCH/);
    t.is((pool.log().match(/BLOCK ACCEPTED!/g) ?? []).length, blocks.length);
  });

  test.serial('past height 432 with wallet transactions: blocks carry them and Core accepts; the coinbase pays btcaddress', async (t) => {
    const a = miners[0]!;
    const h = await core.height();
    if (h < 428) await core.generate(428 - h, wallet);
    await jobOnTip(a, await core.rpc<string>('getbestblockhash'));
    const txids: string[] = [];
    for (let i = 0; i < 6; i++) txids.push(await core.rpc<string>('sendtoaddress', [payout, 0.5 + i / 100], 'w'));
    // a template that holds them (the pool refreshes on update_interval; ask at once)
    const mined: MinedBlock[] = [];
    await new Promise((r) => setTimeout(r, 300));
    while ((await core.height()) < 435) mined.push(await mineBlock(core, a, 'alice.none', 'none', DIFF));
    for (const x of mined) {
      t.is((x.reply as { result: unknown }).result, true);
      t.true(x.confirmations >= 1);
    }
    const withTx = mined.filter((x) => x.nTx > 1);
    t.true(withTx.length >= 1, `blocks with transactions: ${mined.map((x) => `${x.height}:${x.nTx}`).join(' ')}`);
    const mempool = await core.rpc<string[]>('getrawmempool');
    for (const id of txids) t.false(mempool.includes(id), `${id} mined`);
    const blk = await core.rpc<{ tx: { vout: { scriptPubKey: { address?: string } }[] }[] }>('getblock', [withTx[0]!.share.hash, 2]);
    t.true(blk.tx[0]!.vout.some((o) => o.scriptPubKey.address === payout), 'coinbase pays btcaddress');
    t.true(mined.some((x) => x.height > 432));
  });

  test.serial('ZMQ hashblock: a block Core mines itself reaches the miners at once, with polling off', async (t) => {
    const a = miners[0]!;
    const [hash] = await core.generate(1, CORE_BURN_ADDRESS);
    const t0 = Date.now();
    await jobOnTip(a, hash!, 5_000);
    t.log(`new work ${Date.now() - t0} ms after generatetoaddress returned`);
    t.regex(pool.log(), /zmq|ZMQ/);
  });

  test.serial('submitblock verdicts: "inconclusive" is logged as valid but not on the best chain, "duplicate" as accepted', async (t) => {
    const a = miners[0]!;
    await jobOnTip(a, await core.rpc<string>('getbestblockhash'));
    const old = a.job!;
    const share = grindIndependent(a, old, { diff: DIFF, kind: 'none' });
    // a competing block at the same height reaches Core first
    const [theirs] = await core.generate(1, CORE_BURN_ADDRESS);
    await jobOnTip(a, theirs!);
    const r1 = await a.submit('alice.none', share.params);
    t.not(r1.result, true, 'a share on the old job is stale');
    // until the generator's verdict line for this block (its "Possible block solve" line
    // comes first, and other blocks' verdicts are in the log already): up to 30 s, the
    // block is written to disk (fsync) before it is submitted and CI machines are busy
    const ofShare = () => pool.log().split('\n').filter((l) => l.includes(share.hash));
    const end = Date.now() + 30_000;
    while (!ofShare().some((l) => /is valid, not on the best chain|was rejected|BLOCK ACCEPTED/.test(l))) {
      if (Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines = ofShare();
    t.log(lines.join('\n'));
    t.true(lines.some((l) => /valid, not on the best chain/.test(l)), 'inconclusive logged as valid, not on the best chain');
    t.false(lines.some((l) => /rejected/.test(l)), 'not called rejected');
    const hdr = await core.rpc<{ confirmations: number }>('getblockheader', [share.hash]);
    t.is(hdr.confirmations, -1, 'Core keeps it off the best chain');
    // the same block once more: Core already has it
    const r2 = await a.submit('alice.none', share.params);
    t.not(r2.result, true);
    const end2 = Date.now() + 30_000;
    while (!/accepted block: duplicate/.test(pool.log())) {
      if (Date.now() > end2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.regex(pool.log(), /accepted block: duplicate/);
  });

  test.serial('solo mode (-B) on Core: the username is a Core address and the block pays it', async (t) => {
    const solo = await startCkpool(['-B'], { btcd: [core.btcd()], zmqblock: core.zmqUrl, startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF }, { name: 'solo' });
    const addr = await core.rpc<string>('getnewaddress', [], 'w');
    const m = track(await connectMiner(solo.port, `${addr}.rig`, { configure: true }));
    const x = await mineBlock(core, m, `${addr}.rig`, 'bip310', DIFF, 0x4000);
    t.is((x.reply as { result: unknown }).result, true);
    t.true(x.confirmations >= 1);
    const blk = await core.rpc<{ tx: { vout: { scriptPubKey: { address?: string } }[] }[] }>('getblock', [x.share.hash, 2]);
    t.true(blk.tx[0]!.vout.some((o) => o.scriptPubKey.address === addr), 'coinbase pays the miner');
    t.true(x.jobVersion === 0x30000000 || x.jobVersion === 0x20000000);
  });
}
