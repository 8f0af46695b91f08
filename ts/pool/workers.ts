/**
 * Using every core: the pool's miners are spread over worker threads.
 *
 * Node runs JavaScript on one thread per isolate, so one thread caps a pool at one
 * core's worth of share validation and socket work. With `workers: N`, the main thread
 * keeps the listening sockets (so `-H` handover and `getxfd` work as before), the
 * generator (bitcoinds, workbases, block submission), PoolStats, and node links; each
 * accepted miner connection is handed to the worker thread with the fewest miners (the
 * descriptor is duplicated natively and the main thread's copy closed — see
 * src/fdpass.rs dup_fd), and that thread owns it from then on: framing, the stratifier,
 * vardiff, duplicate checks, batched native share validation, and its share log lines.
 *
 * Exactness across threads:
 * - each thread hands out extranonce1 values, session ids and client ids from its own
 *   residue class (index mod count), so they stay unique pool-wide; a share's hash
 *   includes its extranonce1, so per-thread duplicate sets are exact;
 * - vardiff and invalid-share handling are per client, hence per thread;
 * - every stats call is replayed on the main thread in order with its own timestamp
 *   (ts/stats/forward.ts), within 50 ms;
 * - disconnected sessions are mirrored to every thread (and the main thread), so a miner
 *   resumes its session and extranonce1 on whichever thread it lands;
 * - a solved block goes to the main thread at once, which writes it to disk, submits it
 *   to every node and tells every thread's miners.
 *
 * Stratum V2 miners (sv2url, ts/sv2) are spread the same way: the main thread accepts on
 * the SV2 listener and hands the descriptor to the least-loaded thread (handoffSv2),
 * which runs the connection's Noise session and its channels against its own stratifier
 * (the authority key reaches the threads with enableSv2 / WorkerInit.sv2).
 *
 * Extending to N cores: threads share nothing but these messages; the main thread's
 * per-share cost is one replayed stats call, so the design scales until that (about
 * 1 µs per share) fills the main thread — several hundred thousand shares a second.
 */
