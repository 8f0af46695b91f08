/**
 * `ckpool` in pool (and -B solo) mode: the CLI's hand-off (ts/cli/run.ts).
 *
 * With no config file at all it runs the embedded demo: a bcoin regtest node started
 * as a child process, mined past segwit activation (height 432), and the pool on it
 * with a sub-1 start difficulty so a CPU miner finds shares within seconds. Ctrl-C
 * (SIGINT), SIGTERM or the control socket's `shutdown` stops the pool and the node
 * cleanly and removes the control sockets and the pid file.
 *
 * Before anything else the instance claims its sockdir (ts/control/instance.ts: a
 * live same-named instance is refused unless -k, a crashed one's files are cleaned)
 * and opens its control sockets, so `ckpmsg ping` / `shutdown` work while the pool is
 * still waiting for bitcoind.
 */
import { basename, dirname } from 'node:path';
import type { ResolvedOptions } from '../cli/ckpool.js';
import type { CkpoolConfig, BtcdEntry } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { resolveGroup } from '../control/group.js';
import { claimInstance } from '../control/instance.js';
import { ControlServer } from '../control/server.js';
import { startBcoin, type BcoinNode } from '../node/bcoin.js';
import { Pool } from './pool.js';

/** Difficulties for the demo: a 4 MH/s CPU core finds a 0.001 share about every second. */
const DEMO_STARTDIFF = 0.001;
const DEMO_MINDIFF = 0.0001;
const DEMO_PORT = 3333;

function say(line: string): void {
  process.stdout.write(line + '\n');
}

async function demoConfig(config: CkpoolConfig, logger: Logger): Promise<{ config: CkpoolConfig; node: BcoinNode }> {
  say('No config file: starting the embedded demo (a bcoin regtest node, mined past segwit activation)…');
  const node = await startBcoin({ walletEnabled: true, walletWitness: true, logger });
  const address = await node.fundWallet(432);
  const btcd: BtcdEntry = { ...node.btcd(false), notify: false, line: 0 };
  return {
    node,
    config: {
      ...config,
      btcd: [btcd],
      btcaddress: config.mode === 'solo' ? undefined : address,
      startdiff: DEMO_STARTDIFF,
      mindiff: DEMO_MINDIFF,
      serverurl: config.serverurl.length ? config.serverurl : [`0.0.0.0:${DEMO_PORT}`],
    },
  };
}

export async function startPool(options: ResolvedOptions, config: CkpoolConfig, logger: Logger): Promise<Pool> {
  const gid = options.flags.group !== undefined ? resolveGroup(options.flags.group) : undefined;
  const instance = await claimInstance({ name: options.name, sockdir: options.sockdir, killold: options.flags.killold, logger });
  let node: BcoinNode | null = null;
  let pool: Pool | null = null;
  let control: ControlServer | null = null;

  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.notice(`Process ${options.name} ${why}, shutting down`);
    try {
      await pool?.stop();
      await node?.stop();
    } catch (e) {
      logger.err(`Shutdown: ${(e as Error).message}`);
    } finally {
      await control?.close().catch(() => undefined);
      instance.release();
      process.exit(0);
    }
  };
  // From here on a signal must also remove the sockets and the pid file.
  process.once('SIGINT', () => void shutdown('received signal SIGINT'));
  process.once('SIGTERM', () => void shutdown('received signal SIGTERM'));

  try {
    control = await ControlServer.start({
      sockdir: options.sockdir, gid, logger, onShutdown: () => void shutdown('received shutdown command'),
    });
    if (config.embeddedDemo) ({ config, node } = await demoConfig(config, logger));
    pool = await Pool.start(config, {
      logger, solo: options.mode === 'solo', logShares: options.flags.logShares, name: options.name,
      // ckpool's status line on stdout once a second, unless -q (or stdout is not a terminal)
      throbber: options.flags.quiet || !process.stdout.isTTY ? null : process.stdout,
    });
  } catch (e) {
    await control?.close().catch(() => undefined);
    await node?.stop();
    instance.release();
    throw e;
  }
  control.attach(pool);
  const urls = pool.addresses.map((a) => `stratum+tcp://${a.host === '0.0.0.0' ? '127.0.0.1' : a.host}:${a.port}`);
  say(`${options.name} ${options.mode} mode: stratum on ${urls.join(', ')}`);
  if (node) {
    const user = options.mode === 'solo' ? await node.getWalletAddress() : 'demo.worker1';
    say(`  bitcoind (bcoin regtest): ${node.url}, height ${await node.rpc.getBlockCount()}`);
    say(`  payout address: ${options.mode === 'solo' ? `${user} (solo: the miner's username)` : config.btcaddress}`);
    say(`  mine with:  minerd -a sha256d -o ${urls[0]} -u ${user} -p x`);
  }
  say(`  stats: ${config.logdir}/pool/pool.status, ${config.logdir}/users/; log ${config.logdir}/${options.name}.log`);
  say(`  control: ${options.sockdir}listener (ckpmsg -s ${parentOf(options.sockdir)} -n ${baseOf(options.sockdir)})`);
  return pool;
}

/** ckpmsg's -s is the sockdir's parent and -n its last component (behaviour §3). */
function parentOf(sockdir: string): string {
  return dirname(sockdir.replace(/\/+$/, '')) || '/';
}
function baseOf(sockdir: string): string {
  return basename(sockdir.replace(/\/+$/, ''));
}
