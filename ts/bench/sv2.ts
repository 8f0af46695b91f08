/**
 * ckpool-bench --sv2: the Stratum V2 client mode (issue 17). The SV2 side is not our codec:
 * it is crates/ckpool-sv2/examples/sv2-bench.rs, a load generator written only against the
 * SV2 reference crates (noise_sv2 initiator, codec_sv2 framing, mining_sv2 messages), which
 * this module spawns and reads. Its JSON is merged into the same result objects as the V1
 * modes (ThroughputResult, ConnectResult), so the table and the JSON line look the same;
 * what the engine does not measure (per-request latency) is null and shows as "—".
 *
 * Pool CPU is sampled over the engine's measuring window: it prints {"event":"measuring"}
 * and {"event":"measured"} at the window's edges.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ckError } from '../errors.js';
import type { ConnectOptions, ConnectResult, ThroughputOptions, ThroughputResult } from './modes.js';
import { cpuPct, machineLoad, sampleProcs, sampleSystem, type ProcSample, type SystemSample } from './procstat.js';

export interface Sv2Options {
  /** the pool's base58check authority public key (the key in stratum2+tcp://host:port/<key>) */
  authorityKey: string;
  /** the engine binary (default: target/release/examples/sv2-bench of this package) */
  engine?: string;
}

/** ts/bench/ and dist/bench/ are both two levels below the package root. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function sv2Engine(given?: string): string {
  const bin = given ?? process.env.CKPOOL_SV2_BENCH ?? path.join(PACKAGE_ROOT, 'target/release/examples/sv2-bench');
  if (!existsSync(bin)) throw ckError('CKP_ERR_BENCH_SV2_ENGINE', bin, 'is missing');
  return bin;
}

/** Options the engine has no equivalent for are refused, not ignored. */
export function checkSv2Options(o: { tls?: boolean; bind?: string[]; authorityKey?: string }): void {
  if (!o.authorityKey) throw ckError('CKP_ERR_BENCH_OPTION', '--sv2-key', 'the pool\'s SV2 authority public key', 'nothing');
  if (o.tls) throw ckError('CKP_ERR_BENCH_OPTION', '--tls', 'left out with --sv2 (SV2 is encrypted by its Noise handshake)', 'both');
  if (o.bind?.length) throw ckError('CKP_ERR_BENCH_OPTION', '--bind', 'left out with --sv2 (the SV2 engine uses the system\'s source address)', o.bind.join(','));
}

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;
const round1 = (x: number) => Math.round(x * 10) / 10;

interface Engine {
  child: ChildProcess;
  /** resolves with the next line matching `pred` (parsed), or rejects when the engine exits first */
  line(pred: (j: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stderr(): string;
}

function startEngine(bin: string, args: string[]): Engine {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  const lines: Record<string, unknown>[] = [];
  let waiters: { pred: (j: Record<string, unknown>) => boolean; resolve: (j: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(l) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(j);
    waiters = waiters.filter((w) => (w.pred(j) ? (w.resolve(j), false) : true));
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (e) => { err += e.message; resolve(-1); });
  });
  return {
    child, exited, stderr: () => err.trim(),
    line: (pred) => {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve) => waiters.push({ pred, resolve })),
        // the stdout lines are all read before 'exit' is seen, so a line that came is never missed
        exited.then((code) => { throw ckError('CKP_ERR_BENCH_CHILD', `${bin} (SV2 engine)`, `exited ${code}${err ? `: ${err.trim().split('\n').pop()}` : ''}`); }),
      ]);
    },
  };
}

interface Window { pool: ProcSample | null; engine: ProcSample | null; sys: SystemSample | null; at: number }
function sample(pids: number[] | undefined, engine: ChildProcess): Window {
  let eng: ProcSample | null = null;
  try {
    eng = engine.pid ? sampleProcs([engine.pid]) : null;
  } catch { /* the engine already exited */ }
  return { pool: pids?.length ? sampleProcs(pids) : null, engine: eng, sys: sampleSystem(), at: performance.now() };
}

