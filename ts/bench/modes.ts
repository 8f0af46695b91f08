/**
 * The three load modes of ckpool-bench. Each returns a plain summary object; the CLI
 * prints it as a table and as one JSON line.
 *
 * throughput  N connections subscribe + authorize; each keeps P random submits in
 *             flight for the current job. Replies per second split by verdict, latency
 *             per request (send → reply, p50/p99).
 * connect     N connections opened at once (or at a rate): time until all are
 *             authorized, failures, and with the pool's pid its RSS before/after →
 *             bytes per idle client.
 * broadcast   N idle authorized clients; a block change is triggered (a command, or the
 *             template source's bench_newblock); time from the trigger until the first,
 *             median and last client holds the clean mining.notify.
 */
import { spawn } from 'node:child_process';
import { ckError } from '../errors.js';
import { BenchConn, LoadStats, type ConnHooks, type LoadSettings } from './conn.js';
import { Histogram, sortedQuantile, type LatencySummary } from './histogram.js';
import { cpuPct, machineLoad, ownCpuPct, sampleProcs, sampleSystem, type MachineLoad, type ProcSample } from './procstat.js';
import { triggerNewBlock } from './trigger.js';

export const AGENT = 'ckpool-bench/0.1.0';

export interface CommonOptions {
  host: string;
  port: number;
  /** worker name; `{i}` is replaced by the connection's index */
  user: string;
  password: string;
  connections: number;
  /** source addresses to spread connections over (default: the system's choice) */
  bind?: string[];
  /** pool pids (and their descendants) to sample: RSS, CPU */
  pids?: number[];
  /** seconds to wait for the handshakes (default 60) */
  timeoutS?: number;
  /** progress lines (stderr) */
  progress?: (line: string) => void;
  /** connect over TLS (stratum+ssl://), certificate not verified */
  tls?: boolean;
}

export interface ThroughputOptions extends CommonOptions {
  pipeline: number;
  durationS: number;
  warmupS: number;
  /** stop after this many replies (after warm-up) */
  shares?: number;
  /** pre-built submits per job, a power of two (default 4096; fewer per connection when the worker name has {i}) */
  tableSize?: number;
}

export interface ConnectOptions extends CommonOptions {
  /** connections per second; 0 = all at once */
  rate: number;
  /** ms to wait after the last authorize before reading the pool's RSS (default 2000) */
  settleMs?: number;
  /** seconds to keep the connections open after measuring */
  holdS?: number;
}

export interface BroadcastOptions extends CommonOptions {
  /** shell command that changes the tip (the clock starts just before it is spawned) */
  trigger?: string;
  /** template source to call bench_newblock on: [user:pass@]host:port */
  rpc?: string;
  rounds: number;
  /** ms between rounds (default 2000) */
  gapMs?: number;
  /** ms to wait after all clients hold work before the first trigger (default 1000) */
  settleMs?: number;
}

export interface Failures {
  count: number;
  reasons: Record<string, number>;
}

interface Opened {
  conns: BenchConn[];
  failures: Failures;
}

const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function checkCommon(o: CommonOptions): void {
  const bad = (name: string, what: string, v: unknown) => ckError('CKP_ERR_BENCH_OPTION', name, what, String(v));
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw bad('--port', 'a TCP port 1..65535', o.port);
  if (!Number.isInteger(o.connections) || o.connections < 1) throw bad('--connections', 'a positive integer', o.connections);
  if (!o.user) throw bad('--user', 'a worker name', JSON.stringify(o.user));
}

function failuresOf(conns: readonly BenchConn[]): Failures {
  const reasons: Record<string, number> = {};
  let count = 0;
  for (const c of conns) {
    if (!c.failure) continue;
    count++;
    reasons[c.failure] = (reasons[c.failure] ?? 0) + 1;
  }
  return { count, reasons };
}

