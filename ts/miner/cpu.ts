/**
 * A small built-in stratum v1 CPU miner: the demo of `npm start` mines with it, so a
 * newcomer sees shares, a moving hashrate chart and found (regtest) blocks within
 * seconds without installing a miner. Also usable against any pool.
 *
 * Each worker name is its own stratum connection (subscribe, authorize, notify,
 * set_difficulty, submit), on this thread: that is a few messages a second. The hashing
 * runs on ONE worker thread (ts/miner/cpu-thread.ts) shared by all workers, with the
 * Rust core's sha256d nonce scan, so whatever process hosts the miner keeps a free event
 * loop. A lost connection is retried every second until stop().
 *
 * Not a real miner: no version rolling, no extranonce subscription, no failover, and a
 * single thread. It exists to show the pool working.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { NullLogger, type Logger } from '../log/logger.js';
import { StratumClient } from './client.js';
import type { CpuFromThread, CpuToThread } from './cpu-protocol.js';

export interface CpuMinerOptions {
  host?: string;
  port: number;
  /** worker names (`user.worker`); one connection each */
  workers: readonly string[];
  password?: string;
  /** H/s over all workers; 0 or absent = as fast as one thread hashes */
  maxHashrate?: number;
  logger?: Logger;
}

export interface CpuMinerEvents {
  /** the pool's answer to a share */
  share: [worker: string, accepted: boolean, reason: string | null];
}

interface Slot {
  readonly index: number;
  readonly worker: string;
  client: StratumClient | null;
  accepted: number;
  rejected: number;
}

/** Start the hashing thread: the built .js, or under tsx a bootstrap that registers tsx first. */
function startThread(maxHashrate: number): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./cpu-thread.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  const workerData = { maxHashrate };
  if (!fromSource) return new Worker(url, { workerData, name: 'ckpool-ts demo miner' });
  const api = import.meta.resolve('tsx/esm/api');
  const script = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` +
    '.catch((e) => { console.error(e); process.exit(1); });';
  return new Worker(script, { eval: true, workerData, name: 'ckpool-ts demo miner' });
}

export class CpuMiner extends EventEmitter<CpuMinerEvents> {
  readonly #o: CpuMinerOptions;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #thread: Worker;
  #hashes = 0;
  #stopped = false;
  readonly #started = Date.now();

  private constructor(o: CpuMinerOptions) {
    super();
    this.#o = o;
    this.#log = o.logger ?? new NullLogger();
    this.#slots = o.workers.map((worker, index) => ({ index, worker, client: null, accepted: 0, rejected: 0 }));
    this.#thread = startThread(o.maxHashrate ?? 0);
    this.#thread.on('message', (m: CpuFromThread) => this.#onThread(m));
    this.#thread.on('error', (e) => this.#log.err(`Demo miner: hashing thread failed: ${e.message}`));
    this.#thread.unref();
  }

  /** Connect every worker and start hashing; resolves once each worker has tried once. */
  static async start(o: CpuMinerOptions): Promise<CpuMiner> {
    if (o.workers.length === 0) throw new Error('CpuMiner: no workers given');
    const m = new CpuMiner(o);
    await Promise.all(m.#slots.map((s) => m.#connect(s)));
    return m;
  }

  /** Hashes per second since the start. */
  get hashrate(): number {
    const s = (Date.now() - this.#started) / 1000;
    return s > 0 ? this.#hashes / s : 0;
  }

  /** Shares the pool accepted and rejected, per worker. */
  get counts(): { worker: string; accepted: number; rejected: number }[] {
    return this.#slots.map((s) => ({ worker: s.worker, accepted: s.accepted, rejected: s.rejected }));
  }

  #post(m: CpuToThread): void {
    if (!this.#stopped) this.#thread.postMessage(m);
  }

  async #connect(s: Slot): Promise<void> {
    if (this.#stopped) return;
    let c: StratumClient;
    try {
      c = await StratumClient.connect(this.#o.port, this.#o.host ?? '127.0.0.1');
    } catch (e) {
      this.#retry(s, (e as Error).message);
      return;
    }
    s.client = c;
    // the first notify can arrive in the same read as the subscribe reply, before
    // subscribe() has taken the extranonce1 from it: no work until then
    let subscribed = false;
    const work = () => {
      if (!subscribed || !c.job) return;
      this.#post({
        t: 'work', slot: s.index,
        work: { jobId: c.job.jobId, params: c.job.params, extranonce1: c.extranonce1.toString('hex'), extranonce2Size: c.extranonce2Size, difficulty: c.difficulty },
      });
    };
    c.on('notify', work);
    c.on('difficulty', work);
    c.on('close', () => {
      s.client = null;
      this.#post({ t: 'idle', slot: s.index });
      this.#retry(s, 'connection closed');
    });
    try {
      await c.subscribe('ckpool-ts-demo-cpu/1.0');
      subscribed = true;
      const r = await c.authorize(s.worker, this.#o.password ?? 'x');
      if (r.result !== true) throw new Error(`authorize refused: ${JSON.stringify(r.error)}`);
      work();
    } catch (e) {
      this.#log.warning(`Demo miner ${s.worker}: ${(e as Error).message}`);
      c.close();
    }
  }

  #retry(s: Slot, why: string): void {
    if (this.#stopped) return;
    this.#log.info(`Demo miner ${s.worker}: ${why}; reconnecting in 1 s`);
    setTimeout(() => void this.#connect(s), 1000).unref();
  }

  #onThread(m: CpuFromThread): void {
    switch (m.t) {
      case 'hashes':
        this.#hashes = m.total;
        return;
      case 'error':
        this.#log.warning(`Demo miner ${this.#slots[m.slot]?.worker}: ${m.message}`);
        return;
      case 'share': {
        const s = this.#slots[m.slot];
        const c = s?.client;
        if (!s || !c || c.closed) return;
        c.submit(s.worker, [m.jobId, m.extranonce2, m.ntime, m.nonce]).then((r) => {
          const ok = r.result === true;
          if (ok) s.accepted++;
          else s.rejected++;
          this.emit('share', s.worker, ok, ok ? null : (r['reject-reason'] ?? JSON.stringify(r.error)));
        }, () => undefined); // the connection went away: its retry says so
        return;
      }
    }
  }

  /** Close every connection and end the hashing thread. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#post({ t: 'stop' });
    this.#stopped = true;
    for (const s of this.#slots) s.client?.close();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void this.#thread.terminate().then(() => resolve()), 2000);
      this.#thread.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
