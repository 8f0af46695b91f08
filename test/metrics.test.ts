/**
 * Prometheus metrics (ts/metrics, issue 15 point 3) of real pools on a real bcoin
 * regtest node, scraped over HTTP from the API server's GET /metrics and read with a
 * real exposition-format parser (parse-prometheus-text-format, prom2json's output shape),
 * so a malformed exposition fails the test.
 *
 * Pool A serves its miners on two worker threads behind test/helpers/hardbits.ts (shares
 * are not blocks there, so share verdicts are exact); pool B is on the node directly, so
 * its miner's share solves a real block — the tip change pool A then fans out. A proxy in
 * front of pool A checks the proxy modes' own metrics.
 */
import test from 'ava';
import parse, { type PromFamily as Family, type PromSample as Sample } from 'parse-prometheus-text-format';
import { MemoryLogger } from '../ts/log/logger.js';
import { Pool } from '../ts/pool/pool.js';
import { ProxyMode } from '../ts/modes/proxy.js';
import { StratumClient } from '../ts/miner/client.js';
import type { Histogram } from 'prom-client';
import { PoolMetrics, ProxyMetrics, OTHER_LABEL } from '../ts/metrics/index.js';
import { startApiServer, type ApiServer } from '../ts/api/server.js';
import { poolApiSource } from '../ts/api/source.js';
import { startTestBcoin, stopAllBcoins, REGTEST_ADDRESS, type BcoinNode } from './helpers/bcoin.js';
import { hardBitsProxy, type HardBits } from './helpers/hardbits.js';
import { modeConfig, miner, removeTempDirs, tempDir } from './helpers/modes.js';


const DIFF = 0.0001;
let node: BcoinNode;
let hard: HardBits;
let poolA: Pool;
let metricsA: PoolMetrics;
let api: ApiServer;
const closers: (() => unknown)[] = [];
const clients: StratumClient[] = [];