/** `ckpool-bench throughput --sv2`: one standard channel per connection, `pipeline` SubmitSharesStandard in flight each. */
export async function sv2Throughput(o: ThroughputOptions & Sv2Options): Promise<ThroughputResult> {
  checkSv2Options(o);
  if (o.shares !== undefined) throw ckError('CKP_ERR_BENCH_OPTION', '--shares', 'left out with --sv2 (the SV2 engine measures a fixed --duration)', String(o.shares));
  const bin = sv2Engine(o.engine);
  const e = startEngine(bin, ['throughput', hostPort(o.host, o.port), o.authorityKey, String(o.connections), String(o.pipeline), String(o.warmupS), String(o.durationS), o.user]);
  o.progress?.(`[throughput --sv2] ${o.connections} connections × ${o.pipeline} via ${path.basename(bin)} (SV2 reference crates), ${o.warmupS} s warm-up`);
  const w0 = await e.line((j) => j.event === 'measuring').then(() => sample(o.pids, e.child));
  o.progress?.(`[throughput --sv2] measuring ${o.durationS} s`);
  const w1 = await e.line((j) => j.event === 'measured').then(() => sample(o.pids, e.child));
  const r = await e.line((j) => j.mode === 'throughput');
  await e.exited;
  const verdicts = (r.verdicts ?? {}) as Record<string, number>;
  const failureReasons = (r.failures ?? {}) as Record<string, number>;
  const replies = Number(r.replies);
  const accepted = verdicts.accepted ?? 0;
  const rejectReasons = Object.fromEntries(Object.entries(verdicts).filter(([k]) => k !== 'accepted'));
  const wall = (w1.at - w0.at) / 1000;
  const poolCpu = w0.pool && w1.pool ? cpuPct(w0.pool, w1.pool) : null;
  const benchCpu = w0.engine && w1.engine ? cpuPct(w0.engine, w1.engine) : 0;
  return {
    mode: 'throughput',
    pool: `${hostPort(o.host, o.port)} (SV2)`,
    connections: o.connections,
    ready: Number(r.ready),
    pipeline: o.pipeline,
    warmupS: o.warmupS,
    durationS: o.durationS,
    replies,
    repliesPerSec: Math.round(replies / o.durationS),
    accepted,
    rejected: replies - accepted,
    rejectReasons,
    latencyMs: null,
    failures: Object.values(failureReasons).reduce((a, b) => a + b, 0),
    failureReasons,
    disconnects: Number(r.disconnects ?? 0),
    reconnectRequests: 0,
    notifies: 0,
    benchCpuPct: round1(benchCpu),
    poolCpuPct: poolCpu === null ? null : round1(poolCpu),
    repliesPerPoolCpuSec: w0.pool && w1.pool && w1.pool.cpuSeconds > w0.pool.cpuSeconds ? Math.round(replies / (w1.pool.cpuSeconds - w0.pool.cpuSeconds)) : null,
    poolRssBytes: w1.pool?.rss ?? null,
    machine: wall > 0 ? machineLoad(w0.sys, w1.sys, poolCpu === null ? null : poolCpu + benchCpu) : null,
  };
}

/** `ckpool-bench connect --sv2`: N connections, each SetupConnection + one standard channel, held idle. */
export async function sv2Connect(o: ConnectOptions & Sv2Options): Promise<ConnectResult> {
  checkSv2Options(o);
  // the engine opens its connections one after another
  if (o.rate !== 0) throw ckError('CKP_ERR_BENCH_OPTION', '--rate', '0 with --sv2 (the SV2 engine opens connections back to back)', String(o.rate));
  const bin = sv2Engine(o.engine);
  const holdS = Math.ceil(Math.max(o.timeoutS ?? 60, 1) + (o.settleMs ?? 2000) / 1000 + (o.holdS ?? 0) + 5);
  const before = { pool: o.pids?.length ? sampleProcs(o.pids) : null };
  const e = startEngine(bin, ['idle', hostPort(o.host, o.port), o.authorityKey, String(o.connections), String(holdS), o.user]);
  const w0 = sample(undefined, e.child);
  o.progress?.(`[connect --sv2] opening ${o.connections} connections via ${path.basename(bin)} (SV2 reference crates)`);
  try {
    const r = await e.line((j) => j.mode === 'idle');
    await new Promise((res) => setTimeout(res, o.settleMs ?? 2000));
    const w1 = sample(o.pids, e.child);
    if (o.holdS) await new Promise((res) => setTimeout(res, o.holdS! * 1000));
    const opened = Number(r.opened);
    const failureReasons = (r.failures ?? {}) as Record<string, number>;
    const readyMs = Number(r.readyMs);
    const poolCpu = before.pool && w1.pool ? cpuPct(before.pool, w1.pool) : null;
    const benchCpu = w0.engine && w1.engine ? cpuPct(w0.engine, w1.engine) : 0;
    return {
      mode: 'connect',
      pool: `${hostPort(o.host, o.port)} (SV2)`,
      connections: o.connections,
      rate: 'all at once',
      authorized: opened,
      failures: o.connections - opened,
      failureReasons,
      // the engine reports one time: until its last channel was open (OpenStandardMiningChannel.Success)
      allConnectedMs: null,
      allAuthorizedMs: readyMs,
      allWorkMs: null,
      authLatencyMs: null,
      poolRssBeforeBytes: before.pool?.rss ?? null,
      poolRssAfterBytes: w1.pool?.rss ?? null,
      bytesPerClient: before.pool && w1.pool && opened ? Math.round((w1.pool.rss - before.pool.rss) / opened) : null,
      poolPids: w1.pool?.pids ?? null,
      benchCpuPct: round1(benchCpu),
      machine: machineLoad(w0.sys, w1.sys, poolCpu === null ? null : poolCpu + benchCpu),
    };
  } finally {
    e.child.kill('SIGKILL');
    await e.exited;
  }
}
