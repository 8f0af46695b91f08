/**
 * Issue 18: a link carries many miners, so the limits made for one miner must not drop
 * it; and a passthrough's notify fan-out. Real TCP, a real pool on bcoin regtest (behind
 * test/helpers/hardbits.ts, so no share is a block), a real passthrough.
 *
 * The proxy test speaks for a ckpool proxy's (-p) upstream connection with a raw socket
 * that subscribes exactly as ts/modes/proxy.ts does (agent "ckpool-ts/…"): a real proxy
 * would need a real farm behind it to push 20,000 shares a second. The shares are
 * random (the verdicts do not matter); what is asserted is that the connection stays and
 * every one of them is answered — no timing.
 */
import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import { Pool } from '../ts/pool/pool.js';
import { PassthroughMode } from '../ts/modes/passthrough.js';
import { ProxyMode } from '../ts/modes/proxy.js';
import { startNode } from '../ts/modes/node.js';
import { AGENT } from '../ts/modes/common.js';
import { MemoryLogger } from '../ts/log/logger.js';
import { REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import type { HardBits } from './helpers/hardbits.js';
import { freePort } from '../ts/node/ports.js';
import { mainPool, mineOne, miner, modeConfig, startMainPoolEnv, stopMainPoolEnv, tempDir, waitFor } from './helpers/modes.js';

const DIFF = 0.00001;
let node: BcoinNode;
let hard: HardBits;
let pool: Pool;
const closers: (() => Promise<void> | void)[] = [];

test.before(async () => {
  ({ node, hard, pool } = await startMainPoolEnv(DIFF));
});

test.after.always(() => stopMainPoolEnv({ pool, hard }, closers));

/**
 * A raw stratum connection: subscribe (as `agent`), authorize, wait for a job, then
 * write `n` submits in one go and count the answers to them until `n` arrive or it closes.
 */
async function pushShares(port: number, agent: string, n: number): Promise<{ answered: number; closed: boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  let buf = '';
  let job: unknown[] | null = null;
  let authorized = false;
  let answered = 0;
  let closed = false;
  let wake: () => void = () => {};
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = JSON.parse(line) as { id?: unknown; method?: string; params?: unknown[]; result?: unknown };
      if (m.method === 'mining.notify') job = m.params!;
      else if (m.id === 2) authorized = m.result === true;
      else if (typeof m.id === 'number' && m.id >= 16) answered++;
    }
    wake();
  });
  sock.on('error', () => {});
  sock.on('close', () => { closed = true; wake(); });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`{"id":1,"method":"mining.subscribe","params":[${JSON.stringify(agent)}]}\n{"id":2,"method":"mining.authorize","params":["farm.proxy","x"]}\n`);
  await waitFor(() => authorized && job !== null, 10_000, 'authorize and a job');
  const jobId = JSON.stringify(job![0]);
  const ntime = JSON.stringify(job![7]);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const en2 = (i + 0x10000000).toString(16).padStart(16, '0');
    lines.push(`{"id":${16 + i},"method":"mining.submit","params":["farm.proxy",${jobId},"${en2}",${ntime},"${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}"]}\n`);
  }
  sock.write(lines.join(''));
  const deadline = Date.now() + 90_000;
  while (answered < n && !closed && Date.now() < deadline) {
    await new Promise<void>((r) => { wake = r; setTimeout(r, 500); });
  }
  const result = { answered, closed };
  sock.destroy();
  return result;
}

test.serial('a ckpool proxy\'s single connection pushing 25,000 shares at once is not dropped, and every share is answered', async (t) => {
  const port = pool.addresses[0]!.port;
  const r = await pushShares(port, AGENT, 25_000);
  t.false(r.closed, 'the proxy connection was dropped');
  t.is(r.answered, 25_000);
  t.is(pool.server.stats().dropped['flood'] ?? 0, 0);
});

test.serial('the same burst from a plain miner is still dropped (the default per-miner limits hold)', async (t) => {
  const port = pool.addresses[0]!.port;
  const drops = () => (pool.server.stats().dropped['flood'] ?? 0) + (pool.server.stats().dropped['invalid share flood'] ?? 0);
  const before = drops();
  const r = await pushShares(port, 'cgminer/4.12.0', 25_000);
  t.true(r.closed);
  t.true(r.answered < 25_000);
  // the invalid-share burst (500 in a row) or the message bucket, whichever comes first
  t.is(drops(), before + 1);
});

