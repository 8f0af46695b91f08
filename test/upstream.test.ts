/**
 * Upstream trouble in the proxy modes, against a scriptable fake upstream pool
 * (test/helpers/modes.ts): silence means reconnect (not a hang or a crash), a refusal
 * moves on to the next entry, bad JSON is skipped, and a drop never takes the
 * downstream miners down.
 */
import test from 'ava';
import { once } from 'node:events';
import { MemoryLogger } from '../ts/log/logger.js';
import { ProxyMode } from '../ts/modes/proxy.js';
import { UpstreamLink } from '../ts/modes/upstream.js';
import { isCkpoolError } from '../ts/errors.js';
import type { StratumClient } from '../ts/miner/client.js';
import { FakeUpstream, fakeNotify, miner, mineOne, modeConfig, removeTempDirs, waitFor } from './helpers/modes.js';

const closers: (() => Promise<void> | void)[] = [];
test.after.always(async () => {
  for (const c of closers.reverse()) await c();
  removeTempDirs();
});

async function fake(opts: ConstructorParameters<typeof FakeUpstream>[0] = {}): Promise<FakeUpstream> {
  const f = await new FakeUpstream(opts).listen();
  closers.push(() => f.close());
  return f;
}

async function proxyTo(ports: number[], opts: Record<string, unknown> = {}): Promise<ProxyMode> {
  const p = await ProxyMode.start(modeConfig('proxy', ports.map((port) => ({ port })), { startdiff: 0.0001, mindiff: 1e-9 }),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100, ...opts });
  closers.push(() => p.stop());
  await p.waitReady(10_000);
  return p;
}

function track(c: StratumClient): StratumClient {
  closers.push(() => c.close());
  return c;
}

test.serial('silence longer than the timeout means reconnect, not a hang; miners keep their session', async (t) => {
  const up = await fake({ behaviour: 'silent' });
  const proxy = await proxyTo([up.port], { silenceMs: 600 });
  const c = track(await miner(proxy.addresses[0]!.port, 'olga.w1'));
  const firstJob = c.job!.jobId;
  // half-way the proxy probes with mining.ping; the fake stays silent; then it reconnects
  await waitFor(() => up.conns.length >= 2, 5000, 'a reconnect after silence');
  t.true(up.conns[0]!.lines.some((m) => m.method === 'mining.ping'), 'probed before giving up');
  t.true(up.conns[0]!.sock.destroyed);
  // same extranonce1 from the new connection: the miner is not disturbed and gets the new work
  await waitFor(() => c.job!.jobId !== firstJob, 5000, 'new work after the reconnect');
  t.false(c.closed);
  t.is(proxy.main.upstream.connects, 2);
  // the proxy asked to resume its session
  const sub = up.conns[1]!.lines.find((m) => m.method === 'mining.subscribe')!;
  t.deepEqual((sub.params as unknown[])[1], 'abcd0001');
});

test.serial('a refusing upstream is skipped; bad JSON is ignored; a drop leaves miners connected and waiting', async (t) => {
  const refusing = await fake({ authorize: false });
  const good = await fake({ enonce1: 'aabbccdd' });
  const proxy = await proxyTo([refusing.port, good.port], { failbackMs: 60_000 });
  t.is(proxy.main.upstream.active!.index, 1);
  t.regex(proxy.main.upstream.lastErrors[0]!, /refused mining\.authorize as proxyuser/);
  const c = track(await miner(proxy.addresses[0]!.port, 'pete.w1'));
  t.true(c.extranonce1.toString('hex').startsWith('aabbccdd'));
  // garbage, then a real job: the garbage is skipped, the job arrives
  const job = c.nextJob(5000);
  good.broadcastRaw('this is not json {{{');
  good.broadcastRaw('[1,2,3]');
  for (const conn of good.open) conn.send({ id: null, method: 'mining.notify', params: fakeNotify(true) });
  await job;
  t.false(c.closed);
  // a share is forwarded to the fake upstream (which accepts everything)
  const fwd = once(proxy, 'forwarded');
  t.is((await mineOne(c, 'pete.w1')).reply.result, true);
  const [r] = (await fwd) as [{ accepted: boolean; params: unknown[] }];
  t.true(r.accepted);
  t.is(r.params[0], 'proxyuser');
  // the upstream drops us: the miner stays connected and is told to wait
  const told = new Promise<string>((resolve) => c.on('message', (m) => {
    if (m.method === 'client.show_message') resolve(String((m.params as unknown[])[0]));
  }));
  for (const conn of good.open) conn.sock.destroy();
  t.regex(await told, /Upstream pool unavailable/);
  t.false(c.closed);
  // it comes back with the same extranonce1: mining goes on without a reconnect
  const next = c.nextJob(5000);
  await waitFor(() => proxy.main.ready && proxy.main.upstream.connects === 2, 5000, 'reconnected');
  await next;
  t.false(c.closed);
  t.is((await mineOne(c, 'pete.w1')).reply.result, true);
});