/**
 * Open `n` connections: all at once (in slices of 256 per event-loop turn, so replies
 * are read while the storm is issued) or `rate` per second. Resolves when every
 * connection is authorized (and, with `needWork`, holds a job) or has failed, or at
 * the timeout (the stragglers count as failures 'timeout').
 */
async function openConnections(
  o: CommonOptions, rate: number, hooks: ConnHooks, load: LoadSettings | null, needWork: boolean,
  onTick?: (conns: BenchConn[], done: number) => void,
): Promise<Opened> {
  const n = o.connections;
  const conns: BenchConn[] = [];
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => { resolveAll = r; });
  const finished = new Set<BenchConn>();
  const finish = (c: BenchConn) => {
    if (finished.has(c)) return;
    finished.add(c);
    if (++done === n) resolveAll();
  };
  const h: ConnHooks = {
    ...hooks,
    authorized: (c) => { hooks.authorized?.(c); if (!needWork || c.workAt) finish(c); },
    work: (c) => { hooks.work?.(c); if (needWork && c.authorized) finish(c); },
    failed: (c) => { hooks.failed?.(c); finish(c); },
  };
  const bind = o.bind?.length ? o.bind : undefined;
  const make = (i: number) => {
    const worker = o.user.replaceAll('{i}', String(i));
    conns.push(new BenchConn(i, {
      host: o.host, port: o.port, localAddress: bind?.[i % bind.length], worker, password: o.password, agent: AGENT, tls: o.tls,
    }, h, load));
  };
  const timeoutMs = (o.timeoutS ?? 60) * 1000;
  const t0 = performance.now();
  const opening = (async () => {
    if (rate > 0) {
      // rate per second, in 10 ms steps
      for (let i = 0; i < n;) {
        const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
        while (i < due) make(i++);
        if (i < n) await sleep(10);
      }
    } else {
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + 256);
        while (i < end) make(i++);
        if (i < n) await new Promise((r) => setImmediate(r));
      }
    }
  })();
  const ticker = onTick ? setInterval(() => onTick(conns, done), 1000) : null;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
  const outcome = await Promise.race([opening.then(() => all), timedOut]);
  clearTimeout(timer);
  if (ticker) clearInterval(ticker);
  if (outcome === 'timeout') {
    for (const c of conns) {
      if (!finished.has(c) && !c.failure) {
        c.failure = c.connectedAt ? (c.authorized ? 'timeout waiting for mining.notify' : 'timeout waiting for authorize') : 'timeout connecting';
      }
    }
  }
  return { conns, failures: failuresOf(conns) };
}

function poolSample(pids: number[] | undefined): ProcSample | null {
  return pids?.length ? sampleProcs(pids) : null;
}

// ---------------------------------------------------------------------- throughput

export interface ThroughputResult {
  mode: 'throughput';
  pool: string;
  connections: number;
  ready: number;
  pipeline: number;
  warmupS: number;
  durationS: number;
  replies: number;
  repliesPerSec: number;
  accepted: number;
  rejected: number;
  rejectReasons: Record<string, number>;
  latencyMs: LatencySummary | null;
  failures: number;
  failureReasons: Record<string, number>;
  disconnects: number;
  reconnectRequests: number;
  notifies: number;
  benchCpuPct: number;
  poolCpuPct: number | null;
  repliesPerPoolCpuSec: number | null;
  poolRssBytes: number | null;
  /** the whole machine during the measurement (other processes = noise) */
  machine: MachineLoad | null;
}

