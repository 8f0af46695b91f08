/**
 * StratumServer (ts/stratum, ckpool's connector) over real TCP sockets.
 *
 * The real pool (the stratifier) is not wired in here: each test attaches a small
 * echo handler of its own to the server's 'message' event, which answers every line
 * with `{"id":<id>,"result":<the message>,"error":null}` (optionally padded). That is
 * enough to exercise framing, the drop rules, bounded output and the send timeout.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { isCkpoolError } from '../ts/errors.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { freePorts } from '../ts/node/ports.js';
import {
  CloseReason,
  FeedResult,
  INVALID_JSON_REPLY,
  LineFramer,
  StratumServer,
  type StratumConnection,
  type StratumServerOptions,
} from '../ts/stratum/index.js';

// --- helpers ----------------------------------------------------------------

interface Harness {
  server: StratumServer;
  port: number;
  logger: MemoryLogger;
  /** Every 'close' event, in order. */
  closes: { conn: StratumConnection; reason: string }[];
  /** Resolves with the reason of the next 'close' event of connection `id`. */
  closeOf(id: number): Promise<string>;
  /** Connect a test client and wait for its server-side connection. */
  connect(opts?: { paused?: boolean }): Promise<[TestClient, StratumConnection]>;
}

/** A server on 127.0.0.1:<ephemeral> with an echo handler; closed when the test ends. */
async function start(
  t: ExecutionContext,
  opts: Partial<StratumServerOptions> = {},
  echo: { pad?: number; handler?: (conn: StratumConnection, msg: Record<string, unknown>) => void } = {},
): Promise<Harness> {
  const logger = new MemoryLogger();
  const server = new StratumServer({ urls: ['127.0.0.1:0'], logger, ...opts });
  const closes: Harness['closes'] = [];
  const closeWaiters = new Map<number, (reason: string) => void>();
  const accepted: StratumConnection[] = [];
  const padding = echo.pad ? 'p'.repeat(echo.pad) : undefined;
  server.on('message', (conn, msg) => {
    if (echo.handler) return echo.handler(conn, msg);
    conn.sendJson(padding === undefined
      ? { id: msg.id ?? null, result: msg, error: null }
      : { id: msg.id ?? null, result: msg, error: null, pad: padding });
  });
  server.on('connection', (conn) => accepted.push(conn));
  server.on('close', (conn, reason) => {
    closes.push({ conn, reason });
    closeWaiters.get(conn.id)?.(reason);
  });
  await server.listen();
  t.teardown(() => server.close());
  return {
    server,
    port: server.addresses[0]!.port,
    logger,
    closes,
    closeOf: (id) => {
      const done = closes.find((c) => c.conn.id === id);
      if (done) return Promise.resolve(done.reason);
      return new Promise((resolve) => closeWaiters.set(id, resolve));
    },
    connect: async (copts = {}) => {
      const c = await client(t, server.addresses[0]!.port, copts);
      // The client's 'connect' can come before the server's 'connection': match by port.
      let conn: StratumConnection | undefined;
      await until(() => (conn = accepted.find((a) => a.port === c.socket.localPort)) !== undefined);
      return [c, conn!];
    },
  };
}

/** A raw TCP test client that collects the lines it receives. */
class TestClient {
  readonly socket: net.Socket;
  readonly lines: string[] = [];
  ended = false;
  readonly closed: Promise<void>;
  private buf = '';
  private waiters: (() => void)[] = [];

