/**
 * Node mode (-N; behaviour §12.3): a passthrough (./passthrough.ts) with its own
 * bitcoind(s) (`btcd`). It connects to the main pool's `nodeserver` url with
 * `mining.node`, relays its miners like a passthrough, and also watches the traffic:
 *
 * - the pool's ckpool-format `workinfo` and `transactions` messages (./node-wire.ts)
 *   give it every job: header fields, coinbase halves, txids and the raw transactions
 *   (./node-jobs.ts). Only the keys ckpool's own node reads are used, so it works behind
 *   a ckpool-ts pool and behind a real ckpool. A transaction the pool has not sent
 *   (ckpool sends new ones after the workinfo that lists them) is waited for, and asked
 *   of our own bitcoind with getrawtransaction, as ckpool's node does;
 * - each miner's subscribe reply gives it that miner's extranonce1;
 * - each miner's submit is checked locally with the native share checker (so the node
 *   knows every share's difficulty), and one that meets the network target is built
 *   into a block and submitted to the node's own bitcoind(s) at once — written to
 *   `<logdir>/blocks/` first, exactly as the pool's generator does — while the pool
 *   upstream, which also sees the share, submits it to its own.
 *
 * Version rolling is checked against the node's own `version_mask`, as ckpool's node
 * does (the workinfo carries no mask): give the node the pool's mask.
 *
 * The node needs the pool in pool mode: in -B solo mode every user has their own
 * coinbase and the pool sends no workinfo. A pool's `block` message (ckpool sends one
 * when it solves a block itself) is logged and otherwise ignored.
 */
import { EventEmitter } from 'node:events';
import type { CkpoolConfig } from '../config/types.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { ServerSet } from '../node/servers.js';
import { Generator, type BlockSubmission } from '../work/generator.js';
import { idKey } from './common.js';
import { JobTable, TxTable, buildJob } from './node-jobs.js';
import { linkMessageKind, parseTransactions, parseWorkinfoLine, type NodeWorkinfo } from './node-wire.js';
import { PassthroughMode, type Miner, type PassthroughOptions, type PassthroughTap } from './passthrough.js';
import type { Json } from './upstream.js';

interface MinerState {
  /** ids of its subscribe requests still unanswered */
  subscribes: Set<string>;
  enonce1: Buffer | null;
  workername: string;
  /**
   * The miner's share difficulty, from the pool's mining.set_difficulty (the newest and
   * the one before, as shares on older jobs are credited at the older one; 0 = not yet).
   * Shares are checked against it, not the network's: which reading of a share's version
   * bits the miner hashed shows in which one meets its share target (core share.rs).
   */
  diff: number;
  prevDiff: number;
}

export interface NodeEvents {
  /** a share checked locally */
  share: [m: Miner, result: { jobId: string; sdiff: number; hash: string; block: boolean }];
  /** a block this node submitted to its own bitcoind(s) */
  block: [result: BlockSubmission];
  /** a job ready for local share checks (its transactions all at hand) */
  job: [jobId: string];
}

/** Jobs kept: the newest this many (the pool keeps its own for 10 minutes). */
const MAX_JOBS = 64;
/** Workinfos held back for transactions still to come, newest kept. */
const MAX_WAITING = 4;
/** Missing transactions asked of our own bitcoind per workinfo, at most. */
const MAX_FETCH = 256;

/** The node's view of the traffic: jobs, miners' extranonce1s, local share checks, block submission. */
export class NodeTap extends EventEmitter<NodeEvents> implements PassthroughTap {
  readonly parseDownstream = true;
  readonly jobs = new JobTable(MAX_JOBS);
  readonly txns = new TxTable(MAX_JOBS);
  readonly counters = { shares: 0, unknownJob: 0, blocks: 0, workinfos: 0, badWorkinfos: 0 };
  readonly #gen: Generator;
  readonly #log: Logger;
  readonly #versionMask: number;
  /** workinfos whose transactions are not all here yet */
  #waiting: NodeWorkinfo[] = [];

  constructor(generator: Generator, versionMask: number, logger?: Logger) {
    super();
    this.#gen = generator;
    this.#versionMask = versionMask >>> 0;
    this.#log = logger ?? new NullLogger();
  }

  get generator(): Generator {
    return this.#gen;
  }

