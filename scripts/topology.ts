/**
 * Issue 18's topology benchmark: one pool ← K passthroughs ← N miners, all real
 * processes of this package, on one machine.
 *
 *   npm run bench:topology -- --miners 20000 --passthroughs 5 [--procs P] [--sources 127.0.0.2-127.0.0.40]
 *                             [--share-interval 10] [--measure 40] [--rounds 3] [--no-kill] [--no-handover] [--no-fanout]
 *                             [--tier passthrough|node] [--out results.json]
 *
 * - a ckpool-bench template source (a fake bitcoind for benchmarks: getblocktemplate,
 *   ZMQ hashblock on bench_newblock) feeds the pool: `ckpool -c pool.conf`, with a tiny
 *   mindiff so the generator's random shares are accepted (the share path runs in full:
 *   validation, share log, stats);
 * - K × `ckpool -P` passthroughs, each with the pool as its only `proxy` entry; with
 *   `--tier node`, K × `ckpool -N` node instances instead, linked to the pool's
 *   nodeserver port and with the template source as their own bitcoind (they get the
 *   pool's workbases, build their miners' jobs and check their shares themselves);
 * - ckpool-bench's multi-process generator (ts/bench/swarm.ts) opens N miners spread
 *   round-robin over the passthroughs and over the source addresses; a miner that loses
 *   its connection reconnects to the next passthrough in its list.
 *
 * Phases, each reported: the connect storm (time until every miner holds a job,
 * failures); RSS of the pool and of each passthrough per miner; block change → clean
 * notify at the miners (first/median/p99/last, --rounds times); shares at one per
 * --share-interval s per miner for --measure s (replies/s, latency, CPU of the pool and
 * of the passthroughs); one passthrough killed (SIGKILL): how long its miners take to be
 * back on the others, and how many of the rest noticed; a pool handover (`ckpool -H`):
 * what the passthroughs and the miners saw. `uptime` is recorded at the start and end:
 * the machine may be shared.
 *
 * Prints progress to stderr, a markdown table and one JSON line to stdout.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, totalmem, cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseSources, systemLimits } from '../ts/bench/limits.js';
import { machineLoad, sampleProcs, sampleSystem, type ProcSample } from '../ts/bench/procstat.js';
import { Swarm, type NotifyTimes, type StormResult, type SwarmStatus } from '../ts/bench/swarm.js';
import { triggerNewBlock } from '../ts/bench/trigger.js';
import { freePort } from '../ts/node/ports.js';

const { values: a } = parseArgs({
  options: {
    miners: { type: 'string', default: '20000' },
    passthroughs: { type: 'string', default: '5' },
    procs: { type: 'string' },
    sources: { type: 'string', default: '127.0.0.2-127.0.0.40' },
    'share-interval': { type: 'string', default: '10' },
    measure: { type: 'string', default: '40' },
    rounds: { type: 'string', default: '3' },
    'no-kill': { type: 'boolean', default: false },
    'no-handover': { type: 'boolean', default: false },
    'no-fanout': { type: 'boolean', default: false },
    'pool-workers': { type: 'string', default: '0' },
    timeout: { type: 'string', default: '300' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    tier: { type: 'string', default: 'passthrough' },
  },
});
if (a.tier !== 'passthrough' && a.tier !== 'node') throw new Error(`--tier is passthrough or node, not ${a.tier}`);
const NODE_TIER = a.tier === 'node';
/** the pool's log line for each link of the tier ("Client … is a passthrough link") */
const LINK_LINE = NODE_TIER ? /is a node link/g : /is a passthrough link/g;
const N = Number(a.miners);
const K = Number(a.passthroughs);
const PROCS = Number(a.procs ?? Math.max(2, Math.ceil(N / 12_500)));
const SHARE_S = Number(a['share-interval']);
const MEASURE_S = Number(a.measure);
const ROUNDS = Number(a.rounds);
const TIMEOUT_S = Number(a.timeout);
if (![N, K, PROCS, SHARE_S, MEASURE_S, ROUNDS].every((x) => Number.isFinite(x) && x > 0)) throw new Error('--miners, --passthroughs, --procs, --share-interval, --measure, --rounds must be positive numbers');