  constructor(port: number, opts: { paused?: boolean } = {}) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {}); // resets from a dropping server are expected
    this.socket.setEncoding('utf8');
    this.socket.on('data', (s: string) => {
      this.buf += s;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => this.socket.on('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
    if (opts.paused) this.socket.pause();
  }

  static async open(port: number, opts: { paused?: boolean } = {}): Promise<TestClient> {
    const c = new TestClient(port, opts);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until `n` lines have arrived (or the socket closed). */
  async waitLines(n: number, ms = 3000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.lines.length < n && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} lines (got ${this.lines.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.lines.slice(0, n);
  }

  /** Send one request and wait for its echo; returns the round-trip time in ms. */
  async roundTrip(id: number): Promise<number> {
    const before = this.lines.length;
    const t0 = performance.now();
    this.write(`{"id":${id},"method":"mining.ping","params":[]}\n`);
    await this.waitLines(before + 1);
    const reply = JSON.parse(this.lines[before]!) as { id: number };
    if (reply.id !== id) throw new Error(`echo for ${reply.id}, expected ${id}`);
    return performance.now() - t0;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function client(t: ExecutionContext, port: number, opts: { paused?: boolean } = {}): Promise<TestClient> {
  return TestClient.open(port, opts).then((c) => {
    t.teardown(() => c.destroy());
    return c;
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const submit = (id: number) =>
  `{"id":${id},"method":"mining.submit","params":["worker.1","1a2b3c","00000000","64f0a1b2","1d2e3f40"]}\n`;

// --- timing-sensitive abuse tests run first, one at a time -------------------

test.serial('output pushed to a client that does not read (10 MB of broadcasts) drops it at the output bound; a second client keeps getting echoes', async (t) => {
  // Loopback TCP absorbs about 4 MB for a reader that does not read, so 10,000 lines of
  // ~1 KB (a real pool's notify is about that size) go far past the kernel's buffers
  // plus maxPendingBytes. Replies to a client's own lines cannot get there: it stops
  // being read at pauseOutputBytes (test/stratum-fairness.test.ts); output the server
  // pushes on its own can.
  const h = await start(t, { maxPendingBytes: 256 * 1024 });
  const [good, goodConn] = await h.connect();
  const [flood, floodConn] = await h.connect({ paused: true });
  const line = JSON.stringify({ id: null, method: 'mining.notify', params: ['p'.repeat(1000)] });
  for (let i = 0; i < 10_000 && !floodConn.closed; i++) floodConn.send(line);
  t.is(await h.closeOf(floodConn.id), CloseReason.OUTPUT_BOUND);
  for (let i = 0; i < 20; i++) await good.roundTrip(2_000_000 + i);
  t.false(goodConn.closed);
  t.is(h.server.stats().dropped[CloseReason.OUTPUT_BOUND], 1);
  t.is(h.server.stats().clients, 1);
  t.is(floodConn.send('{"id":1}'), false, 'send on a dropped client returns false');
  flood.socket.resume(); // a paused socket would never notice the close
  await flood.closed;
});

test.serial('flood control: a burst beyond floodBurst lines is dropped as "flood"; paced lines are not', async (t) => {
  const h = await start(t, { floodBurst: 100, floodRate: 1000 });
  const [paced, pacedConn] = await h.connect();
  const [flood, floodConn] = await h.connect({ paused: true });
  let lines = '';
  for (let i = 0; i < 500; i++) lines += submit(i);
  flood.write(lines);
  t.is(await h.closeOf(floodConn.id), CloseReason.FLOOD);
  // 60 round trips, then 200 ms for the bucket to refill, then 60 more: never beyond it
  for (let i = 0; i < 60; i++) await paced.roundTrip(3_000_000 + i);
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 60; i++) await paced.roundTrip(4_000_000 + i);
  t.false(pacedConn.closed);
  t.is(h.server.stats().dropped[CloseReason.FLOOD], 1);
  flood.socket.resume();
  await flood.closed;
});

test.serial('a slow reader is dropped after sendTimeoutMs and never delays the others', async (t) => {
  // Each request from the slow client gets 80 lines of 64 KB (5 MB): the kernel
  // takes ~4 MB, the rest stays queued (under maxPendingBytes) and makes no progress.
  const big = JSON.stringify({ id: null, method: 'client.show_message', params: ['x'.repeat(64 * 1024)] });
  // the good client's tight round-trip loop would trip flood control: not what this tests
  const h = await start(t, { sendTimeoutMs: 300, maxPendingBytes: 16 * 1024 * 1024, floodRate: 1e9 }, {
    handler: (conn, msg) => {
      if (msg.method === 'big') for (let i = 0; i < 80; i++) conn.send(big);
      else conn.sendJson({ id: msg.id, result: msg, error: null });
    },
  });
  const good = await client(t, h.port);
  const [slow, slowConn] = await h.connect({ paused: true });
  const t0 = Date.now();
  slow.write('{"id":1,"method":"big","params":[]}\n');

  const rtts: number[] = [];
  while (!slowConn.closed && Date.now() - t0 < 3000) rtts.push(await good.roundTrip(rtts.length + 10));
  t.is(await h.closeOf(slowConn.id), CloseReason.SEND_TIMEOUT);
  const elapsed = Date.now() - t0;
  t.true(elapsed >= 300 && elapsed < 1500, `dropped after ${elapsed} ms`);
  t.true(rtts.length > 5, `${rtts.length} echoes while the slow client was blocked`);
  t.true(Math.max(...rtts) < 200, `slowest echo ${Math.max(...rtts).toFixed(1)} ms`);
  t.is(h.server.stats().dropped[CloseReason.SEND_TIMEOUT], 1);
  t.is(h.server.connections.size, 1);
  t.is(h.server.stats().blocked, 0);
});

test.serial('batched end-of-tick writes: what a full socket does not take is queued in Node, and every byte arrives in order', async (t) => {
  // Two clients that do not read get 2000 numbered ~6 KB lines each, 10 per tick (one
  // 60 KB text per tick). Each tick's text goes out in the native batch (one send(2)
  // per socket) while Node has nothing queued for the socket; the batch send that meets
  // the full kernel buffer leaves a remainder, which is queued in Node, and so is every
  // later tick's text. The second client also gets pre-encoded Buffers in between.
  // Then the clients read: every line, whole and in order.
  const pad = 'z'.repeat(6000);
  const h = await start(t, { maxPendingBytes: 64 * 1024 * 1024, floodRate: 1e9 }, {
    handler: (conn, msg) => {
      if (msg.method !== 'fill') return;
      const mixed = msg.id === 2;
      let i = 0;
      const tick = (): void => {
        for (const end = i + 10; i < end; i++) {
          const line = JSON.stringify({ id: i, pad });
          conn.send(mixed && i % 7 === 3 ? Buffer.from(line) : line);
        }
        if (i < 2000) setImmediate(tick);
      };
      tick();
    },
  });
  const [a] = await h.connect({ paused: true });
  const [b] = await h.connect({ paused: true });
  a.write('{"id":1,"method":"fill"}\n');
  b.write('{"id":2,"method":"fill"}\n');
  await new Promise((r) => setTimeout(r, 300)); // let both fill their socket buffers
  a.socket.resume();
  b.socket.resume();
  for (const c of [a, b]) {
    await until(() => c.lines.length >= 2000, 10_000);
    const ids = c.lines.map((l) => (JSON.parse(l) as { id: number; pad: string }));
    t.deepEqual(ids.map((m) => m.id), Array.from({ length: 2000 }, (_, i) => i));
    t.true(ids.every((m) => m.pad === pad));
  }
});

// --- framing --------------------------------------------------------------------

test('framing: split packets, several lines per packet, \\r\\n and empty lines', async (t) => {
  const h = await start(t);
  const c = await client(t, h.port);
  const line = '{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}\n';
  for (const ch of line) {
    c.write(ch); // one byte per packet (TCP_NODELAY on the client)
    await sleep(0);
  }
  c.write('{"id":2,"method":"a"}\n{"id":3,"method":"b"}\r\n\n\r\n   \n{"id":4,"met');
  await sleep(20);
  c.write('hod":"c"}\r');
  await sleep(20);
  c.write('\n{"id":"five","method":"d"}\n');
  const got = (await c.waitLines(5)).map((l) => JSON.parse(l) as { id: unknown; result: { method: string } });
  t.deepEqual(got.map((r) => r.id), [1, 2, 3, 4, 'five']);
  t.deepEqual(got.map((r) => r.result.method), ['mining.subscribe', 'a', 'b', 'c', 'd']);
  await sleep(30);
  t.is(c.lines.length, 5, 'empty and blank lines produce nothing');
  t.is(h.server.connections.size, 1);
});

test('the raw line reaches the handler once, without its line ending', async (t) => {
  const raws: string[] = [];
  const h = await start(t, {}, { handler: () => {} });
  h.server.on('message', (_c, _m, raw) => raws.push(raw));
  const c = await client(t, h.port);
  c.write('{"id":7,"method":"x"}\r\n{"id":8}\n');
  await until(() => raws.length === 2);
  t.deepEqual(raws, ['{"id":7,"method":"x"}', '{"id":8}']);
});

test('a line of exactly maxLineBytes is accepted, one byte more drops the client', async (t) => {
  const h = await start(t, { maxLineBytes: 1024 });
  const mk = (n: number) => { const head = '{"id":1,"p":"'; return head + 'x'.repeat(n - head.length - 2) + '"}'; };
  t.is(mk(1024).length, 1024);
  const ok = await client(t, h.port);
  ok.write(mk(1024) + '\r\n');
  await ok.waitLines(1);
  t.is(JSON.parse(ok.lines[0]!).id, 1);

  const [bad, conn] = await h.connect();
  bad.write(mk(1025) + '\n');
  t.is(await h.closeOf(conn.id), CloseReason.LINE_TOO_LONG);
  await bad.closed;
  t.false([...h.server.connections.values()].some((c) => c.id === conn.id));
});

test('1 MB with no newline drops the client; lines before it in the stream were delivered', async (t) => {
  const seen: unknown[] = [];
  const h = await start(t, {}, {
    handler: (conn, msg) => {
      seen.push(msg.method);
      conn.sendJson({ id: msg.id, result: true, error: null });
    },
  });
  const [c, conn] = await h.connect();
  c.write('{"id":1,"method":"first"}\n');
  c.write(Buffer.alloc(1024 * 1024, 0x61));
  t.is(await h.closeOf(conn.id), CloseReason.LINE_TOO_LONG);
  await c.closed;
  t.deepEqual(seen, ['first']);
  t.is(h.server.stats().dropped[CloseReason.LINE_TOO_LONG], 1);
  const other = await client(t, h.port);
  t.true((await other.roundTrip(5)) >= 0, 'the server still answers others');
});

test('invalid JSON: best-effort error reply, then the client is dropped and later lines are ignored', async (t) => {
  const seen: unknown[] = [];
  const h = await start(t, {}, { handler: (_c, m) => seen.push(m.id) });
  const [c, conn] = await h.connect();
  c.write('{"id":1}\n{"id":2,,}\n{"id":3}\n');
  t.is(await h.closeOf(conn.id), CloseReason.INVALID_JSON);
  await c.closed;
  t.deepEqual(seen, [1]);
  t.deepEqual(c.lines, [INVALID_JSON_REPLY.trimEnd()]);
  t.deepEqual(JSON.parse(c.lines[0]!), { id: null, result: null, error: [20, 'Invalid JSON', null] });
});

test('valid JSON that is not an object drops the client', async (t) => {
  const h = await start(t, { replyInvalidJson: false });
  for (const line of ['[1,2,3]', '42', '"mining.subscribe"', 'null', 'true']) {
    const [c, conn] = await h.connect();
    c.write(line + '\n');
    t.is(await h.closeOf(conn.id), CloseReason.NOT_OBJECT, line);
    await c.closed;
    t.deepEqual(c.lines, [], 'no reply with replyInvalidJson: false');
  }
  t.is(h.server.stats().dropped[CloseReason.NOT_OBJECT], 5);
});

// --- connection management ------------------------------------------------------

test('ids start at the number of urls and increase; address, port and serverIndex are reported', async (t) => {
  const logger = new MemoryLogger();
  const server = new StratumServer({ urls: ['127.0.0.1:0', '127.0.0.1:0', '127.0.0.1:0'], logger });
  const conns: StratumConnection[] = [];
  server.on('connection', (c) => conns.push(c));
  const listening: string[][] = [];
  server.on('listening', (u) => listening.push(u));
  await server.listen();
  t.teardown(() => server.close());
  const addrs = server.addresses;
  t.is(addrs.length, 3);
  t.deepEqual(listening, [addrs.map((a) => `127.0.0.1:${a.port}`)]);
  const a = await client(t, addrs[2]!.port);
  await until(() => conns.length === 1);
  const b = await client(t, addrs[0]!.port);
  await until(() => conns.length === 2);
  t.deepEqual(conns.map((c) => c.id), [3, 4]);
  t.deepEqual(conns.map((c) => c.serverIndex), [2, 0]);
  t.is(conns[0]!.address, '127.0.0.1');
  t.is(conns[0]!.port, a.socket.localPort!);
  t.is(conns[1]!.port, b.socket.localPort!);
  t.true(Math.abs(conns[0]!.connectedAt - Date.now()) < 5000);
  t.is(server.connections.get(3), conns[0]);
  t.true(logger.lines.some((l) => l.msg.includes('listening on 127.0.0.1:')));
});

test('maxClients: connections beyond it are closed at once ("server full") and never reach the handler', async (t) => {
  const h = await start(t, { maxClients: 2 });
  const connects: number[] = [];
  h.server.on('connection', (c) => connects.push(c.id));
  const a = await client(t, h.port);
  await client(t, h.port);
  await until(() => connects.length === 2);
  const third = await client(t, h.port);
  await third.closed;
  t.is(connects.length, 2);
  t.is(h.server.stats().dropped[CloseReason.SERVER_FULL], 1);
  t.is(h.closes.length, 0, "no 'close' for a connection that never was one");
  // a slot frees up: accepted again
  a.destroy();
  await until(() => h.server.connections.size === 1);
  const fourth = await client(t, h.port);
  t.true((await fourth.roundTrip(1)) >= 0);
  t.is(h.server.stats().accepted, 3);
});

test('accepting=false: new connections are closed at once, existing ones keep working', async (t) => {
  const h = await start(t);
  const before = await client(t, h.port);
  await until(() => h.server.connections.size === 1);
  h.server.accepting = false;
  const refused = await client(t, h.port);
  await refused.closed;
  t.is(h.server.stats().dropped[CloseReason.NOT_ACCEPTING], 1);
  t.true((await before.roundTrip(9)) >= 0);
  h.server.accepting = true;
  const after = await client(t, h.port);
  t.true((await after.roundTrip(10)) >= 0);
});

test('highdiff: connections on a port above highdiffPort are marked', async (t) => {
  const ports = (await freePorts(2)).sort((x, y) => x - y);
  const p1 = ports[0]!;
  const p2 = ports[1]!;
  const server = new StratumServer({ urls: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`], highdiffPort: p1 });
  const conns: StratumConnection[] = [];
  server.on('connection', (c) => conns.push(c));
  await server.listen();
  t.teardown(() => server.close());
  t.deepEqual(server.addresses.map((a) => a.port), [p1, p2]);
  await client(t, p1);
  await until(() => conns.length === 1);
  await client(t, p2);
  await until(() => conns.length === 2);
  t.deepEqual(conns.map((c) => [c.serverIndex, c.highdiff]), [[0, false], [1, true]]);
});

test('close() destroys every client and emits close once for each', async (t) => {
  const h = await start(t);
  const cs = await Promise.all([client(t, h.port), client(t, h.port), client(t, h.port)]);
  await until(() => h.server.connections.size === 3);
  const ids = [...h.server.connections.keys()];
  await h.server.close();
  t.deepEqual(h.closes.map((c) => c.conn.id).sort(), ids.sort());
  t.true(h.closes.every((c) => c.reason === CloseReason.SERVER_CLOSING && c.conn.closed));
  await Promise.all(cs.map((c) => c.closed));
  t.is(h.server.connections.size, 0);
  await h.server.close(); // idempotent
  t.is(h.closes.length, 3);
  await t.throwsAsync(h.server.listen(), { code: 'CKP_ERR_STRATUM_STATE' });
  await t.throwsAsync(TestClient.open(h.port), { code: 'ECONNREFUSED' });
});

test('conn.close(reason) flushes queued output first; close is emitted once with that reason', async (t) => {
  const h = await start(t, {}, {
    handler: (conn, msg) => {
      conn.sendJson({ id: msg.id, result: 'bye', error: null });
      conn.close('kicked');
      conn.close('again'); // ignored
      t.false(conn.send('{"late":1}'));
    },
  });
  const [c, conn] = await h.connect();
  c.write('{"id":1}\n{"id":2}\n');
  await c.closed;
  t.deepEqual(c.lines, ['{"id":1,"result":"bye","error":null}']);
  t.is(await h.closeOf(conn.id), 'kicked');
  await sleep(20);
  t.is(h.closes.filter((x) => x.conn.id === conn.id).length, 1);
  t.is(conn.closeReason, 'kicked');
});

test('conn.close(reason, true) destroys at once', async (t) => {
  const h = await start(t);
  const [c, conn] = await h.connect();
  conn.close('banned', true);
  t.true(conn.closed);
  t.false(h.server.connections.has(conn.id));
  await c.closed;
  t.is(await h.closeOf(conn.id), 'banned');
});

test('client disconnects and resets: close once, the server keeps running', async (t) => {
  const h = await start(t);
  const [a, ca] = await h.connect();
  a.socket.end();
  t.is(await h.closeOf(ca.id), CloseReason.CLIENT_CLOSED);

  const [b, cb] = await h.connect();
  b.socket.resetAndDestroy(); // RST
  const reason = await h.closeOf(cb.id);
  t.true(reason === CloseReason.CLIENT_CLOSED || reason.startsWith(CloseReason.SOCKET_ERROR), reason);

  // Writes to a client that just went away do not throw either.
  const [d, cd] = await h.connect();
  d.socket.resetAndDestroy();
  await sleep(20);
  for (let i = 0; i < 100; i++) cd.send('{"id":1,"result":true,"error":null}');
  await h.closeOf(cd.id);
  await sleep(20);
  t.is(h.closes.filter((x) => x.conn.id === cd.id).length, 1);
  const e = await client(t, h.port);
  t.true((await e.roundTrip(3)) >= 0);
});

test('a throwing message handler drops only that client', async (t) => {
  const h = await start(t, {}, {
    handler: (conn, msg) => {
      if (msg.method === 'boom') throw new Error('handler bug');
      conn.sendJson({ id: msg.id, result: true, error: null });
    },
  });
  const [bad, conn] = await h.connect();
  const good = await client(t, h.port);
  bad.write('{"id":1,"method":"boom"}\n');
  t.is(await h.closeOf(conn.id), CloseReason.INTERNAL_ERROR);
  t.true(h.logger.lines.some((l) => l.msg.includes('handler bug')));
  t.true((await good.roundTrip(2)) >= 0);
});

test('send(): a Buffer is written as is and a missing newline is added', async (t) => {
  const h = await start(t, {}, { handler: () => {} });
  const [c, conn] = await h.connect();
  const shared = Buffer.from('{"id":null,"method":"mining.notify","params":[]}\n');
  t.true(conn.send(shared));
  t.true(conn.send(Buffer.from('{"a":1}')));
  t.true(conn.send('{"b":2}'));
  t.true(conn.sendJson({ c: 3 }));
  t.deepEqual(await c.waitLines(4), [shared.toString().trimEnd(), '{"a":1}', '{"b":2}', '{"c":3}']);
  const st = h.server.stats();
  t.is(st.bytesOut, shared.length + 8 + 8 + 8);
});

test('broadcast(): one encoding to every open connection, or a filtered subset', async (t) => {
  const h = await start(t, {}, { handler: () => {} });
  const pairs = await Promise.all([h.connect(), h.connect(), h.connect()]);
  const [, skip] = pairs[1]!;
  t.is(h.server.broadcast('{"id":null,"method":"mining.notify","params":["1"]}'), 3);
  t.is(h.server.broadcast(Buffer.from('{"n":2}'), (c) => c !== skip), 2);
  for (const [c, conn] of pairs) {
    const want = conn === skip ? 1 : 2;
    t.is((await c.waitLines(want)).length, want);
  }
  t.is(pairs[0]![0].lines[1], '{"n":2}');
});

test('a graceful close to a client that never reads or closes is destroyed after closeLingerMs', async (t) => {
  const h = await start(t, { closeLingerMs: 100 });
  const [c, conn] = await h.connect({ paused: true });
  c.write('not json\n');
  t.is(await h.closeOf(conn.id), CloseReason.INVALID_JSON);
  t.is(h.server.stats().closing, 1, 'waiting for the peer to close its side');
  await until(() => h.server.stats().closing === 0, 2000);
  c.socket.resume();
  await c.closed;
  t.is(c.lines[0], INVALID_JSON_REPLY.trimEnd());
});

test('half-open: a client that says nothing is kept (auth timeouts are the stratifier\'s), with TCP keepalive on', async (t) => {
  const h = await start(t, { keepAliveMs: 37_000, sendTimeoutMs: 50 });
  const [c, conn] = await h.connect();
  await sleep(250); // several sweeps
  t.false(conn.closed);
  t.is(h.server.connections.size, 1);

  // Linux: the accepted socket's row in /proc/net/tcp shows timer 2 (keepalive) armed
  // for about keepAliveMs (in USER_HZ = 100 ticks per second).
  if (!existsSync('/proc/net/tcp')) return t.pass('no /proc/net/tcp here');
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const row = readFileSync('/proc/net/tcp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${hex(h.port)}`) && f[2]?.endsWith(`:${hex(c.socket.localPort!)}`));
  t.truthy(row, 'server-side socket found in /proc/net/tcp');
  const [timer, when] = row![5]!.split(':') as [string, string];
  t.is(timer, '02', 'keepalive timer armed');
  const seconds = parseInt(when, 16) / 100;
  t.true(seconds > 30 && seconds <= 37.5, `keepalive due in ${seconds} s`);
});

test('stats count bytes in and out and drops by reason', async (t) => {
  const h = await start(t, {}, { handler: (conn) => conn.send('{"ok":true}') });
  const c = await client(t, h.port);
  c.write('{"id":1}\n{"id":2}\n');
  await c.waitLines(2);
  const st = h.server.stats();
  t.is(st.bytesIn, 18);
  t.is(st.bytesOut, 24);
  t.is(st.clients, 1);
  t.is(st.accepted, 1);
  c.destroy();
  await until(() => h.closes.length === 1);
  t.deepEqual(h.server.stats().dropped, { [CloseReason.CLIENT_CLOSED]: 1 });
});

// --- errors -----------------------------------------------------------------------

test('listen() rejects with a coded error naming the url when a port is taken', async (t) => {
  const h = await start(t);
  const url = `127.0.0.1:${h.port}`;
  const other = new StratumServer({ urls: ['127.0.0.1:0', url] });
  const err = await t.throwsAsync(other.listen());
  t.true(isCkpoolError(err, 'CKP_ERR_STRATUM_LISTEN'));
  t.true(err!.message.includes(url), err!.message);
  t.deepEqual(other.addresses, [], 'the listener that did bind was closed again');
  await other.close();
});

test('bad urls and options are coded errors', (t) => {
  t.throws(() => new StratumServer({ urls: [] }), { code: 'CKP_ERR_STRATUM_URL' });
  t.throws(() => new StratumServer({ urls: ['localhost'] }), { code: 'CKP_ERR_STRATUM_URL', message: /localhost/ });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:99999'] }), { code: 'CKP_ERR_STRATUM_URL' });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], maxLineBytes: 0 }), { code: 'CKP_ERR_STRATUM_OPTION' });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], sendTimeoutMs: Number.NaN }), { code: 'CKP_ERR_STRATUM_OPTION' });
  t.notThrows(() => new StratumServer({ urls: ['[::1]:3333', 'stratum.example:3334', '0.0.0.0:0'] }));
});

// --- worker threads: id progressions, serve()/adopt(), handoff ------------------------

test('idStart/idStep: ids follow the given progression; bad values are coded errors', async (t) => {
  const h = await start(t, { idStart: 7, idStep: 3 });
  const ids: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [, conn] = await h.connect();
    ids.push(conn.id);
  }
  t.deepEqual(ids, [7, 10, 13]);
  // the default: from the number of urls, step 1 (see 'ids start at the number of urls')
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], idStep: 0 }), { code: 'CKP_ERR_STRATUM_OPTION' });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], idStart: -1 }), { code: 'CKP_ERR_STRATUM_OPTION' });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], idStep: 1.5 }), { code: 'CKP_ERR_STRATUM_OPTION' });
});

