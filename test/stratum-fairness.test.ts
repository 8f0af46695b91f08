/**
 * Fair service in the stratum server (ts/stratum/fairness.ts, issue 14): a client that
 * floods lines does not delay a quiet one, a client over its output bound stops being
 * read and resumes after draining, and no line is lost or reordered within a connection.
 *
 * Real TCP sockets against the real StratumServer. As in stratum-server.test.ts the
 * stratifier is not wired in: the 'message' handler here echoes each line and records
 * the order in which the server handed lines to it. Nothing here asserts a duration:
 * the assertions are about order and counts.
 */
import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { MemoryLogger } from '../ts/log/logger.js';
import { CloseReason, StratumServer, type StratumConnection, type StratumServerOptions } from '../ts/stratum/index.js';

interface Handled {
  conn: number;
  id: number;
}

interface Harness {
  server: StratumServer;
  port: number;
  /** Every line handed to 'message', in order. */
  handled: Handled[];
}

async function start(
  t: ExecutionContext,
  opts: Partial<StratumServerOptions> = {},
  handler: (conn: StratumConnection, msg: Record<string, unknown>) => void = echo,
): Promise<Harness> {
  const server = new StratumServer({ urls: ['127.0.0.1:0'], logger: new MemoryLogger(), ...opts });
  const handled: Handled[] = [];
  server.on('message', (conn, msg) => {
    handled.push({ conn: conn.id, id: Number(msg.id) });
    handler(conn, msg);
  });
  await server.listen();
  t.teardown(() => server.close());
  return { server, port: server.addresses[0]!.port, handled };
}

function echo(conn: StratumConnection, msg: Record<string, unknown>): void {
  conn.send(`{"id":${Number(msg.id)},"result":"pong","error":null}`);
}

/** A raw client that counts the reply ids it receives, in order. */
class Client {
  readonly socket: net.Socket;
  readonly ids: number[] = [];
  private buf = '';
  private waiters: (() => void)[] = [];