import type net from 'node:net';
import { Worker } from 'node:worker_threads';
import { ckError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { native } from '../native/binding.js';
import { detachDescriptor } from '../native/handover.js';
import { replayStats } from '../stats/forward.js';
import type { PoolStats } from '../stats/stats.js';
import type { Generator } from '../work/generator.js';
import type { Workbase } from '../work/workbase.js';
import type { SessionEntry, Stratifier } from './stratifier.js';
import type { TlsCredentials } from '../tls/credentials.js';
import type { Sv2HostSettings } from '../sv2/host.js';
import type {
  ClientFilter, ClientRecord, FromWorker, ThreadCommand, ThreadCounts, ThreadServerOptions, ThreadStratifierOptions,
  ToWorker, WorkbaseNews, WorkerInit, ThreadLag,
} from './thread-protocol.js';
import type { FanoutInfo } from './stratifier.js';

/** What a thread reports for the metrics (ts/metrics): its loop delay, or a block change's fan-out. */
export type ThreadPerfListener = (thread: number, report: { lag?: ThreadLag; fanout?: FanoutInfo }) => void;

export interface PoolWorkersOptions {
  /** worker threads to start (≥ 1) */
  count: number;
  generator: Generator;
  stats: PoolStats;
  stratifier: ThreadStratifierOptions;
  server: ThreadServerOptions;
  /** total miners over all threads (ckpool maxclients) */
  maxClients: number;
  shareLogDir: string | null;
  logger: Logger;
  /** the text sent to every miner when a block is accepted */
  blockMessage?: (wb: Workbase, workername: string) => string;
  /** SV2 settings (authority key) once the pool serves SV2 (enableSv2) */
  sv2?: Sv2HostSettings;
}

interface Thread {
  readonly index: number;
  worker: Worker;
  /** miners the thread last reported */
  clients: number;
  /** descriptors handed to this thread so far */
  handed: number;
  /** of those, how many the thread had adopted when it last reported (so in flight: handed − adopted) */
  adopted: number;
  outbox: number[];
  /** SV2 connections to hand over: [fd, sv2url index] pairs */
  sv2outbox: number[];
  ready: boolean;
  /** authorised client ids (stats): dropped from PoolStats if the thread dies */
  readonly authorised: Set<number>;
  sessions: number;
  stopped: boolean;
}

/**
 * A thread's miners: those it last reported plus those handed to it that it had not yet
 * adopted then. (Its report may cross a hand-off in flight; counting adoptions keeps the
 * in-flight ones counted until the thread reports them as its own.)
 */
function load(t: Thread): number {
  return t.clients + t.handed - t.adopted;
}

/**
 * How to start a thread: the built .js directly, or in a source checkout (running under
 * tsx) a small bootstrap that registers tsx in the new thread first — Node 20 does not
 * run the parent's `--import` hooks in worker threads.
 */
function threadScript(): { script: string | URL; eval: boolean } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./worker-thread.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return { script: url, eval: false };
  const api = import.meta.resolve('tsx/esm/api');
  return {
    script: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` +
      '.catch((e) => { console.error(e); process.exit(1); });',
    eval: true,
  };
}

/**
 * Each thread's young generation: 3 MB = V8's 1 MB semi-spaces, kept at their minimum
 * (node --max-semi-space-size=1, which the ckpool binary runs its main thread with).
 * V8's default lets new space grow to 32 MB under a connection storm, and RSS keeps
 * what it grew: a pool that has just taken 1000 idle miners then shows twice the
 * memory per miner. Share throughput is within a few per cent either way (BENCHMARKS.md,
 * "memory per idle client").
 */
const YOUNG_GENERATION_MB = 3;

export class PoolWorkers {
  readonly #o: PoolWorkersOptions;
  readonly #threads: Thread[] = [];
  readonly #log: Logger;
  readonly #calls = new Map<number, (r: unknown) => void>();
  #nextCall = 1;
  #flushScheduled = false;
  #closing = false;
  #lastLevel: number;
  #main: Stratifier | null = null;
  /** listeners for the threads' 'perf' reports (the metrics module adds one) */
  readonly perfListeners = new Set<ThreadPerfListener>();
  readonly #onWorkbase: (wb: Workbase, clean: boolean) => void;

  private constructor(o: PoolWorkersOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#lastLevel = o.logger.level;
    this.#onWorkbase = (wb, clean) => this.#broadcast({ t: 'wb', ...this.#news(wb, clean) });
  }

  /** Start `count` worker threads and wait until each is ready. */
  static async start(o: PoolWorkersOptions): Promise<PoolWorkers> {
    if (!Number.isInteger(o.count) || o.count < 1) throw ckError('CKP_ERR_POOL_WORKERS', 'a whole number of threads, at least 1', String(o.count));
    const w = new PoolWorkers(o);
    try {
      await Promise.all(Array.from({ length: o.count }, (_, i) => w.#spawn(i + 1)));
    } catch (e) {
      await w.close();
      throw e;
    }
    o.generator.on('workbase', w.#onWorkbase);
    return w;
  }

  /** Threads serving miners. */
  get threads(): number {
    return this.#threads.length;
  }

  /** Miners over all threads (as last reported, plus those handed over since). */
  get clients(): number {
    let n = 0;
    for (const t of this.#threads) n += load(t);
    return n;
  }

  /** Threads serving miners: started, ready, and not yet exited (one being restarted after a crash counts once it is ready). */
  get running(): number {
    let n = 0;
    for (const t of this.#threads) if (t.ready && !t.stopped) n++;
    return n;
  }

  /** Remembered disconnected sessions over all threads. */
  get sessions(): number {
    // every thread holds a copy of the same table (session mirroring): not a sum
    let n = 0;
    for (const t of this.#threads) n = Math.max(n, t.sessions);
    return n;
  }

  /**
   * The main thread's own stratifier (node-link miners): it joins the session mirror and
   * the block announcements. Returns the sessionEvents to give that stratifier.
   */
  attachMain(main: Stratifier): { saved(id: string, entry: SessionEntry): void; taken(id: string): void } {
    this.#main = main;
    return {
      saved: (id, entry) => this.#broadcast({ t: 'session', id, entry }),
      taken: (id) => this.#broadcast({ t: 'session', id, entry: null }),
    };
  }

  /** Tell every thread's miners (except those of thread `except`) and the main thread's. */
  announce(text: string, except?: number): void {
    for (const t of this.#threads) if (t.index !== except && t.ready) this.#post(t, { t: 'cmd', id: 0, cmd: { op: 'show', text } });
    if (except !== 0) this.#main?.showMessage(text);
  }

  #news(wb: Workbase, clean: boolean): WorkbaseNews {
    const g = this.#o.generator;
    return { snapshot: wb.snapshot(), clean, blockChangeSeq: g.blockChangeSeq, keep: g.jobIds };
  }

  #spawn(index: number): Promise<void> {
    const g = this.#o.generator;
    const init: WorkerInit = {
      index, count: this.#o.count + 1,
      stratifier: this.#o.stratifier,
      // every thread's server may hold the pool's whole limit; the main thread enforces it
      server: { ...this.#o.server, maxClients: this.#o.maxClients, idStart: this.#o.server.urls.length + index, idStep: this.#o.count + 1 },
      network: g.network,
      shareLogDir: this.#o.shareLogDir,
      logLevel: this.#log.level,
      current: g.current ? this.#news(g.current, true) : null,
      sv2: this.#o.sv2 ?? null,
    };
    const { script, eval: isEval } = threadScript();
    const worker = new Worker(script, { eval: isEval, workerData: init, name: `ckpool-ts worker ${index}`, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    const t: Thread = { index, worker, clients: 0, handed: 0, adopted: 0, outbox: [], sv2outbox: [], ready: false, authorised: new Set(), sessions: 0, stopped: false };
    const at = this.#threads.findIndex((x) => x.index === index);
    if (at >= 0) this.#threads[at] = t;
    else this.#threads.push(t);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          t.ready = true;
          resolve();
          return;
        }
        this.#onMessage(t, m);
      });
      worker.on('error', (e) => {
        this.#log.err(`Worker thread ${index} failed: ${e.stack ?? e.message}`);
        if (!t.ready) reject(e);
      });
      worker.on('exit', (code) => {
        if (!t.ready) reject(ckError('CKP_ERR_POOL_WORKER', index, `exited with code ${code} while starting`));
        this.#exited(t, code);
      });
    });
  }

  /** A thread ended: its miners are gone. Unless the pool is closing, start a new one. */
  #exited(t: Thread, code: number): void {
    t.stopped = true;
    const now = Date.now();
    for (const id of t.authorised) this.#o.stats.clientDisconnected('', '', id, now);
    t.authorised.clear();
    t.clients = 0;
    t.handed = 0;
    t.adopted = 0;
    t.sessions = 0;
    if (this.#closing || !t.ready) return;
    this.#log.crit(`Worker thread ${t.index} exited (code ${code}); its miners were disconnected; starting a new one`);
    setTimeout(() => {
      if (this.#closing) return;
      this.#spawn(t.index).catch((e: Error) => this.#log.crit(`Worker thread ${t.index} could not be restarted: ${e.message}`));
    }, 1000).unref();
  }

  #post(t: Thread, m: ToWorker): void {
    if (!t.stopped) t.worker.postMessage(m);
  }

  #broadcast(m: ToWorker): void {
    for (const t of this.#threads) if (t.ready) this.#post(t, m);
  }

  #onMessage(t: Thread, m: FromWorker): void {
    switch (m.t) {
      case 'ev': {
        for (let i = 0; i + 1 < m.log.length; i += 2) this.#log.log(m.log[i] as number, m.log[i + 1] as string);
        const fx = replayStats(this.#o.stats, m.ev);
        for (const id of fx.authorised) t.authorised.add(id);
        for (const id of fx.gone) t.authorised.delete(id);
        if (fx.sessions !== undefined) {
          t.sessions = fx.sessions;
          this.#o.stats.setDisconnectedSessions(this.sessions);
        }
        t.clients = m.clients;
        t.adopted = m.adopted;
        if (this.#log.level !== this.#lastLevel) {
          this.#lastLevel = this.#log.level;
          this.#broadcast({ t: 'level', level: this.#lastLevel });
        }
        return;
      }
      case 'block': return void this.#block(t, m);
      case 'txns': return this.#txns(t, m);
      case 'session':
        for (const other of this.#threads) if (other !== t && other.ready) this.#post(other, m);
        if (m.entry) this.#main?.sessionSaved(m.id, m.entry);
        else this.#main?.sessionTaken(m.id);
        return;
      case 'cmdDone': {
        const done = this.#calls.get(m.id);
        this.#calls.delete(m.id);
        done?.(m.result);
        return;
      }
      case 'perf':
        for (const l of this.perfListeners) l(t.index, m);
        return;
      case 'link': return this.#moveLink(t, m);
      case 'stopped':
      case 'ready':
        return;
    }
  }

  async #block(t: Thread, m: Extract<FromWorker, { t: 'block' }>): Promise<void> {
    const g = this.#o.generator;
    const header = Buffer.from(m.header.buffer, m.header.byteOffset, m.header.byteLength);
    const coinbase = Buffer.from(m.coinbase.buffer, m.coinbase.byteOffset, m.coinbase.byteLength);
    const wb = g.workbase(m.jobId);
    if (!wb) {
      // cannot happen while the thread mirrors the kept set; never drop it silently
      this.#log.emerg(`Block solve on job ${m.jobId}, which is no longer kept: header ${header.toString('hex')} coinbase ${coinbase.toString('hex')}`);
      this.#post(t, { t: 'blockDone', id: m.id, result: { accepted: false, confirmed: false, hash: '', height: 0, verdicts: [], file: null } });
      return;
    }
    const result = await g.submitBlock(wb, header, coinbase, m.meta);
    this.#post(t, { t: 'blockDone', id: m.id, result });
    if (result.accepted && this.#o.blockMessage) {
      // the finder's thread tells its own miners; the others hear it from here
      this.announce(this.#o.blockMessage(wb, String(m.meta.workername ?? '')), t.index);
    }
  }

  /**
   * A passthrough link thread `from` gave up for thread `m.to`, which owns the extranonce1
   * slot of the miners it brings back. With no such thread serving (restarting after a
   * crash), it is closed: the passthrough connects again, and its link then lands where
   * the handoff puts it. Not handed back to `from`, which would only pass it on again.
   */
  #moveLink(from: Thread, m: Extract<FromWorker, { t: 'link' }>): void {
    const to = this.#threads.find((x) => x.index === m.to && x.ready && !x.stopped);
    if (to === undefined || this.#closing) {
      this.#log.warning(`A passthrough link from worker thread ${from.index} was for thread ${m.to}, which is not serving: closing it`);
      native.closeFd(m.fd);
      return;
    }
    this.#post(to, { t: 'link', fd: m.fd, serverIndex: m.serverIndex, highdiff: m.highdiff, handshake: m.handshake });
  }

  #txns(t: Thread, m: Extract<FromWorker, { t: 'txns' }>): void {
    const wb = this.#o.generator.workbase(m.jobId);
    let result: string[] | string;
    if (!wb) result = 'Invalid job_id';
    else if (m.hashesOnly) result = wb.txids();
    else {
      const size = wb.txData().reduce((n, d) => n + d.length, 0);
      result = size > m.maxBytes ? `Too large (${size} bytes); use mining.get_txnhashes` : wb.txData();
    }
    this.#post(t, { t: 'txns', id: m.id, result });
  }

  /**
   * StratumServer `handoff`: give an accepted connection to the least-loaded thread. Its
   * descriptor is duplicated for the thread and the main thread's socket destroyed (the
   * connection stays open under the copy). Descriptors go out once per event-loop turn.
   */
  handoff = (socket: net.Socket, serverIndex: number, highdiff: boolean): 'taken' | 'full' | 'local' => {
    const r = this.#take(socket);
    if (typeof r !== 'object') return r;
    r.thread.outbox.push(r.fd, serverIndex, highdiff ? 1 : 0);
    return 'taken';
  };

  /**
   * Sv2Listener `handoff`: an accepted SV2 connection to the least-loaded thread, as
   * `handoff` does for V1 (an SV2 connection counts as one miner in the load, whatever
   * its channels). 'local' until enableSv2 gave the threads the authority key.
   */
  handoffSv2 = (socket: net.Socket, sv2Index: number): 'taken' | 'full' | 'local' => {
    if (!this.#o.sv2) return 'local';
    const r = this.#take(socket);
    if (typeof r !== 'object') return r;
    r.thread.sv2outbox.push(r.fd, sv2Index);
    return 'taken';
  };

  /** Pick the least-loaded serving thread and take the socket's descriptor for it (sent at the next flush). */
  #take(socket: net.Socket): { thread: Thread; fd: number } | 'full' | 'local' {
    if (this.clients >= this.#o.maxClients) return 'full';
    let best: Thread | undefined;
    for (const t of this.#threads) {
      if (!t.ready || t.stopped) continue;
      if (!best || load(t) < load(best)) best = t;
    }
    if (!best) return 'local';
    const copy = detachDescriptor(socket);
    if (copy === null) {
      this.#log.err('Could not hand a connection to a worker thread (no descriptor to duplicate); serving it here');
      return 'local';
    }
    best.handed++;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushOutboxes());
    }
    return { thread: best, fd: copy };
  }

  /**
   * Let the threads serve SV2 connections: the authority key and channel settings
   * (ts/sv2/start.ts calls this before its listener accepts). A thread started later
   * (after a crash) gets them in its WorkerInit.
   */
  enableSv2(settings: Sv2HostSettings): void {
    this.#o.sv2 = settings;
    this.#broadcast({ t: 'sv2', settings });
  }

  #flushOutboxes(): void {
    this.#flushScheduled = false;
    for (const t of this.#threads) {
      if (t.outbox.length !== 0) {
        const list = t.outbox;
        t.outbox = [];
        if (t.stopped) for (let i = 0; i < list.length; i += 3) native.closeFd(list[i]!);
        else t.worker.postMessage({ t: 'conns', list } satisfies ToWorker);
      }
      if (t.sv2outbox.length !== 0) {
        const list = t.sv2outbox;
        t.sv2outbox = [];
        if (t.stopped) for (let i = 0; i < list.length; i += 2) native.closeFd(list[i]!);
        else t.worker.postMessage({ t: 'sv2conns', list } satisfies ToWorker);
      }
    }
  }

  /**
   * New TLS connections on every thread get this certificate and key (SIGHUP reload);
   * a thread started later (after a crash) gets them too.
   */
  setTlsCredentials(credentials: TlsCredentials): void {
    this.#o.server = { ...this.#o.server, tls: credentials };
    this.#broadcast({ t: 'tls', credentials });
  }

  /** Run an operator action on every thread's miners; the answers, one per thread. */
  async command(cmd: ThreadCommand, timeoutMs = 5000): Promise<unknown[]> {
    const live = this.#threads.filter((t) => t.ready && !t.stopped);
    return Promise.all(live.map((t) => new Promise<unknown>((resolve) => {
      const id = this.#nextCall++;
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        resolve({ error: `worker thread ${t.index} did not answer` });
      }, timeoutMs);
      timer.unref();
      this.#calls.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.#post(t, { t: 'cmd', id, cmd });
    })));
  }

  /** Sum of a numeric command over all threads (drop, reconnect, show, send). */
  async total(cmd: ThreadCommand): Promise<number> {
    const r = await this.command(cmd);
    return r.reduce<number>((n, x) => n + (typeof x === 'number' && x > 0 ? x : 0), 0);
  }

  /** Every thread's miners (or those the filter selects), for the control API. */
  async clientList(filter?: ClientFilter): Promise<ClientRecord[]> {
    const r = await this.command({ op: 'clients', filter });
    return r.flatMap((x) => (Array.isArray(x) ? (x as ClientRecord[]) : []));
  }

  /** Connector and stratifier counters over all threads. */
  async counts(): Promise<ThreadCounts> {
    const r = await this.command({ op: 'counts' });
    const sum: ThreadCounts = {
      clients: 0, connections: 0, shares: 0, sessions: 0, accepted: 0, dropped: {}, bytesIn: 0, bytesOut: 0, closing: 0, blocked: 0,
      sv2Connections: 0, sv2Channels: 0, perThread: [],
    };
    for (const x of r) {
      if (!x || typeof x !== 'object' || 'error' in x) continue;
      const c = x as ThreadCounts;
      sum.clients += c.clients;
      sum.connections += c.connections;
      sum.shares += c.shares;
      sum.sessions = Math.max(sum.sessions, c.sessions); // mirrored tables: not a sum
      sum.accepted += c.accepted;
      sum.bytesIn += c.bytesIn;
      sum.bytesOut += c.bytesOut;
      sum.closing += c.closing;
      sum.blocked += c.blocked;
      sum.sv2Connections += c.sv2Connections;
      sum.sv2Channels += c.sv2Channels;
      sum.perThread.push(...c.perThread);
      for (const [k, v] of Object.entries(c.dropped)) sum.dropped[k] = (sum.dropped[k] ?? 0) + v;
    }
    return sum;
  }

  /** Stop every thread: each closes its miners, flushes its stats and share log, and exits. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#o.generator.off('workbase', this.#onWorkbase);
    await Promise.all(this.#threads.map((t) => new Promise<void>((resolve) => {
      if (t.stopped) return resolve();
      const timer = setTimeout(() => void t.worker.terminate().then(() => resolve()), 10_000);
      t.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#post(t, { t: 'stop' });
    })));
  }
}