export async function throughput(o: ThroughputOptions): Promise<ThroughputResult> {
  checkCommon(o);
  const bad = (name: string, what: string, v: unknown) => ckError('CKP_ERR_BENCH_OPTION', name, what, String(v));
  if (!Number.isInteger(o.pipeline) || o.pipeline < 1 || o.pipeline > 1024) throw bad('--pipeline', 'an integer 1..1024', o.pipeline);
  if (!(o.durationS > 0)) throw bad('--duration', 'a positive number of seconds', o.durationS);
  if (!(o.warmupS >= 0)) throw bad('--warmup', 'a number of seconds ≥ 0', o.warmupS);
  // one table per job is shared by all connections with the same worker name; with a
  // per-connection name ({i}) every connection needs its own, so each gets fewer
  const tableSize = o.tableSize ?? (o.user.includes('{i}') ? 2 ** Math.floor(Math.log2(Math.min(4096, Math.max(64, 262_144 / o.connections)))) : 4096);
  if (!Number.isInteger(tableSize) || tableSize < 1 || (tableSize & (tableSize - 1)) !== 0) throw bad('--table', 'a power of two', tableSize);
  if (o.shares !== undefined && !(Number.isInteger(o.shares) && o.shares > 0)) throw bad('--shares', 'a positive integer', o.shares);

  const stats = new LoadStats();
  stats.running = true; // each connection starts its pipeline as soon as it holds a job
  const load: LoadSettings = { stats, pipeline: o.pipeline, tableSize };
  const progress = o.progress;
  const opened = await openConnections(o, 0, {}, load, true, progress && ((conns, done) => {
    progress(`[throughput] opening: ${done}/${o.connections} ready, ${stats.replies.toLocaleString('en-US')} replies`);
  }));
  const ready = opened.conns.filter((c) => c.authorized && c.workAt && !c.closed);
  if (ready.length === 0) {
    for (const c of opened.conns) c.destroy();
    throw ckError('CKP_ERR_BENCH_HANDSHAKE', `${o.host}:${o.port}`, Object.entries(opened.failures.reasons).map(([k, v]) => `${v}× ${k}`).join(', ') || 'no reply');
  }
  for (const c of ready) c.fill();

  const tick = (label: string, from: number, t0: number, count0: number) => {
    if (!progress) return;
    const s = (performance.now() - t0) / 1000;
    const rate = s > 0 ? (stats.replies - count0) / s : 0;
    const lat = stats.latency.summary();
    progress(`[throughput] ${label} ${s.toFixed(0)}/${from}s: ${Math.round(rate).toLocaleString('en-US')} replies/s` +
      (lat ? `, p50 ${lat.p50} ms, p99 ${lat.p99} ms` : '') + `, bench CPU ${Math.round(ownCpuPct(cpuTick, performance.now() - tickAt))}%`);
    cpuTick = process.cpuUsage();
    tickAt = performance.now();
  };
  let cpuTick = process.cpuUsage();
  let tickAt = performance.now();

  // warm-up
  if (o.warmupS > 0) {
    const w0 = performance.now();
    const r0 = stats.replies;
    const iv = setInterval(() => tick('warm-up', o.warmupS, w0, r0), 1000);
    await sleep(o.warmupS * 1000);
    clearInterval(iv);
  }
  // measure
  const rep0 = stats.replies;
  const acc0 = stats.accepted;
  const rej0 = stats.rejected;
  const reasons0 = stats.reasonCounts();
  stats.latency.reset();
  const pool0 = poolSample(o.pids);
  const sys0 = sampleSystem();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let stopped!: () => void;
  const stop = new Promise<void>((r) => { stopped = r; });
  if (o.shares) {
    stats.stopAt = rep0 + o.shares;
    stats.onStop = () => { stats.onStop = null; stopped(); };
  }
  const iv = setInterval(() => tick('measuring', o.durationS, t0, rep0), 1000);
  const timer = setTimeout(stopped, o.durationS * 1000);
  await stop;
  clearTimeout(timer);
  clearInterval(iv);
  const t1 = performance.now();
  const benchCpu = ownCpuPct(cpu0, t1 - t0);
  const sys1 = sampleSystem();
  const pool1 = poolSample(o.pids);
  stats.running = false;
  const replies = stats.replies - rep0;
  const reasons1 = stats.reasonCounts();
  const rejectReasons: Record<string, number> = {};
  for (const [k, v] of Object.entries(reasons1)) if (v - (reasons0[k] ?? 0) > 0) rejectReasons[k] = v - (reasons0[k] ?? 0);
  const latency = stats.latency.summary();
  for (const c of opened.conns) c.destroy();
  const wall = (t1 - t0) / 1000;
  const poolCpu = pool0 && pool1 ? cpuPct(pool0, pool1) : null;
  return {
    mode: 'throughput',
    pool: `${o.host}:${o.port}`,
    connections: o.connections,
    ready: ready.length,
    pipeline: o.pipeline,
    warmupS: o.warmupS,
    durationS: round(wall, 3)!,
    replies,
    repliesPerSec: Math.round(replies / wall),
    accepted: stats.accepted - acc0,
    rejected: stats.rejected - rej0,
    rejectReasons,
    latencyMs: latency,
    failures: opened.failures.count,
    failureReasons: opened.failures.reasons,
    disconnects: stats.disconnects,
    reconnectRequests: stats.reconnectRequests,
    notifies: stats.notifies,
    benchCpuPct: round(benchCpu)!,
    poolCpuPct: poolCpu === null ? null : round(poolCpu),
    repliesPerPoolCpuSec: pool0 && pool1 && pool1.cpuSeconds > pool0.cpuSeconds ? Math.round(replies / (pool1.cpuSeconds - pool0.cpuSeconds)) : null,
    poolRssBytes: pool1?.rss ?? null,
    machine: machineLoad(sys0, sys1, poolCpu === null ? null : poolCpu + benchCpu),
  };
}

