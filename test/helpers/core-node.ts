/**
 * Bitcoin Core (bitcoind) regtest nodes: the launcher behind test/helpers/core.ts, kept
 * free of ava so scripts (scripts/soak.ts) can start nodes too. Each node gets its own
 * datadir, RPC/P2P/ZMQ ports and cookie; a process 'exit' hook kills what is left.
 *
 * Where bitcoind comes from: `BITCOIND` (a path), else the folder
 * ../shared/tools/bitcoin-core/install.sh unpacks to (~/.cache/ckpool-ts/bitcoin-core),
 * else `bitcoind` on PATH.
 *
 * The helper talks JSON-RPC itself (node's fetch), not through ts/node/rpc.ts: the pool's
 * own client is what is under test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { freePorts } from '../../ts/node/ports.js';

export function findBitcoind(): string | null {
  const env = process.env.BITCOIND;
  if (env) return existsSync(env) ? env : null;
  const cached = path.join(homedir(), '.cache', 'ckpool-ts', 'bitcoin-core', 'bitcoind');
  if (existsSync(cached)) return cached;
  const which = spawnSync('sh', ['-c', 'command -v bitcoind'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
}

export interface CoreOptions {
  /** publish `hashblock` on a ZMQ port (default true) */
  zmq?: boolean;
  /** rpcuser/rpcpassword instead of the cookie */
  userpass?: { user: string; pass: string };
  /** P2P: listen on 127.0.0.1 and connect to these nodes (same chain); default no P2P */
  peers?: CoreNode[];
  listen?: boolean;
  /** extra bitcoind arguments */
  args?: string[];
}

export class CoreRpcError extends Error {
  constructor(readonly method: string, readonly code: number, message: string) {
    super(`${method}: ${message} (${code})`);
  }
}

export class CoreNode {
  readonly host = '127.0.0.1';
  exited: Promise<void>;
  constructor(
    readonly bin: string,
    readonly datadir: string,
    readonly rpcPort: number,
    readonly p2pPort: number,
    readonly zmqPort: number | null,
    readonly userpass: { user: string; pass: string } | null,
    public proc: ChildProcess,
    readonly args: string[],
  ) {
    this.exited = new Promise((r) => proc.once('exit', () => r()));
  }

  get url(): string {
    return `${this.host}:${this.rpcPort}`;
  }

  get cookieFile(): string {
    return path.join(this.datadir, 'regtest', '.cookie');
  }

  get zmqUrl(): string {
    if (this.zmqPort === null) throw new Error('node started without ZMQ');
    return `tcp://127.0.0.1:${this.zmqPort}`;
  }

  /** A `btcd` entry of ckpool.conf for this node (cookie, or user/pass). */
  btcd(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return this.userpass
      ? { url: this.url, auth: this.userpass.user, pass: this.userpass.pass, ...extra }
      : { url: this.url, cookie: this.cookieFile, ...extra };
  }

  #auth(): string {
    const cred = this.userpass ? `${this.userpass.user}:${this.userpass.pass}` : readFileSync(this.cookieFile, 'utf8').trim();
    return 'Basic ' + Buffer.from(cred).toString('base64');
  }

  async rpc<T = unknown>(method: string, params: unknown[] = [], wallet?: string): Promise<T> {
    const res = await fetch(`http://${this.url}/${wallet ? `wallet/${wallet}` : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: this.#auth() },
      body: JSON.stringify({ jsonrpc: '1.0', id: 1, method, params }),
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await res.json()) as { result: T; error: { code: number; message: string } | null };
    if (body.error) throw new CoreRpcError(method, body.error.code, body.error.message);
    return body.result;
  }

  height(): Promise<number> {
    return this.rpc<number>('getblockcount');
  }

  /** Mine `n` blocks to `address` with Core's own miner (not through the pool). */
  generate(n: number, address: string): Promise<string[]> {
    return this.rpc<string[]>('generatetoaddress', [n, address]);
  }

  /** A wallet named `name` and a fresh bech32 address of it. */
  async wallet(name = 'w'): Promise<string> {
    await this.rpc('createwallet', [name]);
    return this.rpc<string>('getnewaddress', [], name);
  }

  async waitHeight(h: number, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((await this.height()) < h) {
      if (Date.now() > end) throw new Error(`bitcoind ${this.url} did not reach height ${h}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stop through RPC and wait for the process to end (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await this.rpc('stop').catch(() => undefined);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(t);
  }

  kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    return this.exited;
  }

  /** Start again on the same datadir and ports (after stop or kill). */
  async restart(): Promise<void> {
    this.proc = launch(this.bin, this.args);
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
    await waitReady(this);
  }
}

const started: CoreNode[] = [];
process.once('exit', () => {
  for (const n of started) if (n.proc.exitCode === null) n.proc.kill('SIGKILL');
});

function launch(bin: string, args: string[]): ChildProcess {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  proc.once('exit', (code) => {
    if (code) console.log(`# bitcoind exited ${code}: ${err.trim().slice(0, 500)}`);
  });
  return proc;
}

async function waitReady(n: CoreNode, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (n.proc.exitCode !== null) throw new Error(`bitcoind exited with ${n.proc.exitCode} at start (datadir ${n.datadir})`);
    try {
      await n.rpc('getblockchaininfo');
      return;
    } catch (e) {
      if (Date.now() > end) throw new Error(`bitcoind did not answer RPC within ${timeoutMs} ms: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startCore(bin: string, opts: CoreOptions = {}): Promise<CoreNode> {
  const datadir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-core-'));
  const [rpcPort, p2pPort, zmqPort] = await freePorts(3);
  const listen = opts.listen || (opts.peers?.length ?? 0) > 0;
  const args = [
    '-regtest', `-datadir=${datadir}`, '-server', '-printtoconsole=0', `-rpcport=${rpcPort}`, '-rpcbind=127.0.0.1',
    '-rpcallowip=127.0.0.1', `-port=${p2pPort}`, '-fallbackfee=0.0001', '-txindex=0', '-discover=0', '-dnsseed=0',
    // answer RPC from the pool, the test and the other node at once
    '-rpcthreads=16', '-rpcworkqueue=256',
    ...(listen ? ['-listen=1', `-bind=127.0.0.1:${p2pPort}`] : ['-listen=0']),
    ...(opts.zmq === false ? [] : [`-zmqpubhashblock=tcp://127.0.0.1:${zmqPort}`]),
    ...(opts.userpass ? [`-rpcuser=${opts.userpass.user}`, `-rpcpassword=${opts.userpass.pass}`] : []),
    ...(opts.peers ?? []).map((p) => `-addnode=127.0.0.1:${p.p2pPort}`),
    ...(opts.args ?? []),
  ];
  const node = new CoreNode(bin, datadir, rpcPort!, p2pPort!, opts.zmq === false ? null : zmqPort!, opts.userpass ?? null, launch(bin, args), args);
  started.push(node);
  await waitReady(node);
  return node;
}

/** Kill every node this file started and remove their datadirs. */
export async function stopAllCores(): Promise<void> {
  const nodes = started.splice(0);
  await Promise.all(nodes.map((n) => n.kill()));
  for (const n of nodes) rmSync(n.datadir, { recursive: true, force: true });
}

/** A regtest address nobody owns (bech32 `bcrt1`), for blocks mined outside the pool. */
export const CORE_BURN_ADDRESS = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';
