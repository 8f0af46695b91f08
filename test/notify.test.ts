/**
 * Webhook notifications (issue 16) against a real local HTTPS receiver with a
 * self-signed certificate, trusted only through each entry's `ca` (no global TLS
 * verification switch). Blocks are mined through the pool on bcoin regtest (real bits:
 * about half of all hashes solve a block), as in pool-blocks.test.ts.
 */
import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../ts/config/parse.js';
import type { NotificationEntry } from '../ts/config/notifications.js';
import { ControlServer, sendControl } from '../ts/control/index.js';
import { PoolEvents } from '../ts/events.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { Notifier, outboxDir } from '../ts/notify/index.js';
import { Pool } from '../ts/pool/pool.js';
import type { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { FakeUpstream, miner, mineOne, modeConfig, removeTempDirs, submitUntilBlock } from './helpers/modes.js';
import { ProxyMode } from '../ts/modes/proxy.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { NotifyReceiver } from './helpers/notify-receiver.js';

let node: BcoinNode;
let receiver: NotifyReceiver;
const dirs: string[] = [];
const pools: Pool[] = [];
const clients: StratumClient[] = [];

function tmp(tag: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `ckpool-ts-notify-${tag}-`));
  dirs.push(d);
  return d;
}

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(5, REGTEST_ADDRESS);
  receiver = await NotifyReceiver.start(tmp('certs'));
});
test.after.always(async () => {
  for (const c of clients) c.close();
  for (const p of pools) await p.stop().catch(() => undefined);
  await receiver?.close();
  await stopAllBcoins();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function entry(pathPart: string, format: NotificationEntry['format'], events: NotificationEntry['events'], extra: Partial<NotificationEntry> = {}): NotificationEntry {
  return { url: receiver.url(pathPart), format, events, offlineMinutes: 10, timeout: 5, ca: receiver.caPath, line: 0, ...extra };
}

async function startPool(logdir: string, notifications: NotificationEntry[], logger = new MemoryLogger(), extra: Record<string, unknown> = {}): Promise<Pool> {
  const pool = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9,
    logdir, updateInterval: 600, blockpoll: 50, notifications, ...extra,
  }, { logger, server: { highdiffPort: 65535 }, notify: { retryMs: 200, retryMaxMs: 1000, rescanMs: 500, presenceCheckMs: 200 } });
  pools.push(pool);
  return pool;
}

/** A miner on the pool mines until it solves a block; the submission's result. */
async function mineBlock(pool: Pool, worker: string): Promise<{ hash: string; height: number; accepted: boolean }> {
  const c = await miner(pool.addresses[0]!.port, worker);
  clients.push(c);
  const blockEvent = once(pool.generator, 'block');
  await submitUntilBlock(c, worker);
  const [r] = (await blockEvent) as [{ hash: string; height: number; accepted: boolean }];
  c.close();
  return r;
}

test.serial('a block found on bcoin arrives in every format with its height, hash and finder; its acceptance too', async (t) => {
  const logdir = tmp('formats');
  const pool = await startPool(logdir, [
    entry('/json', 'json', ['block_found', 'block_accepted']),
    entry('/discord', 'discord', ['block_found']),
    entry('/bot123:ABC/sendMessage?chat_id=-1001234', 'telegram', ['block_found'], { chatId: '-1001234' }),
    entry('/slack', 'slack', ['block_found']),
  ]);
  const block = await mineBlock(pool, 'finder.rig1');
  t.true(block.accepted);
  t.is(await node.rpc.call<string>('getblockhash', [block.height]), block.hash);
  await receiver.waitFor(() => ['/json', '/discord', '/bot123', '/slack'].every((p) => receiver.at(p, 'block_found').length > 0) &&
    receiver.at('/json', 'block_accepted').length > 0);

  const [json] = receiver.at('/json', 'block_found');
  t.is(json!.body.type, 'block_found');
  t.is(json!.body.id, `block_found-${block.hash}`);
  t.is(json!.headers['idempotency-key'], json!.body.id as string);
  t.is(typeof json!.body.time, 'number');
  const data = json!.body.data as Record<string, unknown>;
  t.is(data.height, block.height);
  t.is(data.hash, block.hash);
  t.is(data.finder, 'finder');
  t.is(data.worker, 'finder.rig1');
  t.true((data.reward as number) > 0);

  const [accepted] = receiver.at('/json', 'block_accepted');
  t.is(accepted!.body.id, `block_accepted-${block.hash}`);
  t.is((accepted!.body.data as Record<string, unknown>).verdict, 'accepted');

  const discord = receiver.at('/discord', 'block_found')[0]!.body;
  t.deepEqual(Object.keys(discord), ['content']);
  t.regex(discord.content as string, new RegExp(`Block ${block.height} found by finder \\(worker finder\\.rig1\\).*${block.hash}`));

  const telegram = receiver.at('/bot123', 'block_found')[0]!;
  t.is(telegram.path, '/bot123:ABC/sendMessage?chat_id=-1001234');
  t.is(telegram.body.chat_id, '-1001234');
  t.regex(telegram.body.text as string, new RegExp(`Block ${block.height} found by finder \\(worker finder.rig1\\).*${block.hash}`));

  const slack = receiver.at('/slack', 'block_found')[0]!.body;
  t.deepEqual(Object.keys(slack), ['text']);
  t.regex(slack.text as string, new RegExp(`Block ${block.height} found by finder.*${block.hash}`));

  // delivered: nothing left in the outbox
  await receiver.waitFor(() => pool.notifications!.notifier.size === 0, 5000, 'an empty outbox');
  t.deepEqual(readdirSync(outboxDir(logdir)).filter((f) => f.endsWith('.json')), []);
  await pool.stop();
});

