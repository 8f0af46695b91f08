/**
 * `ckpool-bench connect` / `broadcast` with `--procs N` (and `--sources`): the same
 * measurements as ./modes.ts, from N generator processes (./swarm.ts), for more
 * connections than one process can hold. Results come back in the single-process shapes
 * (ConnectResult, BroadcastResult), so the table and the JSON line are the same.
 */
import { ckError } from '../errors.js';
import { cpuPct, machineLoad, sampleProcs, sampleSystem } from './procstat.js';
import type { BroadcastOptions, BroadcastResult, BroadcastRound, CommonOptions, ConnectOptions, ConnectResult } from './modes.js';
import { Swarm } from './swarm.js';
import { triggerNewBlock } from './trigger.js';

export interface MultiOptions {
  procs: number;
  sources: string[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function swarmOf(o: CommonOptions & MultiOptions): Swarm {
  return Swarm.start({
    procs: o.procs, targets: [{ host: o.host, port: o.port }], sources: o.sources.length ? o.sources : (o.bind ?? []),
    user: o.user, password: o.password,
  }, o.connections);
}

export async function connectMulti(o: ConnectOptions & MultiOptions): Promise<ConnectResult> {
  if (o.rate > 0) throw ckError('CKP_ERR_BENCH_OPTION', '--rate', '0 (all at once) with --procs', String(o.rate));
  const swarm = swarmOf(o);
  try {
    for (const note of swarm.notes) o.progress?.(`[connect] note: ${note}`);
    const before = o.pids?.length ? sampleProcs(o.pids) : null;
    const sys0 = sampleSystem();
    const st0 = await swarm.status();
    o.progress?.(`[connect] ${swarm.procs} generator processes opening ${o.connections.toLocaleString('en-US')} connections`);
    const w0 = performance.now();
    const storm = await swarm.open(o.connections, o.timeoutS ?? 120);
    const wallS = (performance.now() - w0) / 1000;
    const st1 = await swarm.status();
    const sys1 = sampleSystem();
    const poolMid = o.pids?.length ? sampleProcs(o.pids) : null;
    let after = poolMid;
    if (o.pids?.length) {
      await sleep(o.settleMs ?? 2000);
      after = sampleProcs(o.pids);
    }
    if (o.holdS) await sleep(o.holdS * 1000);
    const benchCpu = (100 * (st1.cpuSeconds - st0.cpuSeconds)) / wallS;
    return {
      mode: 'connect', pool: `${o.host}:${o.port}`, connections: o.connections, rate: 'all at once',
      authorized: storm.ok, failures: o.connections - storm.ok, failureReasons: storm.failures,
      allConnectedMs: null, allAuthorizedMs: null, allWorkMs: storm.stormMs,
      authLatencyMs: storm.readyMs ? { samples: storm.ok, p50: storm.readyMs.p50, p90: NaN, p99: storm.readyMs.p99, max: storm.stormMs ?? NaN, mean: NaN } : null,
      poolRssBeforeBytes: before?.rss ?? null, poolRssAfterBytes: after?.rss ?? null,
      bytesPerClient: before && after && storm.ok > 0 ? Math.round((after.rss - before.rss) / storm.ok) : null,
      poolPids: after?.pids ?? null,
      benchCpuPct: Math.round(benchCpu),
      machine: machineLoad(sys0, sys1, before && poolMid ? cpuPct(before, poolMid) + benchCpu : null),
      procs: swarm.procs, sources: o.sources.length || o.bind?.length || 0, limits: storm.limits, notes: swarm.notes,
    };
  } finally {
    await swarm.close();
  }
}

export async function broadcastMulti(o: BroadcastOptions & MultiOptions): Promise<BroadcastResult> {
  if (!o.rpc) throw ckError('CKP_ERR_BENCH_OPTION', 'broadcast with --procs', 'given --rpc (a template source)', o.trigger ? '--trigger' : 'neither');
  const rpc = o.rpc;
  const swarm = swarmOf(o);
  try {
    const storm = await swarm.open(o.connections, o.timeoutS ?? 120);
    if (storm.ok === 0) throw ckError('CKP_ERR_BENCH_HANDSHAKE', `${o.host}:${o.port}`, Object.entries(storm.failures).map(([k, v]) => `${v}× ${k}`).join(', ') || 'no reply');
    await sleep(o.settleMs ?? 1000);
    const sys0 = sampleSystem();
    const cpu0 = (await swarm.status()).cpuSeconds;
    const t0 = performance.now();
    const rounds: BroadcastRound[] = [];
    for (let i = 0; i < o.rounds; i++) {
      if (i) await sleep(o.gapMs ?? 2000);
      let triggerMs: number | null = null;
      const t = await swarm.notifyRound(async () => { triggerMs = (await triggerNewBlock(rpc)).rpcMs; }, o.timeoutS ?? 60);
      rounds.push({ firstMs: t.firstMs, medianMs: t.medianMs, p90Ms: null, lastMs: t.lastMs, missing: t.missing, triggerMs, benchCpuMs: NaN });
      o.progress?.(`[broadcast] round ${i + 1}: first ${t.firstMs} ms, median ${t.medianMs} ms, p99 ${t.p99Ms} ms, last ${t.lastMs} ms, ${t.missing} missing`);
    }
    const st = await swarm.status();
    const sys1 = sampleSystem();
    const med = (f: (r: BroadcastRound) => number | null) => {
      const v = rounds.map(f).filter((x): x is number => x !== null).sort((a, b) => a - b);
      return v.length ? v[Math.floor(v.length / 2)]! : null;
    };
    return {
      mode: 'broadcast', pool: `${o.host}:${o.port}`, connections: o.connections, ready: storm.ok, trigger: `bench_newblock on ${rpc.replace(/^[^@]*@/, '')}`,
      rounds, firstMs: med((r) => r.firstMs), medianMs: med((r) => r.medianMs), lastMs: med((r) => r.lastMs),
      missing: rounds.reduce((a, r) => a + r.missing, 0), failures: o.connections - storm.ok, failureReasons: storm.failures,
      benchCpuPct: Math.round((100 * (st.cpuSeconds - cpu0)) / ((performance.now() - t0) / 1000)), machine: machineLoad(sys0, sys1, null),
    };
  } finally {
    await swarm.close();
  }
}
