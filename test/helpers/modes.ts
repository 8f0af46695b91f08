/**
 * Helpers for the proxy-family tests: configs for each mode, main pools behind bcoin,
 * miners that follow client.reconnect, and a scriptable fake upstream pool.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../ts/config/parse.js';
import type { CkpoolConfig, Mode } from '../../ts/config/types.js';
import { MemoryLogger } from '../../ts/log/logger.js';
import { StratumClient } from '../../ts/miner/client.js';
import { Pool } from '../../ts/pool/pool.js';
import { REGTEST_ADDRESS, startTestBcoin, stopAllBcoins, type BcoinNode } from './bcoin.js';
import { hardBitsProxy, type HardBits } from './hardbits.js';

const dirs: string[] = [];

export function tempDir(tag: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `ckpool-ts-${tag}-`));
  dirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A config for a proxy-family mode, as if read from a file, listening on an ephemeral port. */
export function modeConfig(mode: Mode, upstreams: { port: number; auth?: string; pass?: string }[], extra: Record<string, unknown> = {}, over: Partial<CkpoolConfig> = {}): CkpoolConfig {
  const text = JSON.stringify({
    proxy: upstreams.map((u) => ({ url: `127.0.0.1:${u.port}`, auth: u.auth ?? 'proxyuser', pass: u.pass ?? 'x' })),
    logdir: tempDir(mode),
    ...extra,
  });
  return { ...parseConfig(text, mode, `${mode}.conf`), serverurl: ['127.0.0.1:0'], ...over };
}

