/**
 * Every mode's chain on Bitcoin Core (regtest, heights where the template version is
 * 0x30000000), through the `ckpool` binary, with the independent test miner's three kinds
 * (no rolling, BIP310, delta): pool ← passthrough (-P), ← proxy (-p), ← userproxy (-u),
 * ← node (-N, which submits to its own Core), ← redirector (-R); each block must be
 * Core's new tip with the header the miner hashed. Then a seamless restart (-H) of the
 * pool while miners mine, and failover between two Core nodes.
 */
import test from 'ava';
import net from 'node:net';
import type { StratumClient } from '../ts/miner/client.js';
import { mineBlock, type MinedBlock } from './helpers/chain.js';
import { connectMiner, killAllCkpools, startCkpool, type CkpoolProc } from './helpers/ckpool-proc.js';
import { coreTests, startCore, stopAllCores, CORE_BURN_ADDRESS, type CoreNode } from './helpers/core.js';
import { nextReconnect } from './helpers/modes.js';
import { freePort } from '../ts/node/ports.js';

const DIFF = 0.000001;
const DIFFS = { startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF };
const bin = coreTests('core-modes');

if (bin) {
  let core: CoreNode;
  let pool: CkpoolProc;
  let nodePort: number;
  const miners: StratumClient[] = [];
  const track = (c: StratumClient) => (miners.push(c), c);

  test.before(async () => {
    core = await startCore(bin);
    await core.generate(150, CORE_BURN_ADDRESS);
    nodePort = await freePort();
    pool = await startCkpool([], {
      btcd: [core.btcd({ notify: true })], zmqblock: core.zmqUrl, btcaddress: CORE_BURN_ADDRESS,
      nodeserver: [`127.0.0.1:${nodePort}`], ...DIFFS,
    }, { name: 'main' });
  });

  test.after.always(async () => {
    for (const m of miners) m.close();
    killAllCkpools();
    await stopAllCores();
  });

  /** The three kinds of miner through `port`, one block each; every reply and block checked. */
  async function threeKinds(t: import('ava').ExecutionContext, port: number, tag: string, opts: { followReconnect?: boolean } = {}): Promise<MinedBlock[]> {
    const userFor = (k: string) => `${tag}${k}.rig`;
    const out: MinedBlock[] = [];
    for (const [kind, roll] of [['none', 0], ['bip310', 0x2000], ['delta', 0x6000]] as const) {
      const worker = userFor(kind);
      // userproxy: the miner is moved to its user's own upstream connection once that has
      // work — which can be before connectMiner returns (it waits for the first job), so
      // the watch starts as soon as the socket is connected
      let moved: Promise<unknown[]> | null = null;
      const watch = (x: StratumClient) => {
        moved = nextReconnect(x, 20_000);
        moved.catch(() => undefined); // an attempt connectMiner gave up on
      };
      let c = track(await connectMiner(port, worker, { configure: kind !== 'none', onConnect: opts.followReconnect ? watch : undefined }));
      if (opts.followReconnect) {
        await moved!;
        c.close();
        c = track(await connectMiner(port, worker, { configure: kind !== 'none' }));
      }
      const x = await mineBlock(core, c, worker, kind, DIFF, roll);
      t.log(`${tag} ${x.height} ${kind} job ${x.jobVersion.toString(16)} hashed ${x.share.version.toString(16)} core ${x.coreVersion.toString(16)} ${JSON.stringify(x.reply)}`);
      t.is((x.reply as { result: unknown }).result, true, `${tag} ${kind}: share accepted`);
      t.true(x.confirmations >= 1, `${tag} ${kind}: block is Core's tip`);
      t.is(x.coreVersion, x.share.version, `${tag} ${kind}: Core has the header the miner hashed`);
      out.push(x);
      c.close();
    }
    t.true(out.some((x) => x.jobVersion === 0x30000000), 'bit 28 in the template');
    return out;
  }

  test.serial('pool ← passthrough (-P)', async (t) => {
    const pt = await startCkpool(['-P'], { proxy: [{ url: `127.0.0.1:${pool.port}`, auth: 'x', pass: 'x' }], ...DIFFS }, { name: 'pt' });
    await threeKinds(t, pt.port, 'pt');
  });

  test.serial('pool ← proxy (-p): blocks found behind the proxy are submitted by the pool', async (t) => {
    const px = await startCkpool(['-p'], { proxy: [{ url: `127.0.0.1:${pool.port}`, auth: 'proxyuser', pass: 'x' }], ...DIFFS }, { name: 'px' });
    await threeKinds(t, px.port, 'px');
  });

  test.serial('pool ← userproxy (-u)', async (t) => {
    const up = await startCkpool(['-u'], { proxy: [{ url: `127.0.0.1:${pool.port}`, auth: 'proxyuser', pass: 'x' }], ...DIFFS }, { name: 'up' });
    await threeKinds(t, up.port, 'up', { followReconnect: true });
  });

  test.serial('pool ← node (-N): the node checks shares itself and submits blocks to its own Core', async (t) => {
    const nd = await startCkpool(['-N'], {
      proxy: [{ url: `127.0.0.1:${nodePort}`, auth: 'x', pass: 'x' }], btcd: [core.btcd({ notify: true })], zmqblock: core.zmqUrl, ...DIFFS,
    }, { name: 'node' });
    await threeKinds(t, nd.port, 'node');
    t.regex(nd.log(), /block solved|BLOCK ACCEPTED/);
  });

  test.serial('redirector (-R): a miner with an accepted share is sent to the pool and mines a block there', async (t) => {
    const rd = await startCkpool(['-R'], {
      proxy: [{ url: `127.0.0.1:${pool.port}`, auth: 'x', pass: 'x' }], redirecturl: [`127.0.0.1:${pool.port}`], ...DIFFS,
    }, { name: 'redir' });
    const c = track(await connectMiner(rd.port, 'rd.none'));
    const moved = nextReconnect(c, 20_000);
    const x = await mineBlock(core, c, 'rd.none', 'none', DIFF);
    t.is((x.reply as { result: unknown }).result, true);
    t.true(x.confirmations >= 1);
    const [host, port] = await moved;
    t.is(`${String(host)}:${Number(port)}`, `127.0.0.1:${pool.port}`);
    const c2 = track(await connectMiner(Number(port), 'rd.none'));
    const y = await mineBlock(core, c2, 'rd.none', 'none', DIFF);
    t.is((y.reply as { result: unknown }).result, true);
    t.true(y.confirmations >= 1);
  });

  test.serial('seamless restart (-H) under load: no refused connection, miners move to the new process and its blocks are accepted', async (t) => {
    const ms = await Promise.all([0, 1, 2, 3].map((i) => connectMiner(pool.port, `ho.m${i}`, { configure: i % 2 === 1 }).then(track)));
    const reconnects = ms.map((m) => nextReconnect(m, 30_000).catch(() => null));
    // a stream of fresh connections through the switch: none may be refused
    let refused = 0;
    let connected = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        await new Promise<void>((resolve) => {
          const s = net.connect(pool.port, '127.0.0.1', () => { connected++; s.destroy(); resolve(); });
          s.on('error', () => { refused++; resolve(); });
        });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    // the old process keeps mining while the new one starts
    const before = await mineBlock(core, ms[0]!, 'ho.m0', 'none', DIFF);
    t.is((before.reply as { result: unknown }).result, true);
    const next = await startCkpool(['-H'], JSON.parse((await import('node:fs')).readFileSync(pool.conf, 'utf8')), { name: 'main', dir: pool.dir, port: pool.port });
    const [code] = await Promise.race([pool.exited, new Promise<[null]>((r) => setTimeout(() => r([null]), 30_000))]);
    probing = false;
    await probe;
    t.is(code, 0, 'the old process exits by itself');
    t.is(refused, 0, `no refused connection (${connected} connected during the switch)`);
    const got = await Promise.all(reconnects);
    t.true(got.every((g) => g !== null), 'every miner was told to reconnect');
    for (const m of ms) m.close();
    const again = track(await connectMiner(next.port, 'ho.m1', { configure: true }));
    const x = await mineBlock(core, again, 'ho.m1', 'bip310', DIFF, 0x2000);
    t.is((x.reply as { result: unknown }).result, true);
    t.true(x.confirmations >= 1);
    pool = next;
  });
}
