/**
 * RpcClient against a real bcoin regtest node (started once for this file),
 * plus tiny fake HTTP servers only for replies no real node gives on demand
 * (garbage, HTTP 500 without JSON, Core's HTTP 500 RPC errors, a hang, a
 * dropped keep-alive socket). Each fake test says so in its title.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isCkpoolError } from '../ts/errors.js';
import { freePort } from '../ts/node/ports.js';
import { parseHead } from '../ts/node/bulk.js';
import { RpcClient, isTransportError, normaliseSubmitResult, type BlockTemplate, type RpcError } from '../ts/node/rpc.js';
import { startTestBcoin, stopAllBcoins, type BcoinNode } from './helpers/bcoin.js';

let node: BcoinNode;
const tmp = mkdtempSync(path.join(tmpdir(), 'ckpool-rpc-test-'));

test.before(async () => {
  node = await startTestBcoin({ walletWitness: true });
});

test.after.always(async () => {
  await stopAllBcoins();
  rmSync(tmp, { recursive: true, force: true });
});

function client(extra: Partial<ConstructorParameters<typeof RpcClient>[0]> = {}): RpcClient {
  return new RpcClient({ url: node.url, user: 'anyone', pass: node.pass, ...extra });
}

// --- block building for submitblock (pre-segwit, so no witness commitment) --

const sha256d = (b: Buffer) => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const rev = (hex: string) => Buffer.from(hex, 'hex').reverse();

function coinbase(t: BlockTemplate): Buffer {
  const height = Buffer.from([t.height & 0xff, (t.height >> 8) & 0xff]); // 2-byte push is fine below 32768
  const tag = Buffer.from('ckpool-ts rpc test');
  const script = Buffer.concat([Buffer.from([2]), height, Buffer.from([tag.length]), tag]);
  return Buffer.concat([
    u32(1), Buffer.from([1]), Buffer.alloc(32), u32(0xffffffff),
    Buffer.from([script.length]), script, u32(0xffffffff),
    Buffer.from([1]), u64(t.coinbasevalue), Buffer.from([1, 0x51]), // OP_TRUE
    u32(0),
  ]);
}

/** A block of the template's coinbase only, with a nonce that meets the target. */
function solve(t: BlockTemplate, opts: { merkle?: Buffer; prev?: string } = {}): { hex: string; hash: string } {
  const cb = coinbase(t);
  const merkle = opts.merkle ?? sha256d(cb);
  const target = Buffer.from(t.target, 'hex');
  for (let nonce = 0; ; nonce++) {
    const header = Buffer.concat([
      u32(t.version), rev(opts.prev ?? t.previousblockhash), merkle, u32(t.curtime), rev(t.bits), u32(nonce),
    ]);
    const hash = sha256d(header).reverse();
    if (Buffer.compare(hash, target) <= 0) {
      return { hex: Buffer.concat([header, Buffer.from([1]), cb]).toString('hex'), hash: hash.toString('hex') };
    }
  }
}

// --- fakes ------------------------------------------------------------------

async function fakeHttp(handler: http.RequestListener): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

// --- tests against bcoin ------------------------------------------------------

test.serial('getblocktemplate from bcoin is parsed (pre-segwit shape)', async (t) => {
  const rpc = client();
  const best = await rpc.getBestBlockHash();
  const tpl = await rpc.getBlockTemplate();
  t.is(tpl.height, (await rpc.getBlockCount()) + 1);
  t.is(tpl.previousblockhash, best);
  t.is(tpl.bits, '207fffff');
  t.regex(tpl.target, /^7fffff0{58}$/);
  t.is(tpl.coinbasevalue, 50e8);
  t.deepEqual(tpl.transactions, []);
  t.is(typeof tpl.coinbaseaux.flags, 'string');
  t.true(Array.isArray(tpl.rules));
  t.is(typeof tpl.curtime, 'number');
  t.is(typeof tpl.version, 'number');
  // bcoin extras, which Core does not send
  t.is(typeof tpl.maxtime, 'number');
  t.is(tpl.submitold, false);
  t.true(tpl.longpollid!.startsWith(best));
  // read over getblocktemplate's own connection (ts/node/bulk.ts), every time
  t.is(rpc.stats.bulkReplies, 1);
  const again = await rpc.getBlockTemplate();
  t.is(again.height, tpl.height);
  t.is(rpc.stats.bulkReplies, 2);
  rpc.close();
});

