/**
 * Abuse and slow readers against the real pool (real TCP, bcoin regtest behind it with
 * the hard-target stand-in of test/helpers/hardbits.ts so shares are not blocks):
 * invalid JSON, a 1 MB line with no newline, a flood of 10,000 submits without
 * reading replies, a miner that stops reading, half-open connections. Each abusive
 * client is dropped; a well-behaved miner on the same pool keeps getting work and
 * accepted shares; the pool does not crash.
 */
import test from 'ava';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { StratumClient } from '../ts/miner/client.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS } from './helpers/bcoin.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';

let pool: Pool;
let proxy: HardBits;
let port: number;
let good: StratumClient;
const logger = new MemoryLogger();
const logdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-abuse-'));
const sockets: net.Socket[] = [];

test.before(async () => {
  const node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
  proxy = await hardBitsProxy({ host: node.host, port: node.port });
  pool = await Pool.start({
    btcd: [{ url: proxy.url, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 0.0001, mindiff: 1e-9, logdir, updateInterval: 600,
  }, { logger, authTimeoutMs: 2000, server: { highdiffPort: 65535, sendTimeoutMs: 1500, maxPendingBytes: 64 * 1024 } });
  port = pool.addresses[0]!.port;
  good = await StratumClient.connect(port);
  await good.subscribe();
  await good.authorize('good.w1');
  await good.nextJob(5000, true);
});
test.after.always(async () => {
  good?.close();
  for (const s of sockets) s.destroy();
  await pool?.stop();
  await proxy?.close();
  await stopAllBcoins();
  rmSync(logdir, { recursive: true, force: true });
});

function raw(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
    sockets.push(s);
  });
}
/**
 * Resolves with the pool's close reason for the connection behind local socket `s`
 * (watched on the server side: a client that never reads would not notice the FIN).
 */
function dropped(s: net.Socket, ms = 5000): Promise<string | null> {
  const localPort = s.localPort;
  return new Promise((resolve) => {
    const timer = setTimeout(() => { pool.server.off('close', onClose); resolve(null); }, ms);
    const onClose = (conn: { port: number }, reason: string) => {
      if (conn.port !== localPort) return;
      clearTimeout(timer);
      pool.server.off('close', onClose);
      resolve(reason);
    };
    pool.server.on('close', onClose);
  });
}

/** The good miner still gets accepted shares, promptly. */
async function goodStillMines(t: import('ava').ExecutionContext, label: string) {
  const s = good.grind({ job: good.job!, start: Math.floor(Math.random() * 1e9) });
  const t0 = Date.now();
  const r = await good.submit('good.w1', s.params, 2000);
  t.is(r.result, true, `${label}: good miner's share accepted`);
  t.true(Date.now() - t0 < 1000, `${label}: reply in ${Date.now() - t0} ms`);
}

test.serial('invalid JSON: that client is dropped, the others keep mining', async (t) => {
  const s = await raw();
  const why = dropped(s);
  s.write('{"id":1,"method":"mining.subscribe","params":[]}\n{this is not json}\n');
  t.is(await why, 'invalid json');
  await goodStillMines(t, 'invalid json');
});

test.serial('a 1 MB line with no newline: dropped', async (t) => {
  const s = await raw();
  const why = dropped(s);
  s.write('{"id":1,"method":"mining.subscribe","params":["' + 'a'.repeat(1 << 20));
  t.is(await why, 'line too long');
  await goodStillMines(t, '1 MB line');
});

test.serial('10,000 submits flooded without reading replies: dropped; the pool stays responsive', async (t) => {
  const flooder = await StratumClient.connect(port);
  await flooder.subscribe();
  await flooder.authorize('flood.w1');
  flooder.socket.pause(); // never read again
  const why = dropped(flooder.socket, 15_000);
  const line = JSON.stringify({ id: 4, method: 'mining.submit', params: ['flood.w1', flooder.job?.jobId ?? '00', '0000000000000000', '00000000', '00000000'] }) + '\n';
  const burst = line.repeat(10_000);
  flooder.socket.write(burst);
  await goodStillMines(t, 'during the flood');
  const reason = await why;
  // the connector's rate limit, or (if the lines trickle in on a loaded machine) the
  // stratifier's invalid-submit burst limit
  t.regex(String(reason), /^(flood|invalid share flood)$/, 'flooder dropped by flood control');
  await goodStillMines(t, 'after the flood');
  t.true((pool.server.stats().dropped[String(reason)] ?? 0) >= 1);
});

test.serial('500 invalid submits in one read: dropped once, logged once (not for every submit read with it)', async (t) => {
  const bad = await StratumClient.connect(port);
  await bad.subscribe();
  await bad.authorize('invalid.w1');
  const why = dropped(bad.socket, 15_000);
  const dropping = () => logger.lines.filter((l) => /invalid submits in a row, dropping/.test(l.msg));
  const before = dropping().length;
  // shares on the real job that miss its target: they are judged in batches, so some are
  // still being judged when the one that drops the client is
  const job = await bad.nextJob(5000, true);
  const lines520 = Array.from({ length: 520 }, (_, i) => JSON.stringify({ id: 9 + i, method: 'mining.submit',
    params: ['invalid.w1', job.jobId, (i + 1).toString(16).padStart(16, '0'), job.params[7], '00000000'] }) + '\n');
  bad.socket.write(lines520.join(''));
  t.is(String(await why), 'invalid share flood');
  await new Promise((r) => setTimeout(r, 200));
  const lines = dropping().slice(before);
  t.is(lines.length, 1, lines.map((l) => l.msg).join('\n'));
  await goodStillMines(t, 'after it');
});

test.serial('a miner that stops reading never delays work to the others and is dropped after the send timeout', async (t) => {
  const slow = await StratumClient.connect(port);
  await slow.subscribe();
  await slow.authorize('slow.w1');
  slow.socket.pause();
  const why = dropped(slow.socket, 20_000);
  // New work reaches the good miner promptly while the slow one is not reading.
  for (let i = 0; i < 20; i++) {
    const next = good.nextJob(2000);
    await pool.generator.update();
    await next;
  }
  // Fill the slow reader's pipe past the kernel's socket buffers: operator messages to
  // everyone, 40 KB every 5 ms (16 MB over 2 s). The good miner reads them all as they
  // come; the slow one's output backs up past its bound (64 KiB here).
  const big = 'x'.repeat(40_000);
  const t0 = Date.now();
  let got = 0;
  const counter = (m: Record<string, unknown>) => { if (m.method === 'client.show_message') got++; };
  good.on('message', counter);
  for (let i = 0; i < 400; i++) {
    pool.stratifier.showMessage(big);
    await new Promise((r) => setTimeout(r, 5));
  }
  while (got < 400 && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
  good.off('message', counter);
  t.is(got, 400, 'the good miner received every message');
  await goodStillMines(t, 'while the slow reader is backed up');
  t.regex(String(await why), /output bound exceeded|send timeout/, 'slow reader dropped');
  t.true(pool.server.connections.size >= 1);
});

test.serial('half-open and silent connections are dropped by the auth deadline', async (t) => {
  const silent = await raw();
  const subscribedOnly = await raw();
  const [a, b] = [dropped(silent, 6000), dropped(subscribedOnly, 6000)];
  subscribedOnly.write('{"id":1,"method":"mining.subscribe","params":[]}\n');
  t.is(await a, 'not authorised in time');
  t.is(await b, 'not authorised in time');
  await goodStillMines(t, 'after half-open clients');
});
