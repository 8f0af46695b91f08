/**
 * Node mode (-N; behaviour §12.3): a passthrough (./passthrough.ts) with its own
 * bitcoind(s) (`btcd`). It connects to the main pool's `nodeserver` url with
 * `mining.node`, relays its miners like a passthrough, and also watches the traffic:
 *
 * - the pool's `{"node.method":"workinfo",...}` messages give it every job's template
 *   (transactions included) and coinbase halves (./links.ts);
 * - each miner's subscribe reply gives it that miner's extranonce1;
 * - each miner's submit is checked locally with the native share checker (so the node
 *   knows every share's difficulty), and one that meets the network target is built
 *   into a block and submitted to the node's own bitcoind(s) at once — written to
 *   `<logdir>/blocks/` first, exactly as the pool's generator does — while the pool
 *   upstream, which also sees the share, submits it to its own.
 *
 * The node needs the pool in pool mode: in -B solo mode every user has their own
 * coinbase and the pool sends no workinfo.
 */
import { EventEmitter } from 'node:events';
import type { CkpoolConfig } from '../config/types.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { prevhashFromStratum } from '../native/core.js';
import { ShareChecker } from '../native/share.js';
import { ServerSet } from '../node/servers.js';
import type { BlockTemplate } from '../node/rpc-types.js';
import { Generator, type BlockSubmission } from '../work/generator.js';
import { Workbase } from '../work/workbase.js';
import { idKey } from './common.js';
import { PassthroughMode, type Miner, type PassthroughOptions, type PassthroughTap } from './passthrough.js';
import type { Json } from './upstream.js';

interface NodeJob {
  wb: Workbase;
  checker: ShareChecker;
  coinb1: Buffer;
  coinb2: Buffer;
  en1len: number;
  en2len: number;
}

interface MinerState {
  /** ids of its subscribe requests still unanswered */
  subscribes: Set<string>;
  enonce1: Buffer | null;
  workername: string;
}

export interface NodeEvents {
  /** a share checked locally */
  share: [m: Miner, result: { jobId: string; sdiff: number; hash: string; block: boolean }];
  /** a block this node submitted to its own bitcoind(s) */
  block: [result: BlockSubmission];
}

/** Jobs kept: the newest this many (the pool keeps its own for 10 minutes). */
const MAX_JOBS = 64;

/** The node's view of the traffic: jobs, miners' extranonce1s, local share checks, block submission. */
export class NodeTap extends EventEmitter<NodeEvents> implements PassthroughTap {
  readonly parseDownstream = true;
  readonly jobs = new Map<string, NodeJob>();
  readonly counters = { shares: 0, unknownJob: 0, blocks: 0 };
  readonly #gen: Generator;
  readonly #log: Logger;

  constructor(generator: Generator, logger?: Logger) {
    super();
    this.#gen = generator;
    this.#log = logger ?? new NullLogger();
  }

  get generator(): Generator {
    return this.#gen;
  }

  #state(m: Miner): MinerState {
    let s = m.tap as MinerState | undefined;
    if (!s) {
      s = { subscribes: new Set(), enonce1: null, workername: '' };
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
    if (msg.method !== undefined) return;
    const s = m.tap as MinerState | undefined;
    if (!s || s.subscribes.size === 0) return;
    const k = idKey(msg.id);
    if (!s.subscribes.delete(k)) return;
    const r = msg.result;
    if (Array.isArray(r) && typeof r[1] === 'string' && /^([0-9a-fA-F]{2})+$/.test(r[1])) s.enonce1 = Buffer.from(r[1], 'hex');
  }

  fromUpstream(msg: Json): void {
    if (msg['node.method'] === 'workinfo') this.#workinfo(msg);
  }

  #workinfo(msg: Json): void {
    try {
      const jobId = String(msg.jobid);
      const seq = Number(msg.seq);
      if (!/^[0-9a-f]{16}$/.test(jobId) || !Number.isInteger(seq)) throw new Error('no job id');
      const en1len = Number(msg.enonce1varlen);
      const en2len = Number(msg.enonce2varlen);
      const mask = parseInt(String(msg.versionmask ?? '0'), 16) >>> 0;
      const wb = new Workbase({
        template: msg.template as BlockTemplate, seq, epoch: parseInt(jobId.slice(0, 8), 16), payout: { script: null },
        nonce1length: en1len, nonce2length: en2len,
      });
      if (wb.jobId !== jobId) throw new Error(`job id ${wb.jobId} rebuilt as ${jobId}`);
      const coinb1 = Buffer.from(String(msg.coinb1), 'hex');
      const coinb2 = Buffer.from(String(msg.coinb2), 'hex');
      const checker = new ShareChecker({
        coinb1, coinb2, branch: wb.branch, version: wb.version, versionMask: mask, prevhash: prevhashFromStratum(wb.stratumPrevhash),
        nbits: wb.nbits, extranonce1Len: en1len, extranonce2Len: en2len,
      });
      this.jobs.set(jobId, { wb, checker, coinb1, coinb2, en1len, en2len });
      while (this.jobs.size > MAX_JOBS) this.jobs.delete(this.jobs.keys().next().value!);
      this.#log.info(`node: workinfo ${jobId} height ${wb.height}, ${wb.txCount} transaction(s)`);
    } catch (e) {
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
    const r = job.checker.check({ extranonce1: s.enonce1, extranonce2: en2, ntime, nonce, versionBits: vbits, difficulty: job.wb.networkDiff });
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
  const tap = new NodeTap(generator, logger);
  try {
    const mode = await PassthroughMode.start(config, opts, tap);
    return { mode, tap };
  } catch (e) {
    generator.close();
    throw e;
  }
}
