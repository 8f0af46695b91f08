/**
 * The stratum server's listening sockets (ts/stratum/listeners.ts): ckpool's `reject`
 * pauses accepting with the sockets kept open, `accept` resumes; sockets handed over by
 * another process are used only when their address is the configured one. Real TCP.
 */
import test from 'ava';
import net from 'node:net';
import { once } from 'node:events';
import { StratumServer } from '../ts/stratum/server.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { native } from '../ts/native/binding.js';
import { handleFd } from '../ts/native/handover.js';
import { freePort } from '../ts/node/ports.js';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

test('pause keeps the port open: a new connection waits in the backlog and is served after resume', async (t) => {
  const server = new StratumServer({ urls: ['127.0.0.1:0'] });
  await server.listen();
  const port = server.addresses[0]!.port;
  const served: number[] = [];
  server.on('connection', (c) => served.push(c.id));
  server.pauseListening();
  t.false(server.listeningActive);
  t.is(server.listeningFds().length, 1, 'getxfd still has the socket while paused');
  const waiting = await connect(port); // not refused: the kernel completed the handshake
  await new Promise((r) => setTimeout(r, 300));
  t.is(served.length, 0, 'nothing accepted while paused');
  await server.resumeListening();
  t.true(server.listeningActive);
  const deadline = Date.now() + 3000;
  while (served.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(served.length, 1, 'the waiting connection is served after resume');
  waiting.destroy();
  // closed while paused: the kept socket is closed too, the port refuses
  server.pauseListening();
  await server.close();
  const err = await connect(port).then((s) => { s.destroy(); return null; }, (e: NodeJS.ErrnoException) => e.code);
  t.is(err, 'ECONNREFUSED');
});

test('a handed-over socket on another address is not used: the configured url is bound instead', async (t) => {
  const logger = new MemoryLogger();
  const other = net.createServer();
  other.listen({ port: 0, host: '127.0.0.1' });
  await once(other, 'listening');
  const otherPort = (other.address() as net.AddressInfo).port;
  const want = await freePort();
  const server = new StratumServer({ urls: [`127.0.0.1:${want}`], logger });
  await server.listenFds([native.dupFd(handleFd(other))]);
  t.deepEqual(server.addresses, [{ host: '127.0.0.1', port: want }]);
  t.regex(logger.lines.map((l) => l.msg).join('\n'), new RegExp(`Handed over socket url 127\\.0\\.0\\.1:${otherPort} does not match config 127\\.0\\.0\\.1:${want}, creating new socket`));
  const c = await connect(want);
  c.destroy();
  await server.close();
  other.close();
});

test('a handed-over socket on the configured address is served as is', async (t) => {
  const other = net.createServer();
  other.listen({ port: 0, host: '127.0.0.1' });
  await once(other, 'listening');
  const port = (other.address() as net.AddressInfo).port;
  const server = new StratumServer({ urls: [`127.0.0.1:${port}`] });
  await server.listenFds([native.dupFd(handleFd(other))]);
  other.close(); // the handing-over side lets go; the socket lives on in the server
  t.deepEqual(server.addresses, [{ host: '127.0.0.1', port }]);
  const got = once(server, 'connection');
  const c = await connect(port);
  await got;
  t.is(server.stats().accepted, 1, 'accepted on the inherited socket');
  c.destroy();
  await server.close();
});