test.serial('keep-alive: 20 sequential calls reuse one TCP connection', async (t) => {
  const rpc = client();
  const sockets = new Set<net.Socket>();
  for (let i = 0; i < 20; i++) {
    await rpc.getBlockCount();
    for (const list of Object.values(rpc.agent.freeSockets)) for (const s of list ?? []) sockets.add(s);
  }
  t.is(rpc.stats.calls, 20);
  t.is(rpc.stats.connections, 1);
  t.is(sockets.size, 1);
  rpc.close();
});

test.serial('typed helpers: chain, network and address info, block hash, decoderawtransaction', async (t) => {
  const rpc = client();
  const info = await rpc.getBlockchainInfo();
  t.is(info.chain, 'regtest');
  t.is(info.bestblockhash, await rpc.getBestBlockHash());
  t.is(await rpc.getBlockHash(info.blocks), info.bestblockhash);
  const net = await rpc.getNetworkInfo();
  t.is(net.version, 'v1.0.2'); // bcoin: a string; Core: a number
  const good = await rpc.validateAddress('rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn');
  t.true(good.isvalid);
  t.is(good.scriptPubKey, '0014751e76e8199196d454941c45d1b3a323f1433bd6');
  t.false((await rpc.validateAddress('bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080')).isvalid);
  const tpl = await rpc.getBlockTemplate();
  const decoded = await rpc.decodeRawTransaction(coinbase(tpl).toString('hex'));
  t.truthy(decoded.vin[0]!.coinbase);
  t.is(decoded.vout[0]!.value, 50);
  t.is(decoded.vout[0]!.scriptPubKey.hex, '51');
  rpc.close();
});

test.serial('an RPC error carries the node\'s code and is not a transport error', async (t) => {
  const rpc = client();
  const err = await t.throwsAsync<RpcError>(rpc.getBlockHash(999_999));
  t.is(err!.code, 'CKP_ERR_RPC_ERROR');
  t.is(err!.rpcCode, -8);
  t.is(err!.method, 'getblockhash');
  t.false(isTransportError(err));
  const bad = await t.throwsAsync<RpcError>(rpc.submitBlock('00'));
  t.is(bad!.rpcCode, -22);
  // the connection is still fine afterwards
  t.is(typeof (await rpc.getBlockCount()), 'number');
  t.is(rpc.stats.connections, 1);
  rpc.close();
});

test.serial('submitblock verdicts are normalised: accepted, bad-txnmrklroot, bad-prevblk, duplicate', async (t) => {
  const rpc = client();
  const tpl = await rpc.getBlockTemplate();

  const wrongMerkle = solve(tpl, { merkle: Buffer.alloc(32, 7) });
  t.deepEqual(await rpc.submitBlock(wrongMerkle.hex), {
    accepted: false, reason: 'bad-txnmrklroot', raw: 'rejected: bad-txnmrklroot',
  });

  const orphan = solve(tpl, { prev: '11'.repeat(32) });
  t.like(await rpc.submitBlock(orphan.hex), { accepted: false, reason: 'bad-prevblk' });

  const good = solve(tpl);
  t.deepEqual(await rpc.submitBlock(good.hex), { accepted: true, reason: null, raw: null });
  t.is(await rpc.getBestBlockHash(), good.hash);
  t.is(await rpc.getBlockHash(tpl.height), good.hash);
  t.deepEqual(await rpc.submitBlock(good.hex), { accepted: true, reason: 'duplicate', raw: 'rejected: duplicate' });

  // Core's bare reasons come out the same way
  t.deepEqual(normaliseSubmitResult('high-hash'), { accepted: false, reason: 'high-hash', raw: 'high-hash' });
  t.deepEqual(normaliseSubmitResult('duplicate'), { accepted: true, reason: 'duplicate', raw: 'duplicate' });
  t.false(normaliseSubmitResult('inconclusive').accepted);
  rpc.close();
});

