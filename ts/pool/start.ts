/**
 * `ckpool` in pool (and -B solo) mode: the CLI's hand-off (ts/cli/run.ts).
 *
 * With no config file at all it runs the embedded demo: a bcoin regtest node started
 * as a child process, mined past segwit activation (height 432), and the pool on it
 * with a sub-1 start difficulty so a CPU miner finds shares within seconds. Ctrl-C
 * (SIGINT) or SIGTERM stops the pool and the node cleanly.
 */
import type { ResolvedOptions } from '../cli/ckpool.js';
import type { CkpoolConfig, BtcdEntry } from '../config/types.js';
import type { Logger } from '../log/logger.js';
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
  let node: BcoinNode | null = null;
  if (config.embeddedDemo) ({ config, node } = await demoConfig(config, logger));
  let pool: Pool;
  try {
    pool = await Pool.start(config, {
      logger, solo: options.mode === 'solo', logShares: options.flags.logShares, name: options.name,
      // ckpool's status line on stdout once a second, unless -q (or stdout is not a terminal)
      throbber: options.flags.quiet || !process.stdout.isTTY ? null : process.stdout,
    });
  } catch (e) {
    await node?.stop();
    throw e;
  }
  const urls = pool.addresses.map((a) => `stratum+tcp://${a.host === '0.0.0.0' ? '127.0.0.1' : a.host}:${a.port}`);
  say(`${options.name} ${options.mode} mode: stratum on ${urls.join(', ')}`);
  if (node) {
    const user = options.mode === 'solo' ? await node.getWalletAddress() : 'demo.worker1';
    say(`  bitcoind (bcoin regtest): ${node.url}, height ${await node.rpc.getBlockCount()}`);
    say(`  payout address: ${options.mode === 'solo' ? `${user} (solo: the miner's username)` : config.btcaddress}`);
    say(`  mine with:  minerd -a sha256d -o ${urls[0]} -u ${user} -p x`);
  }
  say(`  stats: ${config.logdir}/pool/pool.status, ${config.logdir}/users/; log ${config.logdir}/${options.name}.log`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.notice(`Process ${options.name} received signal ${signal}, shutting down`);
    try {
      await pool.stop();
      await node?.stop();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  return pool;
}
