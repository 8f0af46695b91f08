/**
 * A real bcoin 1.0.2 regtest full node in a child process: the node the tests
 * run against and the one the embedded demo (`ckpool` with no config) starts
 * for the user.
 *
 * A child process rather than in-process, so a test can stop or kill one node
 * to exercise failover, and bcoin's chain work never runs on the pool's event
 * loop. The node runs with an in-memory chain: a restart begins a new chain
 * at genesis on the same ports and API key.
 *
 * No orphans: the child is started with an IPC channel and exits when the
 * channel closes (the parent died, however it died), and a process 'exit'
 * hook SIGKILLs whatever is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ckError, ckErrorCause } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { freePorts } from './ports.js';
import { RpcClient } from './rpc.js';
import type { BtcdConfig } from './servers.js';

export interface BcoinOptions {
  /** RPC password (bcoin accepts any user name). Random by default. */
  apiKey?: string;
  /** Node HTTP/RPC port; a free one by default. */
  port?: number;
  /** Wallet HTTP port; a free one by default. */
  walletPort?: number;
  /** Data directory; a temporary one by default (removed by stop/kill). */
  prefix?: string;
  /** Load bcoin's wallet plugin (default true). */
  walletEnabled?: boolean;
  /**
   * Make the primary wallet a segwit (P2WPKH, `rb1…`) wallet, so the
   * transactions it sends carry witness data. Spending from it needs segwit
   * active: on bcoin regtest that is height 432 and up. Default false (P2PKH).
   */
  walletWitness?: boolean;
  /** How long to wait for the RPC to answer, ms (default 30 000). */
  startTimeoutMs?: number;
  /** RPC timeout for `rpc`, ms (default 30 000). */
  rpcTimeoutMs?: number;
  /** Pass bcoin's own log (level debug) through to this process's stdout/stderr. */
  verbose?: boolean;
  logger?: Logger;
}

export interface WalletBalance {
  /** Satoshis. */
  confirmed: number;
  unconfirmed: number;
  /** Transactions and coins the wallet knows. */
  tx: number;
  coin: number;
}

const HOST = '127.0.0.1';
/** bcoin ignores the user name; this one just makes logs readable. */
const RPC_USER = 'bcoin';

/**
 * Runs as `node -e BOOT -- <bcoin/bin/node> <flags>`:
 *  - exit when the parent's IPC channel closes, without that channel keeping
 *    bcoin alive after an RPC `stop` (bcoin exits by letting its event loop
 *    drain);
 *  - make HTTP server close() drop open connections shortly after, as
 *    bitcoind does on shutdown. bcoin's `stop` awaits server.close(), which
 *    waits for every keep-alive connection to go idle for 5 s: a pool polling
 *    getbestblockhash every 100 ms would keep a stopping bcoin alive forever.
 */
const BOOT = `
if (process.channel) {
  process.on('disconnect', () => {
    // The parent died without cleaning up: remove the temporary prefix it made.
    const tmp = process.env.CKPOOL_BCOIN_TMPDIR;
    if (tmp) try { require('fs').rmSync(tmp, { recursive: true, force: true }); } catch {}
    process.exit(0);
  });
  // After the listener: adding a 'disconnect' listener refs the channel again.
  process.channel.unref();
}
const http = require('http');
const close = http.Server.prototype.close;
http.Server.prototype.close = function (cb) {
  // 50 ms lets in-flight replies (such as the one to 'stop') go out first.
  setTimeout(() => this.closeAllConnections(), 50).unref();
  return close.call(this, cb);
};
require(process.argv[1]);
`;

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
const tempDirs = new Set<string>();

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch { /* already gone */ }
    }
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