// ---------------------------------------------------------------------- connect

export interface ConnectResult {
  mode: 'connect';
  pool: string;
  connections: number;
  rate: number | 'all at once';
  authorized: number;
  failures: number;
  failureReasons: Record<string, number>;
  /** from the first connect() to the last connection established / authorized / holding a job */
  allConnectedMs: number | null;
  allAuthorizedMs: number | null;
  allWorkMs: number | null;
  /** per client: connect() → authorize reply */
  authLatencyMs: LatencySummary | null;
  poolRssBeforeBytes: number | null;
  poolRssAfterBytes: number | null;
  bytesPerClient: number | null;
  poolPids: number[] | null;
  benchCpuPct: number;
  /** the whole machine while the connections were opened */
  machine: MachineLoad | null;
  /** multi-process runs (--procs, ./multi.ts): generator processes, source addresses, limits hit, limit notes */
  procs?: number;
  sources?: number;
  limits?: string[];
  notes?: string[];
}

export async function connect(o: ConnectOptions): Promise<ConnectResult> {
  checkCommon(o);
  if (!(o.rate >= 0)) throw ckError('CKP_ERR_BENCH_OPTION', '--rate', 'connections per second ≥ 0', String(o.rate));
  const before = poolSample(o.pids);
  const sys0 = sampleSystem();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const lat = new Histogram();
  let authorized = 0;
  let failed = 0;
  const progress = o.progress;
  const opened = await openConnections(o, o.rate, {
    authorized: (c) => { authorized++; lat.recordMs(c.authorizedAt - c.startedAt); },
    failed: () => { failed++; },
  }, null, true, progress && ((conns) => {
    const connected = conns.reduce((a, c) => a + (c.connectedAt ? 1 : 0), 0);
    progress(`[connect] ${((performance.now() - t0) / 1000).toFixed(0)}s: ${conns.length} opened, ${connected} connected, ` +
      `${authorized} authorized, ${failed} failed of ${o.connections}`);
  }));
  const t1 = performance.now();
  const benchCpu = ownCpuPct(cpu0, t1 - t0);
  const sys1 = sampleSystem();
  const poolMid = poolSample(o.pids);
  const { conns, failures } = opened;
  const last = (f: (c: BenchConn) => number) => {
    let m = 0;
    for (const c of conns) {
      const v = f(c);
      if (!v) return null;
      if (v > m) m = v;
    }
    return round(m - t0);
  };
  let after: ProcSample | null = null;
  if (o.pids?.length) {
    progress?.(`[connect] all ${authorized} authorized; waiting ${o.settleMs ?? 2000} ms before reading the pool's RSS`);
    await sleep(o.settleMs ?? 2000);
    after = poolSample(o.pids);
  }
  const ok = conns.filter((c) => c.authorized && !c.closed).length;
  if (o.holdS) {
    progress?.(`[connect] holding ${ok} connections for ${o.holdS} s`);
    await sleep(o.holdS * 1000);
  }
  for (const c of conns) c.destroy();
  return {
    mode: 'connect',
    pool: `${o.host}:${o.port}`,
    connections: o.connections,
    rate: o.rate > 0 ? o.rate : 'all at once',
    authorized: ok,
    failures: failures.count,
    failureReasons: failures.reasons,
    allConnectedMs: last((c) => c.connectedAt),
    allAuthorizedMs: last((c) => c.authorizedAt),
    allWorkMs: last((c) => c.workAt),
    authLatencyMs: lat.summary(),
    poolRssBeforeBytes: before?.rss ?? null,
    poolRssAfterBytes: after?.rss ?? null,
    bytesPerClient: before && after && ok > 0 ? Math.round((after.rss - before.rss) / ok) : null,
    poolPids: after?.pids ?? null,
    benchCpuPct: round(benchCpu)!,
    machine: machineLoad(sys0, sys1, before && poolMid ? cpuPct(before, poolMid) + benchCpu : null),
  };
}

