/**
 * The control sockets end to end (issue 5): a real pool on a real bcoin regtest node
 * with its control server, a real miner, and every command sent through the real
 * `ckpmsg` binary (`node bin/ckpmsg.js`, a new process per batch of stdin lines), with
 * the replies, the errors and what the miner receives checked; `notifier` producing
 * new work with polling off; and real `ckpool` processes for the instance rules: a
 * SIGKILLed instance's pid file and sockets do not block a new start, a second
 * same-named instance is refused with ckpool's message, -k replaces the running one,
 * `shutdown` exits cleanly and removes the sockets and the pid file.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { freePort } from '../ts/node/ports.js';
import {
  ControlServer, FrameDecoder, MAX_FRAME_LENGTH, claimInstance, clientSocketPath, encodeFrame, groupName, parseCommand,
  resolveGroup, sendControl, type InstanceClaim,
} from '../ts/control/index.js';
import { isCkpoolError } from '../ts/errors.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { spawnNode, type Child } from './helpers/child.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-control-'));
let node: BcoinNode;
const children: ChildProcess[] = [];
const clients: StratumClient[] = [];
let pool: Pool | undefined;
let control: ControlServer | undefined;
let claim: InstanceClaim | undefined;
// the worker-thread pool of its own test
let wpool: Pool | undefined;
let wcontrol: ControlServer | undefined;
let wclaim: InstanceClaim | undefined;

/** A group to hand the sockets to: one that exists on this machine (ours). */
const GID = process.getgid!();
const GROUP = groupName(GID) ?? String(GID);

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
});
test.after.always(async () => {
  for (const c of clients) c.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await control?.close();
  claim?.release();
  await pool?.stop();
  await wcontrol?.close();
  wclaim?.release();
  await wpool?.stop();
  await stopAllBcoins();
  rmSync(dir, { recursive: true, force: true });
});

// --- helpers ---------------------------------------------------------------------------

interface Ran { code: number | null; stdout: string; stderr: string }

/** `node bin/<name>.js ...args` with `input` on stdin. */
function runBin(name: string, args: string[], input = ''): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', `${name}.js`), ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** The reply texts ckpmsg printed, in order. */
function replies(stdout: string): string[] {
  return stdout.split('\n').flatMap((l) => {
    const m = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d(?::\d\d)?\] Received response: (.*)$/.exec(l);
    return m ? [m[1]!] : [];
  });
}

/** Send `lines` through the real ckpmsg to the in-process pool; one reply per line. */
async function ask(t: import('ava').ExecutionContext, lines: string[], extra: string[] = [], name = 'inproc'): Promise<string[]> {
  const r = await runBin('ckpmsg', ['-s', dir, '-n', name, '-l', '5', ...extra], lines.join('\n') + '\n');
  t.is(r.code, 0, r.stderr);
  const out = replies(r.stdout);
  t.is(out.length, lines.filter((l) => l && !l.startsWith('#')).length, r.stdout + r.stderr);
  return out;
}

async function until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A miner that records every server message. */
async function miner(worker: string, port = pool!.addresses[0]!.port): Promise<{ c: StratumClient; seen: Record<string, unknown>[] }> {
  const c = await StratumClient.connect(port);
  clients.push(c);
  const seen: Record<string, unknown>[] = [];
  c.on('message', (m) => seen.push(m));
  await c.subscribe();
  const auth = await c.authorize(worker);
  if (auth.result !== true) throw new Error(`authorize ${worker}: ${JSON.stringify(auth)}`);
  return { c, seen };
}

const method = (seen: Record<string, unknown>[], name: string) => seen.filter((m) => m.method === name);
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

// --- units -------------------------------------------------------------------------------