test.serial('receiver down: the block notification waits on disk, survives a pool restart and is delivered once the receiver is back', async (t) => {
  const logdir = tmp('restart');
  const entries = [entry('/restart', 'json', ['block_found'])];
  await receiver.down();
  let pool = await startPool(logdir, entries);
  let block: { hash: string; height: number };
  try {
    block = await mineBlock(pool, 'patient.rig');
    // on disk before (and while) the attempts fail
    await receiver.waitFor(() => pool.notifications!.notifier.pending().some((p) => p.attempts >= 2), 10_000, 'failed attempts');
    t.is(readdirSync(outboxDir(logdir)).filter((f) => f.endsWith('.json')).length, 1);
    t.regex(pool.notifications!.notifier.pending()[0]!.lastError ?? '', /ECONNREFUSED/);
    await pool.stop();
  } finally {
    await receiver.up();
  }
  t.is(receiver.at('/restart').length, 0);
  // a new process on the same logdir (as after a crash, a restart or a handover)
  pool = await startPool(logdir, entries);
  await receiver.waitFor(() => receiver.at('/restart').length > 0);
  const got = receiver.at('/restart');
  t.is(got[0]!.body.id, `block_found-${block.hash}`);
  t.is((got[0]!.body.data as Record<string, unknown>).height, block.height);
  await receiver.waitFor(() => !existsSync(outboxDir(logdir)) || readdirSync(outboxDir(logdir)).filter((f) => f.endsWith('.json')).length === 0, 5000, 'the delivered file removed');
  await pool.stop();
});

test.serial('worker_offline after the configured minutes without shares, worker_online at its next share', async (t) => {
  const logdir = tmp('presence');
  // 0.05 minutes = 3 s without a share (checked every 200 ms)
  const pool = await startPool(logdir, [entry('/presence', 'json', ['worker_offline', 'worker_online'], { offlineMinutes: 0.05 })]);
  const c = await miner(pool.addresses[0]!.port, 'sleepy.w1');
  clients.push(c);
  t.is((await mineOne(c, 'sleepy.w1')).reply.result, true);
  await receiver.waitFor(() => receiver.at('/presence', 'worker_offline').length > 0, 15_000, 'worker_offline');
  const off = receiver.at('/presence', 'worker_offline')[0]!.body;
  t.is((off.data as Record<string, unknown>).worker, 'sleepy.w1');
  t.is((off.data as Record<string, unknown>).user, 'sleepy');
  t.is((off.data as Record<string, unknown>).offlineMinutes, 0.05);
  t.is(receiver.at('/presence', 'worker_online').length, 0);
  t.is((await mineOne(c, 'sleepy.w1')).reply.result, true);
  await receiver.waitFor(() => receiver.at('/presence', 'worker_online').length > 0, 15_000, 'worker_online');
  t.is((receiver.at('/presence', 'worker_online')[0]!.body.data as Record<string, unknown>).worker, 'sleepy.w1');
  // one offline report per silence, not one per check (a later silence may have begun since)
  const seq = receiver.at('/presence').map((r) => r.headers['x-ckpool-event']);
  t.deepEqual(seq.slice(0, seq.indexOf('worker_online') + 1), ['worker_offline', 'worker_online']);
  c.close();
  await pool.stop();
});

