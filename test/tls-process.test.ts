/**
 * Stratum over TLS with the real `ckpool` binary (bin/ckpool.js as a child process, its
 * miners on worker threads): a renewed certificate reaches new connections on SIGHUP
 * with the connected TLS miner mining on, and a `-H` handover's new process serves the
 * inherited TLS listening socket with the certificate files as they are when it starts;
 * `ckpool -p` reloads on SIGHUP as well.
 * Real bcoin regtest node behind test/helpers/hardbits.ts, certificates from the openssl
 * CLI (test/helpers/certs.ts).
 */
import test from 'ava';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { MemoryLogger } from '../ts/log/logger.js';
import { StratumClient } from '../ts/miner/client.js';
import { Pool } from '../ts/pool/pool.js';
import { freePort } from '../ts/node/ports.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { makeCert, type MadeCert } from './helpers/certs.js';
import { killAllCkpools, startCkpool } from './helpers/ckpool-proc.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';
import { mineOne, tempDir, removeTempDirs } from './helpers/modes.js';

let node: BcoinNode;
let hard: HardBits;
const dir = tempDir('tls-proc');
const live = path.join(dir, 'live');
const certPath = path.join(live, 'fullchain.pem');
const keyPath = path.join(live, 'privkey.pem');
const clients: StratumClient[] = [];

test.before(async () => {
  mkdirSync(live);
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(2, REGTEST_ADDRESS);
  hard = await hardBitsProxy({ host: node.host, port: node.port });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  killAllCkpools();
  await hard?.close();
  await stopAllBcoins();
  removeTempDirs();
});

function install(c: MadeCert): void {
  writeFileSync(certPath, c.cert + (c.caPath ? readFileSync(c.caPath, 'utf8') : ''));
  copyFileSync(c.keyPath, keyPath);
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

async function servedFingerprint(port: number): Promise<string> {
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); });
  const fp = s.getPeerCertificate().fingerprint256;
  s.destroy();
  return fp;
}

