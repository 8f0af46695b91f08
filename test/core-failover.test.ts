/**
 * Failover between two Bitcoin Core nodes (regtest, peered over P2P so they share one
 * chain): A with cookie auth first, B with rpcuser/rpcpassword second. The pool mines on
 * A; A is killed; the pool moves to B and its miner's blocks are accepted there; A comes
 * back, catches up from B, and the pool returns to it.
 */
import test from 'ava';
import { mineBlock } from './helpers/chain.js';
import { connectMiner, killAllCkpools, startCkpool } from './helpers/ckpool-proc.js';
import { coreTests, startCore, stopAllCores, CORE_BURN_ADDRESS } from './helpers/core.js';

const DIFF = 0.000001;
const bin = coreTests('core-failover');

if (bin) {
  test.after.always(async () => {
    killAllCkpools();
    await stopAllCores();
  });

  test.serial('two Core nodes: A dies, the pool fails over to B and its blocks are accepted; A returns and the pool fails back', async (t) => {
    const a = await startCore(bin, { listen: true, zmq: false });
    const b = await startCore(bin, { peers: [a], zmq: false, userpass: { user: 'ckpool', pass: 'failover-test' } });
    await a.generate(3, CORE_BURN_ADDRESS);
    await b.waitHeight(3);
    const pool = await startCkpool([], {
      btcd: [a.btcd(), b.btcd()], btcaddress: CORE_BURN_ADDRESS, blockpoll: 50,
      startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF,
    }, { name: 'fo' });
    const m = await connectMiner(pool.port, 'fo.rig', { configure: true });
    const first = await mineBlock(a, m, 'fo.rig', 'bip310', DIFF, 0x2000);
    t.is((first.reply as { result: unknown }).result, true);
    t.true(first.confirmations >= 1, 'block on A');
    await b.waitHeight(first.height);

    await a.kill();
    // the pool's next template comes from B; mine on it
    const onB = await mineBlock(b, m, 'fo.rig', 'none', DIFF);
    t.is((onB.reply as { result: unknown }).result, true);
    t.true(onB.confirmations >= 1, 'block accepted by B after A died');
    t.regex(pool.log(), /fail(ed)? ?over|failover/i);

    await a.restart();
    await a.rpc('addnode', [`127.0.0.1:${b.p2pPort}`, 'onetry']);
    await a.waitHeight(onB.height, 30_000);
    // back on A (first in the list): a block the pool submits is on A's chain
    const end = Date.now() + 30_000;
    while (!/fail ?back|failback|back to/i.test(pool.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const back = await mineBlock(a, m, 'fo.rig', 'delta', DIFF, 0x6000);
    t.is((back.reply as { result: unknown }).result, true);
    t.true(back.confirmations >= 1, 'block accepted by A after it returned');
    m.close();
  });
}