test.serial('a full outbox drops the oldest non-block deliveries with a log line, never a block; the rest arrive when the receiver is back', async (t) => {
  const logdir = tmp('bound');
  const logger = new MemoryLogger();
  await receiver.down();
  const notifier = await Notifier.start({
    entries: [entry('/bound', 'json', ['block_found', 'node_down'])], logdir, logger, maxPending: 10, retryMs: 200, retryMaxMs: 400, rescanMs: 60_000,
  });
  const events = new PoolEvents();
  notifier.attach(events);
  try {
    events.emitSafe('node_down', { name: 'node-0', reason: 'first' });
    await notifier.queue('block_found', { height: 7, hash: 'ab'.repeat(32), finder: 'f', worker: 'f.1' }, `block_found-${'ab'.repeat(32)}`);
    for (let i = 1; i <= 14; i++) await notifier.queue('node_down', { name: `node-${i}` });
    t.is(notifier.size, 10);
    // 16 queued, 10 kept: six dropped
    t.is(notifier.dropped, 6);
    const kept = notifier.pending();
    t.true(kept.some((p) => p.type === 'block_found'));
    t.is(receiver.at('/bound').length, 0);
    const dropLines = logger.lines.filter((l) => /outbox full \(10 pending\): dropped node_down/.test(l.msg));
    t.is(dropLines.length, 6);
    t.is(readdirSync(outboxDir(logdir)).filter((f) => f.endsWith('.json')).length, 10);
  } finally {
    await receiver.up();
  }
  await receiver.waitFor(() => receiver.at('/bound').length >= 10);
  const got = receiver.at('/bound');
  t.is(got.filter((r) => r.body.type === 'block_found').length, 1);
  // the oldest went (node-0 … node-5; one of them may have been spared while its attempt was in flight,
  // and the next oldest dropped instead): the eight newest always arrive
  const names = got.filter((r) => r.body.type === 'node_down').map((r) => (r.body.data as { name: string }).name);
  t.is(names.length, 9);
  for (let i = 7; i <= 14; i++) t.true(names.includes(`node-${i}`), `node-${i}`);
  await notifier.stop();
});

test.serial('ckpmsg notifications lists what waits, notifytest sends a test message to every webhook', async (t) => {
  const logdir = tmp('ckpmsg');
  const pool = await startPool(logdir, [entry('/cmd-a', 'json', ['block_found']), entry('/cmd-b', 'slack', ['node_down'])]);
  const sockdir = tmp('sock');
  const control = await ControlServer.start({ sockdir, logger: new MemoryLogger(), onShutdown: () => undefined });
  control.attach(pool);
  const ask = async (cmd: string) => JSON.parse(await sendControl(path.join(sockdir, 'listener'), cmd)) as Record<string, unknown>;
  try {
    await receiver.down();
    const q = await ask('notifytest hello operator');
    t.regex(q.queued as string, /^test-/);
    await receiver.waitFor(() => pool.notifications!.notifier.pending().filter((p) => p.attempts > 0).length === 2, 10_000, 'attempts');
    const list = await ask('notifications');
    const pending = list.pending as { id: string; type: string; webhook: string; attempts: number; lastError?: string }[];
    t.is(pending.length, 2);
    t.deepEqual(pending.map((p) => p.webhook).sort(), [`notifications[0] (json, 127.0.0.1:${receiver.port})`, `notifications[1] (slack, 127.0.0.1:${receiver.port})`]);
    t.true(pending.every((p) => p.type === 'test' && p.id === q.queued && p.attempts >= 1 && /ECONNREFUSED/.test(p.lastError ?? '')));
    // the URL (which may hold a token) is not in the reply
    t.false(JSON.stringify(list).includes('/cmd-a'));
  } finally {
    await receiver.up();
  }
  await receiver.waitFor(() => receiver.at('/cmd-a', 'test').length > 0 && receiver.at('/cmd-b', 'test').length > 0);
  t.is(receiver.at('/cmd-a', 'test')[0]!.body.text, `[ckpool-ts] Test notification: hello operator`);
  t.is(receiver.at('/cmd-b', 'test')[0]!.body.text, `[ckpool-ts] Test notification: hello operator`);
  await receiver.waitFor(() => pool.notifications!.notifier.size === 0, 5000, 'an empty outbox');
  t.deepEqual((await ask('notifications')).pending, []);
  await control.close();
  await pool.stop();
});

