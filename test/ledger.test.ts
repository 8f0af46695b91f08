/**
 * The block ledger (ts/work/ledger.ts) against Bitcoin Core regtest: a pool (in this
 * process, so the event bus can be listened to) on a real bitcoind, blocks mined through
 * it by the independent test miner (test/helpers/indie-miner.ts), and Core's chain
 * reorganised under them with invalidateblock / reconsiderblock / generatetoaddress:
 * - a found block accepted, then orphaned by a longer competing chain (block_verdict,
 *   the result file), then back on the best chain → accepted again;
 * - a block Core rejects (its parent was invalidated after the job was sent): rejected
 *   with Core's reason, and the chain check leaves it so;
 * - a restart reads logdir/blocks back, including a file as older versions wrote it
 *   (no coinbasevalue, no result file): its reward comes from the block's own coinbase,
 *   and the chain check settles its verdict; /api/v1/blocks and public-pool's /api/info
 *   blockData list them.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BlockRecord } from '../ts/events.js';
import { MemoryLogger } from '../ts/log/logger.js';
import type { StratumClient } from '../ts/miner/client.js';
import { Pool } from '../ts/pool/pool.js';
import { jobOnTip, mineBlock } from './helpers/chain.js';
import { connectMiner } from './helpers/ckpool-proc.js';
import { coreTests, startCore, stopAllCores, CORE_BURN_ADDRESS, type CoreNode } from './helpers/core.js';
import { grindIndependent } from './helpers/indie-miner.js';

const DIFF = 0.000001;
const bin = coreTests('ledger');

if (bin) {
  let core: CoreNode;
  let payout: string;
  let logdir: string;
  let pool: Pool;
  let miner: StratumClient;
  const verdicts: BlockRecord[] = [];
  const found: BlockRecord[] = [];
  /** blocks of the earlier tests, for the restart */
  const blocks: { back?: string; rejected?: string; rejectedReason?: string } = {};

  async function startPool(): Promise<Pool> {
    const p = await Pool.start({
      // polling on as well as ZMQ: invalidateblock changes the tip without a hashblock message
      btcd: [{ url: core.url, cookie: core.cookieFile, notify: false, line: 0 }], zmqblock: core.zmqUrl, blockpoll: 100, btcaddress: payout, logdir,
      serverurl: ['127.0.0.1:0'], apiurl: '127.0.0.1:0', startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF, updateInterval: 600,
    }, { logger: new MemoryLogger(), server: { highdiffPort: 65535 } });
    p.events.on('block_verdict', (r) => verdicts.push(r));
    p.events.on('block_found', (r) => found.push(r));
    return p;
  }

  async function until<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const resultFile = (hash: string): Record<string, unknown> => {
    const name = readdirSync(path.join(logdir, 'blocks')).find((f) => f.includes(hash) && f.endsWith('.result.json'))!;
    return JSON.parse(readFileSync(path.join(logdir, 'blocks', name), 'utf8')) as Record<string, unknown>;
  };

  test.before(async () => {
    core = await startCore(bin);
    const wallet = await core.wallet('w');
    payout = await core.rpc<string>('getnewaddress', [], 'w');
    await core.generate(101, wallet);
    logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-ledger-'));
    pool = await startPool();
    miner = await connectMiner(pool.addresses[0]!.port, 'alice.rig');
  });

  test.after.always(async () => {
    miner?.close();
    await pool?.stop();
    await stopAllCores();
    if (logdir) rmSync(logdir, { recursive: true, force: true });
  });

  test.serial('a found block is accepted, orphaned by a longer competing chain (block_verdict, result file), and accepted again when it is back on the best chain', async (t) => {
    const x = await mineBlock(core, miner, 'alice.rig', 'none', DIFF);
    const hash = x.share.hash;
    t.true(x.confirmations >= 1, 'Core has our block on its best chain');
    const accepted = await until('accepted', () => pool.ledger.get(hash)?.verdict === 'accepted' && pool.ledger.get(hash));
    t.like(accepted, { height: x.height, finder: 'alice', worker: 'alice.rig' });
    t.true(found.some((r) => r.hash === hash && r.verdict === 'pending'), 'block_found with verdict pending first');
    t.true(verdicts.some((r) => r.hash === hash && r.verdict === 'accepted'));
    // the reward is Core's coinbase value of the block
    const blk = await core.rpc<{ tx: { vout: { value: number }[] }[] }>('getblock', [hash, 2]);
    t.is(accepted.reward, Math.round(blk.tx[0]!.vout.reduce((s, o) => s + o.value, 0) * 1e8));

    // the same block sent again (a miner resending its share): submitted again, Core says
    // "duplicate"; still one block in the ledger and one block_found
    const before = pool.ledger.list(0, 50).total;
    verdicts.length = 0;
    await miner.submit('alice.rig', x.share.params);
    await until('resubmission verdict', () => verdicts.find((r) => r.hash === hash));
    t.is(pool.ledger.list(0, 50).total, before);
    t.is(found.filter((r) => r.hash === hash).length, 1);
    t.is(pool.ledger.get(hash)?.verdict, 'accepted');

    // reorg: our block invalidated, a longer chain mined on its parent
    await core.rpc('invalidateblock', [hash]);
    const theirs = await core.generate(2, CORE_BURN_ADDRESS);
    const atHeight = await core.rpc<string>('getblockhash', [x.height]);
    t.is(atHeight, theirs[0]);
    const orphaned = await until('orphaned', () => pool.ledger.get(hash)?.verdict === 'orphaned' && pool.ledger.get(hash));
    t.regex(orphaned.reason ?? '', new RegExp(`${atHeight} at height ${x.height}`));
    t.true(verdicts.some((r) => r.hash === hash && r.verdict === 'orphaned'), 'block_verdict orphaned on the bus');
    await until('orphan written', () => resultFile(hash).orphaned === true);
    t.like(resultFile(hash), { accepted: false, orphaned: true });

    // reconsiderblock alone: the competing chain has more work, Core stays on it, so does the verdict
    await core.rpc('reconsiderblock', [hash]);
    t.is(await core.rpc<string>('getblockhash', [x.height]), theirs[0]);
    await core.generate(1, CORE_BURN_ADDRESS);
    await new Promise((r) => setTimeout(r, 1000));
    t.is(pool.ledger.get(hash)?.verdict, 'orphaned');

    // the competing chain invalidated: Core goes back to ours
    await core.rpc('invalidateblock', [theirs[0]]);
    t.is(await core.rpc<string>('getbestblockhash'), hash);
    const back = await until('back', () => pool.ledger.get(hash)?.verdict === 'accepted' && pool.ledger.get(hash));
    t.is(back.reason, 'back on the best chain');
    await until('back written', () => resultFile(hash).accepted === true);
    t.like(resultFile(hash), { accepted: true, orphaned: false, reason: 'back on the best chain' });
    // leave the chain on ours for what follows (the other branch stays invalid)
    await jobOnTip(miner, hash);
    blocks.back = hash;
  });

  test.serial('a block Core rejects (its parent invalidated after the job went out): verdict rejected with Core\'s reason, kept by the chain check', async (t) => {
    const tip = await core.rpc<string>('getbestblockhash');
    await jobOnTip(miner, tip);
    const share = grindIndependent(miner, miner.job!, { diff: DIFF, kind: 'none' });
    await core.rpc('invalidateblock', [tip]);
    const parent = await core.rpc<string>('getbestblockhash');
    await jobOnTip(miner, parent);
    verdicts.length = 0;
    await miner.submit('alice.rig', share.params);
    const rejected = await until('rejected', () => verdicts.find((r) => r.hash === share.hash));
    t.is(rejected.verdict, 'rejected');
    t.regex(rejected.reason ?? '', /bad-prevblk/, `the node's reason: ${rejected.reason}`);
    t.true(found.some((r) => r.hash === share.hash), 'block_found before the verdict');
    t.like(pool.ledger.get(share.hash), { verdict: 'rejected' });
    // restore the chain; new tips run the chain check, which leaves a rejected block alone
    await core.rpc('reconsiderblock', [tip]);
    await core.generate(1, CORE_BURN_ADDRESS);
    await new Promise((r) => setTimeout(r, 1000));
    t.is(pool.ledger.get(share.hash)?.verdict, 'rejected');
    blocks.rejected = share.hash;
    blocks.rejectedReason = rejected.reason;
  });

  test.serial('restart: logdir/blocks read back (verdicts and reasons kept); a file written by an older version (no coinbasevalue, no result) gets its reward from the coinbase and is settled by the chain check', async (t) => {
    const x = await mineBlock(core, miner, 'alice.rig', 'none', DIFF);
    const old = x.share.hash;
    await until('accepted', () => pool.ledger.get(old)?.verdict === 'accepted');
    const before = pool.ledger.get(old)!;
    miner.close();
    await pool.stop();

    // make the last block's file look like an older version's: no coinbasevalue, no result
    // file, and found an hour ago (a solve whose process died mid-submission)
    const dir = path.join(logdir, 'blocks');
    const name = readdirSync(dir).find((f) => f.includes(old) && !f.endsWith('.result.json'))!;
    const rec = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Record<string, unknown>;
    t.is(typeof rec.coinbasevalue, 'number');
    delete rec.coinbasevalue;
    rec.found = new Date(Date.now() - 3600_000).toISOString();
    writeFileSync(path.join(dir, name), JSON.stringify(rec) + '\n');
    unlinkSync(path.join(dir, name.replace(/\.json$/, '.result.json')));

    verdicts.length = 0;
    pool = await startPool();
    const list = pool.ledger.list(0, 50);
    t.is(list.total, 3);
    t.like(pool.ledger.get(blocks.back!), { verdict: 'accepted', reason: 'back on the best chain', finder: 'alice' });
    t.like(pool.ledger.get(blocks.rejected!), { verdict: 'rejected', reason: blocks.rejectedReason });
    // the old-format file: reward from the block hex equals Core's coinbase value
    const blk = await core.rpc<{ tx: { vout: { value: number }[] }[] }>('getblock', [old, 2]);
    const coinbase = Math.round(blk.tx[0]!.vout.reduce((s, o) => s + o.value, 0) * 1e8);
    t.is(pool.ledger.get(old)!.reward, coinbase);
    t.is(before.reward, coinbase);
    t.like(pool.ledger.get(old), { finder: 'alice', worker: 'alice.rig', height: x.height, time: Math.floor(Date.parse(String(rec.found)) / 1000) });
    // pending at load (no result), settled by the chain check on the first tip (during
    // Pool.start, or the next one): it is on Core's chain → accepted, and written down
    await core.generate(1, CORE_BURN_ADDRESS);
    t.is(await until('settled', () => pool.ledger.get(old)?.verdict !== 'pending' && pool.ledger.get(old)!.verdict), 'accepted');
    await until('written', () => { try { return resultFile(old).accepted === true; } catch { return false; } });

    // over HTTP: /api/v1/blocks newest first with every verdict; public-pool's blockData lists
    // every block whose submission finished, whatever the node said (public-pool saves a row
    // after SUBMIT_BLOCK whatever its result), oldest first (its table's row order)
    const api = async (p: string): Promise<any> => (await fetch(new URL(p, pool.api!.url))).json();
    const v1 = await api('/api/v1/blocks');
    t.is(v1.total, 3);
    // (the old-format block's file says it was found an hour ago: the oldest)
    t.deepEqual(v1.items.map((b: BlockRecord) => [b.hash, b.verdict]), [[blocks.rejected, 'rejected'], [blocks.back, 'accepted'], [old, 'accepted']]);
    const info = await api('/api/info');
    const h = (hash: string) => pool.ledger.get(hash)!.height;
    t.deepEqual(info.blockData, [old, blocks.back!, blocks.rejected!].map((hash) => ({ height: h(hash), minerAddress: 'alice', worker: 'rig', sessionId: null })));
    miner = await connectMiner(pool.addresses[0]!.port, 'alice.rig');
  });
}
