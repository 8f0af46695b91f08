/**
 * Stratum over TLS (issue 16), in process: a real pool on a real bcoin regtest node
 * (behind test/helpers/hardbits.ts so shares are shares, not blocks) with a plain and
 * a `stratum+ssl://` listener, miners served on a worker thread (TLS ends there), real
 * certificates made with the openssl CLI (test/helpers/certs.ts). Clients: node:tls and
 * `openssl s_client`. The proxy mode against a TLS upstream (that same pool), the
 * certificate reload a SIGHUP triggers (Pool.reloadTls, the function the handler calls;
 * the signal itself is sent in test/tls-process.test.ts), and start-up errors.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { parseConfig } from '../ts/config/parse.js';
import { isCkpoolError } from '../ts/errors.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { StratumClient } from '../ts/miner/client.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { ProxyMode } from '../ts/modes/proxy.js';
import { UpstreamLink } from '../ts/modes/upstream.js';
import { Pool } from '../ts/pool/pool.js';
import { loadTlsCredentials } from '../ts/tls/credentials.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { makeCert, type MadeCert } from './helpers/certs.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';
import { mineOne } from './helpers/modes.js';

const DIFF = 0.0001;
const BENCH = new URL('../bin/ckpool-bench.js', import.meta.url).pathname;
const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-ts-tls-'));
/** where the pool's config points, like certbot's live/ directory: fullchain.pem + privkey.pem */
const live = path.join(dir, 'live');
const certPath = path.join(live, 'fullchain.pem');
const keyPath = path.join(live, 'privkey.pem');
const logger = new MemoryLogger();
const closers: (() => unknown)[] = [];
let node: BcoinNode;
let hard: HardBits;
let pool: Pool;
let plainPort: number;
let tlsPort: number;
/** the CA-signed certificate the pool starts with */
let first: MadeCert;
let caPem: string;

/** Put a certificate in place as certbot does: leaf + CA chain in one file, the key next to it. */
function install(c: MadeCert): void {
  writeFileSync(certPath, c.cert + (c.caPath ? readFileSync(c.caPath, 'utf8') : ''));
  copyFileSync(c.keyPath, keyPath);
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

test.before(async () => {
  mkdirSync(live);
  first = makeCert(dir, { cn: 'pool.test', ca: true });
  caPem = readFileSync(first.caPath!, 'utf8');
  install(first);
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(3, REGTEST_ADDRESS);
  hard = await hardBitsProxy({ host: node.host, port: node.port });
  pool = await Pool.start({
    btcd: [{ url: hard.url, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0', 'stratum+ssl://127.0.0.1:0'], nodeserver: ['stratum+tls://127.0.0.1:0'],
    tlscert: certPath, tlskey: keyPath,
    startdiff: DIFF, mindiff: 1e-9, logdir: path.join(dir, 'logs'), updateInterval: 600, blockpoll: 50,
  }, { logger, workers: 1, statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
  plainPort = pool.addresses[0]!.port;
  tlsPort = pool.addresses[1]!.port;
});

test.after.always(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await pool?.stop();
  await hard?.close();
  await stopAllBcoins();
  rmSync(dir, { recursive: true, force: true });
});

function track<T extends { close(): unknown }>(c: T): T {
  closers.push(() => c.close());
  return c;
}

/** Subscribe, wait for work, authorise. */
async function ready(c: StratumClient, worker: string): Promise<StratumClient> {
  track(c);
  const job = c.nextJob(10_000);
  const sub = await c.subscribe('tls-test/1.0');
  if (!Array.isArray(sub.result)) throw new Error(`subscribe failed: ${JSON.stringify(sub)}`);
  await job;
  const a = await c.authorize(worker);
  if (a.result !== true) throw new Error(`authorize failed: ${JSON.stringify(a)}`);
  return c;
}

const tlsMiner = (worker: string, options: tls.ConnectionOptions = { ca: caPem }) =>
  StratumClient.connectTls(tlsPort, '127.0.0.1', options).then((c) => ready(c, worker));

/** The certificate a fresh TLS connection to `port` is served (no verification). */
async function servedFingerprint(port: number): Promise<string> {
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); });
  const fp = s.getPeerCertificate().fingerprint256;
  s.destroy();
  return fp;
}

/** Wait until new TLS connections are served `pem` (a reload reaches the worker thread by message). */
async function servedSoon(pem: string): Promise<string> {
  const want = fingerprint(pem);
  let fp = '';
  for (let i = 0; i < 100 && fp !== want; i++) {
    fp = await servedFingerprint(tlsPort);
    if (fp !== want) await new Promise((r) => setTimeout(r, 50));
  }
  return fp;
}

/** Resolves when the socket is closed by the other side (rejects after timeoutMs). */
function closedWithin(s: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve();
    const t = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    s.on('error', () => undefined);
    s.once('close', () => { clearTimeout(t); resolve(); });
  });
}