test('framing: little-endian length + text; bad lengths are coded errors', (t) => {
  const f = encodeFrame('ping');
  t.deepEqual([...f.subarray(0, 4)], [4, 0, 0, 0]);
  t.is(f.subarray(4).toString(), 'ping');
  const d = new FrameDecoder(1024);
  t.is(d.push(f.subarray(0, 2)), null);
  t.is(d.push(f.subarray(2, 6)), null);
  t.is(d.push(f.subarray(6))!.toString(), 'ping');
  t.throws(() => encodeFrame(''), { code: 'CKP_ERR_CONTROL_FRAME' } as never);
  const over = Buffer.alloc(4);
  over.writeUInt32LE(MAX_FRAME_LENGTH + 1);
  t.throws(() => new FrameDecoder(1024).push(over), { code: 'CKP_ERR_CONTROL_FRAME' } as never);
  const big = Buffer.alloc(4);
  big.writeUInt32LE(2048);
  t.throws(() => new FrameDecoder(1024).push(big), { code: 'CKP_ERR_CONTROL_TOO_BIG' } as never);
});

test('paths, groups and command parsing follow ckpool', (t) => {
  t.is(clientSocketPath({}), '/tmp/ckpool/listener');
  t.is(clientSocketPath({ proxy: true }), '/tmp/ckproxy/listener');
  t.is(clientSocketPath({ parentDir: '/x', name: 'y', sockname: 'stratifier' }), '/x/y/stratifier');
  t.is(resolveGroup(GROUP), GID);
  t.is(resolveGroup('4242'), 4242);
  t.throws(() => resolveGroup('no-such-group-ckpool-ts'), { code: 'CKP_ERR_CONTROL_GROUP' } as never);
  t.deepEqual(parseCommand('loglevel=7'), { name: 'loglevel', arg: '7' });
  t.deepEqual(parseCommand('reconnect:pool.example,3333'), { name: 'reconnect', arg: 'pool.example,3333' });
  t.deepEqual(parseCommand('getuser{"user":"a"}'), { name: 'getuser', arg: '', json: '{"user":"a"}' });
  t.deepEqual(parseCommand('message user=a hi there\n'), { name: 'message', arg: 'user=a hi there' });
  t.deepEqual(parseCommand('getxfd0'), { name: 'getxfd', arg: '0' });
});

// --- the in-process pool, driven through the real ckpmsg ----------------------------------