test('UpstreamLink: connection errors are coded; a closed link rejects its requests', async (t) => {
  const e = await t.throwsAsync(UpstreamLink.connect('127.0.0.1:1', { connectTimeoutMs: 2000 }));
  t.true(isCkpoolError(e, 'CKP_ERR_PROXY_CONNECT'), String(e));
  const up = await fake({ behaviour: 'silent' });
  const link = await UpstreamLink.connect(`127.0.0.1:${up.port}`);
  await link.request('mining.subscribe', []);
  const pending = link.request('mining.authorize', ['a', 'b']);
  await waitFor(() => up.conns[0]!.lines.length >= 2);
  // silent now (after authorize the fake answers nothing) — close while waiting
  const late = link.request('mining.ping', []);
  link.close('test');
  await pending.catch(() => undefined);
  const err = await t.throwsAsync(late);
  t.true(isCkpoolError(err, 'CKP_ERR_PROXY_CLOSED'));
});

test.serial('an upstream job the share core cannot check (5000 branches, empty coinbase halves) never replaces the last good one', async (t) => {
  // A hand-written upstream: no real pool sends such a notify (issue 14 item 3).
  const up = await fake();
  const logger = new MemoryLogger();
  const proxy = await proxyTo([up.port], { logger });
  const first = track(await miner(proxy.addresses[0]!.port, 'vera.w1'));
  const good = first.job!.jobId;
  const bad1 = fakeNotify(false);
  bad1[4] = Array.from({ length: 5000 }, () => '00'.repeat(32));
  const bad2 = fakeNotify(false);
  bad2[2] = '';
  bad2[3] = '';
  for (const bad of [bad1, bad2]) up.broadcastRaw(JSON.stringify({ id: null, method: 'mining.notify', params: bad }));
  await waitFor(() => logger.lines.filter((l) => /keeping the last good job/.test(l.msg)).length === 2, 5000, 'both jobs refused');
  // one line each, no stack trace
  for (const l of logger.lines.filter((x) => /keeping the last good job/.test(x.msg))) t.false(l.msg.includes('\n    at '), l.msg);
  // new miners connect, stay, and mine on the last good job
  const late = track(await miner(proxy.addresses[0]!.port, 'walt.w1'));
  t.is(late.job!.jobId, proxy.main.source!.current!.jobId);
  t.is((await mineOne(late, 'walt.w1')).reply.result, true);
  t.false(late.closed);
  t.false(first.closed);
  t.is(first.job!.jobId, good, 'the first miner got no unusable work');
});

test.serial('a block found while the upstream is down is held and forwarded when the same session resumes', async (t) => {
  // A hand-written upstream (no real pool can be taken down and brought back on cue with
  // the same session): its job carries regtest's bits, so half of all shares are blocks.
  const up = await fake({ diff: 1e-6 });
  const logger = new MemoryLogger();
  const proxy = await proxyTo([up.port], { logger });
  const m = track(await miner(proxy.addresses[0]!.port, 'xena.w1'));
  const easy = fakeNotify(true);
  easy[6] = '207fffff';
  const job = m.nextJob(5000);
  up.broadcastRaw(JSON.stringify({ id: null, method: 'mining.notify', params: easy }));
  await job;
  // the upstream goes away
  const port = up.port;
  await up.close();
  await waitFor(() => !proxy.main.ready, 5000, 'the proxy to notice');
  let share;
  for (let i = 0; ; i++) {
    share = m.grind({ job: m.job!, start: i * 1_000_003, diff: 1e-6 });
    if (share.block) break;
  }
  t.is((await m.submit('xena.w1', share.params)).result, true, 'accepted locally');
  await waitFor(() => logger.lines.some((l) => /holding block candidate/.test(l.msg)), 5000, 'held');
  // back on the same port, same extranonce1: the session resumes and the block goes up
  const back = await new FakeUpstream({ diff: 1e-6 }).listen(port);
  closers.push(() => back.close());
  await waitFor(() => back.conns.some((c) => c.lines.some((l) => l.method === 'mining.submit' && (l.params as string[])[4] === share.params[3])), 10_000, 'the held block forwarded');
  t.false(logger.lines.some((l) => /block candidate .* lost/.test(l.msg)));
});
