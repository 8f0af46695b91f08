/**
 * ServerSet failover against two real bcoin regtest nodes (A first in
 * priority, B second), started once for this file and stopped, killed and
 * restarted by the tests. One test mixes in fake HTTP servers for the
 * failures no real node produces on demand (garbage, HTTP 500, a hang).
 */
import test from 'ava';
import http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { isCkpoolError } from '../ts/errors.js';
import { LogLevel, MemoryLogger } from '../ts/log/logger.js';
import { BlockWatcher } from '../ts/node/blockwatch.js';
import { ServerSet, type Server, type ServerSetEvents } from '../ts/node/servers.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';

const BLOCKPOLL = 100;
const WATCHDOG = 200;

let a: BcoinNode;
let b: BcoinNode;
let set: ServerSet;
let watcher: BlockWatcher;
const logger = new MemoryLogger(LogLevel.DEBUG);
const events: Array<{ name: keyof ServerSetEvents; at: number; to?: string }> = [];

test.before(async () => {
  const started = performance.now();
  [a, b] = await Promise.all([startTestBcoin({ walletEnabled: false }), startTestBcoin({ walletEnabled: false })]);
  console.log(`two bcoin nodes ready in ${Math.round(performance.now() - started)} ms (A ${a.startMs} ms, B ${b.startMs} ms)`);
  // Different chains, so a tip says which node answered.
  await b.generateToAddress(3, REGTEST_ADDRESS);
});

test.after.always(async () => {
  watcher?.close();
  set?.close();
  await stopAllBcoins();
});

function record(s: ServerSet): void {
  for (const name of ['up', 'down', 'failover', 'failback'] as const) {
    s.on(name, (...args: unknown[]) => {
      const to = (args.at(-1) as Server | undefined)?.name;
      events.push({ name, at: performance.now(), to });
    });
  }
}

/** The next `name` event, or a failure after `ms`. */
async function nextEvent<K extends keyof ServerSetEvents>(s: ServerSet, name: K, ms: number): Promise<ServerSetEvents[K]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return (await once(s as never, name, { signal: ac.signal })) as ServerSetEvents[K];
  } catch {
    throw new Error(`no '${name}' event within ${ms} ms`);
  } finally {
    clearTimeout(timer);
  }
}

test.serial('start: both nodes checked, the first in priority is current', async (t) => {
  set = new ServerSet({ btcds: [a.btcd(), b.btcd()], watchdogMs: WATCHDOG, timeoutMs: 2000, logger });
  record(set);
  const up = nextEvent(set, 'up', 5000);
  const current = await set.start();
  t.is(current?.name, a.url);
  t.is((await up)[0].name, a.url);
  t.true(set.servers.every((s) => s.alive));
  t.is(await set.call('getblockcount'), 0);
  t.true(logger.lines.some((l) => l.msg === `Connected to bitcoind: ${a.url}`));
  watcher = new BlockWatcher({ servers: set, blockpollMs: BLOCKPOLL, logger });
  await watcher.start();
});

test.serial('an RPC error is the node\'s answer: no failover', async (t) => {
  const err = await t.throwsAsync(set.call('getblockhash', [999]));
  t.true(isCkpoolError(err, 'CKP_ERR_RPC_ERROR'));
  t.is(set.current()?.name, a.url);
});

test.serial('stop the first node: work continues on the second within 2 × blockpoll', async (t) => {
  const failover = nextEvent(set, 'failover', 5000);
  const stopping = performance.now();
  await a.stop();
  const stopped = performance.now();
  t.log(`stop took ${(stopped - stopping).toFixed(0)} ms`);
  const [from, to] = await failover;
  const took = Math.max(0, events.at(-1)!.at - stopped);
  t.log(`failover ${took.toFixed(0)} ms after the node exited (blockpoll ${BLOCKPOLL} ms)`);
  t.is(from.name, a.url);
  t.is(to.name, b.url);
  t.true(took <= 2 * BLOCKPOLL, `took ${took} ms`);
  t.is(set.current()?.name, b.url);
  t.is(await set.call('getblockcount'), 3);
  t.true(logger.lines.some((l) => l.level === LogLevel.WARNING && l.msg === `Failed over to bitcoind: ${b.url}`));
});