test.serial('a passthrough link carrying 200 miners\' 20,000 submits in a burst is not dropped, and every miner is answered in full', async (t) => {
  const pt = await PassthroughMode.start(modeConfig('passthrough', [{ port: pool.addresses[0]!.port }]),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => pt.stop());
  await pt.waitReady(10_000);
  const port = pt.addresses[0]!.port;
  const linksBefore = pool.links.links.size;
  const floods = pool.server.stats().dropped['flood'] ?? 0;
  // 200 miners at once, 100 submits each: 20,000 lines on one link in about one go
  const results = await Promise.all(Array.from({ length: 200 }, () => pushShares(port, 'cgminer/4.12.0', 100)));
  t.is(results.filter((r) => r.closed).length, 0);
  t.is(results.reduce((a, r) => a + r.answered, 0), 20_000);
  t.is(pool.links.links.size, linksBefore, 'the link was dropped');
  t.is(pool.server.stats().dropped['flood'] ?? 0, floods);
});

test.serial('notify fan-out: a block change costs the link one message for all its miners; without it, one per miner', async (t) => {
  const up = [{ port: pool.addresses[0]!.port }];
  const fan = await PassthroughMode.start(modeConfig('passthrough', up), { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  const plain = await PassthroughMode.start(modeConfig('passthrough', up, { notifyfanout: false }), { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => fan.stop(), () => plain.stop());
  await fan.waitReady(10_000);
  await plain.waitReady(10_000);
  const a = await Promise.all([1, 2, 3].map((i) => miner(fan.addresses[0]!.port, `fan.m${i}`)));
  const b = await Promise.all([1, 2, 3].map((i) => miner(plain.addresses[0]!.port, `plain.m${i}`)));
  closers.push(() => { for (const c of [...a, ...b]) c.close(); });
  await waitFor(() => [...pool.links.links.values()].filter((l) => l.subs.size === 3).length === 2, 10_000, 'both links with 3 miners');
  const fanLink = [...pool.links.links.values()].find((l) => l.subs.size === 3 && l.fanout)!;
  const plainLink = [...pool.links.links.values()].find((l) => l.subs.size === 3 && !l.fanout)!;
  t.truthy(fanLink);
  t.truthy(plainLink);
  const f0 = fanLink.fanouts;
  const s0 = fanLink.fanoutCopiesSaved;
  const bytes0 = pool.server.stats().bytesOut;
  const old = a[0]!.job!.jobId;
  const jobs = [...a, ...b].map((c) => new Promise<{ jobId: string; clean: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no new clean job within 20 s')), 20_000);
    const on = (j: { jobId: string; clean: boolean }) => {
      if (j.jobId === old) return;
      clearTimeout(timer);
      c.off('notify', on);
      resolve(j);
    };
    c.on('notify', on);
  }));
  await node.generateToAddress(1, REGTEST_ADDRESS);
  const got = await Promise.all(jobs);
  // every miner on both passthroughs holds the same clean job
  t.is(new Set(got.map((j) => j.jobId)).size, 1);
  t.true(got.every((j) => j.clean));
  t.is(fanLink.fanouts - f0, 1);
  t.is(fanLink.fanoutCopiesSaved - s0, 2);
  t.is(fan.counters.fanouts >= 1, true);
  t.is(plain.counters.fanouts, 0);
  t.true(pool.server.stats().bytesOut > bytes0);
  // a miner that joins after the fan-out still gets its job by itself
  const late = await miner(fan.addresses[0]!.port, 'fan.late');
  closers.push(() => late.close());
  t.truthy(late.job);
});

test.serial('the limit keys are read from ckpool.conf and reach the pool\'s server and its links', async (t) => {
  const small = await mainPool(node, hard.url, { startdiff: DIFF });
  await small.stop();
  t.is(small.server.floodRate, 10_000);
  t.is(small.server.floodBurst, 4096);
  t.is(small.server.linkMaxPendingBytes, 1024 * 1024 * 1024);
  t.is(small.server.linkMiners, 0);
  const cfg = modeConfig('passthrough', [{ port: 1 }], { floodrate: 20_000, floodburst: 100, maxpending: 65_536, linkmaxpending: 1 << 20, linkminers: 50_000, invalidburst: 0, notifyfanout: false });
  t.like(cfg, { floodrate: 20_000, floodburst: 100, maxpending: 65_536, linkmaxpending: 1 << 20, linkminers: 50_000, invalidburst: 0, notifyfanout: false });
  const pt = await PassthroughMode.start(cfg, { logger: new MemoryLogger(), retryMs: 60_000 });
  closers.push(() => pt.stop());
  t.is(pt.server.floodRate, 20_000);
  t.is(pt.server.floodBurst, 100);
  t.is(pt.server.maxPendingBytes, 65_536);
});

test.serial('the pool restarts under a passthrough: its miners stay connected, keep their extranonce1, and their shares count on the new pool', async (t) => {
  const port = await freePort();
  let a: Pool | null = await mainPool(node, hard.url, { startdiff: DIFF, port });
  closers.push(() => a?.stop());
  const pt = await PassthroughMode.start(modeConfig('passthrough', [{ port }]), { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => pt.stop());
  await pt.waitReady(10_000);
  const ms = await Promise.all([1, 2, 3].map((i) => miner(pt.addresses[0]!.port, `resume.m${i}`)));
  closers.push(() => { for (const c of ms) c.close(); });
  const before = ms.map((c) => c.extranonce1.toString('hex'));
  // the pool goes away and a new one (another process in real life: -H) takes its port
  await a.stop();
  a = null;
  await waitFor(() => pt.link === null, 10_000, 'the passthrough to see its link go');
  const b = await mainPool(node, hard.url, { startdiff: DIFF, port });
  closers.push(() => b.stop());
  await waitFor(() => pt.counters.resumed >= 3, 15_000, 'the three miners carried over');
  t.true(ms.every((c) => !c.closed));
  t.is(pt.counters.reconnected, 0);
  const subs = [...b.stratifier.clients.values()].filter((c) => c.workername.startsWith('resume.'));
  t.deepEqual(subs.map((c) => c.enonce1Hex).sort(), [...before].sort());
  // the new pool's job reached them; a share on it is accepted for the right worker
  await waitFor(() => ms.every((c) => b.generator.workbase(c.job!.jobId) !== undefined), 10_000, 'the new pool\'s job at the miners');
  const r = await mineOne(ms[0]!, 'resume.m1');
  t.is(r.reply.result, true);
  t.is(subs.find((c) => c.workername === 'resume.m1')!.accepted, 1);
});

test.serial('the pool restarts under a node (-N): its miners stay connected with their extranonce1, the node checks their shares on the new pool\'s jobs', async (t) => {
  const port = await freePort();
  const nodePort = await freePort();
  let a: Pool | null = await mainPool(node, hard.url, { startdiff: DIFF, port, nodePort });
  closers.push(() => a?.stop());
  // the node's own bitcoind: the same regtest node behind the hardbits proxy (no share is a block)
  const cfg = modeConfig('node', [{ port: nodePort }], { btcd: [{ url: hard.url, auth: node.user, pass: node.pass }] });
  const { mode, tap } = await startNode(cfg, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => mode.stop());
  await mode.waitReady(10_000);
  const ms = await Promise.all([1, 2, 3].map((i) => miner(mode.addresses[0]!.port, `noderes.m${i}`)));
  closers.push(() => { for (const c of ms) c.close(); });
  const before = ms.map((c) => c.extranonce1.toString('hex'));
  await a.stop();
  a = null;
  await waitFor(() => mode.link === null, 10_000, 'the node to see its link go');
  const b = await mainPool(node, hard.url, { startdiff: DIFF, port, nodePort });
  closers.push(() => b.stop());
  await waitFor(() => mode.counters.resumed >= 3, 15_000, 'the three miners carried over');
  t.true(ms.every((c) => !c.closed));
  t.is(mode.counters.reconnected, 0);
  const subs = [...b.stratifier.clients.values()].filter((c) => c.workername.startsWith('noderes.'));
  t.deepEqual(subs.map((c) => c.enonce1Hex).sort(), [...before].sort());
  // the new pool's workinfo reached the node and its job the miners; the node checks a share on it itself
  await waitFor(() => ms.every((c) => b.generator.workbase(c.job!.jobId) !== undefined && tap.jobs.has(c.job!.jobId)), 10_000, 'the new pool\'s job at the node and the miners');
  const seen = once(tap, 'share') as Promise<[unknown, { jobId: string; sdiff: number }]>;
  const r = await mineOne(ms[1]!, 'noderes.m2');
  t.is(r.reply.result, true);
  t.is(subs.find((c) => c.workername === 'noderes.m2')!.accepted, 1);
  // the node hashed the same share as the pool: with the miner's extranonce1 it still holds
  // (a wrong one would give a random hash, almost never at the pool's share difficulty)
  const [, share] = await seen;
  t.is(share.jobId, ms[1]!.job!.jobId);
  t.true(share.sdiff >= DIFF, `the node's difficulty of the share ${share.sdiff}`);
  t.is(tap.counters.unknownJob, 0);

  // a node link takes notify fan-out too: a block change crosses it once for the three
  const link = [...b.links.links.values()].find((l) => l.kind === 'node' && l.subs.size === 3)!;
  t.true(link.fanout, 'the node asked for fan-out in its handshake');
  const f0 = link.fanouts;
  const old = ms[0]!.job!.jobId;
  const fresh = ms.map((c) => new Promise<string>((resolve) => {
    const on = (j: { jobId: string; clean: boolean }) => {
      if (j.jobId === old || !j.clean) return;
      c.off('notify', on);
      resolve(j.jobId);
    };
    c.on('notify', on);
  }));
  await node.generateToAddress(1, REGTEST_ADDRESS);
  const jobs = await Promise.all(fresh);
  t.is(new Set(jobs).size, 1, 'the same clean job at every miner');
  t.is(link.fanouts - f0, 1);
  await waitFor(() => tap.jobs.has(jobs[0]!), 10_000, 'the node holds the job\'s workinfo');
  const r2 = await mineOne(ms[2]!, 'noderes.m3');
  t.is(r2.reply.result, true);
});

test.serial('a miner whose extranonce1 the new pool cannot give back is sent client.reconnect (as before)', async (t) => {
  const port = await freePort();
  let a: Pool | null = await mainPool(node, hard.url, { startdiff: DIFF, port });
  closers.push(() => a?.stop());
  const pt = await PassthroughMode.start(modeConfig('passthrough', [{ port }]), { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => pt.stop());
  await pt.waitReady(10_000);
  const m = await miner(pt.addresses[0]!.port, 'clash.m1');
  closers.push(() => m.close());
  await a.stop();
  a = null;
  await waitFor(() => pt.link === null, 10_000, 'the passthrough to see its link go');
  // the new pool hands out longer extranonce1s: the old one is not one of its own
  const b = await Pool.start({
    btcd: [{ url: hard.url, auth: node.user, pass: node.pass, notify: false, line: 0 }], btcaddress: REGTEST_ADDRESS,
    serverurl: [`127.0.0.1:${port}`], startdiff: DIFF, mindiff: 1e-9, nonce1length: 6, logdir: tempDir('clash'), updateInterval: 600, blockpoll: 50,
  }, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, statsIntervalMs: 60_000 });
  closers.push(() => b.stop());
  await waitFor(() => m.closed, 15_000, 'the miner sent away');
  t.is(pt.counters.reconnected, 1);
  t.is(pt.counters.resumed, 0);
});

test.serial('the limit keys reach a proxy\'s (-p) own miner listener, and invalidburst its miners', async (t) => {
  const cfg = modeConfig('proxy', [{ port: pool.addresses[0]!.port }], { startdiff: DIFF, mindiff: 1e-9, floodrate: 20_000, floodburst: 100, maxpending: 65_536, linkmaxpending: 1 << 20, linkminers: 50_000, invalidburst: 2 });
  const p = await ProxyMode.start(cfg, { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => p.stop());
  await p.waitReady(10_000);
  t.is(p.server.floodRate, 20_000);
  t.is(p.server.floodBurst, 100);
  t.is(p.server.maxPendingBytes, 65_536);
  t.is(p.server.linkMaxPendingBytes, 1 << 20);
  t.is(p.server.linkMiners, 50_000);
  // invalidburst 2: the second malformed submit in a row drops the miner (the default is far higher)
  const m = await miner(p.addresses[0]!.port, 'proxyuser.burst');
  closers.push(() => m.close());
  for (let i = 0; i < 2; i++) m.write(JSON.stringify({ id: 100 + i, method: 'mining.submit', params: ['proxyuser.burst'] }) + '\n');
  await waitFor(() => m.closed, 5000, 'the miner dropped after two invalid submits');
  t.true(m.closed);
});
