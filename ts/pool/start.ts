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
 *
 * -H (handover, ts/control/takeover.ts): ckpool's own sequence on the running same-named
 * instance's `listener` socket, so the old one may be a C ckpool or ckpool-ts: `ping`,
 * `getxfd<i>` for each listening socket (inherited over SCM_RIGHTS), and once the pool
 * serves on them `reject`, `reconnect` (its miners get client.reconnect and come here)
 * and `shutdown` (it exits by itself) — the ports never close, so no connection attempt
 * is refused.
 *
 * Miners are served on worker threads (ts/pool/workers.ts): `--workers`, else the
 * config's `workers`, else one per CPU.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { ResolvedOptions } from '../config/options.js';
import type { CkpoolConfig, BtcdEntry } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { InstanceLifecycle, stratumUrls } from '../control/lifecycle.js';
import { dismissOld, inheritListeners } from '../control/takeover.js';
import { startBcoin, type BcoinNode } from '../node/bcoin.js';
import { Pool } from './pool.js';
import { CpuMiner } from '../miner/cpu.js';
import { autoWorkers } from '../config/defaults.js';
import { anyTlsUrl } from '../tls/credentials.js';
import { reloadTlsOnSighup } from '../tls/reload.js';

/** Difficulties for the demo: a 4 MH/s CPU core finds a 0.001 share about every second. */
const DEMO_STARTDIFF = 0.001;
const DEMO_MINDIFF = 0.0001;
const DEMO_PORT = 3333;
/** The built-in demo miner's workers, and its hashrate cap (a fraction of one core). */
const DEMO_MINER_WORKERS = ['cpu0', 'cpu1', 'cpu2'];
const DEMO_MINER_HASHRATE = 2_000_000;

const DEMO_API_PORT = 8080;

/** Whether a TCP port can be bound now (the demo's API falls back to a free port). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

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
      // the dashboard and API on localhost: 8080, or any free port when 8080 is taken
      apiurl: config.apiurl ?? (await portFree('127.0.0.1', DEMO_API_PORT) ? `127.0.0.1:${DEMO_API_PORT}` : '127.0.0.1:0'),
    },
  };
}

/** How long a handover's new process tries to bind the API port the old one is closing. */
const API_REBIND_MS = 10_000;

/**
 * The HTTP API of a -H handover's new process. Its port is not inherited (ckpool has no
 * such listener to pass, and an HTTP client simply retries): the old process closes it
 * when it stops, first thing, and has exited (or been terminated) by the time this
 * runs; binding is retried for a while in case its socket is still being released. In
 * between, requests to the API are refused for a moment; stratum is not affected.
 */
