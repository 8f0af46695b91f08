/**
 * The `ckpool` binary as a user runs it, for the end-to-end suites: a config file in a
 * temporary folder, its own name and sockdir, started as a child process and ready once
 * it prints "stratum on".
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StratumClient } from '../../ts/miner/client.js';
import { freePort } from '../../ts/node/ports.js';
import { spawnNode, type Child } from './child.js';

const BIN = (name: string) => new URL(`../../bin/${name}.js`, import.meta.url).pathname;

export interface CkpoolProc extends Child {
  dir: string;
  port: number;
  name: string;
  sockdir: string;
  conf: string;
  /** the instance's log file text so far */
  log(): string;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];

/** Start `ckpool <args> -c <conf>`; resolves when it listens (rejects if it exits first). */
export async function startCkpool(args: string[], conf: Record<string, unknown>, opts: { name?: string; dir?: string; port?: number; program?: string } = {}): Promise<CkpoolProc> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'ckpool-ts-e2e-'));
  if (!opts.dir) dirs.push(dir);
  const port = opts.port ?? (await freePort());
  const name = opts.name ?? 'e2e';
  const sockdir = path.join(dir, 'sock');
  const file = path.join(dir, `${name}.conf`);
  writeFileSync(file, JSON.stringify({ serverurl: [`127.0.0.1:${port}`], logdir: path.join(dir, 'logs'), ...conf }, null, 1));
  const c = spawnNode(BIN(opts.program ?? 'ckpool'), [...args, '-c', file, '-n', name, '-s', sockdir, '-l', '7'], dir, children);
  const deadline = Date.now() + 60_000;
  while (!/stratum on/.test(c.out())) {
    if (c.child.exitCode !== null) throw new Error(`ckpool ${args.join(' ')} exited ${c.child.exitCode}: ${c.err()}${c.out()}`);
    if (Date.now() > deadline) throw new Error(`ckpool ${args.join(' ')} did not listen within 60 s: ${c.err()}${c.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = () => {
    try {
      return readFileSync(path.join(dir, 'logs', `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  };
  return { ...c, dir, port, name, sockdir, conf: file, log };
}

/** Connect, subscribe (optionally configure version rolling), authorise, wait for work. */
/**
 * A miner through configure (optional), subscribe, authorize and its first job, retried
 * until `retryMs`. `onConnect` sees each attempt's client as soon as it is connected, to
 * watch for messages that may come before this returns (a userproxy's client.reconnect).
 */
export async function connectMiner(port: number, worker: string, opts: { configure?: boolean; retryMs?: number; onConnect?: (c: StratumClient) => void } = {}): Promise<StratumClient> {
  const end = Date.now() + (opts.retryMs ?? 15_000);
  for (;;) {
    let c: StratumClient | undefined;
    try {
      c = await StratumClient.connect(port);
      opts.onConnect?.(c);
      if (opts.configure) {
        const r = await c.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': '1fffe000', 'version-rolling.min-bit-count': 2 }]);
        c.versionMask = parseInt(String((r.result as Record<string, unknown>)['version-rolling.mask']), 16) >>> 0;
      }
      const job = c.nextJob(15_000, true);
      const sub = await c.subscribe('e2e-miner/1.0');
      if (!Array.isArray(sub.result)) throw new Error(`subscribe: ${JSON.stringify(sub)}`);
      const a = await c.authorize(worker);
      if (a.result !== true) throw new Error(`authorize: ${JSON.stringify(a)}`);
      await job;
      return c;
    } catch (e) {
      c?.close();
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export function killAllCkpools(): void {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
