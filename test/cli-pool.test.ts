/**
 * The `ckpool` binary end to end: a real process started from bin/ckpool.js with a
 * ckpool.conf pointing at a real bcoin regtest node; a miner mines through it; SIGTERM
 * stops it cleanly with the stats written. And a fatal config problem (an address of
 * the wrong network) exits non-zero with a clear message.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../ts/node/ports.js';
import { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { spawnNode } from './helpers/child.js';

const bin = new URL('../bin/ckpool.js', import.meta.url).pathname;
const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-cli-'));
let node: BcoinNode;
const children: ChildProcess[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
});
test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  await stopAllBcoins();
  rmSync(dir, { recursive: true, force: true });
});

function conf(name: string, extra: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.conf`);
  writeFileSync(file, JSON.stringify({
    btcd: [{ url: node.url, auth: node.user, pass: node.pass, notify: false }],
    btcaddress: REGTEST_ADDRESS, logdir: path.join(dir, `${name}-logs`), startdiff: 0.000001, mindiff: 0.000001,
    highdiff: 0.000001, // test ports are above 4000, which ckpool makes "highdiff" ports
    ...extra,
  }, null, 1) + '\n# trailing text is ignored, as in ckpool\n');
  return file;
}

function run(args: string[]) {
  return spawnNode(bin, args, dir, children);
}

test.serial('ckpool -c conf: mines against bcoin, SIGTERM stops it cleanly with stats written', async (t) => {
  const port = await freePort();
  const file = conf('pool1', { serverurl: [`127.0.0.1:${port}`] });
  const p = run(['-c', file, '-n', 'pool1', '-q', '-l', '7', '-s', path.join(dir, 'sock1')]);
  const deadline = Date.now() + 20_000;
  while (!/stratum on/.test(p.out()) && Date.now() < deadline && p.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  t.regex(p.out(), new RegExp(`stratum on stratum\\+tcp://127\\.0\\.0\\.1:${port}`), p.err());
  const c = await StratumClient.connect(port);
  await c.subscribe();
  t.is((await c.authorize('cli.w1')).result, true);
  await c.nextJob(5000, true);
  const s = c.grind({ job: c.job! });
  t.is((await c.submit('cli.w1', s.params)).result, true);
  c.close();
  p.child.kill('SIGTERM');
  const [code] = await p.exited;
  t.is(code, 0);
  const logdir = path.join(dir, 'pool1-logs');
  t.true(existsSync(path.join(logdir, 'pool', 'pool.status')));
  const log = readFileSync(path.join(logdir, 'pool1.log'), 'utf8');
  t.regex(log, /received signal SIGTERM, shutting down/);
  // the binary's default: one worker thread per CPU serves the miners
  t.regex(log, new RegExp(`Serving miners on ${availableParallelism()} worker thread\\(s\\)`));
  t.false(log.includes(node.pass), 'the RPC password never reaches the log');
});

test.serial('a btcaddress of another network is fatal: non-zero exit, clear message', async (t) => {
  const file = conf('pool2', { btcaddress: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', serverurl: [`127.0.0.1:${await freePort()}`] });
  const p = run(['-c', file, '-n', 'pool2', '-s', path.join(dir, 'sock2')]);
  const [code] = await p.exited;
  t.not(code, 0);
  t.regex(p.err(), /btcaddress "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4" is not valid on regtest/);
});

test.serial('--workers wins over the config\'s workers, which wins over the default', async (t) => {
  const start = async (name: string, extra: string[]) => {
    const port = await freePort();
    const file = conf(name, { serverurl: [`127.0.0.1:${port}`], workers: 1 });
    const p = run(['-c', file, '-n', name, '-q', '-s', path.join(dir, `sock-${name}`), ...extra]);
    const deadline = Date.now() + 20_000;
    while (!/stratum on/.test(p.out()) && Date.now() < deadline && p.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    t.regex(p.out(), /stratum on/, p.err());
    const c = await StratumClient.connect(port);
    await c.subscribe();
    t.is((await c.authorize(`${name}.w1`)).result, true);
    c.close();
    p.child.kill('SIGTERM');
    t.is((await p.exited)[0], 0);
    return readFileSync(path.join(dir, `${name}-logs`, `${name}.log`), 'utf8');
  };
  t.regex(await start('wcfg', []), /Serving miners on 1 worker thread\(s\)/);
  const flag = await start('wflag', ['--workers', '0']);
  t.notRegex(flag, /Serving miners on/, '--workers 0: the main thread serves the miners');
});