test.serial('preciousblock: bcoin lacks it, which is tolerated', async (t) => {
  const rpc = client();
  t.false(await rpc.preciousBlock(await rpc.getBestBlockHash()));
  rpc.close();
});

test.serial('wrong password: CKP_ERR_RPC_AUTH, and the secret is nowhere in the error', async (t) => {
  const secret = 'not-the-key-s3cr3t';
  const rpc = client({ user: 'alice', pass: secret });
  const err = await t.throwsAsync<RpcError>(rpc.getBlockCount());
  t.is(err!.code, 'CKP_ERR_RPC_AUTH');
  t.is(err!.httpStatus, 401);
  t.true(isTransportError(err));
  t.false(JSON.stringify({ m: err!.message, s: err!.stack, ...err }).includes(secret));
  t.false(err!.message.includes(node.pass));
  rpc.close();
});

test.serial('cookie auth (__cookie__:<apikey>), re-read after the node rejects it', async (t) => {
  const cookie = path.join(tmp, '.cookie');
  writeFileSync(cookie, `__cookie__:${node.pass}\n`);
  const rpc = client({ user: undefined, pass: undefined, cookie });
  t.is(typeof (await rpc.getBlockCount()), 'number');

  // a restarted bitcoind writes a new cookie: first the old one is rejected…
  writeFileSync(cookie, `__cookie__:stale`);
  const rpc2 = client({ user: undefined, pass: undefined, cookie });
  t.is((await t.throwsAsync<RpcError>(rpc2.getBlockCount()))!.code, 'CKP_ERR_RPC_AUTH');
  // …then, with the right one on disk, the same client re-reads it and succeeds
  writeFileSync(cookie, `__cookie__:${node.pass}`);
  t.is(typeof (await rpc2.getBlockCount()), 'number');

  const missing = client({ user: undefined, pass: undefined, cookie: path.join(tmp, 'nope') });
  const err = await t.throwsAsync<RpcError>(missing.getBlockCount());
  t.is(err!.code, 'CKP_ERR_RPC_COOKIE');
  t.true(isTransportError(err));
  for (const c of [rpc, rpc2, missing]) c.close();
});

test.serial('nothing listening: CKP_ERR_RPC_CONNECT', async (t) => {
  const rpc = new RpcClient({ url: `127.0.0.1:${await freePort()}`, user: 'u', pass: 'p' });
  const err = await t.throwsAsync<RpcError>(rpc.getBlockCount());
  t.is(err!.code, 'CKP_ERR_RPC_CONNECT');
  t.regex(err!.message, /ECONNREFUSED/);
  rpc.close();
});

test.serial('a bad url is a coded error that does not echo credentials', (t) => {
  const err = t.throws(() => new RpcClient({ url: 'https://user:hunter2@host:1' }));
  t.true(isCkpoolError(err, 'CKP_ERR_RPC_URL'));
  t.false(err!.message.includes('hunter2'));
  for (const url of ['http://user:hunter2@bad host:1', 'user:hunter2@bad host:1']) {
    const e = t.throws(() => new RpcClient({ url }));
    t.true(isCkpoolError(e, 'CKP_ERR_RPC_URL'));
    t.false(e!.message.includes('hunter2'), e!.message);
  }
});

test.serial('wallet transactions reach the template; segwit active at 432 (witness data in the template)', async (t) => {
  const height = await node.rpc.getBlockCount();
  const started = performance.now();
  const addr = await node.fundWallet(Math.max(101, 432 - height));
  t.log(`funded the wallet (${432 - height} blocks) in ${Math.round(performance.now() - started)} ms`);
  t.regex(addr, /^rb1q/);
  const txid = await node.sendToAddress(addr, 1e8);
  const rpc = client();
  const tpl = await rpc.getBlockTemplate();
  t.true(tpl.rules.includes('!segwit'));
  t.regex(tpl.default_witness_commitment!, /^6a24aa21a9ed[0-9a-f]{64}$/);
  t.is(tpl.transactions.length, 1);
  const tx = tpl.transactions[0]!;
  t.is(tx.txid, txid);
  t.not(tx.hash, tx.txid); // a witness spend: wtxid differs
  t.true(tx.fee > 0);
  t.is(tpl.coinbasevalue, 12.5e8 + tx.fee);
  rpc.close();
});