test('serve() + adopt(): a server with no listeners serves sockets accepted elsewhere, also on a duplicated descriptor', async (t) => {
  const { native } = await import('../ts/native/binding.js');
  const logger = new MemoryLogger();
  // a worker thread's server: the urls only name the listeners (whose ports it never binds)
  const server = new StratumServer({ urls: ['127.0.0.1:3333', '127.0.0.1:3334'], logger, idStart: 4, idStep: 3 });
  const early = new net.Socket();
  server.adopt(early, 0);
  t.true(early.destroyed, 'a socket adopted before serve() is destroyed');
  const conns: StratumConnection[] = [];
  server.on('connection', (c) => conns.push(c));
  server.on('message', (conn, msg) => conn.sendJson({ id: msg.id ?? null, result: conn.id, error: null }));
  server.serve();
  t.teardown(() => server.close());
  t.throws(() => server.serve(), { code: 'CKP_ERR_STRATUM_STATE' });
  await t.throwsAsync(server.listen(), { code: 'CKP_ERR_STRATUM_STATE' });
  t.deepEqual(server.addresses, [], 'no listeners of its own');

  // "the main thread": a plain listener; the first socket is adopted as it is, the second
  // on a duplicate of its descriptor (the original destroyed), as ts/pool/workers.ts does
  let n = 0;
  const front = net.createServer((sock) => {
    if (n++ === 0) return server.adopt(sock, 1, true);
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    const copy = native.dupFd(fd);
    sock.destroy();
    server.adopt(new net.Socket({ fd: copy, readable: true, writable: true }), 0, false);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => front.close(() => r())));
  const port = (front.address() as net.AddressInfo).port;
  const a = await client(t, port);
  await until(() => conns.length === 1);
  const b = await client(t, port);
  await until(() => conns.length === 2);
  t.deepEqual(conns.map((c) => [c.id, c.serverIndex, c.highdiff]), [[4, 1, true], [7, 0, false]]);
  t.is(conns[1]!.address, '127.0.0.1');
  t.is(conns[1]!.port, b.socket.localPort!);
  for (const [c, id] of [[a, 4], [b, 7]] as const) {
    c.write('{"id":1,"method":"mining.ping","params":[]}\n');
    await c.waitLines(1);
    t.deepEqual(JSON.parse(c.lines[0]!), { id: 1, result: id, error: null });
  }
  t.is(server.stats().accepted, 2);
  // the adopted connection closes like any other
  const closed = new Promise<string>((r) => server.once('close', (_c, reason) => r(reason)));
  b.destroy();
  t.is(await closed, CloseReason.CLIENT_CLOSED);
  await server.close();
  // after close an adopted socket is destroyed at once
  const late = new net.Socket();
  server.adopt(late, 0);
  t.true(late.destroyed);
  await a.closed;
});