// ---------------------------------------------------------------------- broadcast

export interface BroadcastRound {
  /** ms from the trigger */
  firstMs: number | null;
  medianMs: number | null;
  p90Ms: number | null;
  lastMs: number | null;
  /** clients that got no clean notify before the timeout */
  missing: number;
  /** the trigger itself: bench_newblock round trip, or the command's run time */
  triggerMs: number | null;
  /** CPU the bench used from the trigger to the last notify, ms (close to lastMs: the bench was busy) */
  benchCpuMs: number;
}

export interface BroadcastResult {
  mode: 'broadcast';
  pool: string;
  connections: number;
  ready: number;
  trigger: string;
  rounds: BroadcastRound[];
  /** medians over the rounds */
  firstMs: number | null;
  medianMs: number | null;
  lastMs: number | null;
  missing: number;
  failures: number;
  failureReasons: Record<string, number>;
  benchCpuPct: number;
  /** the whole machine over the rounds */
  machine: MachineLoad | null;
}

function runTrigger(o: BroadcastOptions): { done: Promise<number | null>; what: string } {
  if (o.rpc) {
    return { what: `bench_newblock on ${o.rpc.replace(/^[^@]*@/, '')}`, done: triggerNewBlock(o.rpc).then((r) => r.rpcMs) };
  }
  const cmd = o.trigger!;
  const t0 = performance.now();
  return {
    what: `command: ${cmd}`,
    done: new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => { if (err.length < 2000) err += d.toString(); });
      child.on('error', (e) => reject(ckError('CKP_ERR_BENCH_TRIGGER', `${cmd}: ${e.message}`)));
      child.on('exit', (code, sig) => {
        if (code === 0) resolve(performance.now() - t0);
        else reject(ckError('CKP_ERR_BENCH_TRIGGER', `${cmd} exited with ${code ?? sig}${err ? `: ${err.trim()}` : ''}`));
      });
    }),
  };
}