test.before(async () => {
  node = await startTestBcoin({ walletEnabled: false });
  await node.generateToAddress(432, REGTEST_ADDRESS); // past segwit activation (pool B mines real blocks)
  hard = await hardBitsProxy({ host: node.host, port: node.port });
  poolA = await Pool.start({
    btcd: [{ url: hard.url, auth: node.user, pass: node.pass, notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: DIFF, mindiff: 1e-9, logdir: tempDir('metrics-a'),
    updateInterval: 600, blockpoll: 50,
  }, { logger: new MemoryLogger(), workers: 2, statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
  metricsA = new PoolMetrics(poolA);
  api = await startApiServer({ url: '127.0.0.1:0', source: poolApiSource(poolA), metrics: metricsA, webRoot: null });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  for (const c of closers.reverse()) await c();
  await api?.close();
  metricsA?.close();
  await poolA?.stop();
  await hard?.close();
  await stopAllBcoins();
  removeTempDirs();
});

async function scrape(): Promise<{ families: Map<string, Family>; contentType: string }> {
  const r = await fetch(`${api.url}metrics`);
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  const families = new Map(parse(await r.text()).map((f) => [f.name, f]));
  return { families, contentType: r.headers.get('content-type') ?? '' };
}

function samples(fams: Map<string, Family>, name: string): Sample[] {
  const f = fams.get(name);
  if (!f) throw new Error(`metric ${name} missing`);
  return f.metrics;
}

/** The value of the one sample of `name` whose labels include `labels`. */
function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const hits = samples(fams, name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${hits.length} samples`);
  return Number(hits[0]!.value);
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

async function connect(port: number, worker: string): Promise<StratumClient> {
  const c = await miner(port, worker);
  clients.push(c);
  return c;
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

test.serial('shares accepted and rejected by reason, difficulty, miners and per-worker hashrate, exactly as submitted', async (t) => {
  const port = poolA.addresses[0]!.port;
  const names = ['alice.w1', 'alice.w2', 'bob.w1'];
  const miners = await Promise.all(names.map((n) => connect(port, n)));
  let accepted = 0;
  let acceptedDiff = 0;
  const firstShare = new Map<StratumClient, unknown[]>();
  for (let round = 0; round < 3; round++) {
    for (const [i, c] of miners.entries()) {
      const diff = c.difficulty;
      const s = c.grind({ job: c.job!, diff });
      const r = await c.submit(names[i]!, s.params);
      t.is(r.result, true, `${names[i]} share ${round}: ${JSON.stringify(r.error)}`);
      accepted++;
      acceptedDiff += diff;
      if (!firstShare.has(c)) firstShare.set(c, s.params);
    }
  }
  const [a1, a2, b1] = miners as [StratumClient, StratumClient, StratumClient];
  const rej = async (c: StratumClient, worker: string, params: unknown[], reason: string) => {
    const r = await c.submit(worker, params);
    t.is(r.result, false);
    t.is(r['reject-reason'], reason);
  };
  await rej(a1, 'alice.w1', firstShare.get(a1)!, 'Duplicate');
  await rej(a2, 'alice.w2', ['deadbeef', '00'.repeat(8), hex8(a2.job!.ntime), '00000000'], 'Invalid JobID');
  await rej(b1, 'bob.w1', [b1.job!.jobId, '00'.repeat(8), hex8(b1.job!.ntime + 8000), '00000000'], 'Ntime out of range');
  // a share whose hash misses the target: the grinder's first try (extranonce2 0, nonce 0) when it finds nothing
  t.throws(() => b1.grind({ job: b1.job!, start: 0, maxTries: 1 }), undefined, 'extranonce2 0 / nonce 0 is not a share');
  await rej(b1, 'bob.w1', [b1.job!.jobId, '00'.repeat(8), hex8(b1.job!.ntime), '00000000'], 'Above target');

  // worker threads replay their stats to the main thread within 50 ms
  const { families: m, contentType } = await until('all shares counted', async () => {
    const s = await scrape();
    const rejected = samples(s.families, 'ckpool_shares_rejected_total').reduce((n, x) => n + Number(x.value), 0);
    return value(s.families, 'ckpool_shares_accepted_total') === accepted && rejected === 4 ? s : undefined;
  });
  t.regex(contentType, /^text\/plain; version=0\.0\.4/);
  t.is(m.get('ckpool_shares_accepted_total')!.type, 'COUNTER');
  t.is(value(m, 'ckpool_shares_accepted_total'), 9);
  t.is(value(m, 'ckpool_shares_rejected_total', { reason: 'DUPLICATE' }), 1);
  t.is(value(m, 'ckpool_shares_rejected_total', { reason: 'INVALID_JOB' }), 1);
  t.is(value(m, 'ckpool_shares_rejected_total', { reason: 'NTIME' }), 1);
  t.is(value(m, 'ckpool_shares_rejected_total', { reason: 'STALE' }), 0);
  t.is(value(m, 'ckpool_shares_rejected_total', { reason: 'ABOVE_TARGET' }), 1);
  t.true(Math.abs(value(m, 'ckpool_accepted_difficulty_total') - acceptedDiff) < 1e-12, 'accepted difficulty = the diffs the shares were submitted at');
  t.is(value(m, 'ckpool_miners_connected'), 3);
  t.is(value(m, 'ckpool_workers'), 3);
  t.is(value(m, 'ckpool_users'), 2);
  t.is(value(m, 'ckpool_worker_threads'), 2);
  t.true(value(m, 'ckpool_best_share') >= DIFF);
  for (const w of names) t.true(value(m, 'ckpool_worker_hashrate', { worker: w, window: '1m' }) > 0, `${w} has a 1m hashrate`);
  t.true(value(m, 'ckpool_user_hashrate', { user: 'alice', window: '5m' }) > 0);
  t.is(samples(m, 'ckpool_worker_hashrate').filter((s) => s.labels?.worker === OTHER_LABEL).length, 0, 'under the cap: no "other" bucket');
  t.true(value(m, 'ckpool_hashrate', { window: '1m' }) >= 0);
  // the work and the node
  const wb = poolA.generator.current!;
  t.is(value(m, 'ckpool_block_height'), wb.height);
  t.is(value(m, 'ckpool_network_difficulty'), 1, 'the hardbits proxy\'s difficulty-1 target');
  const age = value(m, 'ckpool_template_age_seconds');
  t.true(age >= 0 && age < 600);
  const nodeName = new URL(hard.url.includes('://') ? hard.url : `http://${hard.url}`).host;
  t.is(value(m, 'ckpool_bitcoind_up', { node: nodeName }), 1);
  t.is(value(m, 'ckpool_bitcoind_current', { node: nodeName }), 1);
  // (calls from before the metrics were attached are not in it: the block poll's are).
  // parse-prometheus-text-format merges a histogram's label sets into one sample (it only
  // reads histograms without labels besides "le"), so its per-node series are read from
  // the registry's values; the parser has still read the exposition text they came in.
  t.is(m.get('ckpool_bitcoind_rpc_duration_seconds')!.type, 'HISTOGRAM');
  const rpc = await (metricsA.registry.getSingleMetric('ckpool_bitcoind_rpc_duration_seconds') as Histogram).get();
  const pick = (suffix: string) => rpc.values.find((v) => v.metricName === `ckpool_bitcoind_rpc_duration_seconds_${suffix}` &&
    v.labels.node === nodeName && v.labels.method === 'getbestblockhash')?.value ?? 0;
  t.true(pick('count') >= 1, 'the block poll\'s calls were timed');
  t.true(pick('sum') > 0);
  // Node's default process metrics, in this pool's own registry
  t.true(value(m, 'process_resident_memory_bytes') > 0);
  t.truthy(m.get('nodejs_eventloop_lag_p99_seconds'));
});

test.serial('the per-worker series are capped: the top N by 5m hashrate by name, the rest summed as "__other__"', async (t) => {
  // The rates move between any two scrapes (ckpool's decay folds a burst's held-back
  // difficulty in at a later update, and the stats tick decays idle workers), so an uncapped
  // and a capped exporter are compared on one frozen moment of the real pool's stats: both
  // read the same user views, taken once.
  const views = new Map(poolA.stats.userNames().map((n) => [n, poolA.stats.getUser(n)]));
  const stats = new Proxy(poolA.stats, {
    get(target, key) {
      if (key === 'userNames') return () => [...views.keys()];
      if (key === 'getUser') return (n: string) => views.get(n);
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const frozen = { stats, generator: poolA.generator, stratifier: poolA.stratifier, workers: poolA.workers, events: poolA.events };
  const uncapped = new PoolMetrics(frozen, { maxWorkers: 100, defaultMetrics: false });
  const capped = new PoolMetrics(frozen, { maxWorkers: 1, defaultMetrics: false });
  try {
    const full = new Map(parse(await uncapped.text()).map((f) => [f.name, f]));
    const few = new Map(parse(await capped.text()).map((f) => [f.name, f]));
    const fullWorkers = samples(full, 'ckpool_worker_hashrate').filter((s) => s.labels?.window === '5m');
    const fewWorkers = samples(few, 'ckpool_worker_hashrate').filter((s) => s.labels?.window === '5m');
    t.is(fullWorkers.length, 3);
    t.true(fullWorkers.every((s) => Number(s.value) > 0), 'three workers with a 5m hashrate');
    t.deepEqual(fewWorkers.map((s) => s.labels!.worker === OTHER_LABEL).sort(), [false, true], 'one named worker and the other bucket');
    const top = [...fullWorkers].sort((a, b) => Number(b.value) - Number(a.value) || (a.labels!.worker! < b.labels!.worker! ? -1 : 1))[0]!;
    const named = fewWorkers.find((s) => s.labels!.worker !== OTHER_LABEL)!;
    t.is(named.labels!.worker, top.labels!.worker, 'the named one is the fastest');
    t.is(Number(named.value), Number(top.value));
    const sum = (xs: Sample[]) => xs.reduce((n, s) => n + Number(s.value), 0);
    const other = Number(fewWorkers.find((s) => s.labels!.worker === OTHER_LABEL)!.value);
    t.true(Math.abs(other - (sum(fullWorkers) - Number(top.value))) <= 1e-9 * sum(fullWorkers), 'nothing lost: the bucket holds exactly the rest');
    const users = samples(few, 'ckpool_user_hashrate').filter((s) => s.labels?.window === '5m');
    t.is(users.length, 2, 'one user by name, the other in the bucket');
    t.true(users.some((s) => s.labels!.user === OTHER_LABEL));
    t.false(few.has('process_resident_memory_bytes'), 'defaultMetrics: false');
  } finally {
    capped.close();
    uncapped.close();
  }
});

test.serial('worker threads report their event-loop delay', async (t) => {
  const m = await until('both threads reported', async () => {
    const s = (await scrape()).families;
    const threads = new Set(samples(s, 'ckpool_thread_event_loop_delay_seconds').map((x) => x.labels?.thread));
    return threads.has('1') && threads.has('2') ? s : undefined;
  }, 10_000);
  for (const thread of ['1', '2']) {
    const p99 = value(m, 'ckpool_thread_event_loop_delay_seconds', { thread, stat: 'p99' });
    t.true(p99 > 0 && p99 < 5, `thread ${thread} p99 ${p99} s`);
  }
});

test.serial('a block found on pool B counts there (found, accepted); the tip change is fanned out to pool A\'s three miners', async (t) => {
  const poolB = await Pool.start({
    btcd: [{ ...node.btcd(false), notify: false, line: 0 }],
    btcaddress: REGTEST_ADDRESS, serverurl: ['127.0.0.1:0'], startdiff: 1e-6, mindiff: 1e-9, logdir: tempDir('metrics-b'), blockpoll: 50,
  }, { logger: new MemoryLogger(), statsIntervalMs: 60_000, server: { highdiffPort: 65535 } });
  closers.push(() => poolB.stop());
  // Pool.startApi (what config "apiurl" runs) serves the pool's own metrics as GET /metrics
  const apiB = await poolB.startApi('127.0.0.1:0');
  const metricsB = { text: async () => (await fetch(`${apiB.url}metrics`)).text() };
  t.truthy(poolB.metrics);
  const before = new Map(parse(await metricsB.text()).map((f) => [f.name, f]));
  t.is(value(before, 'ckpool_blocks_found_total'), 0);
  t.is(value(before, 'ckpool_blocks_total', { verdict: 'accepted' }), 0);
  const fanoutBefore = Number(samples((await scrape()).families, 'ckpool_notify_fanout_seconds')[0]?.count ?? 0);

  const c = await connect(poolB.addresses[0]!.port, 'carol.rig');
  const s = c.grind({ job: c.job! });
  t.true(s.block, 'on regtest the share is a block');
  const r = await c.submit('carol.rig', s.params);
  t.is(r.result, true);
  const b = await until('the block counted with its verdict', async () => {
    const f = new Map(parse(await metricsB.text()).map((x) => [x.name, x]));
    return value(f, 'ckpool_blocks_total', { verdict: 'accepted' }) === 1 ? f : undefined;
  });
  t.is(value(b, 'ckpool_blocks_found_total'), 1);
  t.is(value(b, 'ckpool_blocks_total', { verdict: 'rejected' }), 0);

  // pool A polls the node (through the hardbits proxy) and sends clean work to its miners
  const a = await until('pool A fanned out the new tip', async () => {
    const f = (await scrape()).families;
    const n = Number(samples(f, 'ckpool_notify_fanout_seconds')[0]?.count ?? 0);
    return n > fanoutBefore && value(f, 'ckpool_notify_fanout_last_miners') === 3 ? f : undefined;
  });
  const last = value(a, 'ckpool_notify_fanout_last_seconds');
  t.true(last >= 0 && last < 5, `fan-out took ${last} s`);
  t.is(value(a, 'ckpool_block_height'), poolA.generator.current!.height);
});

test.serial('proxy mode exports its upstream state and the shares it forwarded and upstream accepted', async (t) => {
  const upstreamPort = poolA.addresses[0]!.port;
  const proxy = await ProxyMode.start(modeConfig('proxy', [{ port: upstreamPort, auth: 'proxyuser', pass: 'x' }], { startdiff: DIFF, mindiff: 1e-9 }),
    { logger: new MemoryLogger(), server: { highdiffPort: 65535 }, retryMs: 100 });
  closers.push(() => proxy.stop());
  await proxy.waitReady(10_000);
  const pm = new ProxyMetrics(proxy, { defaultMetrics: false });
  closers.push(() => pm.close());
  const c = await connect(proxy.addresses[0]!.port, 'dave.rig');
  let forwardedAccepted = 0;
  proxy.on('forwarded', (f) => { if (f.accepted) forwardedAccepted++; });
  for (let i = 0; i < 3; i++) {
    // at the upstream's difficulty (the proxy's ceiling), so every share is forwarded
    const s = c.grind({ job: c.job! });
    t.is((await c.submit('dave.rig', s.params)).result, true);
  }
  const m = await until('three forwarded shares answered', async () => {
    const f = new Map(parse(await pm.text()).map((x) => [x.name, x]));
    return value(f, 'ckpool_upstream_shares_total', { result: 'accepted' }) + value(f, 'ckpool_upstream_shares_total', { result: 'rejected' }) === 3 ? f : undefined;
  });
  t.is(value(m, 'ckpool_upstream_shares_total', { result: 'accepted' }), forwardedAccepted);
  t.is(value(m, 'ckpool_upstream_shares_total', { result: 'accepted' }), 3, 'upstream (pool A) accepted all three');
  t.is(value(m, 'ckpool_upstream_up', { upstream: `127.0.0.1:${upstreamPort}` }), 1);
  t.is(value(m, 'ckpool_upstream_sessions', { state: 'ready' }), 1);
  t.is(value(m, 'ckpool_upstream_link_events_total', { event: 'down' }), 0);
  t.is(value(m, 'ckpool_shares_accepted_total'), 3);
  t.is(value(m, 'ckpool_miners_connected'), 1);
  t.true(value(m, 'ckpool_worker_hashrate', { worker: 'dave.rig', window: '1m' }) > 0);
});