test('every control command through ckpmsg: replies, errors, miners reached, notifier', async (t) => {
  const logger = new MemoryLogger();
  const sockdir = path.join(dir, 'inproc') + '/';
  pool = await Pool.start({
    btcd: [{ ...node.btcd(true), notify: true, line: 0 }], // notify:true: no polling, only notifications find blocks
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9,
    logdir: path.join(dir, 'inproc-logs'), updateInterval: 600,
  }, { logger, name: 'inproc', server: { highdiffPort: 65535 } });
  claim = await claimInstance({ name: 'inproc', sockdir, killold: false, logger });
  let shutdowns = 0;
  control = await ControlServer.start({ sockdir, gid: resolveGroup(GROUP), logger, onShutdown: () => { shutdowns++; } });
  control.attach(pool);

  // sockets as ckpool makes them
  for (const s of ['listener', 'stratifier', 'generator', 'connector']) {
    const st = statSync(path.join(sockdir, s));
    t.true(st.isSocket());
    t.is(st.mode & 0o777, 0o770);
    t.is(st.gid, GID);
  }
  t.is(readFileSync(path.join(sockdir, 'main.pid'), 'utf8'), String(process.pid));

  // notifier: a block on bcoin is not seen (no polling) until notifier says so
  const before = pool.generator.current!;
  await node.generateToAddress(1, REGTEST_ADDRESS);
  await new Promise((r) => setTimeout(r, 300));
  t.is(pool.generator.current, before, 'no polling with notify:true');
  const fresh = once(pool.generator, 'workbase');
  const n = await runBin('notifier', ['-s', dir, '-n', 'inproc']);
  t.is(n.code, 0, n.stderr);
  t.is(n.stdout, 'Notified stratifier of block update\n');
  const [wb, clean] = (await fresh) as [{ height: number }, boolean];
  t.true(clean);
  t.is(wb.height, before.height + 1);

  const alice = await miner('alice.w1');
  const aliceId = [...pool.stratifier.clients.values()].find((c) => c.username === 'alice')!.id;
  await alice.c.nextJob(5000, true);
  const share = alice.c.grind({ job: alice.c.job! });
  t.is((await alice.c.submit('alice.w1', share.params)).result, true);
  if (share.block) await once(pool.generator, 'workbase'); // a regtest share is often a block: let it settle

  // --- the ckpool commands, on the listener -------------------------------------------
  const r1 = await ask(t, [
    'ping', '# a comment is skipped', 'loglevel=9', 'loglevel=x', 'loglevel=7', 'stratifierstats', 'connectorstats',
    'resetshares', 'foo', 'restart', 'getxfd9', 'update', 'update nothex', `notify ${'ab'.repeat(32)}`, 'uptime',
  ]);
  t.deepEqual(r1.slice(0, 4), ['pong', 'Invalid', 'Failed', 'success']);
  t.is(logger.level, 7);
  const ss = json(r1[4]!);
  for (const k of ['workbases', 'remote_workbases', 'users', 'clients', 'disconnected', 'shares', 'transactions', 'ssends', 'srecvs', 'stxnq']) {
    // as ckpool: remote_workbases and users have no "generated"
    t.deepEqual(Object.keys(ss[k] as object), k === 'remote_workbases' || k === 'users' ? ['count', 'memory'] : ['count', 'memory', 'generated'], k);
  }
  t.is((ss.clients as { count: number }).count, 1);
  t.is((ss.shares as { generated: number }).generated, 1);
  const cs = json(r1[5]!);
  t.deepEqual(Object.keys(cs).slice(0, 4), ['clients', 'dead', 'sends', 'delays']);
  t.is((cs.clients as { count: number }).count, 1);
  t.is(r1[6], 'resetting');
  t.deepEqual(json(r1[7]!), { error: 'unknown command: foo' });
  // an in-process pool has no command line to re-execute; getxfd0 would pass a real
  // descriptor (test/handover.test.ts), getxfd9 names a listener that does not exist
  t.deepEqual(json(r1[8]!), { error: 'restart: this instance cannot re-execute itself' });
  t.deepEqual(json(r1[9]!), { error: 'getxfd: no listening socket "9" (have 1)' });
  t.is(r1[10], 'updating');
  t.regex(json(r1[11]!).error as string, /is not a 64-digit block hash/);
  t.is(r1[12], 'updating');
  t.true((json(r1[13]!).uptime as number) >= 0);

  // --- the queries ckpool 0.9.9 leaves stubbed --------------------------------------
  const r2 = await ask(t, [
    'poolstats', 'users', 'workers', 'clients', `getclient ${aliceId}`, `getclient=${aliceId}`, 'getclient 999999', 'getclient x',
    'getuser alice', 'getuser{"user":"alice"}', 'getuser nobody', 'getuser', 'getworker alice.w1', 'getworker{"worker":"alice.w1"}',
    'getworker nobody.w', 'dropclient 999999', 'dropuser nobody',
  ]);
  const ps = json(r2[0]!);
  for (const k of ['runtime', 'Users', 'Workers', 'hashrate1m', 'accepted', 'bestshare', 'SPS1m']) t.true(k in ps, k);
  t.is(ps.Users, 1);
  const users = json(r2[1]!).users as Record<string, unknown>[];
  t.deepEqual(users.map((u) => u.user), ['alice']);
  t.false('worker' in users[0]!);
  const workers = json(r2[2]!).workers as Record<string, unknown>[];
  t.deepEqual(workers.map((w) => [w.workername, w.user, w.instances]), [['alice.w1', 'alice', 1]]);
  const cl = json(r2[3]!).clients as Record<string, unknown>[];
  t.is(cl.length, 1);
  t.like(cl[0]!, { id: aliceId, workername: 'alice.w1', user: 'alice', subscribed: true, authorised: true, accepted: 1, bestdiff: 0 });
  t.like(json(r2[4]!), { id: aliceId, address: '127.0.0.1', agent: 'ckpool-ts-testminer/1.0' });
  t.deepEqual(json(r2[5]!), json(r2[4]!));
  t.deepEqual(json(r2[6]!), { error: 'unknown client 999999' });
  t.regex(json(r2[7]!).error as string, /getclient needs a numeric client id/);
  t.like(json(r2[8]!), { user: 'alice', workers: 1, bestshare: 0 }); // bestshare: after resetshares
  t.deepEqual(json(r2[9]!), json(r2[8]!));
  t.deepEqual(json(r2[10]!), { error: 'unknown user nobody' });
  t.regex(json(r2[11]!).error as string, /getuser needs a user name/);
  t.like(json(r2[12]!), { workername: 'alice.w1', user: 'alice', instances: 1 });
  t.deepEqual(json(r2[13]!), json(r2[12]!));
  t.deepEqual(json(r2[14]!), { error: 'unknown worker nobody.w' });
  t.deepEqual(json(r2[15]!), { error: 'unknown client 999999' });
  t.deepEqual(json(r2[16]!), { error: 'unknown user nobody' });

  // --- stratum messaging: show_message and reconnect reach the miner -----------------
  const shown = method(alice.seen, 'client.show_message').length; // "Block N solved by…" if the share was a block
  const r3 = await ask(t, [
    'message hello everyone', 'message user=alice hi alice', 'message user=bob nobody here', `message client=${aliceId} just you`,
    'message client=999999 x', 'message', `reconnect client=${aliceId}`, 'reconnect user=alice', 'reconnect:pool.example,3334',
    'reconnect', 'reconnect:nonsense', 'reconnect client=999999',
  ]);
  t.deepEqual(r3.slice(0, 4).map((r) => json(r)), [{ sent: 1 }, { sent: 1 }, { sent: 0 }, { sent: 1 }]);
  t.deepEqual(json(r3[4]!), { error: 'unknown client 999999' });
  t.regex(json(r3[5]!).error as string, /message needs a text/);
  t.deepEqual(json(r3[6]!), { reconnecting: 1 });
  t.deepEqual(json(r3[7]!), { reconnecting: 1 });
  t.is(r3[8], 'reconnecting');
  t.is(r3[9], 'reconnecting');
  t.regex(json(r3[10]!).error as string, /is not host,port/);
  t.deepEqual(json(r3[11]!), { error: 'unknown client 999999' });
  await until(() => method(alice.seen, 'client.reconnect').length >= 4, 5000, 'four client.reconnect');
  t.deepEqual(method(alice.seen, 'client.show_message').slice(shown).map((m) => (m.params as string[])[0]),
    ['hello everyone', 'hi alice', 'just you']);
  t.deepEqual(method(alice.seen, 'client.reconnect').map((m) => m.params),
    [[], [], ['pool.example', '3334', 0], []]);

  // --- per-socket command sets, as ckpool's modules -------------------------------------
  const viaStratifier = await ask(t, ['stats', 'ping', 'getuser alice', 'accept'], ['-N', 'stratifier']);
  t.true('workbases' in json(viaStratifier[0]!));
  t.is(viaStratifier[1], 'pong');
  t.like(json(viaStratifier[2]!), { user: 'alice' });
  t.regex(json(viaStratifier[3]!).error as string, /not accepted on the stratifier socket/);
  const rawMsg = JSON.stringify({ client_id: aliceId, id: null, method: 'client.show_message', params: ['raw line'] });
  const viaConnector = await ask(t, ['stats', 'getuser alice', rawMsg, '{"client_id":999999}', '{not json'], ['-N', 'connector']);
  t.true('dead' in json(viaConnector[0]!));
  t.regex(json(viaConnector[1]!).error as string, /command getuser is not accepted on the connector socket/);
  t.deepEqual(json(viaConnector[2]!), { sent: 1 });
  t.deepEqual(json(viaConnector[3]!), { error: 'unknown client 999999' });
  t.regex(json(viaConnector[4]!).error as string, /invalid JSON/);
  await until(() => method(alice.seen, 'client.show_message').length === shown + 4, 5000, 'the raw show_message');
  const viaGenerator = await ask(t, ['getbest', 'clients'], ['-N', 'generator']);
  t.is(viaGenerator[0], await node.rpc.call<string>('getbestblockhash'));
  t.regex(json(viaGenerator[1]!).error as string, /not accepted on the generator socket/);

  // --- reject / accept new connections -------------------------------------------------
  // as ckpool's connector: nothing is accepted, but the socket stays open, so a new
  // connection waits in the backlog (not refused, not closed) and is served after accept
  t.deepEqual(await ask(t, ['reject']), ['rejecting']);
  t.false(pool.server.accepting);
  t.false(pool.server.listeningActive);
  const servedBefore = pool.stratifier.clients.size;
  const waiting = await StratumClient.connect(pool.addresses[0]!.port);
  clients.push(waiting);
  const early = waiting.subscribe();
  const raced = await Promise.race([early.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
  t.is(raced, 'waiting', 'not served while rejecting');
  t.false(waiting.closed);
  t.deepEqual(await ask(t, ['accept']), ['accepting']);
  t.true(pool.server.listeningActive);
  t.true(Array.isArray((await early).result), 'served once accepting again');
  waiting.close();
  await until(() => pool!.stratifier.clients.size === servedBefore, 3000, 'the waiting client to leave');
  const bob = await miner('bob.w1');

  // --- dropping ----------------------------------------------------------------------
  const dropped = await ask(t, ['dropuser bob', `dropclient ${aliceId}`, `dropclient ${aliceId}`]);
  t.deepEqual(json(dropped[0]!), { dropped: 1 });
  t.deepEqual(json(dropped[1]!), { dropped: 1 });
  t.deepEqual(json(dropped[2]!), { error: `unknown client ${aliceId}` });
  await until(() => bob.c.closed && alice.c.closed, 3000, 'both miners dropped');
  t.is(pool.stratifier.clients.size, 0);

  // --- shutdown answers first, then runs the hook ------------------------------------------
  t.deepEqual(await ask(t, ['shutdown']), ['exiting']);
  await until(() => shutdowns === 1, 2000, 'the shutdown hook');

  // --- a bad frame gets a coded error reply -----------------------------------------------
  const raw = net.connect({ path: path.join(sockdir, 'listener') });
  const chunks: Buffer[] = [];
  raw.on('data', (d) => chunks.push(d));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(64 * 1024 * 1024);
  raw.end(header);
  await once(raw, 'close');
  const body = Buffer.concat(chunks);
  t.regex(body.subarray(4).toString(), /"error":"control message of 67108864 bytes is over the 65536 byte limit"/);

  // library client: the same replies, and a coded error when nothing is there
  t.is(await sendControl(path.join(sockdir, 'stratifier'), 'ping'), 'pong');
  const missing = await t.throwsAsync(sendControl(path.join(dir, 'nope', 'listener'), 'ping'));
  t.true(isCkpoolError(missing, 'CKP_ERR_CONTROL_NOT_RUNNING'));

  await control.close();
  claim.release();
  t.deepEqual(readdirSync(sockdir), [], 'sockets and pid file removed');
});

// --- the same commands with the miners on worker threads ----------------------------------

// serial: a share here may be a block, which must not land in the middle of the notifier checks above
test.serial('worker threads: every miner command reaches the miners on each thread', async (t) => {
  const logger = new MemoryLogger();
  const logText = () => logger.lines.map((l) => l.msg).join('\n');
  const sockdir = path.join(dir, 'wrk') + '/';
  wpool = await Pool.start({
    btcd: [{ ...node.btcd(true), notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9,
    logdir: path.join(dir, 'wrk-logs'), updateInterval: 600,
  }, { logger, name: 'wrk', server: { highdiffPort: 65535 }, workers: 2 });
  t.truthy(wpool.workers);
  wclaim = await claimInstance({ name: 'wrk', sockdir, killold: false, logger });
  wcontrol = await ControlServer.start({ sockdir, gid: resolveGroup(GROUP), logger, onShutdown: () => undefined });
  wcontrol.attach(wpool);
  const askW = (lines: string[], extra: string[] = []) => ask(t, lines, extra, 'wrk');
  const ctl = (cmd: string) => sendControl(path.join(sockdir, 'listener'), cmd);
  const port = wpool.addresses[0]!.port;

  // the least-loaded thread takes each new miner: alice on one thread, bob on the other
  const alice = await miner('alice.w1', port);
  const bob = await miner('bob.w1', port);
  t.is(wpool.stratifier.clients.size, 0, 'no miner on the main thread');
  const cl = json((await askW(['clients']))[0]!).clients as Record<string, unknown>[];
  t.deepEqual(cl.map((c) => [c.workername, c.user, c.subscribed, c.authorised, c.address]),
    [['alice.w1', 'alice', true, true, '127.0.0.1'], ['bob.w1', 'bob', true, true, '127.0.0.1']]);
  const [aliceId, bobId] = cl.map((c) => c.id as number) as [number, number];
  t.not(aliceId, bobId);
  // client ids come from each thread's own residue class (slot index mod threads + 1)
  t.deepEqual([aliceId % 3, bobId % 3].sort(), [0, 2], 'one miner on each worker thread');

  // a share, so there is a best share to reset
  await alice.c.nextJob(5000, true);
  const share = alice.c.grind({ job: alice.c.job! });
  const judged = alice.c.submit('alice.w1', share.params);
  const solved = share.block ? once(wpool.generator, 'workbase') : null;
  t.is((await judged).result, true);
  await solved;

  // --- queries --------------------------------------------------------------------------
  const r1 = await askW([`getclient ${aliceId}`, `getclient=${bobId}`, 'getclient 999999', 'stratifierstats', 'connectorstats']);
  t.like(json(r1[0]!), { id: aliceId, workername: 'alice.w1', user: 'alice', address: '127.0.0.1', agent: 'ckpool-ts-testminer/1.0', accepted: 1 });
  t.true((json(r1[0]!).bestdiff as number) > 0);
  t.like(json(r1[1]!), { id: bobId, workername: 'bob.w1', accepted: 0 });
  t.deepEqual(json(r1[2]!), { error: 'unknown client 999999' });
  const ss = json(r1[3]!);
  t.like(ss.clients, { count: 2, generated: 2 });
  t.true((ss.clients as { memory: number }).memory > 0, 'the clients on both threads are counted');
  t.deepEqual(ss.shares, { count: 0, memory: 0, generated: 1 });
  t.deepEqual(ss.disconnected, { count: 0, memory: 0, generated: 0 });
  const cs = json(r1[4]!);
  t.deepEqual(cs.clients, { count: 2, memory: 0, generated: 2 });
  t.is(cs.accepting, true);

  // --- messages: to one client, to a user, to all, the connector's raw JSON ----------------
  const r2 = await askW([`message client=${bobId} hi bob`, 'message user=alice hi alice', 'message hello both', 'message client=999999 x']);
  t.deepEqual(r2.slice(0, 3).map((r) => json(r)), [{ sent: 1 }, { sent: 1 }, { sent: 2 }]);
  t.deepEqual(json(r2[3]!), { error: 'unknown client 999999' });
  const rawMsg = JSON.stringify({ client_id: bobId, id: null, method: 'client.show_message', params: ['raw to bob'] });
  const r3 = await askW([rawMsg, '{"client_id":999999}'], ['-N', 'connector']);
  t.deepEqual(json(r3[0]!), { sent: 1 });
  t.deepEqual(json(r3[1]!), { error: 'unknown client 999999' });
  const texts = (seen: Record<string, unknown>[]) =>
    method(seen, 'client.show_message').map((m) => (m.params as string[])[0]).filter((x) => !/^Block \d+ solved/.test(x!));
  await until(() => texts(bob.seen).length === 3 && texts(alice.seen).length === 2, 5000, 'the messages');
  t.deepEqual(texts(bob.seen), ['hi bob', 'hello both', 'raw to bob']);
  t.deepEqual(texts(alice.seen), ['hi alice', 'hello both']);

  // --- reconnect one client, a user, by reconnclient ------------------------------------------
  const r4 = await askW([`reconnect client=${aliceId}`, `reconnclient=${bobId}`, 'reconnect user=bob', 'reconnect client=999999', 'reconnect:pool.example,3334']);
  t.deepEqual(r4.slice(0, 3).map((r) => json(r)), [{ reconnecting: 1 }, { reconnecting: 1 }, { reconnecting: 1 }]);
  t.deepEqual(json(r4[3]!), { error: 'unknown client 999999' });
  t.is(r4[4], 'reconnecting');
  await until(() => method(alice.seen, 'client.reconnect').length === 2 && method(bob.seen, 'client.reconnect').length === 3, 5000, 'the reconnects');
  t.deepEqual(method(alice.seen, 'client.reconnect').map((m) => m.params), [[], ['pool.example', '3334', 0]]);
  t.deepEqual(method(bob.seen, 'client.reconnect').map((m) => m.params), [[], [], ['pool.example', '3334', 0]]);

  // --- resetshares clears the threads' per-client best shares too -------------------------
  t.deepEqual(await askW(['resetshares']), ['resetting']);
  t.is(json(await ctl(`getclient ${aliceId}`)).bestdiff, 0);

  // --- dropping ---------------------------------------------------------------------------
  const r5 = await askW([`dropclient ${aliceId}`, `dropclient ${aliceId}`]);
  t.deepEqual(json(r5[0]!), { dropped: 1 });
  t.deepEqual(json(r5[1]!), { error: `unknown client ${aliceId}` });
  await until(() => alice.c.closed, 3000, 'alice dropped');
  t.regex(logText(), new RegExp(`Control: dropping client ${aliceId} 127\\.0\\.0\\.1`));
  // alice's session is remembered on her thread; her close counts as a drop
  const deadline = Date.now() + 5000;
  let after = json(await ctl('stratifierstats'));
  while ((after.disconnected as { count: number }).count !== 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    after = json(await ctl('stratifierstats'));
  }
  t.deepEqual(after.disconnected, { count: 1, memory: 16, generated: 1 }); // a session id and an extranonce1, in hex
  t.like(after.clients, { count: 1, generated: 2 });
  const dead = json(await ctl('connectorstats')).dead as { generated: number };
  t.true(dead.generated >= 1);
  const r6 = await askW(['dropuser bob', 'dropuser nobody', 'dropall']);
  t.deepEqual(json(r6[0]!), { dropped: 1 });
  t.deepEqual(json(r6[1]!), { error: 'unknown user nobody' });
  t.deepEqual(json(r6[2]!), { dropped: 0 });
  await until(() => bob.c.closed, 3000, 'bob dropped');
  t.deepEqual(json((await askW(['clients']))[0]!), { clients: [] });

  // --- handover steps (ckpool's reject + reconnect): every thread's miners told to reconnect --
  const carol = await miner('carol.w1', port);
  const dave = await miner('dave.w1', port);
  t.deepEqual(await askW(['reject', 'reconnect']), ['rejecting', 'reconnecting']);
  await until(() => method(carol.seen, 'client.reconnect').length === 1 && method(dave.seen, 'client.reconnect').length === 1, 5000, 'handover reconnects');
  t.regex(logText(), /sent client\.reconnect to all 2 clients/);
  // ckpool answers "unknown" to a handover command; ckpool-ts has none either
  t.regex(json((await askW(['handover']))[0]!).error as string, /unknown command: handover/);
  t.deepEqual(await askW(['accept']), ['accepting']);
});

// --- real ckpool processes: named instances --------------------------------------------------

function ckpool(args: string[]): Child {
  return spawnNode(path.join(ROOT, 'bin', 'ckpool.js'), args, dir, children);
}

async function ready(p: Child): Promise<void> {
  await until(() => /stratum on/.test(p.out()) || p.child.exitCode !== null, 20_000, 'ckpool to start');
  if (!/stratum on/.test(p.out())) throw new Error(`ckpool did not start: ${p.err()}`);
}

test('instances: stale files cleaned, a second instance refused, -k replaces, shutdown cleans up', async (t) => {
  const port = await freePort();
  const logdir = path.join(dir, 'inst-logs');
  const conf = path.join(dir, 'inst.conf');
  writeFileSync(conf, JSON.stringify({
    btcd: [{ url: node.url, auth: node.user, pass: node.pass, notify: false }],
    btcaddress: REGTEST_ADDRESS, logdir, serverurl: [`127.0.0.1:${port}`], startdiff: 1e-6, mindiff: 1e-9, highdiff: 1e-6,
  }));
  const sockdir = path.join(dir, 'inst');
  const args = ['-c', conf, '-n', 'inst', '-s', sockdir, '-q', '-g', GROUP];
  const ping = () => runBin('ckpmsg', ['-s', dir, '-n', 'inst', '-l', '5'], 'ping\n');

  // an unknown -g group is a clear error before anything starts
  const badGroup = ckpool([...args.slice(0, -1), 'no-such-group-ckpool-ts']);
  t.is((await badGroup.exited)[0], 1);
  t.regex(badGroup.err(), /unknown group "no-such-group-ckpool-ts" \(-g\)/);

  const a = ckpool(args);
  await ready(a);
  t.is(readFileSync(path.join(sockdir, 'main.pid'), 'utf8'), String(a.child.pid));
  t.is(statSync(path.join(sockdir, 'listener')).gid, GID);
  t.deepEqual(replies((await ping()).stdout), ['pong']);

  // crash: the pid file and the sockets stay behind
  a.child.kill('SIGKILL');
  await a.exited;
  t.true(existsSync(path.join(sockdir, 'main.pid')));
  t.true(existsSync(path.join(sockdir, 'listener')));
  const dead = await ping();
  t.is(dead.code, 1);
  t.regex(dead.stderr, /no instance is running on .*inst\/listener \(connection refused\)/);

  const b = ckpool(args);
  await ready(b);
  t.is(readFileSync(path.join(sockdir, 'main.pid'), 'utf8'), String(b.child.pid));
  const log = () => readFileSync(path.join(logdir, 'inst.log'), 'utf8');
  t.regex(log(), new RegExp(`Removing stale pid file .*main\\.pid: process ${a.child.pid} is gone`));
  t.regex(log(), /Removing stale socket .*inst\/listener/);

  // same name while b runs: refused with ckpool's message
  const c = ckpool(args);
  const [cCode] = await c.exited;
  t.is(cCode, 1);
  t.regex(c.err(), new RegExp(`Process main pid ${b.child.pid} still exists, start ckpool with -H to get a handover or -k if you wish to kill it`));
  t.is(b.child.exitCode, null, 'the running instance is untouched');

  // -k: b gets SIGTERM and shuts down cleanly; d takes over
  const d = ckpool([...args, '-k']);
  const [bCode] = await b.exited;
  t.is(bCode, 0);
  await ready(d);
  t.regex(log(), new RegExp(`Terminating old process main pid ${b.child.pid}`));
  t.is(readFileSync(path.join(sockdir, 'main.pid'), 'utf8'), String(d.child.pid));

  // notifier reaches it; shutdown ends it and removes the sockets and the pid file
  const n = await runBin('notifier', ['-s', dir, '-n', 'inst']);
  t.is(n.code, 0, n.stderr);
  const bye = await runBin('ckpmsg', ['-s', dir, '-n', 'inst', '-l', '5'], 'shutdown\n');
  t.deepEqual(replies(bye.stdout), ['exiting']);
  const [dCode] = await d.exited;
  t.is(dCode, 0);
  t.deepEqual(readdirSync(sockdir), []);
  t.regex(log(), /received shutdown command, shutting down/);

  const gone = await runBin('notifier', ['-s', dir, '-n', 'inst']);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /notifier: no instance is running on .*inst\/stratifier \(no such socket\)/);
});