export async function broadcast(o: BroadcastOptions): Promise<BroadcastResult> {
  checkCommon(o);
  if (!o.trigger && !o.rpc) throw ckError('CKP_ERR_BENCH_OPTION', 'broadcast', 'given a block change: --trigger "<command>" or --rpc <template source>', 'neither');
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw ckError('CKP_ERR_BENCH_OPTION', '--rounds', 'a positive integer', String(o.rounds));
  const progress = o.progress;
  let cleanCount = 0;
  let allClean: (() => void) | null = null;
  let target = Number.POSITIVE_INFINITY;
  const hooks: ConnHooks = {
    clean: () => { if (++cleanCount >= target && allClean) allClean(); },
  };
  const opened = await openConnections(o, 0, hooks, null, true, progress && ((conns, done) => {
    progress(`[broadcast] opening: ${done}/${o.connections} holding work`);
  }));
  const ready = opened.conns.filter((c) => c.authorized && c.workAt && !c.closed);
  if (ready.length === 0) {
    for (const c of opened.conns) c.destroy();
    throw ckError('CKP_ERR_BENCH_HANDSHAKE', `${o.host}:${o.port}`, Object.entries(opened.failures.reasons).map(([k, v]) => `${v}× ${k}`).join(', ') || 'no reply');
  }
  await sleep(o.settleMs ?? 1000);
  const rounds: BroadcastRound[] = [];
  const cpuAll = process.cpuUsage();
  const tAll = performance.now();
  const sys0 = sampleSystem();
  const pool0 = poolSample(o.pids);
  let what = '';
  try {
    for (let r = 0; r < o.rounds; r++) {
      const live = ready.filter((c) => !c.closed);
      for (const c of live) {
        c.cleanAt = 0;
        c.watchClean = true;
      }
      cleanCount = 0;
      target = live.length;
      const all = new Promise<void>((res) => { allClean = res; });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const trig = runTrigger(o);
      what = trig.what;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((res) => { timer = setTimeout(res, (o.timeoutS ?? 60) * 1000); });
      const [triggerMs] = await Promise.all([trig.done, Promise.race([all, timeout])]);
      clearTimeout(timer);
      const cpu = process.cpuUsage(cpu0);
      allClean = null;
      const times = live.filter((c) => c.cleanAt > 0).map((c) => c.cleanAt - t0).sort((a, b) => a - b);
      for (const c of live) c.watchClean = false;
      const res: BroadcastRound = {
        firstMs: round(times[0] ?? NaN),
        medianMs: round(sortedQuantile(times, 0.5)),
        p90Ms: round(sortedQuantile(times, 0.9)),
        lastMs: round(times[times.length - 1] ?? NaN),
        missing: live.length - times.length,
        triggerMs: triggerMs === null ? null : round(triggerMs),
        benchCpuMs: round((cpu.user + cpu.system) / 1000)!,
      };
      rounds.push(res);
      progress?.(`[broadcast] round ${r + 1}/${o.rounds}: first ${res.firstMs} ms, median ${res.medianMs} ms, last ${res.lastMs} ms` +
        (res.missing ? `, ${res.missing} clients got no clean notify` : ''));
      if (r + 1 < o.rounds) await sleep(o.gapMs ?? 2000);
    }
  } finally {
    for (const c of opened.conns) c.destroy();
  }
  const benchCpu = ownCpuPct(cpuAll, performance.now() - tAll);
  const sys1 = sampleSystem();
  const pool1 = poolSample(o.pids);
  const med = (f: (r: BroadcastRound) => number | null) => {
    const xs = rounds.map(f).filter((x): x is number => x !== null).sort((a, b) => a - b);
    return xs.length ? xs[Math.floor((xs.length - 1) / 2)]! : null;
  };
  return {
    mode: 'broadcast',
    pool: `${o.host}:${o.port}`,
    connections: o.connections,
    ready: ready.length,
    trigger: what,
    rounds,
    firstMs: med((r) => r.firstMs),
    medianMs: med((r) => r.medianMs),
    lastMs: med((r) => r.lastMs),
    missing: rounds.reduce((a, r) => a + r.missing, 0),
    failures: opened.failures.count,
    failureReasons: opened.failures.reasons,
    benchCpuPct: round(benchCpu)!,
    machine: machineLoad(sys0, sys1, pool0 && pool1 ? cpuPct(pool0, pool1) + benchCpu : null),
  };
}
