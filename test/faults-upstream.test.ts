/**
 * Upstream flapping in every proxy mode (issue 14, faults): a ckpool-ts pool (the
 * `ckpool` binary on Bitcoin Core regtest) is the upstream of a proxy (-p), a userproxy
 * (-u), a passthrough (-P) and a node (-N, on the pool's nodeserver port). The upstream
 * is stopped and started again three times while a miner stays on the downstream
 * instance; each time it is back, the miner must mine on (a block through the chain,
 * accepted by Core, every share being a block on regtest), and the downstream instance
 * must never exit. A miner the downstream drops reconnects to the same downstream port,
 * as a miner does; how often that happened is logged.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import type { StratumClient } from '../ts/miner/client.js';
import { freePort } from '../ts/node/ports.js';
import { mineBlock } from './helpers/chain.js';
import { connectMiner, killAllCkpools, startCkpool, type CkpoolProc } from './helpers/ckpool-proc.js';
import { coreTests, startCore, stopAllCores, CORE_BURN_ADDRESS, type CoreNode } from './helpers/core.js';

const DIFF = 0.000001;
const DIFFS = { startdiff: DIFF, mindiff: DIFF, maxdiff: DIFF, highdiff: DIFF };
const FLAPS = 3;
const bin = coreTests('faults-upstream');

if (bin) {
  let core: CoreNode;
  let up: CkpoolProc;
  let nodePort: number;

  test.before(async () => {
    core = await startCore(bin);
    await core.generate(101, CORE_BURN_ADDRESS);
    nodePort = await freePort();
    up = await startCkpool([], {
      btcd: [core.btcd({ notify: true })], zmqblock: core.zmqUrl, btcaddress: CORE_BURN_ADDRESS,
      nodeserver: [`127.0.0.1:${nodePort}`], ...DIFFS,
    }, { name: 'up' });
  });

  test.after.always(async () => {
    killAllCkpools();
    await stopAllCores();
  });

  /** Stop the upstream (SIGTERM, as an operator or systemd does) and start it again on the same ports. */
  async function restartUpstream(downMs: number): Promise<void> {
    up.child.kill('SIGTERM');
    const [code] = await up.exited;
    if (code !== 0) throw new Error(`upstream exited ${code}: ${up.err()}`);
    await new Promise((r) => setTimeout(r, downMs));
    up = await startCkpool([], JSON.parse(readFileSync(up.conf, 'utf8')), { name: 'up', dir: up.dir, port: up.port });
  }

  async function flap(t: ExecutionContext, flags: string[], conf: Record<string, unknown>, name: string, opts: { followReconnect?: boolean } = {}): Promise<void> {
    const down = await startCkpool(flags, { ...conf, ...DIFFS }, { name });
    const worker = `${name}.rig`;
    let drops = 0;
    let m: StratumClient = await connectMiner(down.port, worker, { configure: true, retryMs: 30_000 });
    const ensure = async (): Promise<StratumClient> => {
      if (!m.closed) return m;
      drops++;
      m = await connectMiner(down.port, worker, { configure: true, retryMs: 30_000 });
      return m;
    };
    /** Mine a block through the chain, reconnecting if the downstream dropped us (bounded). */
    const mineThrough = async (label: string) => {
      const end = Date.now() + 60_000;
      for (;;) {
        try {
          const c = await ensure();
          const x = await mineBlock(core, c, worker, 'bip310', DIFF, 0x2000);
          if ((x.reply as { result: unknown }).result === true && x.confirmations >= 1) return x;
          t.log(`${label}: ${JSON.stringify(x.reply)} confirmations ${x.confirmations}; again`);
        } catch (e) {
          if (Date.now() > end) throw new Error(`${label}: no block through ${name} within 60 s: ${(e as Error).message}`);
          t.log(`${label}: ${(e as Error).message}; again`);
        }
        if (Date.now() > end) throw new Error(`${label}: no block through ${name} within 60 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    if (opts.followReconnect) {
      // userproxy: the miner moves to its own upstream connection first (client.reconnect)
      await new Promise((r) => setTimeout(r, 1500));
    }
    await mineThrough('before');
    for (let i = 1; i <= FLAPS; i++) {
      await restartUpstream(1000 + i * 500);
      const x = await mineThrough(`after restart ${i}`);
      t.true(x.confirmations >= 1, `flap ${i}: block ${x.share.hash} on Core's chain`);
      t.is(down.child.exitCode, null, `flap ${i}: the ${name} instance is still running`);
    }
    t.log(`${name}: miner reconnected ${drops} time(s) over ${FLAPS} upstream restarts`);
    t.notRegex(down.err(), /TypeError|RangeError|Unhandled|uncaught/i, 'no crash trace on the console');
    m.close();
    down.child.kill('SIGTERM');
    const [code] = await down.exited;
    t.is(code, 0, `the ${name} instance still stops cleanly`);
  }

  const upstream = () => [{ url: `127.0.0.1:${up.port}`, auth: 'proxyuser', pass: 'x' }];

  test.serial('proxy (-p): the upstream pool restarts three times, the miner mines on each time', async (t) => {
    await flap(t, ['-p'], { proxy: upstream() }, 'fpx');
  });

  test.serial('userproxy (-u): the upstream pool restarts three times, the miner mines on each time', async (t) => {
    await flap(t, ['-u'], { proxy: upstream() }, 'fup', { followReconnect: true });
  });

  test.serial('passthrough (-P): the upstream pool restarts three times, the miner mines on each time', async (t) => {
    await flap(t, ['-P'], { proxy: upstream() }, 'fpt');
  });

  test.serial('node (-N): the upstream pool (its nodeserver) restarts three times, the miner mines on each time', async (t) => {
    await flap(t, ['-N'], { proxy: [{ url: `127.0.0.1:${nodePort}`, auth: 'x', pass: 'x' }], btcd: [core.btcd({ notify: true })], zmqblock: core.zmqUrl }, 'fnd');
  });
}