  #state(m: Miner): MinerState {
    let s = m.tap as MinerState | undefined;
    if (!s) {
      s = { subscribes: new Set(), enonce1: null, workername: '', diff: 0, prevDiff: 0 };
      m.tap = s;
    }
    return s;
  }

  fromMiner(m: Miner, msg: Json): void {
    const method = typeof msg.method === 'string' ? msg.method.toLowerCase() : '';
    if (method === 'mining.subscribe') this.#state(m).subscribes.add(idKey(msg.id));
    else if (method === 'mining.submit') this.#check(m, msg.params);
  }

  toMiner(m: Miner, msg: Json): void {
    if (msg.method === 'mining.set_difficulty') {
      const d = Array.isArray(msg.params) ? Number(msg.params[0]) : NaN;
      if (Number.isFinite(d) && d > 0) {
        const s = this.#state(m);
        s.prevDiff = s.diff || d;
        s.diff = d;
      }
      return;
    }
    if (msg.method !== undefined) return;
    const s = m.tap as MinerState | undefined;
    if (!s || s.subscribes.size === 0) return;
    const k = idKey(msg.id);
    if (!s.subscribes.delete(k)) return;
    const r = msg.result;
    if (Array.isArray(r) && typeof r[1] === 'string' && /^([0-9a-fA-F]{2})+$/.test(r[1])) s.enonce1 = Buffer.from(r[1], 'hex');
  }

  /** The pool's link-level messages, read from the line itself (a workinfo's jobid exceeds 2^53). */
  fromUpstreamLine(line: string): boolean {
    const kind = linkMessageKind(line);
    if (kind === null) return false;
    try {
      if (kind === 'workinfo') this.#workinfo(parseWorkinfoLine(line));
      else if (kind === 'transactions') this.#transactions(parseTransactions(JSON.parse(line) as Json));
      else this.#log.info('node: the pool reports a block it solved (not resubmitted here)');
    } catch (e) {
      if (kind === 'workinfo') this.counters.badWorkinfos++;
      this.#log.warning(`node: unusable ${kind} from the pool: ${(e as Error).message}`);
    }
    return true;
  }

  #transactions(list: string[]): void {
    let bad = 0;
    for (const data of list) {
      try {
        this.txns.add(data);
      } catch {
        bad++;
      }
    }
    if (bad) this.#log.warning(`node: ${bad} undecodable transaction(s) from the pool`);
    this.#retryWaiting();
  }

  #workinfo(wi: NodeWorkinfo): void {
    this.counters.workinfos++;
    this.txns.tick();
    const missing = this.txns.missing(wi.txids);
    if (missing.length === 0) return this.#addJob(wi);
    this.#waiting.push(wi);
    if (this.#waiting.length > MAX_WAITING) {
      const dropped = this.#waiting.shift()!;
      this.#log.warning(`node: job ${dropped.jobid.toString(16)} dropped: ${this.txns.missing(dropped.txids).length} of its transactions never arrived`);
    }
    this.#log.info(`node: job ${wi.jobid.toString(16)} waits for ${missing.length} transaction(s); asking our bitcoind too`);
    void this.#fetch(missing.slice(0, MAX_FETCH));
  }

  /** getrawtransaction from our own bitcoind for transactions the pool has not sent (yet). */
  async #fetch(txids: string[]): Promise<void> {
    const got = await Promise.all(txids.map((txid) => this.#gen.servers.call<string>('getrawtransaction', [txid]).catch(() => null)));
    let n = 0;
    for (const data of got) {
      if (typeof data !== 'string') continue;
      try {
        this.txns.add(data);
        n++;
      } catch {
        // not a transaction: ignored (the pool may still send it)
      }
    }
    if (n) this.#retryWaiting();
  }

  #retryWaiting(): void {
    if (this.#waiting.length === 0) return;
    const still: NodeWorkinfo[] = [];
    for (const wi of this.#waiting) {
      if (this.txns.missing(wi.txids).length) still.push(wi);
      else this.#addJob(wi);
    }
    this.#waiting = still;
  }

  #addJob(wi: NodeWorkinfo): void {
    try {
      const job = buildJob(wi, this.txns.take(wi.txids), this.#versionMask);
      this.jobs.set(wi.jobid, job);
      this.#log.info(`node: workinfo ${job.wb.jobId} height ${job.wb.height}, ${job.wb.txCount} transaction(s)`);
      this.emit('job', job.wb.jobId);
    } catch (e) {
      this.counters.badWorkinfos++;
      this.#log.warning(`node: unusable workinfo from the pool: ${(e as Error).message}`);
    }
  }

  /** Check a submit as the pool will; a block goes to our own bitcoind(s) at once. */
  #check(m: Miner, params: unknown): void {
    if (!Array.isArray(params) || params.length < 5) return;
    const [worker, jobId, nonce2, ntimeHex, nonceHex, vbitsHex] = params as unknown[];
    const s = m.tap as MinerState | undefined;
    if (!s?.enonce1 || typeof jobId !== 'string') return;
    const job = this.jobs.get(jobId);
    if (!job) {
      this.counters.unknownJob++;
      return;
    }
    const hex = /^[0-9a-fA-F]+$/;
    if (typeof nonce2 !== 'string' || !hex.test(nonce2) || typeof ntimeHex !== 'string' || !/^[0-9a-fA-F]{8}$/.test(ntimeHex) ||
      typeof nonceHex !== 'string' || !/^[0-9a-fA-F]{8}$/.test(nonceHex)) return;
    if (s.enonce1.length !== job.en1len) return;
    let vbits = 0;
    if (typeof vbitsHex === 'string' && /^[0-9a-fA-F]{1,8}$/.test(vbitsHex)) vbits = parseInt(vbitsHex, 16) >>> 0;
    // the pool normalises extranonce2 to its nonce2length (truncate / zero-pad)
    const n2 = job.en2len * 2;
    const en2Hex = nonce2.length >= n2 ? nonce2.slice(0, n2) : nonce2 + '0'.repeat(n2 - nonce2.length);
    if (en2Hex.length % 2) return;
    const en2 = Buffer.from(en2Hex, 'hex');
    const ntime = parseInt(ntimeHex, 16) >>> 0;
    const nonce = parseInt(nonceHex, 16) >>> 0;
    const difficulty = s.diff ? Math.min(s.diff, s.prevDiff) : job.wb.networkDiff;
    const r = job.checker.check({ extranonce1: s.enonce1, extranonce2: en2, ntime, nonce, versionBits: vbits, difficulty });
    this.counters.shares++;
    if (typeof worker === 'string') s.workername = worker;
    this.emit('share', m, { jobId, sdiff: r.difficulty, hash: r.hash, block: r.meetsNetworkTarget });
    if (!r.meetsNetworkTarget) return;
    this.counters.blocks++;
    const header = job.checker.header(s.enonce1, en2, ntime, nonce, vbits, r.flags);
    const coinbase = Buffer.concat([job.coinb1, s.enonce1, en2, job.coinb2]);
    this.#log.notice(`node: block solved by ${s.workername} at height ${job.wb.height}: ${r.hash}, submitting to our own bitcoind`);
    void this.#gen.submitBlock(job.wb, header, coinbase, { workername: s.workername, source: 'node', nonce2: en2Hex, ntime: ntimeHex, nonce: nonceHex, shareHash: r.hash })
      .then((result) => this.emit('block', result));
  }

  gone(): void {}

  close(): void {
    this.#gen.close();
  }
}

/** Start node mode: the local bitcoind set, then the passthrough with the tap. */
export async function startNode(config: CkpoolConfig, opts: PassthroughOptions = {}): Promise<{ mode: PassthroughMode; tap: NodeTap }> {
  const logger = opts.logger ?? new NullLogger();
  const servers = new ServerSet({
    btcds: config.btcd.map((b) => ({ url: b.url, auth: b.auth, pass: b.pass, cookie: b.cookie, notify: b.notify })),
    logger,
  });
  // The generator is used for its block submission path only (write first, every live
  // node, confirm); the node's work comes from the pool.
  const generator = new Generator({
    servers, nonce1length: config.nonce1length, nonce2length: 8, updateInterval: config.updateInterval, logdir: config.logdir, logger,
  });
  await servers.start();
  if (!servers.current()) logger.warning('node: no local bitcoind answers yet; blocks will be retried on it when found');
  const tap = new NodeTap(generator, config.versionMask, logger);
  try {
    const mode = await PassthroughMode.start(config, opts, tap);
    return { mode, tap };
  } catch (e) {
    generator.close();
    throw e;
  }
}