test('handoff: "taken" leaves the socket to the callee, "full" refuses it as server full, "local" serves it here', async (t) => {
  const verdicts: ('taken' | 'full' | 'local')[] = ['taken', 'full', 'local'];
  const taken: net.Socket[] = [];
  const seen: [number, boolean][] = [];
  const h = await start(t, {
    highdiffPort: 65535,
    handoff: (socket, serverIndex, highdiff) => {
      seen.push([serverIndex, highdiff]);
      const v = verdicts.shift() ?? 'local';
      if (v === 'taken') {
        taken.push(socket);
        socket.write('{"id":null,"method":"client.show_message","params":["elsewhere"]}\n');
      }
      return v;
    },
  });
  const connects: number[] = [];
  h.server.on('connection', (c) => connects.push(c.id));
  // taken: the server never serves it; the callee owns the socket
  const a = await client(t, h.port);
  await a.waitLines(1);
  t.deepEqual(JSON.parse(a.lines[0]!).params, ['elsewhere']);
  t.is(taken.length, 1);
  t.is(h.server.connections.size, 0);
  t.is(h.server.stats().accepted, 1, 'counted as accepted here');
  // full: closed at once, counted as a server-full drop
  const b = await client(t, h.port);
  await b.closed;
  t.is(h.server.stats().dropped[CloseReason.SERVER_FULL], 1);
  // local: served as usual
  const c = await client(t, h.port);
  t.true((await c.roundTrip(5)) >= 0);
  t.deepEqual(connects, [1]);
  t.is(h.server.stats().accepted, 2);
  t.deepEqual(seen, [[0, false], [0, false], [0, false]]);
  // not asked while not accepting
  h.server.accepting = false;
  const d = await client(t, h.port);
  await d.closed;
  t.is(seen.length, 3);
  // the taken socket stays the callee's: closing the server does not touch it (and, being
  // a connection of the listener, holds up its close until the callee lets go of it —
  // which is why ts/pool/workers.ts destroys its socket once the descriptor is duplicated)
  let closed = false;
  const closing = h.server.close().then(() => { closed = true; });
  await sleep(100);
  t.false(taken[0]!.destroyed);
  t.false(closed);
  taken[0]!.destroy();
  await closing;
  await a.closed;
});