  private constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {});
    this.socket.setEncoding('utf8');
    this.socket.on('data', (s: string) => {
      this.buf += s;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.ids.push((JSON.parse(line) as { id: number }).id);
      }
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  static async open(t: ExecutionContext, port: number): Promise<Client> {
    const c = new Client(port);
    t.teardown(() => c.socket.destroy());
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  /** Wait until `n` replies have arrived. */
  async waitReplies(n: number, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.ids.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} replies (got ${this.ids.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }
}

const request = (id: number) => `{"id":${id},"method":"mining.ping","params":[]}\n`;
const requests = (from: number, n: number) => {
  let s = '';
  for (let i = 0; i < n; i++) s += request(from + i);
  return s;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** Spin for `us` microseconds: a handler that costs something, like parsing and judging a share. */
function work(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

const serverIdOf = async (h: Harness, c: Client): Promise<number> => {
  let id = -1;
  await until(() => {
    for (const conn of h.server.connections.values()) if (conn.port === c.socket.localPort) id = conn.id;
    return id >= 0;
  });
  return id;
};

test.serial('a burst of 4,000 lines from one client is handled interleaved with a quiet client\'s line', async (t) => {
  // Each line costs the handler ~20 µs, so the flooder's burst is ~80 ms of work: long
  // enough that the quiet client's line arrives while it is being handled. The burst is
  // within the default flood limits (4,096 at once).
  const h = await start(t, {}, (conn, msg) => {
    work(20);
    echo(conn, msg);
  });
  const flooder = await Client.open(t, h.port);
  const quiet = await Client.open(t, h.port);
  const flooderId = await serverIdOf(h, flooder);
  const quietId = await serverIdOf(h, quiet);
  flooder.socket.write(requests(0, 4000));
  await flooder.waitReplies(1);
  quiet.socket.write(request(1_000_000));
  await quiet.waitReplies(1);
  await flooder.waitReplies(4000);

  const quietAt = h.handled.findIndex((x) => x.conn === quietId);
  const flood = h.handled.filter((x) => x.conn === flooderId);
  const lastFloodAt = h.handled.findIndex((x) => x.conn === flooderId && x.id === 3999);
  t.true(quietAt >= 0 && quietAt < lastFloodAt, `the quiet line was handled at position ${quietAt}, the flooder's 4,000th at ${lastFloodAt}`);
  const floodBefore = h.handled.slice(0, quietAt).filter((x) => x.conn === flooderId).length;
  t.true(floodBefore < 4000, `${floodBefore} of the flooder's lines were handled before the quiet one`);
  // nothing lost or reordered for the flooder, on either side
  t.deepEqual(flood.map((x) => x.id), [...Array(4000).keys()]);
  t.deepEqual(flooder.ids, [...Array(4000).keys()]);
  t.deepEqual(quiet.ids, [1_000_000]);
  const fair = h.server.fairStats();
  t.true(fair.backlogPauses >= 1, 'the flooder waited for its turn unread');
  t.true(fair.rounds >= 2);
  t.is(h.server.stats().clients, 2, 'nobody was dropped');
});

test.serial('a client over its output bound stops being read, others are served, and it resumes after draining with nothing lost', async (t) => {
  // ~1 KB per reply: 10,000 replies are ~10 MB, far past loopback's ~4 MB of kernel
  // buffers, so replies pile up in Node once the client stops reading. Flood control is
  // off: this is about the output bound.
  const pad = 'p'.repeat(1000);
  const h = await start(t, { floodBurst: 1_000_000, maxPendingBytes: 256 * 1024 }, (conn, msg) => {
    conn.send(`{"id":${Number(msg.id)},"result":"${pad}","error":null}`);
  });
  const good = await Client.open(t, h.port);
  const reader = await Client.open(t, h.port);
  const readerId = await serverIdOf(h, reader);
  reader.socket.pause(); // does not read its replies for now
  const total = 10_000;
  reader.socket.write(requests(0, total));

  await until(() => h.server.fairStats().outputPauses >= 1);
  const handledOf = () => h.handled.reduce((n, x) => n + (x.conn === readerId ? 1 : 0), 0);
  // while paused its lines are not handled any more …
  const atPause = handledOf();
  t.true(atPause < total, `${atPause} of ${total} handled when it was paused`);
  // … and others are served meanwhile
  for (let i = 0; i < 20; i++) {
    good.socket.write(request(2_000_000 + i));
    await good.waitReplies(i + 1);
  }
  t.is(handledOf(), atPause, 'no line of the paused client was handled while its output was over the bound');
  t.is(h.server.connections.get(readerId)?.closed, false, 'paused, not dropped');

  reader.socket.resume(); // reads again: its output drains, the server reads it again
  await reader.waitReplies(total, 60_000);
  t.deepEqual(reader.ids, [...Array(total).keys()], 'every reply, in order');
  t.is(handledOf(), total);
  t.false(CloseReason.OUTPUT_BOUND in h.server.stats().dropped, 'nobody dropped at the output bound');
  t.is(h.server.stats().clients, 2);
});

test.serial('many clients sending bursts in random fragments: no line lost or reordered within a connection', async (t) => {
  const h = await start(t, { linesPerTurn: 4 });
  const n = 8;
  const per = 3000;
  const clients = await Promise.all(Array.from({ length: n }, () => Client.open(t, h.port)));
  const ids = await Promise.all(clients.map((c) => serverIdOf(h, c)));
  // each client writes its lines cut at random byte offsets, a few writes per tick
  await Promise.all(clients.map(async (c, k) => {
    const text = requests(k * 100_000, per);
    let at = 0;
    while (at < text.length) {
      const len = 1 + Math.floor(Math.random() * 3000);
      c.socket.write(text.slice(at, at + len));
      at += len;
      if (Math.random() < 0.3) await new Promise((r) => setImmediate(r));
    }
  }));
  await Promise.all(clients.map((c) => c.waitReplies(per)));
  for (let k = 0; k < n; k++) {
    const want = Array.from({ length: per }, (_, i) => k * 100_000 + i);
    t.deepEqual(clients[k]!.ids, want, `client ${k}: replies`);
    t.deepEqual(h.handled.filter((x) => x.conn === ids[k]).map((x) => x.id), want, `client ${k}: handled`);
  }
  // the bursts really were interleaved: some client's line was handled between two of another's
  const firstOwner = h.handled[0]!.conn;
  const lastOfFirst = h.handled.map((x) => x.conn).lastIndexOf(firstOwner);
  t.true(h.handled.slice(0, lastOfFirst).some((x) => x.conn !== firstOwner), 'lines of different clients interleaved');
});

test.serial('a line too long or invalid JSON waiting in a backlog still drops the client, after the lines before it', async (t) => {
  const h = await start(t, { linesPerTurn: 2, maxLineBytes: 200 });
  const closes: string[] = [];
  h.server.on('close', (_c, reason) => closes.push(reason));
  const c = await Client.open(t, h.port);
  c.socket.write(requests(0, 50) + `{"id":50,"x":"${'y'.repeat(300)}"}\n` + requests(51, 10));
  await until(() => closes.length === 1);
  t.is(closes[0], CloseReason.LINE_TOO_LONG);
  await c.waitReplies(50);
  t.deepEqual(c.ids, [...Array(50).keys()]);
});

test.serial('linesPerTurn and sliceMs are checked; a flood-exempt link gets a larger share of each turn', async (t) => {
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], linesPerTurn: 0 }), { code: 'CKP_ERR_STRATUM_OPTION' });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], sliceMs: -1 }), { code: 'CKP_ERR_STRATUM_OPTION' });
  t.throws(() => new StratumServer({ urls: ['127.0.0.1:0'], pauseOutputBytes: 0 }), { code: 'CKP_ERR_STRATUM_OPTION' });
  // a link (flood: false) with 2 lines per turn for miners: its 64-line burst is handled
  // in fewer rounds than a miner's would be
  const h = await start(t, { linesPerTurn: 2 });
  const link = await Client.open(t, h.port);
  const linkId = await serverIdOf(h, link);
  h.server.setConnectionLimits(h.server.connections.get(linkId)!, { flood: false });
  const before = h.server.fairStats().rounds;
  link.socket.write(requests(0, 64));
  await link.waitReplies(64);
  t.true(h.server.fairStats().rounds - before <= 2, `${h.server.fairStats().rounds - before} rounds for 64 lines at 32 per turn`);
  t.throws(() => h.server.setConnectionLimits(h.server.connections.get(linkId)!, { linesPerTurn: 0 }), { code: 'CKP_ERR_STRATUM_OPTION' });
});
