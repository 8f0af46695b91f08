/**
 * The control socket under garbage (issue 14 item 2), over real unix sockets: a frame
 * holds only the bytes that arrived, a frame announcing more than a command can need is
 * refused at once, and connections over the cap are closed unread without harming the
 * ones already served.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlServer, DEFAULT_MAX_REQUEST_BYTES, FrameDecoder, sendControl } from '../ts/control/index.js';
import { MemoryLogger } from '../ts/log/logger.js';

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function header(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(length);
  return b;
}

test('a frame holds only the bytes that arrived, not the length its header announces', (t) => {
  const d = new FrameDecoder(DEFAULT_MAX_REQUEST_BYTES);
  const body = Buffer.from('x'.repeat(60_000));
  t.is(d.push(Buffer.concat([header(body.length), body.subarray(0, 10)])), null);
  t.is(d.expected, 60_000);
  t.is(d.received, 14);
  t.is(d.push(body.subarray(10, 30_000)), null);
  t.is(d.received, 30_004);
  t.deepEqual(d.push(body.subarray(30_000)), body);
  t.true(DEFAULT_MAX_REQUEST_BYTES <= 64 * 1024, 'a request is capped at what a command can need');
});

function connect(p: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(p, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes (or `ms` pass). */
function drain(s: net.Socket, ms = 5_000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const t = setTimeout(() => resolve({ data: Buffer.concat(parts), closed: false }), ms);
    s.on('data', (d) => parts.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(parts), closed: true });
    });
  });
}

test('16 MiB announced: refused at once with an error; over the connection cap: closed unread; the rest keep working', async (t) => {
  const sockdir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-ctl-limits-'));
  dirs.push(sockdir);
  const logger = new MemoryLogger();
  const control = await ControlServer.start({ sockdir, logger, maxConnections: 4 });
  const listener = path.join(sockdir, 'listener');
  try {
    // a header announcing 16 MiB (what once made the pool allocate it up front)
    const big = await connect(listener);
    const bigReply = drain(big);
    big.write(header(16 * 1024 * 1024));
    const r = await bigReply;
    t.true(r.closed, 'the connection is closed at once, not at the read timeout');
    t.regex(r.data.subarray(4).toString(), /over the 65536 byte limit/);

    // four stalled requests (header only) fill the cap
    const stalled = await Promise.all([0, 1, 2, 3].map(() => connect(listener)));
    for (const s of stalled) {
      s.on('error', () => undefined);
      s.write(header(100));
    }
    await new Promise((res) => setTimeout(res, 100));
    // a fifth is closed unread
    const fifth = await connect(listener);
    const f = await drain(fifth);
    t.true(f.closed);
    t.is(f.data.length, 0);
    t.true(logger.lines.some((l) => /connections open already/.test(l.msg)));
    // the stalled ones finish (their peers give up); the socket serves again
    for (const s of stalled) s.destroy();
    const end = Date.now() + 5_000;
    let pong: string | null = null;
    while (pong !== 'pong' && Date.now() < end) {
      pong = await sendControl(listener, 'ping').catch(() => null);
      if (pong !== 'pong') await new Promise((res) => setTimeout(res, 20));
    }
    t.is(pong, 'pong');
    t.true(logger.lines.some((l) => /closed unread/.test(l.msg)));
  } finally {
    await control.close();
  }
});
