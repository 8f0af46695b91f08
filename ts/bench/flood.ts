/**
 * ckpool-bench flood: does one heavy client delay everyone? (issue 14)
 *
 * N authorised "flooders" each send R short requests (mining.ping by default) in bursts
 * of B every I ms; all bursts start together, the worst case. Each flooder either reads
 * its replies or never reads at all (--no-read). Meanwhile one separate, well-behaved
 * miner submits a share every --miner-interval ms (open loop: a slow reply does not slow
 * its sending) and its send → reply latency is recorded, and once a second a fresh
 * connection subscribes and authorizes and its time to authorization is recorded.
 *
 * The miner's shares are random (rejected as above target): the pool under test must
 * not drop a client for invalid shares (scripts/bench-pool.ts lifts that limit).
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ckError } from '../errors.js';
import { Histogram, type LatencySummary } from './histogram.js';
import { AGENT, type CommonOptions } from './modes.js';
import { cpuPct, machineLoad, ownCpuPct, sampleProcs, sampleSystem, type MachineLoad } from './procstat.js';

export interface FloodOptions extends CommonOptions {
  /** requests per burst per flooder */
  burst: number;
  /** ms between a flooder's bursts */
  intervalMs: number;
  /** requests per flooder in all */
  requests: number;
  /** method of the short requests */
  method: string;
  /** flooders read their replies (false: never read) */
  read: boolean;
  /** ms between the measured miner's submits */
  minerIntervalMs: number;
  /** seconds to measure, from the first burst */
  durationS: number;
}

export interface FloodResult {
  mode: 'flood';
  pool: string;
  flooders: number;
  ready: number;
  burst: number;
  intervalMs: number;
  requestsPerFlooder: number;
  method: string;
  floodersRead: boolean;
  durationS: number;
  /** requests the flooders wrote, and replies they received, in the measurement */
  floodSent: number;
  floodReplies: number;
  floodRepliesPerSec: number;
  floodDisconnects: number;
  /** s from the first burst until every flood request was answered (null: not within the measurement, or not reading) */
  floodDoneS: number | null;
  /** the measured miner */
  minerSubmits: number;
  minerReplies: number;
  minerLatencyMs: LatencySummary | null;
  minerOver200Ms: number;
  minerOver500Ms: number;
  /** submits with no reply within 5 s (answered later, or never) */
  minerUnanswered: number;
  /** the miner's five slowest replies: when the submit was sent (s from the first burst) and its latency */
  minerWorst: { atS: number; ms: number }[];
  /** fresh connections opened during the flood: connect → authorize reply and first job */
  connectTries: number;
  connectLatencyMs: LatencySummary | null;
  connectFailures: number;
  /** the three slowest (ms -1: not within 5 s) */
  connectWorst: { atS: number; ms: number }[];
  benchCpuPct: number;
  /** the bench's own event-loop delay (p99/max, ms): a stall here delays the replies it reads, too */
  benchLoopDelayMs: { p99: number; max: number };
  poolCpuPct: number | null;
  machine: MachineLoad | null;
}

const UNANSWERED_MS = 5000;
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 10) / 10;

/** A raw stratum connection: subscribe + authorize, then lines to `onLine` (or counted). */
class Conn {
  readonly socket: net.Socket;
  extranonce1 = '';
  en2size = 0;
  job: { id: string; ntime: string } | null = null;
  authorized = false;
  closed = false;
  /** after authorize: count `"pong"`-style reply markers instead of parsing lines */
  countMarker = '';
  counted = 0;
  #rest = '';
  #ready: (ok: boolean) => void = () => {};
  readonly ready: Promise<boolean>;

