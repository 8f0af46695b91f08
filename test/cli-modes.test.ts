/**
 * The proxy family through the real binaries: `ckproxy -c conf` and `ckpool -P -c conf`
 * started as processes in front of a main pool on bcoin regtest; a miner mines through
 * each; SIGTERM stops them cleanly.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../ts/node/ports.js';
import type { Client } from '../ts/pool/client.js';
import type { Pool } from '../ts/pool/pool.js';
import type { ShareVerdict } from '../ts/pool/stratifier.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';
import { mainPool, miner, mineOne, removeTempDirs, tempDir } from './helpers/modes.js';
import { spawnNode } from './helpers/child.js';

const DIFF = 0.00001;
const bin = (name: string) => new URL(`../bin/${name}.js`, import.meta.url).pathname;
let node: BcoinNode;
let hard: HardBits;
let pool: Pool;
const children: ChildProcess[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
  hard = await hardBitsProxy({ host: node.host, port: node.port });
  pool = await mainPool(node, hard.url, { startdiff: DIFF });
});
test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  await pool?.stop();
  await hard?.close();
  await stopAllBcoins();
  removeTempDirs();
});

async function runMode(program: string, args: string[], conf: Record<string, unknown>) {
  const dir = tempDir('cli-modes');
  const port = await freePort();
  const file = path.join(dir, 'mode.conf');
  writeFileSync(file, JSON.stringify({
    proxy: [{ url: `127.0.0.1:${pool.addresses[0]!.port}`, auth: 'cliproxy', pass: 'x' }],
    serverurl: [`127.0.0.1:${port}`], logdir: path.join(dir, 'logs'), startdiff: DIFF, mindiff: DIFF, highdiff: DIFF, ...conf,
  }));
  const { child, exited, out, err } = spawnNode(bin(program), [...args, '-c', file, '-n', 'm1', '-q', '-l', '7', '-s', path.join(dir, 'sock')], dir, children);
  const deadline = Date.now() + 20_000;
  while (!/stratum on/.test(out()) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  return { child, port, exited, dir, out, err };
}

test.serial('ckproxy -c conf: miners mine through it under the proxy\'s user; SIGTERM exits 0', async (t) => {
  const p = await runMode('ckproxy', [], {});
  t.regex(p.out(), new RegExp(`m1 proxy mode: stratum on stratum\\+tcp://127\\.0\\.0\\.1:${p.port}`), p.err());
  // the proxy accepts miners once its upstream has sent work
  let c;
  for (let i = 0; ; i++) {
    try {
      c = await miner(p.port, 'cli.w1');
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const arrived = once(pool.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  t.is((await mineOne(c, 'cli.w1')).reply.result, true);
  const [client, v] = await arrived;
  t.is(client.workername, 'cliproxy');
  t.true(v.accepted);
  c.close();
  p.child.kill('SIGTERM');
  const [code] = await p.exited;
  t.is(code, 0);
  t.regex(readFileSync(path.join(p.dir, 'logs', 'm1.log'), 'utf8'), /received signal SIGTERM, shutting down/);
});

test.serial('ckpool -P -c conf: a passthrough in front of the pool', async (t) => {
  const p = await runMode('ckpool', ['-P'], {});
  t.regex(p.out(), /m1 passthrough mode: stratum on/, p.err());
  let c;
  for (let i = 0; ; i++) {
    try {
      c = await miner(p.port, 'clipt.w1');
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const arrived = once(pool.stratifier, 'share') as Promise<[Client, ShareVerdict]>;
  t.is((await mineOne(c, 'clipt.w1')).reply.result, true);
  const [client] = await arrived;
  t.is(client.workername, 'clipt.w1');
  c.close();
  p.child.kill('SIGTERM');
  t.is((await p.exited)[0], 0);
});