// --- the framer on its own -----------------------------------------------------------

test('LineFramer: tails across chunks, limits, and stopping early', (t) => {
  const f = new LineFramer(10);
  const got: string[] = [];
  const push = (_: null, l: string) => { got.push(l); return l !== 'stop'; };
  t.is(f.feed(Buffer.from('ab'), null, push), FeedResult.OK);
  t.is(f.buffered, 2);
  t.is(f.feed(Buffer.from('c\r\n\nde'), null, push), FeedResult.OK);
  t.deepEqual(got, ['abc']);
  t.is(f.feed(Buffer.from('\nstop\nlost\n'), null, push), FeedResult.STOPPED);
  t.deepEqual(got, ['abc', 'de', 'stop']);
  f.reset();
  t.is(f.feed(Buffer.from('0123456789\r'), null, push), FeedResult.OK, 'max bytes + \\r may wait for its \\n');
  t.is(f.feed(Buffer.from('\n'), null, push), FeedResult.OK);
  t.is(got.at(-1), '0123456789');
  t.is(f.feed(Buffer.from('0123456789a'), null, push), FeedResult.OK);
  t.is(f.feed(Buffer.from('b'), null, push), FeedResult.TOO_LONG);
  f.reset();
  t.is(f.feed(Buffer.from('ok\n0123456789ab\nnever\n'), null, push), FeedResult.TOO_LONG);
  t.is(got.at(-1), 'ok');
});
