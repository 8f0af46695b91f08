/**
 * Control-socket queries against a real pool (bcoin regtest, real TCP miners, the
 * control server's real unix sockets): `workers` agrees with `users` for a miner that
 * has not shared yet, getuser/getworker take ckpool's JSON argument in every spelling,
 * stratifierstats reports real memory figures, and stats answers carry no float noise.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { ControlServer, parseCommand, sendControl } from '../ts/control/index.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-ctlq-'));
const sockdir = path.join(dir, 'sock') + '/';
let node: BcoinNode;
let pool: Pool;
let control: ControlServer;
const clients: StratumClient[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
  pool = await Pool.start({
    btcd: [{ ...node.btcd(true), notify: true, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9,
    logdir: path.join(dir, 'logs'), updateInterval: 600,
  }, { logger: new MemoryLogger(), name: 'ctlq', server: { highdiffPort: 65535 }, workers: 0 });
  mkdirSync(sockdir, { mode: 0o750 });
  control = await ControlServer.start({ sockdir, logger: new MemoryLogger(), onShutdown: () => undefined });
  control.attach(pool);
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await control?.close();
  await pool?.stop();
  await stopAllBcoins();
  rmSync(dir, { recursive: true, force: true });
});

const ask = async (cmd: string): Promise<Record<string, unknown>> => JSON.parse(await sendControl(path.join(sockdir, 'listener'), cmd)) as Record<string, unknown>;

async function miner(worker: string): Promise<StratumClient> {
  const c = await StratumClient.connect(pool.addresses[0]!.port);
  clients.push(c);
  await c.subscribe();
  const r = await c.authorize(worker);
  if (r.result !== true) throw new Error(`authorize ${worker}: ${JSON.stringify(r)}`);
  await c.nextJob(5000, true);
  return c;
}

test.serial('workers lists a worker that has authorised but not shared, as users counts it', async (t) => {
  await miner('carol.rig1');
  const users = (await ask('users')).users as Record<string, unknown>[];
  t.deepEqual(users.map((u) => [u.user, u.workers]), [['carol', 1]]);
  const workers = (await ask('workers')).workers as Record<string, unknown>[];
  t.deepEqual(workers.map((w) => [w.workername, w.user, w.instances, w.shares, w.lastshare]), [['carol.rig1', 'carol', 1, 0, 0]]);
  const user = await ask('getuser carol');
  t.deepEqual((user.worker as Record<string, unknown>[]).map((w) => w.workername), ['carol.rig1']);
  t.like(await ask('getworker carol.rig1'), { workername: 'carol.rig1', user: 'carol', instances: 1 });
  t.is(((await ask('clients')).clients as unknown[]).length, 1);
});

test.serial('getuser and getworker take the JSON argument as getuser{…}, getuser={…} and getuser {…}', async (t) => {
  t.deepEqual(parseCommand('getuser={"user":"a"}'), { name: 'getuser', arg: '{"user":"a"}' });
  const plain = await ask('getuser carol');
  t.is(plain.user, 'carol');
  for (const form of ['getuser{"user":"carol"}', 'getuser={"user":"carol"}', 'getuser {"user":"carol"}', 'getuser={"username":"carol"}']) {
    const r = await ask(form);
    t.is(r.user, 'carol', form);
    t.is(r.workers, plain.workers, form);
  }
  const w = await ask('getworker carol.rig1');
  for (const form of ['getworker{"worker":"carol.rig1"}', 'getworker={"worker":"carol.rig1"}', 'getworker {"workername":"carol.rig1"}']) {
    t.is((await ask(form)).workername, w.workername, form);
  }
  for (const form of ['getclient={"id":999999}', 'getuser={"user":"nobody"}', 'getuser {"nouser":1}', 'getuser={not json']) {
    t.true(typeof (await ask(form)).error === 'string', form);
  }
});

test.serial('stratifierstats: memory is the bytes the objects hold, not 0', async (t) => {
  const ss = await ask('stratifierstats') as Record<string, { count: number; memory: number; generated: number }>;
  const wb = pool.generator.current!;
  t.true(ss.workbases!.count >= 1);
  // at least the current workbase's coinbase halves and branch
  t.true(ss.workbases!.memory >= wb.coinb1.length + wb.coinb2.length, JSON.stringify(ss.workbases));
  t.is(ss.users!.count, 1);
  t.is(ss.users!.memory, 'carol'.length + 'carol.rig1'.length);
  t.is(ss.clients!.count, 1);
  t.true(ss.clients!.memory > 'carol.rig1'.length + 8, JSON.stringify(ss.clients)); // names, session id, extranonce1, agent, address
  t.is(ss.transactions!.count, wb.txCount);
  t.is(ss.transactions!.memory, wb.template.transactions.reduce((a, tx) => a + tx.data.length / 2, 0));
  for (const k of ['ssends', 'srecvs', 'stxnq']) t.deepEqual(ss[k], { count: 0, memory: 0, generated: 0 }, k);
  // ckpool's shape: these two rows have no "generated"
  t.deepEqual(ss.remote_workbases, { count: 0, memory: 0 });
  t.deepEqual(Object.keys(ss.users!), ['count', 'memory']);
});

test.serial('stats answers show no float noise: fractional counters keep 10 significant digits', async (t) => {
  // 71 shares of diff 0.001 add up to 0.07100000000000005 in doubles
  let sum = 0;
  for (let i = 0; i < 71; i++) sum += 0.001;
  t.not(sum, 0.071);
  for (let i = 0; i < 71; i++) pool.stats.addShare({ user: 'carol', worker: 'carol.rig1', clientId: -1, diff: 0.001, sdiff: 0.002, accepted: true, submitted: true, now: Date.now() });
  const u = await ask('getuser carol');
  t.is(u.shares, 0.071);
  t.is(((u.worker as Record<string, unknown>[])[0]!).shares, 0.071);
  const w = await ask('getworker carol.rig1');
  t.is(w.shares, 0.071);
  const text = await sendControl(path.join(sockdir, 'listener'), 'users');
  t.false(/\d{12,}/.test(text.replace(/"(?:lastshare|authorised)":\d+/g, '')), text);
});