const BIN = new URL('../bin/ckpool.js', import.meta.url).pathname;
const BENCH = new URL('../bin/ckpool-bench.js', import.meta.url).pathname;
const dir = mkdtempSync(path.join(tmpdir(), 'ckpool-topology-'));
const children: ChildProcess[] = [];
const log = (s: string) => process.stderr.write(`[topology ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mib = (b: number) => Math.round(b / 1048576);
const r1 = (x: number) => Math.round(x * 10) / 10;
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

function start(args: string[], name: string): ChildProcess {
  const c = spawn(process.execPath, ['--max-semi-space-size=1', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout!.on('data', (d: Buffer) => { if (out.length < 1 << 16) out += d.toString(); });
  c.stderr!.on('data', (d: Buffer) => { if (out.length < 1 << 16) out += d.toString(); });
  (c as ChildProcess & { text: () => string }).text = () => out;
  c.on('exit', (code, sig) => { if (!stopping) log(`${name} (pid ${c.pid}) exited ${sig ?? code}`); });
  children.push(c);
  return c;
}
const text = (c: ChildProcess) => (c as ChildProcess & { text: () => string }).text();
let stopping = false;

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const logText = (name: string) => {
  try {
    return readFileSync(path.join(dir, 'logs', `${name}.log`), 'utf8');
  } catch {
    return '';
  }
};
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

function ckpool(flags: string[], name: string, conf: Record<string, unknown>): ChildProcess {
  const file = path.join(dir, `${name}.conf`);
  writeFileSync(file, JSON.stringify({ logdir: path.join(dir, 'logs'), ...conf }, null, 1));
  return start([BIN, ...flags, '-c', file, '-n', name, '-s', path.join(dir, `sock-${name}`)], name);
}

async function main(): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {
    miners: N, passthroughs: K, tier: a.tier, generatorProcs: PROCS, shareIntervalS: SHARE_S, notifyFanout: !a['no-fanout'], cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30),
    uptimeStart: uptime(), limits: systemLimits(),
  };
  log(`N=${N} miners, K=${K} passthroughs, ${PROCS} generator processes; ${result.uptimeStart}`);
  const sources = parseSources(a.sources!);

  // --- template source (fake bitcoind, benchmarks only)
  const ts = start([BENCH, 'template-source', '--port', '0', '--zmq', '0'], 'template-source');
  await until('the template source', () => text(ts).includes('"rpc"'), 30_000);
  const tsInfo = JSON.parse(text(ts).split('\n').find((l) => l.includes('"rpc"'))!) as { rpc: string; zmq: string };
  const rpc = `bench:bench@${tsInfo.rpc}`;

  // --- the pool
  const poolPort = await freePort();
  const nodePort = NODE_TIER ? await freePort() : 0;
  const poolConf = {
    ...(NODE_TIER ? { nodeserver: [`127.0.0.1:${nodePort}`] } : {}),
    btcd: [{ url: tsInfo.rpc, auth: 'bench', pass: 'bench', notify: true }], zmqblock: tsInfo.zmq,
    btcaddress: 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf', serverurl: [`127.0.0.1:${poolPort}`],
    // random shares are accepted: the share path runs in full. maxclients is capped by
    // the open-file limit (it counts descriptors); the miners behind the links hold none
    // here and get their own limit (linkminers)
    mindiff: 1e-11, startdiff: 1e-11, highdiff: 1e-11, maxclients: 2_000_000, linkminers: 2_000_000, update_interval: 3600, workers: Number(a['pool-workers']),
  };
  let pool = ckpool([], 'pool', poolConf);
  await until('the pool', () => /stratum on/.test(text(pool)), 60_000);
  log(`pool pid ${pool.pid} on ${poolPort}`);

  // --- K passthroughs
  const pts: { proc: ChildProcess; port: number; name: string }[] = [];
  for (let k = 0; k < K; k++) {
    const port = await freePort();
    const name = `${NODE_TIER ? 'node' : 'pt'}${k}`;
    const proc = NODE_TIER
      ? ckpool(['-N'], name, {
        proxy: [{ url: `127.0.0.1:${nodePort}`, auth: 'x', pass: 'x' }], serverurl: [`127.0.0.1:${port}`], maxclients: 25_000,
        btcd: [{ url: tsInfo.rpc, auth: 'bench', pass: 'bench', notify: false }], mindiff: 1e-11, startdiff: 1e-11, highdiff: 1e-11,
      })
      : ckpool(['-P'], name, {
        proxy: [{ url: `127.0.0.1:${poolPort}`, auth: 'x', pass: 'x' }], serverurl: [`127.0.0.1:${port}`], maxclients: 25_000,
        notifyfanout: !a['no-fanout'],
      });
    pts.push({ proc, port, name });
  }
  for (const p of pts) await until(`${p.name}`, () => /stratum on/.test(text(p.proc)), 60_000);
  await until('every passthrough link at the pool', () => count(logText('pool'), LINK_LINE) >= K, 60_000);
  log(`${K} ${NODE_TIER ? 'node instances' : 'passthroughs'} linked`);
  const ptPids = () => pts.map((p) => p.proc.pid!);
  const sample = () => ({ pool: sampleProcs([pool.pid!]), pts: pts.map((p) => (p.proc.exitCode === null && p.proc.signalCode === null ? sampleProcs([p.proc.pid!]) : null)) });
  await sleep(1000);
  const base = sample();

  // --- the connect storm
  const swarm = Swarm.start({ procs: PROCS, targets: pts.map((p) => ({ host: '127.0.0.1', port: p.port })), sources, user: 'topo.w', password: 'x', reconnect: true }, N);
  try {
    await swarm.status(); // workers up
    for (const n of swarm.notes) log(`note: ${n}`);
    log(`connect storm: ${N} miners`);
    const storm: StormResult = await swarm.open(N, TIMEOUT_S);
    log(`storm: ${storm.ok} ready in ${storm.stormMs} ms, failures ${JSON.stringify(storm.failures)}`);
    result.storm = storm;
    if (storm.limits.length) log(`SYSTEM LIMITS HIT: ${storm.limits.join('; ')}`);
    await sleep(5000);
    const held = sample();
    const st0 = await swarm.status(true);
    result.memory = {
      poolRssBaseMiB: mib(base.pool.rss), poolRssMiB: mib(held.pool.rss), poolBytesPerMiner: Math.round((held.pool.rss - base.pool.rss) / Math.max(1, st0.live)),
      passthroughs: held.pts.map((s, k) => {
        const n = st0.byTarget[String(pts[k]!.port)] ?? 0;
        return { miners: n, rssMiB: mib(s!.rss), bytesPerMiner: n ? Math.round((s!.rss - base.pts[k]!.rss) / n) : null };
      }),
      generatorRssMiB: mib(st0.rssBytes),
    };
    log(`memory: ${JSON.stringify(result.memory)}`);

    // --- block change → clean notify at every miner
    // CPU time per block change: what the fan-out costs each process, whatever else the
    // (shared) machine does; the times at the miners depend on the machine's load too
    const rounds: (NotifyTimes & { poolCpuMs: number; passthroughCpuMs: number[] })[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const c0 = sample();
      const t = await swarm.notifyRound(() => triggerNewBlock(rpc), 60);
      const c1 = sample();
      const ms = (x: ProcSample, y: ProcSample) => Math.round(1000 * (y.cpuSeconds - x.cpuSeconds));
      rounds.push({ ...t, poolCpuMs: ms(c0.pool, c1.pool), passthroughCpuMs: c0.pts.map((x, k) => ms(x!, c1.pts[k]!)) });
      log(`notify round ${i + 1}: first ${t.firstMs} median ${t.medianMs} p99 ${t.p99Ms} last ${t.lastMs} ms, missing ${t.missing}; ` +
        `CPU pool ${rounds[i]!.poolCpuMs} ms, passthroughs ${rounds[i]!.passthroughCpuMs.join('/')} ms`);
      await sleep(2000);
    }
    result.notify = rounds;

    // --- sustained shares
    log(`shares: one per ${SHARE_S} s per miner (${Math.round(N / SHARE_S)}/s), ${MEASURE_S} s`);
    await swarm.pace(SHARE_S * 1000);
    await sleep(Math.min(10, SHARE_S) * 1000); // every miner has started
    const g0 = (await swarm.status(true)).cpuSeconds;
    const s0 = sample();
    const m0 = sampleSystem();
    await sleep(MEASURE_S * 1000);
    const s1 = sample();
    const m1 = sampleSystem();
    const sh: SwarmStatus = await swarm.status(true);
    await swarm.pace(0);
    const wall = (s1.pool.at - s0.pool.at) / 1000;
    const cpu = (x: ProcSample, y: ProcSample) => r1((100 * (y.cpuSeconds - x.cpuSeconds)) / wall);
    result.shares = {
      offeredPerSec: Math.round(N / SHARE_S), repliesPerSec: Math.round(sh.replies / wall), accepted: sh.accepted, rejected: sh.rejected, reasons: sh.reasons,
      latencyMs: sh.latencyMs, poolCpuPct: cpu(s0.pool, s1.pool), passthroughCpuPct: s0.pts.map((x, k) => cpu(x!, s1.pts[k]!)),
      generatorCpuPct: r1((100 * (sh.cpuSeconds - g0)) / wall), machine: machineLoad(m0, m1, null), disconnects: sh.disconnectsByTarget,
    };
    log(`shares: ${JSON.stringify(result.shares)}`);
    await sleep(3000);

    // --- kill one passthrough
    if (!a['no-kill'] && K > 1) {
      await swarm.status(true);
      const victim = pts[0]!;
      const before = (await swarm.status()).byTarget[String(victim.port)] ?? 0;
      log(`killing ${victim.name} (pid ${victim.proc.pid}, ${before} miners)`);
      const t0 = Date.now();
      victim.proc.kill('SIGKILL');
      let st = await swarm.status();
      const end = Date.now() + 180_000;
      while (Date.now() < end) {
        await sleep(500);
        st = await swarm.status();
        if (st.reconnecting === 0 && st.reconnects >= before) break;
      }
      const others = Object.entries(st.disconnectsByTarget).filter(([p]) => p !== String(victim.port)).reduce((x, [, v]) => x + v, 0);
      result.kill = {
        minersOnKilled: before, lost: st.disconnectsByTarget[String(victim.port)] ?? 0, reconnected: st.reconnects, stillReconnecting: st.reconnecting,
        reconnectMs: st.reconnectMs, allBackMs: Date.now() - t0, othersDisconnected: others, live: st.live, byTarget: st.byTarget,
      };
      log(`kill: ${JSON.stringify(result.kill)}`);
      pts.shift();
    }

    // --- pool handover (-H)
    if (!a['no-handover']) {
      const liveBefore = (await swarm.status(true)).live;
      const linksBefore = count(logText('pool'), LINK_LINE);
      const old = pool;
      log(`handover: new pool with -H (old pid ${old.pid})`);
      const t0 = Date.now();
      pool = ckpool(['-H'], 'pool', poolConf);
      await until('the new pool', () => /stratum on/.test(text(pool)), 120_000);
      await until('the old pool to exit', () => old.exitCode !== null || old.signalCode !== null, 120_000).catch(() => log('old pool still running after 120 s'));
      const oldGone = Date.now() - t0;
      await until('passthroughs to link to the new pool', () => count(logText('pool'), LINK_LINE) >= linksBefore + pts.length, 120_000)
        .catch(() => log('not every passthrough relinked within 120 s'));
      const relinked = Date.now() - t0;
      await sleep(3000);
      let st = await swarm.status();
      const end = Date.now() + 120_000;
      while (Date.now() < end && !(st.reconnecting === 0 && st.live >= liveBefore)) {
        await sleep(1000);
        st = await swarm.status();
      }
      const lost = Object.values(st.disconnectsByTarget).reduce((x, v) => x + v, 0);
      // what the passthroughs logged: miners carried over to the new pool (resume) / sent to reconnect
      const carried = pts.reduce((x, p) => x + [...logText(p.name).matchAll(/carrying (\d+) miner/g)].reduce((y, m) => y + Number(m[1]), 0), 0);
      result.handover = {
        oldPoolExitedMs: oldGone, passthroughsRelinkedMs: relinked, minersCarriedOver: carried, minersDisconnected: lost, minersReconnected: st.reconnects,
        reconnectMs: st.reconnectMs, live: st.live, stillReconnecting: st.reconnecting,
      };
      log(`handover: ${JSON.stringify(result.handover)}`);
    }
  } finally {
    await swarm.close();
  }
  result.uptimeEnd = uptime();
  result.loadavg = loadavg();
  return result;
}

/** Stop every child (SIGTERM, then SIGKILL after 3 s) and remove the run's folder (unless --keep). */
async function cleanup(): Promise<void> {
  stopping = true;
  const alive = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of alive()) c.kill('SIGTERM');
  const end = Date.now() + 3000;
  while (alive().length && Date.now() < end) await sleep(100);
  for (const c of alive()) c.kill('SIGKILL');
  if (!a.keep) rmSync(dir, { recursive: true, force: true });
}
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

try {
  const r = await main();
  if (a.out) writeFileSync(a.out, JSON.stringify(r, null, 1));
  process.stdout.write(JSON.stringify(r) + '\n');
} catch (e) {
  log(`FAILED: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