function bcoinBin(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('bcoin/package.json')), 'bin', 'node');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class BcoinNode {
  /** ckpool.conf btcd `url` form: host:port. */
  readonly url: string;
  readonly user = RPC_USER;
  /** The API key, which is the RPC password. */
  readonly pass: string;
  readonly host = HOST;
  readonly port: number;
  readonly walletPort: number | null;
  readonly prefix: string;
  /** A client of this node's RPC (stays usable across restart()). */
  readonly rpc: RpcClient;
  /** Milliseconds the last start took until the RPC answered. */
  startMs = 0;

  readonly #opts: Omit<BcoinOptions, 'port' | 'walletPort'>;
  readonly #ownPrefix: boolean;
  readonly #logger: Logger;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #stderrTail = '';

  /** Use startBcoin(). */
  constructor(opts: Omit<BcoinOptions, 'port' | 'walletPort'> & {
    port: number; walletPort: number | null; apiKey: string; prefix: string; ownPrefix: boolean;
  }) {
    this.#opts = opts;
    this.port = opts.port;
    this.walletPort = opts.walletPort;
    this.pass = opts.apiKey;
    this.prefix = opts.prefix;
    this.#ownPrefix = opts.ownPrefix;
    this.#logger = opts.logger ?? new NullLogger();
    this.url = `${HOST}:${this.port}`;
    this.rpc = new RpcClient({ url: this.url, user: RPC_USER, pass: this.pass, timeoutMs: opts.rpcTimeoutMs, logger: opts.logger });
    if (this.#ownPrefix) tempDirs.add(this.prefix);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** This node as a ckpool.conf btcd entry. */
  btcd(notify = false): BtcdConfig {
    return { url: this.url, auth: RPC_USER, pass: this.pass, notify };
  }

  /** Spawn the child and wait until its RPC (and wallet, if enabled) answers. */
  async start(): Promise<void> {
    if (this.#child) return;
    installExitHook();
    mkdirSync(this.prefix, { recursive: true });
    const started = performance.now();
    const args = [
      '--network=regtest',
      '--memory=true',
      '--workers=false',
      '--listen=false',
      `--prefix=${this.prefix}`,
      `--http-host=${HOST}`,
      `--http-port=${this.port}`,
      `--log-console=${this.#opts.verbose ? 'true' : 'false'}`,
    ];
    if (this.walletPort === null) {
      args.push('--no-wallet=true');
    } else {
      args.push(`--wallet-http-host=${HOST}`, `--wallet-http-port=${this.walletPort}`);
      if (this.#opts.walletWitness) args.push('--wallet-witness=true');
    }
    const child = spawn(process.execPath, ['-e', BOOT, '--', bcoinBin(), ...args], {
      // bcoin's optional native hash module is absent; without this it throws at start.
      env: {
        ...process.env,
        NODE_BACKEND: 'js',
        // In the environment rather than on the command line, where `ps` shows it.
        BCOIN_API_KEY: this.pass,
        CKPOOL_BCOIN_TMPDIR: this.#ownPrefix ? this.prefix : '',
      },
      stdio: ['ignore', this.#opts.verbose ? 'inherit' : 'ignore', this.#opts.verbose ? 'inherit' : 'pipe', 'ipc'],
    });
    // The IPC channel must not keep this process alive on its own.
    child.channel?.unref();
    this.#stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.#stderrTail = (this.#stderrTail + s).slice(-2000);
    });
    this.#child = child;
    children.add(child);
    let exitInfo: string | null = null;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
        this.#logger.info(`bcoin regtest node on ${this.url} exited (${exitInfo})`);
        children.delete(child);
        if (this.#child === child) this.#child = null;
        resolve();
      });
    });
    child.once('error', (err) => {
      exitInfo = err.message;
      children.delete(child);
      if (this.#child === child) this.#child = null;
    });

    const deadline = started + (this.#opts.startTimeoutMs ?? 30_000);
    for (;;) {
      if (exitInfo !== null) {
        throw ckError('CKP_ERR_NODE_START', `bcoin exited (${exitInfo}) before its RPC answered: ${this.#stderrTail.trim().slice(-500) || 'no output'}`);
      }
      try {
        await this.rpc.call('getblockcount', [], { timeoutMs: 1000 });
        if (this.walletPort !== null) await this.#wallet('GET', '/wallet/primary');
        break;
      } catch (err) {
        if (performance.now() > deadline) {
          await this.kill();
          throw ckErrorCause('CKP_ERR_NODE_START', err, `no RPC answer on ${this.url} within ${this.#opts.startTimeoutMs ?? 30_000} ms`);
        }
        await sleep(50);
      }
    }
    this.startMs = Math.round(performance.now() - started);
    this.#logger.info(`bcoin regtest node on ${this.url} ready in ${this.startMs} ms (pid ${child.pid})`);
  }

  /** Stop through RPC `stop`; SIGKILL if it has not exited within 5 s. Removes a temporary prefix. */
  async stop(): Promise<void> {
    await this.#halt();
    this.#removePrefix();
  }

  /** SIGKILL the node (a crash, as far as the pool can tell). Removes a temporary prefix. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child) {
      child.kill('SIGKILL');
      await this.#exited;
    }
    this.#removePrefix();
  }

  /** Stop and start again on the same ports and API key (with a fresh chain). */
  async restart(): Promise<void> {
    await this.#halt();
    await this.start();
  }

  async #halt(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    try {
      await this.rpc.call('stop', [], { timeoutMs: 2000 });
    } catch { /* it may be hung or gone already; the kill below handles it */ }
    // bcoin's HTTP server waits for open connections before it exits.
    this.rpc.dropConnections();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.#exited;
    clearTimeout(timer);
  }

  #removePrefix(): void {
    if (this.#ownPrefix) rmSync(this.prefix, { recursive: true, force: true });
  }

  // --- chain and wallet helpers (regtest) -----------------------------------

  /** Mine `n` blocks paying `address`; returns their hashes. */
  generateToAddress(n: number, address: string): Promise<string[]> {
    return this.rpc.call<string[]>('generatetoaddress', [n, address]);
  }

  /**
   * A fresh receiving address of the primary wallet. (bcoin 1.0.2's wallet
   * RPC `getnewaddress` encodes it for mainnet, so this uses the wallet HTTP API.)
   */
  async getWalletAddress(): Promise<string> {
    const r = await this.#wallet<{ address: string }>('POST', '/wallet/primary/address', { account: 'default' });
    return r.address;
  }

  async getWalletBalance(): Promise<WalletBalance> {
    return this.#wallet<WalletBalance>('GET', '/wallet/primary/balance');
  }

  /** Send `sats` satoshis from the primary wallet; returns the txid. The tx enters the mempool. */
  async sendToAddress(address: string, sats: number): Promise<string> {
    const tx = await this.#wallet<{ hash: string }>('POST', '/wallet/primary/send', {
      outputs: [{ address, value: sats }],
    });
    return tx.hash;
  }

  /**
   * Mine `blocks` blocks to a wallet address (at least 101, so coinbases
   * mature) and wait until the wallet has seen them all. Returns the address.
   */
  async fundWallet(blocks = 101): Promise<string> {
    if (this.walletPort === null) throw ckError('CKP_ERR_NODE_WALLET', 'fundWallet', 'the wallet is disabled');
    const address = await this.getWalletAddress();
    const before = (await this.getWalletBalance()).tx;
    await this.generateToAddress(blocks, address);
    const deadline = performance.now() + 30_000;
    while ((await this.getWalletBalance()).tx < before + blocks) {
      if (performance.now() > deadline) throw ckError('CKP_ERR_NODE_WALLET', 'fundWallet', 'the wallet did not catch up with the chain');
      await sleep(20);
    }
    return address;
  }

  /** A request to bcoin's wallet HTTP API (REST; same API key). */
  #wallet<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const port = this.walletPort;
    if (port === null) return Promise.reject(ckError('CKP_ERR_NODE_WALLET', route, 'the wallet is disabled'));
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = http.request({
        host: HOST,
        port,
        path: route,
        method,
        auth: `${RPC_USER}:${this.pass}`,
        headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
        timeout: 30_000,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          if (res.statusCode !== 200 || json === undefined || json === null) {
            const why = (json as { error?: { message?: string } } | undefined)?.error?.message ?? `HTTP ${res.statusCode}`;
            reject(ckError('CKP_ERR_NODE_WALLET', `${method} ${route}`, why));
            return;
          }
          resolve(json as T);
        });
        res.on('error', (err) => reject(ckErrorCause('CKP_ERR_NODE_WALLET', err, `${method} ${route}`, err.message)));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(ckErrorCause('CKP_ERR_NODE_WALLET', err, `${method} ${route}`, err.message)));
      req.end(payload);
    });
  }
}

/** Start a bcoin regtest node in a child process and wait until its RPC answers. */
export async function startBcoin(opts: BcoinOptions = {}): Promise<BcoinNode> {
  const walletEnabled = opts.walletEnabled ?? true;
  const [p1, p2] = await freePorts(2, HOST);
  const port = opts.port ?? p1!;
  const walletPort: number | null = walletEnabled ? (opts.walletPort ?? (p2 === port ? p1! : p2!)) : null;
  const ownPrefix = opts.prefix === undefined;
  const prefix = opts.prefix ?? mkdtempSync(path.join(tmpdir(), 'ckpool-bcoin-'));
  const node = new BcoinNode({
    ...opts,
    port,
    walletPort,
    prefix,
    ownPrefix,
    apiKey: opts.apiKey ?? randomBytes(16).toString('hex'),
  });
  try {
    await node.start();
  } catch (err) {
    await node.kill();
    throw err;
  }
  return node;
}