test('config: stratum+ssl:// and stratum+tls:// serverurl/nodeserver with tlscert/tlskey; plain urls as before', (t) => {
  const c = parseConfig(JSON.stringify({
    btcaddress: REGTEST_ADDRESS,
    serverurl: ['0.0.0.0:3333', 'stratum+tcp://0.0.0.0:3334', 'stratum+ssl://0.0.0.0:4333', 'stratum+tls://[::]:4334'],
    nodeserver: ['stratum+ssl://127.0.0.1:4335'], tlscert: '/etc/le/fullchain.pem', tlskey: '/etc/le/privkey.pem',
  }), 'pool', 'tls.conf');
  t.deepEqual(c.serverurl, ['0.0.0.0:3333', 'stratum+tcp://0.0.0.0:3334', 'stratum+ssl://0.0.0.0:4333', 'stratum+tls://[::]:4334']);
  t.is(c.tlscert, '/etc/le/fullchain.pem');
  t.is(c.tlskey, '/etc/le/privkey.pem');
  t.deepEqual(c.warnings, []);
  // a TLS url without the certificate or key
  const noKey = t.throws(() => parseConfig(JSON.stringify({ btcaddress: REGTEST_ADDRESS, serverurl: ['stratum+ssl://0.0.0.0:4333'], tlscert: '/x.pem' }), 'pool', 'tls.conf'));
  t.is((noKey as { code?: string }).code, 'CKP_ERR_CONFIG_MISSING');
  t.regex(noKey!.message, /tlskey is required for the TLS listener "stratum\+ssl:\/\/0\.0\.0\.0:4333"/);
  const noCert = t.throws(() => parseConfig(JSON.stringify({ btcaddress: REGTEST_ADDRESS, serverurl: ['0.0.0.0:3333'], nodeserver: ['stratum+tls://0.0.0.0:4335'] }), 'pool', 'tls.conf'));
  t.regex(noCert!.message, /tlscert is required/);
  const badScheme = t.throws(() => parseConfig(JSON.stringify({ btcaddress: REGTEST_ADDRESS, serverurl: ['https://0.0.0.0:4333'] }), 'pool', 'tls.conf'));
  t.is((badScheme as { code?: string }).code, 'CKP_ERR_CONFIG_URL');
  // proxy entries: TLS upstreams and the insecure flag
  const p = parseConfig(JSON.stringify({
    proxy: [{ url: 'stratum+ssl://pool.example:4333', auth: 'u', pass: 'x', insecure: true }, { url: 'stratum+tcp://b.example:3333', auth: 'u' }],
  }), 'proxy', 'p.conf');
  t.true(p.proxy[0]!.insecure);
  t.falsy(p.proxy[1]!.insecure);
  const w = parseConfig(JSON.stringify({ proxy: [{ url: 'b.example:3333', auth: 'u', insecure: true }] }), 'proxy', 'p.conf');
  t.regex(w.warnings.map((x) => x.message).join('\n'), /proxy\[0\]\.insecure has no effect/);
  const badFlag = t.throws(() => parseConfig(JSON.stringify({ proxy: [{ url: 'stratum+ssl://b:1', auth: 'u', insecure: 'yes' }] }), 'proxy', 'p.conf'));
  t.is((badFlag as { code?: string }).code, 'CKP_ERR_CONFIG_TYPE');
});

