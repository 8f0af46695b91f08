/**
 * The soak's miners: slots that connect, mine at a paced hashrate for a random
 * lifetime, disconnect and come back (churn). Some negotiate version rolling, some
 * send mining.suggest_difficulty; every slot follows client.reconnect (handover) and
 * reconnects when dropped. Shares are real (the native hasher in StratumClient.grind),
 * paced so that each slot behaves like a device of a given hashrate: vardiff sees a
 * steady rate and moves each miner to its own difficulty.
 */
import { StratumClient } from '../../ts/miner/client.js';

export interface AcceptedShare {
  key: string; // enonce1:nonce2:nonce, as in the share log
  user: string;
  diff: number;
}

export interface MinerTally {
  accepted: AcceptedShare[];
  rejected: Map<string, number>;
  /** blocks by the pool's (hardened) target whose share the pool accepted */
  blocks: { hash: string; worker: string; at: number; nbits: string }[];
  connects: number;
  refused: number;
  reconnectsTold: number;
  timeouts: number;
  errors: string[];
  difficulties: Set<number>;
}

export function newTally(): MinerTally {
  return { accepted: [], rejected: new Map(), blocks: [], connects: 0, refused: 0, reconnectsTold: 0, timeouts: 0, errors: [], difficulties: new Set() };
}

export interface SlotOptions {
  port: number;
  index: number;
  /** emulated hashes per second */
  hashrate: number;
  /** lifetime of one connection, ms: random in [min, max] */
  lifetimeMs: [number, number];
  rolling: boolean;
  suggest: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MinerSlot {
  #stop = false;
  #client: StratumClient | null = null;
  readonly done: Promise<void>;
  readonly user: string;
  readonly worker: string;

  constructor(readonly opts: SlotOptions, readonly tally: MinerTally) {
    this.user = `soak${opts.index % 4}`;
    this.worker = `${this.user}.rig${opts.index}`;
    this.done = this.#run();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    this.#client?.close();
    await this.done;
  }

  async #run(): Promise<void> {
    // staggered start
    await sleep(Math.random() * 2000);
    while (!this.#stop) {
      let c: StratumClient;
      try {
        c = await StratumClient.connect(this.opts.port);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.tally.refused++;
        else this.tally.errors.push(`connect: ${(e as Error).message}`);
        await sleep(500);
        continue;
      }
      this.#client = c;
      this.tally.connects++;
      await this.#session(c).catch((e: Error) => {
        if (!c.closed && !this.#stop) this.tally.errors.push(`${this.worker}: ${e.message}`);
      });
      c.close();
      this.#client = null;
      if (!this.#stop) await sleep(200 + Math.random() * 1500);
    }
  }

  async #session(c: StratumClient): Promise<void> {
    let told = false;
    c.on('message', (m) => {
      if (m.method === 'client.reconnect') {
        told = true;
        this.tally.reconnectsTold++;
      }
    });
    if (this.opts.rolling) {
      const r = await c.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': '1fffe000', 'version-rolling.min-bit-count': 2 }]);
      c.versionMask = parseInt(String((r.result as Record<string, unknown>)['version-rolling.mask']), 16) >>> 0;
    }
    const job = c.nextJob(30_000, true);
    const sub = await c.subscribe(`ckpool-ts-soak/1.0 slot${this.opts.index}`);
    if (!Array.isArray(sub.result)) throw new Error(`subscribe: ${JSON.stringify(sub)}`);
    if (this.opts.suggest !== null) await c.request('mining.suggest_difficulty', [this.opts.suggest]);
    const a = await c.authorize(this.worker);
    if (a.result !== true) throw new Error(`authorize: ${JSON.stringify(a)}`);
    await job;
    const [lo, hi] = this.opts.lifetimeMs;
    const end = Date.now() + lo + Math.random() * (hi - lo);
    while (!this.#stop && !told && !c.closed && Date.now() < end) {
      const diff = c.difficulty;
      const j = c.job!;
      const t0 = Date.now();
      const versionBits = this.opts.rolling && c.versionMask ? (Math.floor(Math.random() * 0xffffffff) & c.versionMask) >>> 0 : 0;
      // bounded, so one miner never holds the event loop (and the other miners) for long
      const s = c.grind({ job: j, diff, versionBits, maxTries: Math.min(20_000_000, Math.max(1_000_000, Math.ceil(diff * 2 ** 32 * 20))) });
      // a device of `hashrate` takes diff × 2^32 / hashrate seconds per share on average
      const mean = (diff * 2 ** 32 * 1000) / this.opts.hashrate;
      const wait = -Math.log(1 - Math.random()) * mean - (Date.now() - t0);
      if (wait > 0) await sleep(Math.min(wait, 30_000));
      if (this.#stop || c.closed) break;
      if (c.job?.jobId !== j.jobId && c.job?.clean) continue; // the tip moved while we "hashed"
      let r;
      try {
        r = await c.submit(this.worker, s.params, 15_000);
      } catch (e) {
        if (/within/.test((e as Error).message)) this.tally.timeouts++;
        break;
      }
      this.tally.difficulties.add(diff);
      if (r.result === true) {
        this.tally.accepted.push({ key: `${c.extranonce1.toString('hex')}:${s.params[1]}:${s.params[3]}`, user: this.user, diff });
        if (s.block) this.tally.blocks.push({ hash: s.hash, worker: this.worker, at: Date.now(), nbits: String(j.params[6]) });
      } else {
        const why = String(r['reject-reason'] ?? JSON.stringify(r.error));
        this.tally.rejected.set(why, (this.tally.rejected.get(why) ?? 0) + 1);
      }
    }
  }
}
