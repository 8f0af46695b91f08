/**
 * More miners than one process can hold (issue 18): `procs` generator processes
 * (./swarm-worker.ts, forked with an IPC channel), each holding its share of the
 * connections, spread over source addresses (bind before connect, round-robin by
 * connection index) and over several targets (e.g. K passthroughs). The parent asks
 * them all, then merges their answers: one storm time, one failure table, one latency
 * histogram, one list of notify times.
 *
 * Limits are checked before anything is opened (./limits.ts); a run whose connections
 * failed for a limit (EMFILE, EADDRNOTAVAIL, ECONNREFUSED, …) says which; every request
 * to a worker has a deadline and a worker that dies fails the run: never a hang.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { ckError } from '../errors.js';
import { Histogram, sortedQuantile, type LatencySummary } from './histogram.js';
import { checkRun, errorCodeOf, limitOfError } from './limits.js';
import type { OpenReply, StatusReply, Target, WorkerCommand } from './swarm-worker.js';

export type { Target } from './swarm-worker.js';

/** A command without its sequence number (added by WorkerHandle.ask). */
type Request = WorkerCommand extends infer C ? (C extends WorkerCommand ? Omit<C, 'seq'> : never) : never;

export interface SwarmOptions {
  procs: number;
  targets: Target[];
  /** source addresses (empty: the system's choice) */
  sources: string[];
  user: string;
  password: string;
  /** reconnect to the next target after a connection is lost (default false) */
  reconnect?: boolean;
  progress?: (line: string) => void;
}

export interface StormResult {
  connections: number;
  ok: number;
  failures: Record<string, number>;
  /** failure causes that are system limits, explained (./limits.ts) */
  limits: string[];
  /** first connect() → last miner authorized and holding a job, ms */
  stormMs: number | null;
  /** per miner, connect() start of the whole storm → ready: p50/p99 */
  readyMs: { p50: number; p99: number } | null;
}

export interface NotifyTimes {
  miners: number;
  got: number;
  missing: number;
  firstMs: number | null;
  medianMs: number | null;
  p99Ms: number | null;
  lastMs: number | null;
}

export interface SwarmStatus {
  live: number;
  byTarget: Record<string, number>;
  disconnectsByTarget: Record<string, number>;
  reconnects: number;
  reconnectMs: { p50: number; p99: number; max: number } | null;
  reconnecting: number;
  sent: number;
  replies: number;
  accepted: number;
  rejected: number;
  reasons: Record<string, number>;
  latencyMs: LatencySummary | null;
  /** generator CPU-seconds so far (all workers) and their RSS */
  cpuSeconds: number;
  rssBytes: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class WorkerHandle {
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #dead: Error | null = null;

  constructor(readonly n: number, readonly child: ChildProcess) {
    child.on('message', (m: { seq: number; body?: unknown; error?: string }) => {
      const p = this.#pending.get(m.seq);
      if (!p) return;
      this.#pending.delete(m.seq);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.reject(ckError('CKP_ERR_BENCH_CHILD', String(n), m.error));
      else p.resolve(m.body);
    });
    child.on('exit', (code, signal) => {
      this.#dead = ckError('CKP_ERR_BENCH_CHILD', String(n), `exited (${signal ?? `status ${code}`})` +
        (signal === 'SIGKILL' ? ': killed — out of memory?' : ''));
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(this.#dead);
      }
      this.#pending.clear();
    });
  }

