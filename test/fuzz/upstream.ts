/**
 * Fuzz target: what an upstream pool sends to a proxy (-p). A real ProxyMode connects to
 * a loopback upstream run here (the harness: it answers the proxy's handshake like a
 * pool, then writes the fuzz input to the proxy as upstream lines); one local miner is
 * connected through the proxy, so notifies, difficulty changes and messages reach a
 * stratifier and a client. After the input, a `mining.ping` with a fresh id: the proxy
 * must answer it (every line before it handled, nothing hung). Should the input make
 * the proxy drop the link (client.reconnect, garbage it gives up on), it must come back
 * on its own and answer on the new connection.
 *
 * Invariants: no exception escapes the proxy (an uncaught one ends jazzer's run as a
 * finding), the proxy answers within seconds, and the local miner is never dropped by
 * anything an upstream says.
 */
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../ts/config/parse.js';
import { NullLogger } from '../../ts/log/logger.js';
import { StratumClient } from '../../ts/miner/client.js';
import { ProxyMode } from '../../ts/modes/proxy.js';
import { check } from './invariant.js';

/** A job the proxy can use (hard bits: no share is a block), as a real pool sends it. */
export const GOOD_NOTIFY = JSON.stringify({ id: null, method: 'mining.notify', params: ['fz1', '00'.repeat(32),
  '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff1003',
  'ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000', [], '20000000', '1d00ffff',
  Math.floor(Date.now() / 1000).toString(16), true] });

let conn: net.Socket | null = null;
let connected: (() => void) | null = null;
const waiting = new Map<string, () => void>();

const upstream = net.createServer((sock) => {
  sock.setEncoding('utf8');
  sock.on('error', () => undefined);
  let buf = '';
  sock.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const send = (o: unknown) => sock.write(JSON.stringify(o) + '\n');
      if (m.method === 'mining.configure') send({ id: m.id, result: { 'version-rolling': true, 'version-rolling.mask': '1fffe000' }, error: null });
      else if (m.method === 'mining.subscribe') send({ id: m.id, result: [[['mining.notify', 'fz']], 'f00dbabe', 8], error: null });
      else if (m.method === 'mining.authorize') {
        send({ id: m.id, result: true, error: null });
        send({ id: null, method: 'mining.set_difficulty', params: [0.001] });
        sock.write(GOOD_NOTIFY + '\n');
        conn = sock;
        connected?.();
      } else if (m.method === 'mining.submit') send({ id: m.id, result: true, error: null });
      else if (m.result === 'pong' && typeof m.id === 'string') waiting.get(m.id)?.();
    }
  });
  sock.on('close', () => { if (conn === sock) conn = null; });
});
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
upstream.unref();
const port = (upstream.address() as net.AddressInfo).port;

const config = {
  ...parseConfig(JSON.stringify({ proxy: [{ url: `127.0.0.1:${port}`, auth: 'fuzz', pass: 'x' }], logdir: mkdtempSync(path.join(tmpdir(), 'ckpool-ts-fuzz-up-')), startdiff: 0.001, mindiff: 1e-9 }), 'proxy', 'fuzz.conf'),
  serverurl: ['127.0.0.1:0'],
};
const proxy = await ProxyMode.start(config, { logger: new NullLogger(), server: { highdiffPort: 65535 }, retryMs: 20 });
await proxy.waitReady(10_000);
const miner = await StratumClient.connect(proxy.addresses[0]!.port);
miner.socket.unref();
await miner.subscribe();
await miner.authorize('fuzz.w1');

function upstreamReady(ms: number): Promise<net.Socket> {
  if (conn) return Promise.resolve(conn);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the proxy did not reconnect to its upstream')), ms);
    connected = () => {
      clearTimeout(t);
      connected = null;
      resolve(conn!);
    };
  });
}

let seq = 0;
async function ping(ms: number): Promise<boolean> {
  const sock = await upstreamReady(ms);
  const id = `sync-${++seq}`;
  return new Promise((resolve) => {
    const t = setTimeout(() => { waiting.delete(id); resolve(false); }, ms);
    waiting.set(id, () => { clearTimeout(t); waiting.delete(id); resolve(true); });
    sock.write(JSON.stringify({ id, method: 'mining.ping', params: [] }) + '\n');
  });
}

export async function fuzz(data: Buffer): Promise<void> {
  const sock = await upstreamReady(4000);
  sock.write(data);
  sock.write('\n');
  // an answer on this connection, or (if the input made the proxy leave it) on the next
  let answered = await ping(2000);
  if (!answered) answered = await ping(4000);
  check(answered, 'the proxy stopped answering its upstream');
  check(!miner.closed, 'the local miner was dropped because of what the upstream said');
  // back to a good job for the next input
  (await upstreamReady(4000)).write(GOOD_NOTIFY + '\n');
}

/** For the ava properties: stop the proxy and the harness so the test process can end. */
export async function closeUpstreamTarget(): Promise<void> {
  miner.close();
  await proxy.stop();
  upstream.close();
}