  constructor(o: CommonOptions, worker: string, private readonly onReply?: (id: number, line: string, now: number) => void) {
    this.ready = new Promise((r) => { this.#ready = r; });
    this.socket = net.connect({
      host: o.host, port: o.port, noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => { this.#onRead(n, buf as Buffer); return true; } },
    });
    this.socket.on('connect', () => {
      this.socket.write(`{"id":1,"method":"mining.subscribe","params":[${JSON.stringify(AGENT)}]}\n` +
        `{"id":2,"method":"mining.authorize","params":[${JSON.stringify(worker)},${JSON.stringify(o.password)}]}\n`);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.#ready(false);
    });
  }

  #onRead(n: number, buf: Buffer): void {
    const now = performance.now();
    let s = this.#rest + buf.toString('latin1', 0, n);
    if (this.countMarker && this.authorized && this.job) {
      // flood replies: count markers only (the tail may hold half of one)
      let i = s.indexOf(this.countMarker);
      let last = 0;
      while (i >= 0) {
        this.counted++;
        last = i + this.countMarker.length;
        i = s.indexOf(this.countMarker, last);
      }
      this.#rest = s.slice(Math.max(last, s.length - this.countMarker.length + 1));
      return;
    }
    let a = 0;
    let nl: number;
    while ((nl = s.indexOf('\n', a)) >= 0) {
      this.#line(s.slice(a, nl), now);
      a = nl + 1;
    }
    s = s.slice(a);
    this.#rest = s.length > 1 << 20 ? '' : s;
  }

  #line(line: string, now: number): void {
    let msg: { id?: unknown; method?: unknown; params?: unknown[]; result?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.method === 'mining.notify' && Array.isArray(msg.params)) {
      this.job = { id: String(msg.params[0]), ntime: String(msg.params[7]) };
      if (this.authorized) this.#ready(true);
      return;
    }
    if (msg.id === 1 && Array.isArray(msg.result)) {
      this.extranonce1 = String(msg.result[1]);
      this.en2size = Number(msg.result[2]);
    } else if (msg.id === 2) {
      this.authorized = msg.result === true;
      if (!this.authorized) this.#ready(false);
      else if (this.job) this.#ready(true);
    } else if (typeof msg.id === 'number') {
      this.onReply?.(msg.id, line, now);
    }
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

export async function flood(o: FloodOptions): Promise<FloodResult> {
  const bad = (name: string, what: string, v: unknown) => ckError('CKP_ERR_BENCH_OPTION', name, what, String(v));
  if (!Number.isInteger(o.connections) || o.connections < 1) throw bad('--connections', 'a positive integer', o.connections);
  if (!Number.isInteger(o.burst) || o.burst < 1) throw bad('--burst', 'a positive integer', o.burst);
  if (!Number.isInteger(o.requests) || o.requests < 1) throw bad('--requests', 'a positive integer', o.requests);
  if (!(o.intervalMs > 0)) throw bad('--interval', 'a positive number of ms', o.intervalMs);
  if (!(o.minerIntervalMs > 0)) throw bad('--miner-interval', 'a positive number of ms', o.minerIntervalMs);
  if (!(o.durationS > 0)) throw bad('--duration', 'a positive number of seconds', o.durationS);
  if (!/^[\w.]+$/.test(o.method)) throw bad('--method', 'a method name', o.method);
  const progress = o.progress;

  // flooders and the measured miner, all authorised before the flood starts
  const flooders: Conn[] = [];
  for (let i = 0; i < o.connections; i++) {
    flooders.push(new Conn(o, o.user.replaceAll('{i}', String(i))));
    if (i % 256 === 255) await new Promise((r) => setImmediate(r));
  }
  const sentAt = new Map<number, number>();
  const lat = new Histogram();
  let over200 = 0;
  let over500 = 0;
  let late = 0;
  let minerReplies = 0;
  const worst: { atS: number; ms: number }[] = [];
  let t0 = performance.now();
  const miner = new Conn(o, o.user.replaceAll('{i}', 'miner'), (id, _line, now) => {
    const t = sentAt.get(id);
    if (t === undefined) return;
    sentAt.delete(id);
    const ms = now - t;
    if (worst.length < 5 || ms > worst[worst.length - 1]!.ms) {
      worst.push({ atS: round((t - t0) / 1000), ms: round(ms) });
      worst.sort((a, b) => b.ms - a.ms);
      if (worst.length > 5) worst.pop();
    }
    lat.recordMs(ms);
    minerReplies++;
    if (ms > 200) over200++;
    if (ms > 500) over500++;
    if (ms > UNANSWERED_MS) late++;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), (o.timeoutS ?? 60) * 1000); });
  const oks = await Promise.all([...flooders, miner].map((c) => Promise.race([c.ready, timeout])));
  clearTimeout(timer);
  if (!oks[oks.length - 1]) {
    for (const c of flooders) c.destroy();
    miner.destroy();
    throw ckError('CKP_ERR_BENCH_HANDSHAKE', `${o.host}:${o.port}`, 'the measured miner was not authorised or got no job');
  }
  const ready = flooders.filter((c, i) => oks[i] && !c.closed);
  progress?.(`[flood] ${ready.length}/${o.connections} flooders and the miner authorised; flooding`);
  const marker = '"pong"';
  for (const c of ready) {
    c.countMarker = o.method === 'mining.ping' ? marker : '"id":';
    if (!o.read) c.socket.pause();
  }
  // one pre-built burst (ids from 16 up), written as the same Buffer to every flooder
  let text = '';
  for (let i = 0; i < o.burst; i++) text += `{"id":${16 + i},"method":"${o.method}","params":[]}\n`;
  const burstBuf = Buffer.from(text);

  const pool0 = o.pids?.length ? sampleProcs(o.pids) : null;
  const sys0 = sampleSystem();
  const cpu0 = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  t0 = performance.now();
  let floodSent = 0;
  const bursts = Math.ceil(o.requests / o.burst);
  let burstsDone = 0;
  const sendBurst = () => {
    const n = Math.min(o.burst, o.requests - burstsDone * o.burst);
    const buf = n === o.burst ? burstBuf : burstBuf.subarray(0, nthNewline(burstBuf, n));
    burstsDone++;
    // Each flooder's burst is one write. Loopback does the receiving side's TCP work in
    // the sender's context, so 500 × 180 KB in one tick stalled the bench for ~220 ms
    // (its own event-loop delay, measured): flooders are written in slices of 16 with
    // the bench's reads in between, so a stall of the generator is not charged to the pool.
    let k = 0;
    const slice = () => {
      const end = Math.min(ready.length, k + 16);
      for (; k < end; k++) {
        const c = ready[k]!;
        if (c.closed) continue;
        c.socket.write(buf);
        floodSent += n;
      }
      if (k < ready.length) setImmediate(slice);
    };
    slice();
  };
  sendBurst();
  const burstTimer = setInterval(() => {
    if (burstsDone >= bursts) return clearInterval(burstTimer);
    sendBurst();
  }, o.intervalMs);

  // the miner: one random share every minerIntervalMs, whatever the replies do
  let nextId = 16;
  let minerSubmits = 0;
  const en2Bytes = Math.max(1, miner.en2size);
  const minerTimer = setInterval(() => {
    if (miner.closed || !miner.job) return;
    const id = nextId++;
    const r = randomBytes(en2Bytes + 4);
    sentAt.set(id, performance.now());
    minerSubmits++;
    miner.socket.write(`{"id":${id},"method":"mining.submit","params":[${JSON.stringify(o.user.replaceAll('{i}', 'miner'))},` +
      `${JSON.stringify(miner.job.id)},"${r.toString('hex', 0, en2Bytes)}","${miner.job.ntime}","${r.toString('hex', en2Bytes)}"]}\n`);
  }, o.minerIntervalMs);

  // a fresh connection once a second
  const connectLat = new Histogram();
  let connectTries = 0;
  let connectFailures = 0;
  const connects: { atS: number; ms: number }[] = [];
  const probes: Promise<void>[] = [];
  const probeTimer = setInterval(() => {
    connectTries++;
    const start = performance.now();
    const c = new Conn(o, o.user.replaceAll('{i}', `probe${connectTries}`));
    let giveUp: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<number>((r) => { giveUp = setTimeout(() => r(-1), UNANSWERED_MS); });
    probes.push(Promise.race([c.ready.then((ok) => (ok ? performance.now() - start : -1)), gaveUp]).then((ms) => {
      clearTimeout(giveUp);
      if (ms < 0) connectFailures++;
      else connectLat.recordMs(ms);
      connects.push({ atS: round((start - t0) / 1000), ms: round(ms) });
      c.destroy();
    }));
  }, 1000);

  let floodDoneS: number | null = null;
  const total = ready.length * o.requests;
  const doneWatch = setInterval(() => {
    if (floodDoneS === null && ready.reduce((a, c) => a + c.counted, 0) >= total) {
      floodDoneS = round((performance.now() - t0) / 1000);
      clearInterval(doneWatch);
    }
  }, 20);
  const tick = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    const replies = ready.reduce((a, c) => a + c.counted, 0);
    const l = lat.summary();
    progress?.(`[flood] ${s.toFixed(0)}/${o.durationS}s: flood ${replies.toLocaleString('en-US')} of ${floodSent.toLocaleString('en-US')} answered; ` +
      `miner ${minerReplies}/${minerSubmits}` + (l ? `, p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms` : ''));
  }, 1000);
  await sleep(o.durationS * 1000);
  clearInterval(burstTimer);
  clearInterval(minerTimer);
  clearInterval(probeTimer);
  clearInterval(tick);
  clearInterval(doneWatch);
  const t1 = performance.now();
  loopDelay.disable();
  const benchCpu = ownCpuPct(cpu0, t1 - t0);
  const sys1 = sampleSystem();
  const pool1 = o.pids?.length ? sampleProcs(o.pids) : null;
  const floodReplies = ready.reduce((a, c) => a + c.counted, 0);
  const floodDisconnects = ready.filter((c) => c.closed).length;
  // a submit still unanswered after 5 s (wait up to that long for the last ones)
  const waitUntil = performance.now() + UNANSWERED_MS;
  while (sentAt.size > 0 && performance.now() < waitUntil) await sleep(50);
  const unanswered = sentAt.size + late;
  await Promise.all(probes);
  for (const c of flooders) c.destroy();
  miner.destroy();
  const wall = (t1 - t0) / 1000;
  const poolCpu = pool0 && pool1 ? cpuPct(pool0, pool1) : null;
  return {
    mode: 'flood',
    pool: `${o.host}:${o.port}`,
    flooders: o.connections,
    ready: ready.length,
    burst: o.burst,
    intervalMs: o.intervalMs,
    requestsPerFlooder: o.requests,
    method: o.method,
    floodersRead: o.read,
    durationS: round(wall),
    floodSent,
    floodReplies,
    floodRepliesPerSec: Math.round(floodReplies / wall),
    floodDisconnects,
    floodDoneS: o.read ? floodDoneS : null,
    minerSubmits,
    minerReplies,
    minerLatencyMs: lat.summary(),
    minerOver200Ms: over200,
    minerOver500Ms: over500,
    minerWorst: worst,
    minerUnanswered: unanswered,
    connectTries,
    connectLatencyMs: connectLat.summary(),
    connectFailures,
    connectWorst: connects.sort((a, b) => b.ms - a.ms).slice(0, 3),
    benchCpuPct: round(benchCpu),
    benchLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6), max: round(loopDelay.max / 1e6) },
    poolCpuPct: poolCpu === null ? null : round(poolCpu),
    machine: machineLoad(sys0, sys1, poolCpu === null ? null : poolCpu + benchCpu),
  };
}

/** Offset just past the n-th newline of `buf`. */
function nthNewline(buf: Buffer, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at = buf.indexOf(0x0a, at) + 1;
  return at;
}