async function startApiAfterHandover(pool: Pool, url: string, logger: Logger): Promise<void> {
  const deadline = Date.now() + API_REBIND_MS;
  for (;;) {
    try {
      await pool.startApi(url);
      return;
    } catch (e) {
      const inUse = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
      if (!inUse || Date.now() > deadline) {
        // the pool serves miners already: a missing API is logged, not fatal
        logger.err(`${(e as Error).message}${inUse ? ` (still in use ${API_REBIND_MS / 1000} s after the old process went)` : ''}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Re-execute this process's command line with -H (the control socket's `restart`). */
function restartSelf(logger: Logger): void {
  const args = process.argv.slice(1);
  if (!args.includes('-H') && !args.includes('--handover')) args.push('-H');
  const child = spawn(process.execPath, [...process.execArgv, ...args], { detached: true, stdio: 'ignore' });
  child.unref();
  logger.notice(`Restart: started process ${child.pid} with -H`);
}

export async function startPool(options: ResolvedOptions, config: CkpoolConfig, logger: Logger): Promise<Pool> {
  const life = new InstanceLifecycle(options, logger, () => restartSelf(logger));
  let node: BcoinNode | null = null;
  let pool: Pool | null = null;
  let miner: CpuMiner | null = null;
  let unhookSighup: (() => void) | null = null;
  life.stopMode = async () => {
    unhookSighup?.();
    await miner?.stop();
    await pool?.stop();
    await node?.stop();
  };
  try {
    if (config.embeddedDemo) ({ config, node } = await demoConfig(config, logger));
    // serverurl listeners first, then nodeserver ones (the order Pool.start binds them in)
    const handover = options.flags.handover
      ? await inheritListeners({ sockdir: options.sockdir, count: config.serverurl.length + config.nodeserver.length + config.sv2url.length, logger })
      : null;
    // Without a handover the control sockets come first, so `ckpmsg ping` / `shutdown`
    // work while the pool waits for bitcoind. With one, the old instance keeps them until
    // this one serves on the inherited sockets and has told it to go.
    if (!handover) await life.startControl();
    pool = await Pool.start(config, {
      logger, solo: options.mode === 'solo', logShares: options.flags.logShares, name: options.name,
      // serverurl and nodeserver sockets first, then the sv2url ones (getxfd's order)
      listenFds: handover?.fds.slice(0, config.serverurl.length + config.nodeserver.length),
      sv2ListenFds: handover?.fds.slice(config.serverurl.length + config.nodeserver.length),
      sockdir: options.sockdir,
      deferReadBack: handover !== null && handover !== undefined,
      // the old process serves the API port until it exits: bound below, after it has
      deferApi: handover !== null && handover !== undefined,
      // --workers, else the config's `workers`, else one thread per CPU (ckpool sizes its
      // thread pools by the CPU count); the library's own default is 0
      workers: options.workers ?? config.workers ?? autoWorkers(),
      // ckpool's status line on stdout once a second, unless -q (or stdout is not a terminal)
      throbber: options.flags.quiet || !process.stdout.isTTY ? null : process.stdout,
    });
    if (handover) {
      await dismissOld({ sockdir: options.sockdir, logger }, handover.oldPid);
      // the old process wrote its stats as it exited: read them now, added to what the
      // miners that already moved here have sent us
      await pool.stats.readBack(Date.now()).catch((e: Error) => logger.warning(`Could not read back stats: ${e.message}`));
      pool.stats.start();
      await life.startControl(); // terminates the old process if it is still there
      if (config.apiurl) await startApiAfterHandover(pool, config.apiurl, logger);
    }
  } catch (e) {
    await life.abandon();
    throw e;
  }
  life.control!.attach(pool);
  // SIGHUP: a renewed certificate for new TLS connections (only when a listener is TLS)
  const running = pool;
  if (anyTlsUrl([...config.serverurl, ...config.nodeserver])) unhookSighup = reloadTlsOnSighup(() => running.reloadTls(), logger);
  const urls = stratumUrls(pool.addresses, [...config.serverurl, ...config.nodeserver]);
  say(`${options.name} ${options.mode} mode: stratum on ${urls.join(', ')}`);
  if (node) {
    const user = options.mode === 'solo' ? await node.getWalletAddress() : 'demo.worker1';
    say(`  bitcoind (bcoin regtest): ${node.url}, height ${await node.rpc.getBlockCount()}`);
    say(`  payout address: ${options.mode === 'solo' ? `${user} (solo: the miner's username)` : config.btcaddress}`);
    say(`  mine with:  minerd -a sha256d -o ${urls[0]} -u ${user} -p x`);
    if (options.flags.demoMiner !== false) {
      // the built-in CPU miner, so the dashboard shows shares and blocks at once
      const prefix = options.mode === 'solo' ? user : 'demo';
      const workers = DEMO_MINER_WORKERS.map((w) => `${prefix}.${w}`);
      const port = pool.addresses[0]!.port;
      miner = await CpuMiner.start({ port, workers, maxHashrate: DEMO_MINER_HASHRATE, logger });
      say(`  demo miner: ${workers.join(', ')} on one CPU thread, at most ${DEMO_MINER_HASHRATE / 1e6} MH/s (--no-demo-miner: off)`);
    }
  }
  if (pool.api) say(`  dashboard and HTTP API: ${pool.api.url}`);
  if (pool.sv2) say(`  Stratum V2: ${pool.sv2.minerUrls.join(', ')} (authority key ${pool.sv2.authorityPublic})`);
  say(`  stats: ${config.logdir}/pool/pool.status, ${config.logdir}/users/; log ${config.logdir}/${options.name}.log`);
  say(`  ${life.controlHint()}`);
  return pool;
}