test('start-up errors name the file: missing certificate, unreadable key, not PEM, a key of another certificate', async (t) => {
  const other = makeCert(dir, { cn: 'other.test' });
  const missing = t.throws(() => loadTlsCredentials(path.join(dir, 'nope.pem'), keyPath));
  t.true(isCkpoolError(missing, 'CKP_ERR_TLS_FILE'));
  t.regex(missing!.message, /cannot read TLS certificate file .*nope\.pem: ENOENT/);
  // a directory where the key should be: unreadable whatever the user (root reads mode 000 files)
  const unreadable = t.throws(() => loadTlsCredentials(certPath, live));
  t.true(isCkpoolError(unreadable, 'CKP_ERR_TLS_FILE'));
  t.regex(unreadable!.message, /cannot read TLS key file .*live: EISDIR/);
  const notPem = path.join(dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  t.true(isCkpoolError(t.throws(() => loadTlsCredentials(notPem, keyPath)), 'CKP_ERR_TLS_PEM'));
  const badKey = t.throws(() => loadTlsCredentials(certPath, notPem));
  t.true(isCkpoolError(badKey, 'CKP_ERR_TLS_PEM'));
  t.regex(badKey!.message, /TLS key file .*not\.pem holds no usable private key/);
  const mismatch = t.throws(() => loadTlsCredentials(certPath, other.keyPath));
  t.true(isCkpoolError(mismatch, 'CKP_ERR_TLS_KEY_MISMATCH'));
  t.regex(mismatch!.message, new RegExp(`TLS key ${other.keyPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not belong to the certificate in .*fullchain\\.pem`));
  // the pool refuses to start, before it even asks a bitcoind (none listens on port 1)
  const err = await t.throwsAsync(Pool.start({
    btcd: [{ url: '127.0.0.1:1', auth: 'u', pass: 'p', notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['stratum+ssl://127.0.0.1:0'], tlscert: certPath, tlskey: other.keyPath, logdir: path.join(dir, 'logs-bad'),
  }, { nodeTimeoutMs: 60_000 }));
  t.true(isCkpoolError(err, 'CKP_ERR_TLS_KEY_MISMATCH'));
  // a TLS url with no certificate in a config built in code
  const none = await t.throwsAsync(Pool.start({
    btcd: [{ url: '127.0.0.1:1', auth: 'u', pass: 'p', notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['stratum+tls://127.0.0.1:0'], logdir: path.join(dir, 'logs-bad'),
  }, { nodeTimeoutMs: 60_000 }));
  t.true(isCkpoolError(none, 'CKP_ERR_TLS_NOT_CONFIGURED'));
});

test.serial('node:tls miners mine on the TLS port (served on a worker thread); the chain file verifies against the CA', async (t) => {
  const a = await tlsMiner('alice.tls1');
  const sock = a.socket as tls.TLSSocket;
  t.true(sock.authorized, 'verified against the test CA through the chain in fullchain.pem');
  t.is(sock.getPeerCertificate().fingerprint256, fingerprint(first.cert));
  t.regex(sock.getProtocol() ?? '', /^TLSv1\.[23]$/);
  for (let i = 0; i < 3; i++) t.is((await mineOne(a, 'alice.tls1')).reply.result, true);
  const plain = await ready(await StratumClient.connect(plainPort), 'alice.plain');
  t.is((await mineOne(plain, 'alice.plain')).reply.result, true, 'the plain port alongside');
  const counts = await pool.workers!.counts();
  t.true(counts.clients >= 2, 'both miners are the worker thread\'s');
  t.regex(logger.lines.map((l) => l.msg).join('\n'), /Stratum TLS certificate: .*fullchain\.pem \(CN=pool\.test/);
});

test.serial('the TLS nodeserver port is served on the main thread (node links stay there): a TLS miner mines on it', async (t) => {
  const before = (await pool.workers!.counts()).clients;
  const c = await StratumClient.connectTls(pool.addresses[2]!.port, '127.0.0.1', { ca: caPem }).then((x) => ready(x, 'nina.node'));
  t.true((c.socket as tls.TLSSocket).authorized);
  t.is((await mineOne(c, 'nina.node')).reply.result, true);
  t.is((await pool.workers!.counts()).clients, before, 'not handed to a worker thread');
  t.true([...pool.stratifier.clients.values()].some((x) => x.workername === 'nina.node'));
});

test.serial('openssl s_client mines a share on the TLS port', async (t) => {
  // openssl does the TLS; a plain StratumClient talks to it through a local relay
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-quiet', '-CAfile', first.caPath!, '-verify_return_error'],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  closers.push(() => child.kill());
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const relay = net.createServer((s) => {
    s.pipe(child.stdin);
    child.stdout.pipe(s);
  });
  closers.push(() => relay.close());
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const c = await ready(await StratumClient.connect((relay.address() as net.AddressInfo).port), 'bob.openssl');
  t.is((await mineOne(c, 'bob.openssl')).reply.result, true);
  t.is((await mineOne(c, 'bob.openssl')).reply.result, true);
  t.regex(err, /verify return:1/, 'openssl verified the chain');
});

test.serial('a plain client on the TLS port and a TLS client on the plain port are dropped; a TLS miner keeps mining', async (t) => {
  const keeper = await tlsMiner('carol.keep');
  t.is((await mineOne(keeper, 'carol.keep')).reply.result, true);
  // plain stratum on the TLS port: not a TLS record, the handshake fails, dropped
  const plain = net.connect({ port: tlsPort, host: '127.0.0.1' });
  plain.on('connect', () => plain.write('{"id":1,"method":"mining.subscribe","params":[]}\n'));
  let plainGot = '';
  plain.on('data', (d) => { plainGot += d.toString('latin1'); });
  await closedWithin(plain, 5000);
  t.false(plainGot.includes('"result"'), 'no stratum reply over plain TCP on the TLS port');
  // a TLS handshake on the plain port: not JSON, dropped; the client sees no TLS server
  const wrong = tls.connect({ port: plainPort, host: '127.0.0.1', rejectUnauthorized: false });
  const wrongErr = await new Promise<Error>((resolve, reject) => {
    wrong.once('error', resolve);
    wrong.once('secureConnect', () => reject(new Error('handshake succeeded on the plain port')));
  });
  t.truthy(wrongErr);
  // garbage bytes and an abrupt close mid-handshake on the TLS port
  const junk = net.connect({ port: tlsPort, host: '127.0.0.1' });
  junk.on('connect', () => { junk.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3])); junk.destroy(); });
  await closedWithin(junk, 5000);
  // TLS 1.1 (a client that would accept it): the pool answers with a protocol_version alert
  const old = tls.connect({ port: tlsPort, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
  const oldErr = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
    old.once('error', resolve);
    old.once('secureConnect', () => reject(new Error(`negotiated ${old.getProtocol()}`)));
  });
  t.is(oldErr.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  for (let i = 0; i < 2; i++) t.is((await mineOne(keeper, 'carol.keep')).reply.result, true, 'the TLS miner is unharmed');
  const again = await tlsMiner('carol.new');
  t.is((await mineOne(again, 'carol.new')).reply.result, true, 'new TLS miners still get in');
});

test.serial('reload (what SIGHUP runs): new connections get the renewed certificate, an open TLS miner keeps mining; broken files keep the old one', async (t) => {
  const before = await tlsMiner('dave.before');
  t.is((await mineOne(before, 'dave.before')).reply.result, true);
  const renewed = makeCert(dir, { cn: 'pool.test', ca: { certPath: first.caPath!, keyPath: first.caKeyPath! } });
  install(renewed);
  const c = pool.reloadTls();
  t.is(c?.certPath, certPath);
  // the worker thread applies it when its message arrives
  t.is(await servedSoon(renewed.cert), fingerprint(renewed.cert));
  const after = await tlsMiner('dave.after');
  t.is((after.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, fingerprint(renewed.cert));
  t.is((await mineOne(after, 'dave.after')).reply.result, true);
  t.is((before.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, fingerprint(first.cert), 'the open connection keeps its session');
  t.is((await mineOne(before, 'dave.before')).reply.result, true, 'and keeps mining');
  // a half-written renewal: the key no longer matches; the reload fails, the pool keeps serving
  copyFileSync(makeCert(dir, { cn: 'x' }).keyPath, keyPath);
  t.true(isCkpoolError(t.throws(() => pool.reloadTls()), 'CKP_ERR_TLS_KEY_MISMATCH'));
  await new Promise((r) => setTimeout(r, 200));
  t.is(await servedFingerprint(tlsPort), fingerprint(renewed.cert));
  install(renewed);
});

test.serial('an expired certificate is refused by verifying clients and by the proxy\'s upstream link', async (t) => {
  const expired = makeCert(dir, { cn: 'pool.test', expired: true, ca: { certPath: first.caPath!, keyPath: first.caKeyPath! } });
  install(expired);
  pool.reloadTls();
  t.is(await servedSoon(expired.cert), fingerprint(expired.cert));
  const e = await t.throwsAsync(StratumClient.connectTls(tlsPort, '127.0.0.1', { ca: caPem }));
  t.is((e as NodeJS.ErrnoException).code, 'CERT_HAS_EXPIRED');
  const linkErr = await t.throwsAsync(UpstreamLink.connect(`stratum+ssl://127.0.0.1:${tlsPort}`, { ca: caPem, connectTimeoutMs: 5000 }));
  t.true(isCkpoolError(linkErr, 'CKP_ERR_PROXY_TLS'));
  t.regex(linkErr!.message, /CERT_HAS_EXPIRED/);
  // the same pool with its valid certificate: the link verifies it through the CA
  install(first);
  pool.reloadTls();
  t.is(await servedSoon(first.cert), fingerprint(first.cert));
  const link = await UpstreamLink.connect(`stratum+tls://127.0.0.1:${tlsPort}`, { ca: caPem, connectTimeoutMs: 5000 });
  const reply = await link.request('mining.subscribe', ['tls-link/1']);
  t.true(Array.isArray(reply.result));
  link.close('done');
});

test.serial('proxy mode: a self-signed TLS upstream is refused by default (logged, next entry used) and accepted with "insecure": true', async (t) => {
  const self = makeCert(dir, { cn: 'pool.test' });
  install(self);
  pool.reloadTls();
  t.is(await servedSoon(self.cert), fingerprint(self.cert));
  const proxyConf = (entries: object[], extra: object = {}) => ({
    ...parseConfig(JSON.stringify({ proxy: entries, logdir: path.join(dir, `proxy-${Math.random().toString(36).slice(2)}`), startdiff: DIFF, mindiff: 1e-9, ...extra }), 'proxy', 'proxy.conf'),
  });
  // default: verified, refused, failover to the plain entry
  const log1 = new MemoryLogger();
  const strict = await ProxyMode.start({ ...proxyConf([
    { url: `stratum+ssl://127.0.0.1:${tlsPort}`, auth: 'proxyuser', pass: 'x' },
    { url: `127.0.0.1:${plainPort}`, auth: 'proxyuser', pass: 'x' },
  ]), serverurl: ['127.0.0.1:0'] }, { logger: log1, server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => strict.stop());
  await strict.waitReady(15_000);
  t.is(strict.main.upstream.active?.index, 1, 'failed over to the next entry');
  t.regex(strict.main.upstream.lastErrors[0]!, /TLS certificate not accepted \(DEPTH_ZERO_SELF_SIGNED_CERT/);
  t.regex(log1.lines.map((l) => l.msg).join('\n'), /upstream 0 stratum\+ssl:\/\/127\.0\.0\.1:\d+: upstream pool .* TLS certificate not accepted .*"insecure": true/);
  // insecure: connects to the TLS entry; a miner reaches the proxy over TLS too (its own listener, no worker threads)
  const proxyCert = makeCert(dir, { cn: 'proxy.test' });
  const loose = await ProxyMode.start({
    ...proxyConf([{ url: `stratum+ssl://127.0.0.1:${tlsPort}`, auth: 'proxyuser', pass: 'x', insecure: true }],
      { tlscert: proxyCert.certPath, tlskey: proxyCert.keyPath }),
    serverurl: ['stratum+ssl://127.0.0.1:0'], tlscert: proxyCert.certPath, tlskey: proxyCert.keyPath,
  }, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => loose.stop());
  await loose.waitReady(15_000);
  t.is(loose.main.upstream.active?.index, 0);
  const m = await StratumClient.connectTls(loose.addresses[0]!.port, '127.0.0.1', { ca: proxyCert.cert }).then((c) => ready(c, 'erin.viaproxy'));
  t.is((m.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, fingerprint(proxyCert.cert));
  t.is((await mineOne(m, 'erin.viaproxy')).reply.result, true, 'a share through a TLS proxy to a TLS upstream');
  install(first);
  pool.reloadTls();
});

test.serial('ckpool-bench --tls: its miners connect, authorize and submit over TLS', async (t) => {
  const run = (args: string[]) => new Promise<Record<string, unknown>>((resolve, reject) => {
    execFile(process.execPath, [BENCH, ...args, '--json', '-q'], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}: ${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>);
    });
  });
  const conn = await run(['connect', '-p', String(tlsPort), '-c', '5', '--tls', '--settle', '0']);
  t.is(conn.authorized, 5);
  t.is(conn.failures, 0);
  // random shares: validated and rejected (fewer than the pool's invalid-share burst limit)
  const tp = await run(['throughput', '-p', String(tlsPort), '-c', '2', '-P', '4', '-w', '0', '-d', '20', '--shares', '100', '--tls']);
  t.true((tp.replies as number) >= 100, JSON.stringify(tp));
  // the same options on the plain port fail at once: no TLS server there
  const wrong = await run(['connect', '-p', String(plainPort), '-c', '2', '--tls', '--settle', '0', '--timeout', '5']);
  t.is(wrong.authorized, 0);
});

test.serial('passthrough mode: its one link to the pool runs over TLS; a miner behind it mines', async (t) => {
  const conf = parseConfig(JSON.stringify({
    proxy: [{ url: `stratum+ssl://127.0.0.1:${tlsPort}`, auth: 'pt', pass: 'x', insecure: true }],
    logdir: path.join(dir, 'passthrough'),
  }), 'passthrough', 'pt.conf');
  const pt = await PassthroughMode.start({ ...conf, serverurl: ['127.0.0.1:0'] }, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => pt.stop());
  await pt.waitReady(15_000);
  const m = await ready(await StratumClient.connect(pt.addresses[0]!.port), 'olga.pt');
  t.is((await mineOne(m, 'olga.pt')).reply.result, true);
  t.is((await mineOne(m, 'olga.pt')).reply.result, true);
});