// --- fakes: replies no real node produces on demand -------------------------

test.serial('fake node (no real node sends garbage): a 200 reply that is not JSON → CKP_ERR_RPC_NOT_JSON', async (t) => {
  const fake = await fakeHttp((_req, res) => res.end('<html>hello</html>'));
  const rpc = new RpcClient({ url: fake.url, user: 'u', pass: 'p' });
  const err = await t.throwsAsync<RpcError>(rpc.getBlockCount());
  t.is(err!.code, 'CKP_ERR_RPC_NOT_JSON');
  t.true(isTransportError(err));
  t.regex(err!.message, /<html>hello/);
  rpc.close();
  await fake.close();
});

test.serial('fake node (a proxy error page): HTTP 500 that is not JSON → CKP_ERR_RPC_HTTP with the status', async (t) => {
  const fake = await fakeHttp((_req, res) => { res.statusCode = 500; res.end('Internal Server Error'); });
  const rpc = new RpcClient({ url: fake.url, user: 'u', pass: 'p' });
  const err = await t.throwsAsync<RpcError>(rpc.getBlockCount());
  t.is(err!.code, 'CKP_ERR_RPC_HTTP');
  t.is(err!.httpStatus, 500);
  t.regex(err!.message, /500/);
  rpc.close();
  await fake.close();
});

test.serial('fake node (Bitcoin Core is not installed here; bcoin answers errors with 200): HTTP 500 + JSON error → RPC error', async (t) => {
  const fake = await fakeHttp((_req, res) => {
    res.statusCode = 500;
    res.setHeader('Content-Type', 'application/json');
    res.end('{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":1}\n');
  });
  const rpc = new RpcClient({ url: fake.url, user: 'u', pass: 'p' });
  const err = await t.throwsAsync<RpcError>(rpc.getBlockHash(1e6));
  t.is(err!.code, 'CKP_ERR_RPC_ERROR');
  t.is(err!.rpcCode, -8);
  t.is(err!.httpStatus, 500);
  t.is(err!.rpcMessage, 'Block height out of range');
  t.false(isTransportError(err));
  rpc.close();
  await fake.close();
});

test.serial('fake node (a hang cannot be provoked in bcoin): no answer → CKP_ERR_RPC_TIMEOUT in time, socket destroyed', async (t) => {
  let closedByClient = false;
  const fake = await fakeHttp((req) => { req.socket.on('close', () => { closedByClient = true; }); });
  const rpc = new RpcClient({ url: fake.url, user: 'u', pass: 'p', timeoutMs: 300 });
  const started = performance.now();
  const err = await t.throwsAsync<RpcError>(rpc.getBlockCount());
  const took = performance.now() - started;
  t.is(err!.code, 'CKP_ERR_RPC_TIMEOUT');
  t.true(took >= 290 && took < 1000, `took ${took} ms`);
  await new Promise((r) => setTimeout(r, 50));
  t.true(closedByClient);
  t.is(Object.values(rpc.agent.sockets).flat().length, 0);
  // a per-call override works too
  const err2 = await t.throwsAsync<RpcError>(rpc.call('getblockcount', [], { timeoutMs: 100 }));
  t.is(err2!.code, 'CKP_ERR_RPC_TIMEOUT');
  rpc.close();
  await fake.close();
});