/** A main pool on `btcdUrl` (a bcoin, or a hardbits proxy in front of one). */
export async function mainPool(node: BcoinNode, btcdUrl: string, opts: { startdiff: number; nodeserver?: boolean; nodePort?: number; port?: number; maxclients?: number }, logger = new MemoryLogger()): Promise<Pool> {
  return Pool.start({
    btcd: [{ url: btcdUrl, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: [`127.0.0.1:${opts.port ?? 0}`], nodeserver: opts.nodeserver || opts.nodePort ? [`127.0.0.1:${opts.nodePort ?? 0}`] : [],
    startdiff: opts.startdiff, mindiff: 1e-9, logdir: tempDir('main'), updateInterval: 600, blockpoll: 50,
    ...(opts.maxclients ? { maxclients: opts.maxclients } : {}),
  }, { logger, server: { highdiffPort: 65535 }, statsIntervalMs: 60_000 });
}

/** Connect, subscribe, wait for work, authorise. */
export async function miner(port: number, worker: string, pass = 'x', agent?: string): Promise<StratumClient> {
  const c = await StratumClient.connect(port);
  const job = c.nextJob(10_000);
  const sub = await c.subscribe(agent, undefined);
  if (!Array.isArray(sub.result)) throw new Error(`subscribe failed: ${JSON.stringify(sub)}`);
  await job;
  const a = await c.authorize(worker, pass);
  if (a.result !== true) throw new Error(`authorize failed: ${JSON.stringify(a)}`);
  return c;
}

/** The next client.reconnect this miner gets (its params). */
export function nextReconnect(c: StratumClient, timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.off('message', on);
      reject(new Error(`no client.reconnect within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: Record<string, unknown>) => {
      if (m.method !== 'client.reconnect') return;
      clearTimeout(t);
      c.off('message', on);
      resolve(m.params as unknown[]);
    };
    c.on('message', on);
  });
}

/** Grind and submit one share at the miner's difficulty; the reply. */
export async function mineOne(c: StratumClient, worker: string, start = Math.floor(Math.random() * 2 ** 31)) {
  const s = c.grind({ job: c.job!, start });
  const r = await c.submit(worker, s.params);
  return { share: s, reply: r };
}

/** Grind and submit shares at the miner's difficulty until one is a block; that submit's reply. */
export async function submitUntilBlock(c: StratumClient, worker: string) {
  for (let i = 0; ; i++) {
    const s = c.grind({ job: c.job!, start: i * 1_000_003 });
    const r = await c.submit(worker, s.params);
    if (s.block) return r;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ------------------------------------------------------------------ fake upstream

export interface FakeConn {
  sock: net.Socket;
  lines: Record<string, unknown>[];
  send(msg: unknown): void;
}

export interface FakeUpstreamOptions {
  enonce1?: string;
  en2len?: number;
  diff?: number;
  /** answer mining.authorize with this (default true) */
  authorize?: boolean;
  /** after the handshake: 'normal' (answer everything), 'silent' (answer nothing more) */
  behaviour?: 'normal' | 'silent';
}

let fakeJob = 0;

/** A mining.notify a fake upstream can send (hard bits: no share is a block). */
export function fakeNotify(clean = true): unknown[] {
  fakeJob++;
  const prev = (fakeJob.toString(16).padStart(8, '0')).repeat(8);
  return [`job${fakeJob}`, prev, '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff1003', 'ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000',
    [], '20000000', '1d00ffff', Math.floor(Date.now() / 1000).toString(16), clean];
}

/** A scriptable upstream pool: subscribe/authorize/configure answered, one notify per connection. */
export class FakeUpstream {
  readonly conns: FakeConn[] = [];
  readonly server: net.Server;
  port = 0;
  constructor(public opts: FakeUpstreamOptions = {}) {
    this.server = net.createServer((sock) => this.#conn(sock));
  }
  async listen(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  #conn(sock: net.Socket): void {
    const o = this.opts;
    const c: FakeConn = { sock, lines: [], send: (m) => { if (!sock.destroyed) sock.write(JSON.stringify(m) + '\n'); } };
    this.conns.push(c);
    sock.on('error', () => undefined);
    let buf = '';
    let handshaken = false;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: Record<string, unknown>;
        try { m = JSON.parse(line); } catch { continue; }
        c.lines.push(m);
        if (handshaken && o.behaviour === 'silent') continue;
        switch (m.method) {
          case 'mining.configure': c.send({ id: m.id, result: { 'version-rolling': true, 'version-rolling.mask': '1fffe000' }, error: null }); break;
          case 'mining.subscribe': c.send({ id: m.id, result: [[['mining.notify', 'abcd0001']], o.enonce1 ?? 'f00dbabe', o.en2len ?? 8], error: null }); break;
          case 'mining.authorize':
            c.send({ id: m.id, result: o.authorize ?? true, error: o.authorize === false ? 'refused' : null });
            if (o.authorize !== false) {
              c.send({ id: null, method: 'mining.set_difficulty', params: [o.diff ?? 0.0001] });
              c.send({ id: null, method: 'mining.notify', params: fakeNotify(true) });
              handshaken = true;
            }
            break;
          case 'mining.submit': c.send({ id: m.id, result: true, error: null }); break;
          case 'mining.ping': c.send({ id: m.id, result: 'pong', error: null }); break;
          default: if (m.id !== undefined) c.send({ id: m.id, result: null, error: [20, 'unknown', null] });
        }
      }
    });
  }
  /** Send a raw line to every open connection. */
  broadcastRaw(line: string): void {
    for (const c of this.conns) if (!c.sock.destroyed) c.sock.write(line + '\n');
  }
  get open(): FakeConn[] {
    return this.conns.filter((c) => !c.sock.destroyed);
  }
  async close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

// ------------------------------------------------------------------ main pool fixture

/** A real bcoin regtest node behind the hard-target stand-in, and a main pool on it. */
export async function startMainPoolEnv(startdiff: number): Promise<{ node: BcoinNode; hard: HardBits; pool: Pool }> {
  const node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(5, REGTEST_ADDRESS);
  const hard = await hardBitsProxy({ host: node.host, port: node.port });
  const pool = await mainPool(node, hard.url, { startdiff });
  return { node, hard, pool };
}

/** Undo startMainPoolEnv, after running the test file's own closers (newest first). */
export async function stopMainPoolEnv(env: { pool?: Pool; hard?: HardBits }, closers: (() => Promise<void> | void)[]): Promise<void> {
  for (const c of closers.reverse()) await c();
  await env.pool?.stop();
  await env.hard?.close();
  await stopAllBcoins();
  removeTempDirs();
}