  ask<T>(cmd: Request, timeoutMs: number): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(ckError('CKP_ERR_BENCH_CHILD', String(this.n), `no answer to ${cmd.cmd} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ ...cmd, seq });
    });
  }
}

const epoch = () => performance.timeOrigin + performance.now();
const r1 = (x: number) => Math.round(x * 10) / 10;

export class Swarm {
  readonly #w: WorkerHandle[];
  readonly #o: SwarmOptions;
  /** the limits check's notes (somaxconn) */
  notes: string[] = [];

  private constructor(o: SwarmOptions, workers: WorkerHandle[]) {
    this.#o = o;
    this.#w = workers;
  }

  /** Fork the generator processes (after checking the run fits the system's limits). */
  static start(o: SwarmOptions, connections: number): Swarm {
    if (!Number.isInteger(o.procs) || o.procs < 1 || o.procs > 256) throw ckError('CKP_ERR_BENCH_OPTION', '--procs', 'an integer 1..256', String(o.procs));
    if (!o.targets.length) throw ckError('CKP_ERR_BENCH_OPTION', 'targets', 'at least one host:port', '(none)');
    const notes = checkRun({ connections, procs: o.procs, sources: o.sources, targets: o.targets.length });
    const ts = import.meta.url.endsWith('.ts');
    const entry = new URL(`./swarm-worker.${ts ? 'ts' : 'js'}`, import.meta.url);
    const workers: WorkerHandle[] = [];
    for (let i = 0; i < o.procs; i++) {
      const child = fork(entry, [], { execArgv: ts ? ['--import=tsx'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(new WorkerHandle(i, child));
    }
    const s = new Swarm(o, workers);
    s.notes = notes;
    return s;
  }

  get procs(): number {
    return this.#w.length;
  }

  async #all<T>(cmd: Request, timeoutMs = 60_000): Promise<T[]> {
    return Promise.all(this.#w.map((w) => w.ask<T>(cmd, timeoutMs)));
  }

  /**
   * Open `connections` miners at once (each worker its slice; connection i goes to
   * targets[i % K] from sources[i % S]) and wait until each holds a job or failed.
   */
  async open(connections: number, timeoutS = 120): Promise<StormResult> {
    const per = Math.ceil(connections / this.#w.length);
    const t0 = epoch();
    const replies = await Promise.all(this.#w.map((w, i) => {
      const base = i * per;
      const count = Math.max(0, Math.min(per, connections - base));
      return w.ask<OpenReply>({
        cmd: 'open', targets: this.#o.targets, sources: this.#o.sources, base, count, user: this.#o.user, password: this.#o.password,
        timeoutMs: timeoutS * 1000, reconnect: this.#o.reconnect ?? false,
      }, timeoutS * 1000 + 60_000);
    }));
    const failures: Record<string, number> = {};
    const times: number[] = [];
    let ok = 0;
    for (const r of replies) {
      ok += r.ok;
      for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
      for (const t of r.authorizedAt) times.push(t - t0);
    }
    times.sort((a, b) => a - b);
    const limits = new Set<string>();
    for (const f of Object.keys(failures)) {
      const code = errorCodeOf(f);
      const l = code && limitOfError(code);
      if (l) limits.add(`${code}: ${l}`);
    }
    return {
      connections, ok, failures, limits: [...limits],
      stormMs: times.length ? r1(times[times.length - 1]!) : null,
      readyMs: times.length ? { p50: r1(sortedQuantile(times, 0.5)), p99: r1(sortedQuantile(times, 0.99)) } : null,
    };
  }

  /**
   * Arm every live miner for the next clean notify, run `trigger` (the clock starts just
   * before it), and wait until all have it (or `timeoutS`). Times are from the trigger.
   */
  async notifyRound(trigger: () => Promise<unknown>, timeoutS = 60): Promise<NotifyTimes> {
    const armed = (await this.#all<number>({ cmd: 'arm' })).reduce((a, b) => a + b, 0);
    const t0 = epoch();
    await trigger();
    const deadline = Date.now() + timeoutS * 1000;
    // poll the workers' counts until every armed miner has it (a status is cheap)
    let times: number[] = [];
    let missing = armed;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const got = await this.#peekClean();
      if (got >= armed || Date.now() > deadline) break;
    }
    const res = await this.#all<{ times: number[]; missing: number }>({ cmd: 'clean' });
    times = res.flatMap((r) => r.times.map((t) => t - t0)).sort((a, b) => a - b);
    missing = res.reduce((a, r) => a + r.missing, 0);
    const q = (x: number) => (times.length ? r1(sortedQuantile(times, x)) : null);
    return {
      miners: armed, got: times.length, missing,
      firstMs: times.length ? r1(times[0]!) : null, medianMs: q(0.5), p99Ms: q(0.99), lastMs: times.length ? r1(times[times.length - 1]!) : null,
    };
  }

  /** How many armed miners hold the clean notify so far (from the live counts). */
  async #peekClean(): Promise<number> {
    const st = await this.#all<StatusReply>({ cmd: 'status' });
    return st.reduce((a, s) => a + s.cleanSoFar, 0);
  }

  /** Every miner submits one share per `intervalMs` (0 stops). */
  async pace(intervalMs: number): Promise<void> {
    await this.#all({ cmd: 'pace', intervalMs });
  }

  async status(reset = false): Promise<SwarmStatus> {
    const st = await this.#all<StatusReply>({ cmd: 'status', reset });
    const h = new Histogram();
    const out: SwarmStatus = {
      live: 0, byTarget: {}, disconnectsByTarget: {}, reconnects: 0, reconnectMs: null, reconnecting: 0,
      sent: 0, replies: 0, accepted: 0, rejected: 0, reasons: {}, latencyMs: null, cpuSeconds: 0, rssBytes: 0,
    };
    const rec: number[] = [];
    const add = (into: Record<string, number>, from: Record<string, number>) => {
      for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
    };
    for (const s of st) {
      out.live += s.live;
      out.reconnecting += s.reconnecting;
      out.sent += s.sent;
      out.replies += s.replies;
      out.accepted += s.accepted;
      out.rejected += s.rejected;
      add(out.byTarget, s.byTarget);
      add(out.disconnectsByTarget, s.disconnectsByTarget);
      add(out.reasons, s.reasons);
      rec.push(...s.reconnectMs);
      for (let i = 0; i < s.hist.counts.length; i++) h.counts[i]! += s.hist.counts[i]!;
      h.count += s.hist.count;
      h.sumUs += s.hist.sumUs;
      h.maxUs = Math.max(h.maxUs, s.hist.maxUs);
      out.cpuSeconds += s.cpuUs / 1e6;
      out.rssBytes += s.rss;
    }
    rec.sort((a, b) => a - b);
    out.reconnects = rec.length;
    out.reconnectMs = rec.length ? { p50: r1(sortedQuantile(rec, 0.5)), p99: r1(sortedQuantile(rec, 0.99)), max: r1(rec[rec.length - 1]!) } : null;
    out.latencyMs = h.summary();
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#w.map((w) => w.ask({ cmd: 'close' }, 10_000)));
    for (const w of this.#w) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
}