test.serial('fake node (the race cannot be timed against bcoin): a kept-alive socket the node dropped is retried on a new one', async (t) => {
  // Raw TCP: answer the first request on each connection, then drop the
  // connection when a second request arrives on it (a node closing an idle
  // keep-alive socket just as the client reuses it).
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    let requests = 0;
    sock.on('data', () => {
      if (++requests === 1) {
        const body = '{"result":7,"error":null,"id":1}';
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`);
      } else {
        sock.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const rpc = new RpcClient({ url: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, user: 'u', pass: 'p' });
  t.is(await rpc.getBlockCount(), 7);
  t.is(await rpc.getBlockCount(), 7);
  t.is(connections, 2);
  t.is(rpc.stats.errors, 0);
  rpc.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test.serial('fake node (no real node omits it): JSON without a result member → CKP_ERR_RPC_RESULT', async (t) => {
  const fake = await fakeHttp((_req, res) => res.end('{"hello":1}'));
  const rpc = new RpcClient({ url: fake.url, user: 'u', pass: 'p' });
  const err = await t.throwsAsync<RpcError>(rpc.getBlockCount());
  t.is(err!.code, 'CKP_ERR_RPC_RESULT');
  rpc.close();
  await fake.close();
});

test.serial('fake node (bcoin sends every reply with a Content-Length in one piece): a reply in many chunks, chunked or with a length, reads the same', async (t) => {
  // A 2 MB result string, written in 1 KB pieces: with Content-Length the pieces are
  // collected into one buffer as they arrive, without it they are joined at the end.
  const big = 'ab'.repeat(1 << 20);
  const body = Buffer.from(JSON.stringify({ result: big, error: null, id: 1 }));
  for (const withLength of [true, false]) {
    const fake = await fakeHttp((_req, res) => {
      if (withLength) res.setHeader('Content-Length', body.length);
      let off = 0;
      const more = (): void => {
        while (off < body.length) {
          const piece = body.subarray(off, off + 1024);
          off += piece.length;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const rpc = new RpcClient({ url: fake.url, user: 'u', pass: 'p' });
    t.is(await rpc.call<string>('getbig', []), big, withLength ? 'with Content-Length' : 'chunked');
    rpc.close();
    await fake.close();
  }
});

// --- getblocktemplate's own connection (ts/node/bulk.ts) -------------------------

/** A fake getblocktemplate reply body (the native reader takes it: two transactions). */
function gbtBody(): string {
  const tx = (n: number) => ({ data: '02' + '00'.repeat(60), txid: n.toString(16).padStart(64, '0'), hash: (n + 1).toString(16).padStart(64, '0'), fee: 1, depends: [] });
  return JSON.stringify({
    result: {
      version: 0x20000000, previousblockhash: '00'.repeat(32), transactions: [tx(1), tx(3)], coinbaseaux: {}, coinbasevalue: 5e9,
      target: '7fffff' + '0'.repeat(58), bits: '207fffff', height: 500, curtime: 1_700_000_000, mintime: 1, rules: ['csv', '!segwit'],
      default_witness_commitment: '6a24aa21a9ed' + '00'.repeat(32),
    },
    error: null, id: 1,
  });
}

test('parseHead: status, Content-Length, keep-alive; chunked or unreadable heads', (t) => {
  t.deepEqual(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: application/json'), { status: 200, length: 12, keepAlive: true });
  t.deepEqual(parseHead('HTTP/1.0 200 OK\r\ncontent-length: 3'), { status: 200, length: 3, keepAlive: false });
  t.deepEqual(parseHead('HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive'), { status: 200, length: 3, keepAlive: true });
  t.deepEqual(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close'), { status: 200, length: 3, keepAlive: false });
  t.deepEqual(parseHead('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0'), { status: 401, length: 0, keepAlive: true });
  t.is(parseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked')!.length, -1);
  t.is(parseHead('HTTP/1.1 200 OK\r\nContent-Type: x')!.length, -1);
  t.is(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2'), null);
  t.is(parseHead('HTTP/1.1 200 OK\r\nContent-Length: -1'), null);
  t.is(parseHead('SSH-2.0-OpenSSH'), null);
  t.is(parseHead('HTTP/1.1 200 OK\r\nno colon here'), null);
});

test.serial('fake node (bcoin answers every template in one plain 200): a reply trickled in 7-byte pieces, then chunked, then a 500, then a hang', async (t) => {
  const body = gbtBody();
  let mode: 'trickle' | 'chunked' | 'error' | 'hang' = 'trickle';
  const server = net.createServer((sock) => {
    sock.on('data', () => {
      if (mode === 'hang') return;
      if (mode === 'error') {
        const e = '{"result":null,"error":{"code":-9,"message":"Bitcoin is downloading blocks..."},"id":1}';
        sock.write(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: ${e.length}\r\n\r\n${e}`);
        return;
      }
      const reply = mode === 'chunked'
        ? `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
        : `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      if (mode === 'chunked') return void sock.write(reply);
      // 7-byte pieces, each its own write a tick apart: headers split mid-line, body in many reads
      let i = 0;
      const more = (): void => {
        if (sock.destroyed) return;
        sock.write(reply.slice(i, i + 7));
        i += 7;
        if (i < reply.length) setImmediate(more);
      };
      more();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const rpc = new RpcClient({ url: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, user: 'u', pass: 'p', timeoutMs: 2000 });

  const a = await rpc.getBlockTemplate();
  t.is(a.height, 500);
  t.is(a.transactions.length, 2);
  t.is(rpc.stats.bulkReplies, 1);

  // a 500 with an RPC error: reported as the RPC error (through node:http), and the
  // bulk connection stays in use for the next template
  mode = 'error';
  const e = await t.throwsAsync<RpcError>(rpc.getBlockTemplate());
  t.is(e!.code, 'CKP_ERR_RPC_ERROR');
  t.is(e!.rpcCode, -9);
  mode = 'trickle';
  t.is((await rpc.getBlockTemplate()).height, 500);
  t.is(rpc.stats.bulkReplies, 2);

  // chunked: read through node:http instead, from then on
  mode = 'chunked';
  t.is((await rpc.getBlockTemplate()).height, 500);
  t.is((await rpc.getBlockTemplate()).height, 500);
  t.is(rpc.stats.bulkReplies, 2);
  rpc.close();

  // a node that never answers: the call fails with a timeout in time, not twice as late
  mode = 'hang';
  const slow = new RpcClient({ url: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, user: 'u', pass: 'p', timeoutMs: 300 });
  const started = performance.now();
  const err = await t.throwsAsync<RpcError>(slow.getBlockTemplate());
  t.is(err!.code, 'CKP_ERR_RPC_TIMEOUT');
  t.true(performance.now() - started < 900);
  slow.close();

  // closed while a template call hangs: the call ends at once, and is not sent again
  const closing = new RpcClient({ url: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, user: 'u', pass: 'p', timeoutMs: 10_000 });
  const began = performance.now();
  const pending = closing.getBlockTemplate();
  setTimeout(() => closing.close(), 100);
  t.is((await t.throwsAsync<RpcError>(pending))!.code, 'CKP_ERR_RPC_CLOSED');
  t.true(performance.now() - began < 2000);
  await new Promise<void>((r) => server.close(() => r()));
});

test.serial('fake node (a node cannot be made to drop one reply halfway): a connection closed mid-reply is retried over node:http', async (t) => {
  const body = gbtBody();
  let requests = 0;
  const server = net.createServer((sock) => {
    sock.on('data', () => {
      const reply = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      // the first request (the bulk connection) gets half a reply, then the close
      if (++requests === 1) sock.end(reply.slice(0, reply.length >> 1));
      else sock.write(reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const rpc = new RpcClient({ url: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, user: 'u', pass: 'p' });
  const tpl = await rpc.getBlockTemplate();
  t.is(tpl.height, 500);
  t.is(requests, 2);
  t.is(rpc.stats.bulkReplies, 0);
  // the bulk connection is used again for the next one
  t.is((await rpc.getBlockTemplate()).height, 500);
  t.is(rpc.stats.bulkReplies, 1);
  rpc.close();
  await new Promise<void>((r) => server.close(() => r()));
});
