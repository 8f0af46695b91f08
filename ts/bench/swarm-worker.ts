/**
 * One generator process of a multi-process ckpool-bench run (./swarm.ts forks it).
 * It holds its share of the miners and does what the parent asks over IPC:
 *
 *   open    open `count` connections (global indexes base…base+count-1) spread over the
 *           targets and source addresses by index; each subscribes and authorizes and
 *           must hold a job. Replies with authorize times and failures.
 *   arm     watch for the next clean mining.notify on every live connection
 *   clean   when each one got it (epoch ms)
 *   pace    every connection submits one share per `intervalMs` (open loop, spread evenly)
 *   status  counters: live per target, disconnects, reconnects and how long they took,
 *           share replies and their latency histogram (its buckets, merged by the parent)
 *   close   drop everything and exit
 *
 * A connection that closes after it was authorized reconnects (when `reconnect` is
 * set) to the next target in the list, then the next, until one takes it: how miners
 * behind a killed passthrough find the others. Times are epoch ms with sub-ms precision
 * (performance.timeOrigin + now), comparable between processes of one machine.
 */
import { BenchConn, LoadStats, type ConnHooks, type LoadSettings } from './conn.js';
import { AGENT } from './modes.js';

export interface Target {
  host: string;
  port: number;
}

export type WorkerCommand =
  | { cmd: 'open'; seq: number; targets: Target[]; sources: string[]; base: number; count: number; user: string; password: string; timeoutMs: number; reconnect: boolean }
  | { cmd: 'arm'; seq: number }
  | { cmd: 'clean'; seq: number }
  | { cmd: 'pace'; seq: number; intervalMs: number }
  | { cmd: 'status'; seq: number; reset?: boolean }
  | { cmd: 'close'; seq: number };

export interface OpenReply {
  ok: number;
  failures: Record<string, number>;
  /** epoch ms of each authorize (connections that made it) */
  authorizedAt: number[];
  firstStartAt: number;
}

export interface StatusReply {
  live: number;
  /** live connections per target port */
  byTarget: Record<string, number>;
  /** connections closed after authorize since the last reset, per target port they were on */
  disconnectsByTarget: Record<string, number>;
  /** reconnects completed since the last reset, and close → authorized again (ms) */
  reconnectMs: number[];
  /** still trying to reconnect */
  reconnecting: number;
  /** armed connections that hold the clean notify already */
  cleanSoFar: number;
  sent: number;
  replies: number;
  accepted: number;
  rejected: number;
  reasons: Record<string, number>;
  /** the latency histogram (Histogram.counts) and its totals */
  hist: { counts: number[]; count: number; sumUs: number; maxUs: number };
  cpuUs: number;
  rss: number;
}

const now = () => performance.timeOrigin + performance.now();

interface Slot {
  conn: BenchConn;
  target: number;
  /** when it was lost (0 = not reconnecting) */
  lostAt: number;
  tries: number;
}

class Worker {
  readonly stats = new LoadStats();
  readonly load: LoadSettings = { stats: this.stats, pipeline: 0, tableSize: 64, slots: 8 };
  readonly slots: Slot[] = [];
  targets: Target[] = [];
  sources: string[] = [];
  user = '';
  password = '';
  reconnect = false;
  closing = false;
  disconnects: Record<string, number> = {};
  reconnectMs: number[] = [];
  #pace: NodeJS.Timeout | null = null;
  #bySocket = new Map<BenchConn, Slot>();