test('config: notifications entries are validated with the key and line named', (t) => {
  const conf = (n: unknown) => JSON.stringify({ btcaddress: REGTEST_ADDRESS, notifications: n }, null, 1);
  const ok = parseConfig(conf([{ url: 'https://api.telegram.org/bot1:x/sendMessage?chat_id=-42', format: 'telegram', events: ['block_found', 'worker_offline'], offlineminutes: 15 }]), 'pool', 'c.conf');
  t.is(ok.notifications![0]!.chatId, '-42');
  t.is(ok.notifications![0]!.offlineMinutes, 15);
  t.is(ok.notifications![0]!.timeout, 10);
  const err = (n: unknown) => t.throws(() => parseConfig(conf(n), 'pool', 'c.conf')) as Error & { code: string; key: string };
  let e = err([{ url: 'https://x.example/h', format: 'teams', events: ['block_found'] }]);
  t.is(e.code, 'CKP_ERR_CONFIG_RANGE');
  t.is(e.key, 'notifications[0].format');
  e = err([{ url: 'https://x.example/h', format: 'json', events: ['block_fund'] }]);
  t.is(e.key, 'notifications[0].events[0]');
  t.regex(e.message, /did you mean "block_found"/);
  e = err([{ url: 'ftp://x.example/h', format: 'json', events: ['block_found'] }]);
  t.is(e.key, 'notifications[0].url');
  e = err([{ url: 'https://api.telegram.org/bot1:x/sendMessage', format: 'telegram', events: ['block_found'] }]);
  t.is(e.code, 'CKP_ERR_CONFIG_ENTRY_FIELD');
  e = err([{ format: 'json', events: ['block_found'] }]);
  t.is(e.key, 'notifications[0].url');
  e = err([{ url: 'https://x.example/h', format: 'json', events: [] }]);
  t.is(e.key, 'notifications[0].events');
  e = err([{ url: 'https://x.example/h', format: 'json', events: ['node_down'], offlineminutes: 0 }]);
  t.is(e.key, 'notifications[0].offlineminutes');
  const warned = parseConfig(conf([{ url: 'http://hooks.example/h', format: 'json', events: ['node_down'] }]), 'pool', 'c.conf');
  t.true(warned.warnings.some((w) => /unencrypted/.test(w.message)));
});