test.serial('the first node returns: the watchdog fails back to it', async (t) => {
  const failback = nextEvent(set, 'failback', 5000);
  await a.restart();
  const restarted = performance.now();
  const [from, to] = await failback;
  t.log(`failback ${(performance.now() - restarted).toFixed(0)} ms after the node answered (watchdog ${WATCHDOG} ms)`);
  t.is(from.name, b.url);
  t.is(to.name, a.url);
  t.is(set.current()?.name, a.url);
  t.is(await set.call('getblockcount'), 0); // restarted in-memory chain
});

test.serial('all nodes down: "down" and CRITICAL "No bitcoinds active!", retried, then recovery on its own', async (t) => {
  const down = nextEvent(set, 'down', 5000);
  await Promise.all([a.kill(), b.kill()]);
  await down;
  t.is(set.current(), null);
  const err = await t.throwsAsync(set.call('getblockcount'));
  t.true(isCkpoolError(err, 'CKP_ERR_NODE_NONE_ALIVE'));
  // the watchdog keeps trying and keeps saying so
  await new Promise((r) => setTimeout(r, 3 * WATCHDOG));
  const crit = logger.lines.filter((l) => l.level === LogLevel.CRIT && l.msg === 'No bitcoinds active!');
  t.true(crit.length >= 2, `${crit.length} CRITICAL lines`);

  const up = nextEvent(set, 'up', 5000);
  await b.restart();
  t.is((await up)[0].name, b.url);
  t.is(await set.call('getblockcount'), 0);
  const failback = nextEvent(set, 'failback', 5000);
  await a.restart();
  t.is((await failback)[1].name, a.url);
  t.true(events.map((e) => e.name).join(',').includes('down,up,failback'));
});

test.serial('fake nodes (garbage, HTTP 500 and a hang cannot be provoked in bcoin) and a wrong password are skipped', async (t) => {
  const hung: http.ServerResponse[] = [];
  const fakes = await Promise.all([
    (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('garbage'),
    (_req: http.IncomingMessage, res: http.ServerResponse) => { res.statusCode = 500; res.end('oops'); },
    (_req: http.IncomingMessage, res: http.ServerResponse) => { hung.push(res); },
  ].map(async (handler) => {
    const srv = http.createServer(handler);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    return srv;
  }));
  const url = (s: http.Server) => `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  const mixed = new ServerSet({
    btcds: [
      { url: url(fakes[0]!), auth: 'u', pass: 'p' },
      { url: url(fakes[1]!), auth: 'u', pass: 'p' },
      { url: url(fakes[2]!), auth: 'u', pass: 'p' },
      { ...b.btcd(), pass: 'wrong' },
      b.btcd(),
    ],
    timeoutMs: 300,
    watchdogMs: 60_000,
  });
  const started = performance.now();
  t.is((await mixed.start())?.name, b.url);
  t.true(performance.now() - started < 1500);
  t.deepEqual(mixed.servers.map((s) => (s.lastError as { code?: string } | null)?.code ?? 'alive'), [
    'CKP_ERR_RPC_NOT_JSON', 'CKP_ERR_RPC_HTTP', 'CKP_ERR_RPC_TIMEOUT', 'CKP_ERR_RPC_AUTH', 'alive',
  ]);
  t.is(typeof (await mixed.call('getblockcount')), 'number');
  mixed.close();
  for (const s of fakes) { s.closeAllConnections(); s.close(); }
});

test.serial('an address check hook that fails keeps a node out of the set', async (t) => {
  const checked = new ServerSet({
    btcds: [a.btcd(), b.btcd()],
    watchdogMs: 60_000,
    check: async (server) => {
      const v = await server.client.validateAddress(server.index === 0 ? 'bcrt1qnotvalidonbcoin' : REGTEST_ADDRESS);
      if (!v.isvalid) throw new Error('btcaddress is not valid on this node');
    },
  });
  t.is((await checked.start())?.name, b.url);
  t.regex(checked.servers[0]!.lastError!.message, /not valid/);
  checked.close();
});