  #make(slot: Slot | null, index: number, target: number, hooks: ConnHooks): Slot {
    const t = this.targets[target]!;
    const conn = new BenchConn(index, {
      host: t.host, port: t.port, localAddress: this.sources.length ? this.sources[index % this.sources.length] : undefined,
      worker: this.user.replaceAll('{i}', String(index)), password: this.password, agent: AGENT,
    }, hooks, this.load);
    if (slot) {
      this.#bySocket.delete(slot.conn);
      slot.conn = conn;
      slot.target = target;
    } else slot = { conn, target, lostAt: 0, tries: 0 };
    this.#bySocket.set(conn, slot);
    return slot;
  }

  readonly #reHooks: ConnHooks = {
    work: (c) => {
      const s = this.#bySocket.get(c);
      if (s && s.lostAt) {
        this.reconnectMs.push(now() - s.lostAt);
        s.lostAt = 0;
        s.tries = 0;
      }
    },
    failed: (c) => this.#lost(c, false),
    closed: (c) => this.#lost(c, true),
  };

  #lost(c: BenchConn, wasUp: boolean): void {
    const s = this.#bySocket.get(c);
    if (!s || this.closing || !this.reconnect) return;
    if (wasUp) {
      const port = String(this.targets[s.target]!.port);
      this.disconnects[port] = (this.disconnects[port] ?? 0) + 1;
      s.lostAt = now();
    } else if (!s.lostAt) return; // failed while opening: counted by open
    // another target, as a miner with a list of pool urls (or a DNS name with several
    // addresses) would: the lost ones spread over the others by index; a short pause after a failed try
    const k = this.targets.length;
    const next = k === 1 ? 0 : (s.target + 1 + ((c.index + s.tries) % (k - 1))) % k;
    s.tries++;
    setTimeout(() => { if (!this.closing) this.#make(s, c.index, next, this.#reHooks); }, wasUp ? 0 : Math.min(1000, 50 * s.tries)).unref();
  }

  async open(m: Extract<WorkerCommand, { cmd: 'open' }>): Promise<OpenReply> {
    this.targets = m.targets;
    this.sources = m.sources;
    this.user = m.user;
    this.password = m.password;
    this.reconnect = m.reconnect;
    const authorizedAt: number[] = [];
    const failures: Record<string, number> = {};
    let done = 0;
    let resolve!: () => void;
    const all = new Promise<void>((r) => { resolve = r; });
    const finished = new Set<BenchConn>();
    const finish = (c: BenchConn) => {
      if (finished.has(c)) return;
      finished.add(c);
      if (++done === m.count) resolve();
    };
    const ready = (c: BenchConn) => {
      if (finished.has(c) || !c.authorized || !c.workAt) return;
      authorizedAt.push(performance.timeOrigin + Math.max(c.authorizedAt, c.workAt));
      finish(c);
    };
    const hooks: ConnHooks = {
      authorized: ready,
      work: (c) => {
        ready(c);
        this.#reHooks.work!(c);
      },
      failed: (c) => {
        if (!finished.has(c)) {
          failures[c.failure ?? 'failed'] = (failures[c.failure ?? 'failed'] ?? 0) + 1;
          finish(c);
        }
      },
      closed: (c) => { finish(c); this.#reHooks.closed!(c); },
    };
    const firstStartAt = now();
    for (let j = 0; j < m.count;) {
      const end = Math.min(m.count, j + 256);
      for (; j < end; j++) {
        const g = m.base + j;
        this.slots.push(this.#make(null, g, g % m.targets.length, hooks));
      }
      if (j < m.count) await new Promise((r) => setImmediate(r));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => { timer = setTimeout(r, m.timeoutMs); })]);
    clearTimeout(timer);
    for (const s of this.slots) {
      const c = s.conn;
      if (finished.has(c)) continue;
      const why = c.connectedAt ? (c.authorized ? 'timeout waiting for mining.notify' : 'timeout waiting for authorize') : 'timeout connecting';
      failures[why] = (failures[why] ?? 0) + 1;
    }
    // later (re)connections of these slots use the reconnect hooks
    return { ok: authorizedAt.length, failures, authorizedAt, firstStartAt };
  }

  arm(): number {
    let n = 0;
    for (const s of this.slots) {
      const c = s.conn;
      if (c.closed) continue;
      c.cleanAt = 0;
      c.watchClean = true;
      n++;
    }
    return n;
  }

  clean(): { times: number[]; missing: number } {
    const times: number[] = [];
    let missing = 0;
    for (const s of this.slots) {
      const c = s.conn;
      if (!c.watchClean) continue;
      c.watchClean = false;
      if (c.cleanAt) times.push(performance.timeOrigin + c.cleanAt);
      else missing++;
    }
    return { times, missing };
  }

  pace(intervalMs: number): void {
    if (this.#pace) clearInterval(this.#pace);
    this.#pace = null;
    if (intervalMs <= 0) return;
    const t0 = performance.now();
    let sent = 0;
    let k = 0;
    const tick = () => {
      const n = this.slots.length;
      const due = Math.floor(((performance.now() - t0) / intervalMs) * n);
      let budget = due - sent;
      // every connection once per interval, in a fixed order: an even spread
      for (let tries = 0; budget > 0 && tries < n; tries++) {
        const s = this.slots[k++ % n]!;
        if (s.conn.submitOne()) budget--;
        sent++;
      }
      sent = Math.max(sent, due - n); // never a backlog of more than one round
    };
    this.#pace = setInterval(tick, 20);
  }

  status(reset: boolean): StatusReply {
    const byTarget: Record<string, number> = {};
    let live = 0;
    let reconnecting = 0;
    let cleanSoFar = 0;
    for (const s of this.slots) {
      if (s.lostAt) reconnecting++;
      if (s.conn.watchClean && s.conn.cleanAt) cleanSoFar++;
      if (s.conn.closed || !s.conn.authorized) continue;
      live++;
      const p = String(this.targets[s.target]!.port);
      byTarget[p] = (byTarget[p] ?? 0) + 1;
    }
    const st = this.stats;
    const h = st.latency;
    const cpu = process.cpuUsage();
    const r: StatusReply = {
      live, byTarget, disconnectsByTarget: { ...this.disconnects }, reconnectMs: [...this.reconnectMs], reconnecting, cleanSoFar,
      sent: st.sent, replies: st.replies, accepted: st.accepted, rejected: st.rejected, reasons: st.reasonCounts(),
      hist: { counts: Array.from(h.counts), count: h.count, sumUs: h.sumUs, maxUs: h.maxUs },
      cpuUs: cpu.user + cpu.system, rss: process.memoryUsage.rss(),
    };
    if (reset) {
      this.disconnects = {};
      this.reconnectMs = [];
      st.sent = st.replies = st.accepted = st.rejected = 0;
      for (const x of st.reasons) x.count = 0;
      h.reset();
    }
    return r;
  }

  close(): void {
    this.closing = true;
    if (this.#pace) clearInterval(this.#pace);
    for (const s of this.slots) s.conn.destroy();
  }
}

/** The worker's main loop (the process was forked by ./swarm.ts with an IPC channel). */
export function runWorker(): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('swarm-worker must be forked with an IPC channel');
  const w = new Worker();
  const answer = (seq: number, body: unknown) => send({ seq, body });
  process.on('message', (m: WorkerCommand) => {
    void (async () => {
      try {
        switch (m.cmd) {
          case 'open': return answer(m.seq, await w.open(m));
          case 'arm': return answer(m.seq, w.arm());
          case 'clean': return answer(m.seq, w.clean());
          case 'pace': w.pace(m.intervalMs); return answer(m.seq, true);
          case 'status': return answer(m.seq, w.status(m.reset === true));
          case 'close':
            w.close();
            answer(m.seq, true);
            setTimeout(() => process.exit(0), 50);
        }
      } catch (e) {
        send({ seq: m.seq, error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
  // the parent is gone: nothing to report to
  process.on('disconnect', () => { w.close(); process.exit(0); });
}

runWorker();