/** A TCP forwarder in front of bcoin's RPC port that can be cut and restored on the same port. */
class Cuttable {
  port = 0;
  #server: net.Server | null = null;
  readonly #socks = new Set<net.Socket>();
  constructor(readonly target: { host: string; port: number }) {}
  async up(): Promise<void> {
    const server = net.createServer((c) => {
      const u = net.connect(this.target.port, this.target.host);
      for (const s of [c, u]) {
        this.#socks.add(s);
        s.on('error', () => undefined);
        s.on('close', () => { this.#socks.delete(s); c.destroy(); u.destroy(); });
      }
      c.pipe(u).pipe(c);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }
  async down(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    for (const c of this.#socks) c.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

test.serial('node_down when the pool loses its bitcoind, node_up when it answers again', async (t) => {
  const cut = new Cuttable({ host: node.host, port: node.port });
  await cut.up();
  const logdir = tmp('node');
  const pool = await Pool.start({
    btcd: [{ url: `127.0.0.1:${cut.port}`, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], logdir, updateInterval: 600, blockpoll: 50,
    notifications: [entry('/node', 'discord', ['node_down', 'node_up'])],
  }, { logger: new MemoryLogger(), notify: { retryMs: 200, retryMaxMs: 1000 } });
  pools.push(pool);
  try {
    await cut.down();
    await receiver.waitFor(() => receiver.at('/node', 'node_down').length > 0, 15_000, 'node_down');
    t.regex(receiver.at('/node', 'node_down')[0]!.body.content as string, new RegExp(`Bitcoin node 127\\.0\\.0\\.1:${cut.port} down`));
  } finally {
    await cut.up();
  }
  // the bitcoind set's watchdog re-tests dead nodes every 5 s
  await receiver.waitFor(() => receiver.at('/node', 'node_up').length > 0, 20_000, 'node_up');
  t.regex(receiver.at('/node', 'node_up')[0]!.body.content as string, /back up/);
  t.is(receiver.at('/node', 'node_down').length, 1);
  await pool.stop();
  await cut.down();
});

test.serial('proxy mode: upstream_down when the upstream pool goes away, upstream_up when it is back', async (t) => {
  let up = await new FakeUpstream().listen();
  const port = up.port;
  const config = modeConfig('proxy', [{ port }], {
    notifications: [{ url: receiver.url('/upstream'), format: 'json', events: ['upstream_down', 'upstream_up'], ca: receiver.caPath }],
  });
  const proxy = await ProxyMode.start(config, { logger: new MemoryLogger(), retryMs: 100, notify: { retryMs: 200, retryMaxMs: 1000 } });
  try {
    await proxy.waitReady(10_000);
    await up.close();
    await receiver.waitFor(() => receiver.at('/upstream', 'upstream_down').length > 0, 15_000, 'upstream_down');
    const down = receiver.at('/upstream', 'upstream_down')[0]!.body;
    t.is((down.data as Record<string, unknown>).name, `127.0.0.1:${port}`);
    up = await new FakeUpstream().listen(port);
    await receiver.waitFor(() => receiver.at('/upstream', 'upstream_up').length > 0, 15_000, 'upstream_up');
    t.is((receiver.at('/upstream', 'upstream_up')[0]!.body.data as Record<string, unknown>).name, `127.0.0.1:${port}`);
  } finally {
    await proxy.stop();
    await up.close().catch(() => undefined);
    removeTempDirs();
  }
});

test.serial('passthrough mode: upstream_down when its pool goes away, upstream_up when the pool is back on the same port', async (t) => {
  const upLogdir = tmp('pt-upstream');
  let upstream = await startPool(upLogdir, []);
  const port = upstream.addresses[0]!.port;
  const config = modeConfig('passthrough', [{ port }], {
    notifications: [{ url: receiver.url('/passthrough'), format: 'slack', events: ['upstream_down', 'upstream_up'], ca: receiver.caPath }],
  });
  const pt = await PassthroughMode.start(config, { logger: new MemoryLogger(), retryMs: 100, notify: { retryMs: 200, retryMaxMs: 1000 } });
  try {
    await pt.waitReady(10_000);
    await upstream.stop();
    await receiver.waitFor(() => receiver.at('/passthrough', 'upstream_down').length > 0, 15_000, 'upstream_down');
    t.regex(receiver.at('/passthrough', 'upstream_down')[0]!.body.text as string, new RegExp(`Upstream pool 127\\.0\\.0\\.1:${port} lost`));
    upstream = await startPool(upLogdir, [], new MemoryLogger(), { serverurl: [`127.0.0.1:${port}`] });
    await receiver.waitFor(() => receiver.at('/passthrough', 'upstream_up').length > 0, 20_000, 'upstream_up');
    t.regex(receiver.at('/passthrough', 'upstream_up')[0]!.body.text as string, new RegExp(`Upstream pool 127\\.0\\.0\\.1:${port} connected again`));
    t.is(receiver.at('/passthrough', 'upstream_down').length, 1);
  } finally {
    await pt.stop();
    await upstream.stop();
    removeTempDirs();
  }
});

test.serial('certificates are verified: without its "ca" the self-signed receiver is refused; a missing ca file stops start-up; 5xx is retried, 400 is not', async (t) => {
  const logdir = tmp('tls');
  const logger = new MemoryLogger();
  await t.throwsAsync(Notifier.start({ entries: [entry('/x', 'json', ['node_down'], { ca: path.join(logdir, 'missing.pem') })], logdir, logger }),
    { code: 'CKP_ERR_NOTIFY_CA', message: /missing\.pem of notifications\[0\]/ });

  const untrusted = await Notifier.start({ entries: [entry('/untrusted', 'json', ['node_down'], { ca: undefined })], logdir, logger, retryMs: 200, retryMaxMs: 400 });
  await untrusted.test();
  await receiver.waitFor(() => untrusted.pending().some((p) => p.attempts >= 1 && p.lastError !== undefined), 10_000, 'a refused attempt');
  t.regex(untrusted.pending()[0]!.lastError!, /SELF_SIGNED|self[- ]signed/i);
  t.is(receiver.at('/untrusted').length, 0);
  await untrusted.stop();

  const logdir2 = tmp('status');
  const n = await Notifier.start({ entries: [entry('/status', 'json', ['node_down'])], logdir: logdir2, logger, retryMs: 200, retryMaxMs: 400 });
  try {
    receiver.status = 500;
    await n.queue('node_down', { name: 'a' });
    await receiver.waitFor(() => n.pending().some((p) => p.attempts >= 2), 10_000, 'two failed attempts');
    t.regex(n.pending()[0]!.lastError!, /HTTP 500/);
    receiver.status = 200;
    await receiver.waitFor(() => receiver.at('/status', 'node_down').length === 1 && n.size === 0);
    receiver.status = 400;
    await n.queue('node_down', { name: 'b' });
    await receiver.waitFor(() => n.size === 0, 10_000, 'the refused one gone');
    t.true(logger.lines.some((l) => /node_down node_down-\S+ refused by notifications\[0\] \(json, 127\.0\.0\.1:\d+\), not retried: HTTP 400/.test(l.msg)));
    t.deepEqual(readdirSync(outboxDir(logdir2)).filter((f) => f.endsWith('.json')), []);
  } finally {
    receiver.status = 200;
    await n.stop();
  }
});