async function servedSoon(port: number, pem: string, timeoutMs = 10_000): Promise<string> {
  const want = fingerprint(pem);
  const end = Date.now() + timeoutMs;
  let fp = '';
  while (Date.now() < end) {
    fp = await servedFingerprint(port).catch(() => '');
    if (fp === want) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return fp;
}

async function tlsMiner(port: number, worker: string, ca: string): Promise<StratumClient> {
  const c = await StratumClient.connectTls(port, '127.0.0.1', { ca });
  clients.push(c);
  const job = c.nextJob(15_000, true);
  const sub = await c.subscribe('tls-proc/1.0');
  if (!Array.isArray(sub.result)) throw new Error(`subscribe: ${JSON.stringify(sub)}`);
  const a = await c.authorize(worker);
  if (a.result !== true) throw new Error(`authorize: ${JSON.stringify(a)}`);
  await job;
  return c;
}

test.serial('ckpool binary: SIGHUP serves a renewed certificate to new miners while a TLS miner mines on; -H hands the TLS listener over', async (t) => {
  const first = makeCert(dir, { cn: 'pool.test', ca: true });
  const ca = readFileSync(first.caPath!, 'utf8');
  const issuer = { certPath: first.caPath!, keyPath: first.caKeyPath! };
  install(first);
  const port = await freePort();
  const conf = {
    btcd: [{ url: hard.url, auth: node.user, pass: node.pass, notify: false }], btcaddress: REGTEST_ADDRESS,
    serverurl: [`stratum+ssl://127.0.0.1:${port}`], tlscert: certPath, tlskey: keyPath,
    startdiff: 1e-8, mindiff: 1e-8, highdiff: 1e-8, update_interval: 600,
  };
  const a = await startCkpool(['-q'], conf, { name: 'tlsho', dir, port });
  t.regex(a.out(), new RegExp(`stratum on stratum\\+ssl://127\\.0\\.0\\.1:${port}`));
  const m1 = await tlsMiner(port, 'alice.hup', ca);
  t.is((m1.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, fingerprint(first.cert));
  t.is((await mineOne(m1, 'alice.hup')).reply.result, true);

  // certbot renews: new files, then `kill -HUP`
  const second = makeCert(dir, { cn: 'pool.test', ca: issuer });
  install(second);
  a.child.kill('SIGHUP');
  t.is(await servedSoon(port, second.cert), fingerprint(second.cert), 'new connections get the renewed certificate');
  t.is(a.child.exitCode, null, 'SIGHUP does not stop the pool');
  t.is((await mineOne(m1, 'alice.hup')).reply.result, true, 'the connected TLS miner mines on');
  t.regex(a.log(), /SIGHUP: reloaded TLS certificate: .*fullchain\.pem/);

  // a broken renewal: logged, the pool keeps serving the previous certificate
  writeFileSync(keyPath, 'not a key\n');
  a.child.kill('SIGHUP');
  const end = Date.now() + 10_000;
  while (!/TLS certificate reload failed/.test(a.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.regex(a.log(), /SIGHUP: TLS certificate reload failed, still serving the previous one: TLS key file .*privkey\.pem holds no usable private key/);
  t.is(await servedFingerprint(port), fingerprint(second.cert));

  // handover: the new process inherits the TLS listening socket and reads the files as they are now
  const third = makeCert(dir, { cn: 'pool.test', ca: issuer });
  install(third);
  const b = await startCkpool(['-q', '-H'], conf, { name: 'tlsho', dir, port });
  t.is(await servedSoon(port, third.cert), fingerprint(third.cert), 'the new process serves the TLS port with the current files');
  const m2 = await tlsMiner(port, 'bob.after', ca);
  t.is((await mineOne(m2, 'bob.after')).reply.result, true);
  const [code] = await a.exited;
  t.is(code, 0, 'the old process handed over and exited');
  t.is(b.child.exitCode, null);
});

test.serial('ckpool -p (proxy mode) with a stratum+ssl:// listener: SIGHUP serves the renewed certificate too', async (t) => {
  // the upstream: a plain in-process pool on the same node
  const upstream = await Pool.start({
    btcd: [{ url: hard.url, auth: node.user, pass: node.pass, notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: ['127.0.0.1:0'], startdiff: 1e-8, mindiff: 1e-8, logdir: path.join(dir, 'upstream-logs'), updateInterval: 600,
  }, { logger: new MemoryLogger(), statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
  try {
    const pdir = path.join(dir, 'proxy');
    mkdirSync(pdir);
    const one = makeCert(pdir, { cn: 'proxy.test' });
    const two = makeCert(pdir, { cn: 'proxy.test' });
    const cert = path.join(pdir, 'cert.pem');
    const key = path.join(pdir, 'key.pem');
    copyFileSync(one.certPath, cert);
    copyFileSync(one.keyPath, key);
    const port = await freePort();
    const p = await startCkpool(['-p', '-q'], {
      proxy: [{ url: `127.0.0.1:${upstream.addresses[0]!.port}`, auth: 'proxyuser', pass: 'x' }],
      serverurl: [`stratum+ssl://127.0.0.1:${port}`], tlscert: cert, tlskey: key, startdiff: 1e-8, mindiff: 1e-8,
    }, { name: 'tlsproxy', dir: pdir, port });
    // miners are let in once the upstream has sent work
    t.is(await servedSoon(port, one.cert, 20_000), fingerprint(one.cert));
    const m = await tlsMiner(port, 'paul.proxy', one.cert);
    t.is((await mineOne(m, 'paul.proxy')).reply.result, true);
    copyFileSync(two.certPath, cert);
    copyFileSync(two.keyPath, key);
    p.child.kill('SIGHUP');
    t.is(await servedSoon(port, two.cert), fingerprint(two.cert));
    t.is((await mineOne(m, 'paul.proxy')).reply.result, true, 'the connected miner mines on');
    t.is(p.child.exitCode, null);
  } finally {
    await upstream.stop();
  }
});
