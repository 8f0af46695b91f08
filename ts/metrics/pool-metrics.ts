/**
 * Prometheus metrics of a pool (pool and solo mode): GET /metrics of the HTTP server
 * (ts/api, config "apiurl"), or `text()` directly for a program embedding the library.
 *
 * Nothing here runs on the share path. Figures that are state (miners, hashrates, best
 * share, template age, share totals) are read by `collect()` callbacks when Prometheus
 * scrapes; the share counters are PoolStats' own totals (ts/stats/totals.ts: a few
 * additions per share, on the main thread where every thread's shares are replayed
 * anyway). What is only seen as it happens comes from listeners on the main thread:
 * bitcoind calls (RpcClient.onCall), block-change fan-outs (the stratifier's 'fanout'
 * event and the worker threads' 'perf' reports), the worker threads' loop delay, and
 * found blocks and their verdicts (the PoolEvents bus, fed by the block ledger).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { PoolEvents, BlockRecord } from '../events.js';
import type { Generator } from '../work/generator.js';
import type { PoolStats } from '../stats/stats.js';
import type { FanoutInfo, Stratifier } from '../pool/stratifier.js';
import type { PoolWorkers, ThreadPerfListener } from '../pool/workers.js';
import type { ThreadLag } from '../pool/thread-protocol.js';
import { DEFAULT_MAX_WORKERS, LATENCY_BUCKETS, MetricsBase, type MetricsOptions } from './registry.js';
import { OTHER_LABEL, topWithOther, type Ranked } from './top.js';

/** What the pool metrics read; a Pool (ts/pool/pool.ts) is one. */
export interface PoolMetricsSource {
  readonly stats: PoolStats;
  readonly generator: Generator;
  /** the main thread's stratifier (all miners without worker threads; node links with them) */
  readonly stratifier: Stratifier;
  readonly workers: PoolWorkers | null;
  /** blocks found and their verdicts (the block ledger emits them) */
  readonly events?: PoolEvents;
}

const POOL_WINDOWS = ['1m', '5m', '15m', '1h', '6h', '1d', '7d'] as const;
/** Windows of the per-user and per-worker series (each multiplies their count). */
const NAME_WINDOWS = ['1m', '5m', '1h'] as const;
const VERDICTS = ['accepted', 'rejected', 'orphaned', 'inconclusive'] as const;

export class PoolMetrics extends MetricsBase {
  readonly #src: PoolMetricsSource;
  readonly #maxWorkers: number;
  readonly #threadLag = new Map<number, ThreadLag>();
  #fanoutSeq = -1;
  #fanoutLastMs = 0;
  #fanoutMiners = 0;

  constructor(src: PoolMetricsSource, opts: MetricsOptions = {}) {
    super(opts);
    this.#src = src;
    this.#maxWorkers = opts.maxWorkers ?? DEFAULT_MAX_WORKERS;
    this.#shareMetrics();
    this.#hashrateMetrics();
    this.#workMetrics();
    this.#nodeMetrics();
    this.#fanoutMetrics();
    this.#blockMetrics();
  }

  // ------------------------------------------------------------------ miners and shares

  #shareMetrics(): void {
    const { stats, stratifier } = this.#src;
    const registers = [this.registry];
    const src = this.#src;
    new Gauge({
      name: 'ckpool_miners_connected', help: 'Miner connections being served (all threads), authorised or not', registers,
      collect() { this.set(stratifier.clients.size + (src.workers?.clients ?? 0)); },
    });
    new Gauge({
      name: 'ckpool_users', help: 'Users with at least one authorised miner connected', registers,
      collect() { this.set(stats.connectedUsers()); },
    });
    new Gauge({
      name: 'ckpool_workers', help: 'Authorised miner connections (pool.status "Workers")', registers,
      collect() { this.set(stats.connectedWorkers()); },
    });
    new Gauge({
      name: 'ckpool_worker_threads', help: 'Worker threads serving miners (0: the main thread serves them)', registers,
      collect() { this.set(src.workers?.running ?? 0); },
    });
    const t = stats.totals;
    new Counter({
      name: 'ckpool_shares_accepted_total', help: 'Accepted shares since start', registers,
      collect() { this.reset(); this.inc(t.accepted); },
    });
    new Counter({
      name: 'ckpool_shares_rejected_total', help: 'Rejected shares since start, by reject reason (the stratifier\'s kinds: STALE, DUPLICATE, ABOVE_TARGET, INVALID_JOB, NTIME, VERSION)',
      labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of t.rejectedByReason()) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'ckpool_accepted_difficulty_total', help: 'Sum of the difficulty of accepted shares since start (its rate × 2^32 is the hashrate)', registers,
      collect() { this.reset(); this.inc(t.acceptedDiff); },
    });
    new Counter({
      name: 'ckpool_rejected_difficulty_total', help: 'Sum of the difficulty of rejected shares since start', registers,
      collect() { this.reset(); this.inc(t.rejectedDiff); },
    });
    new Gauge({
      name: 'ckpool_best_share', help: 'Best share difficulty since the last block found (pool.status "bestshare")', registers,
      collect() { this.set(stats.snapshot(Date.now()).bestshare); },
    });
  }

  #hashrateMetrics(): void {
    const { stats } = this.#src;
    const registers = [this.registry];
    const max = this.#maxWorkers;
    new Gauge({
      name: 'ckpool_hashrate', help: 'Pool hashrate in H/s, decaying average over a window (as pool.status)', labelNames: ['window'], registers,
      collect() {
        const s = stats.snapshot(Date.now());
        for (const w of POOL_WINDOWS) this.set({ window: w }, s.hashrate[w]);
      },
    });
    // one pass over the users serves both gauges of a scrape (whichever collects first)
    let ranked: { at: number; users: Ranked[]; workers: Ranked[] } | null = null;
    const rank = () => {
      const now = Date.now();
      if (ranked && now - ranked.at < 500) return ranked;
      const users: Ranked[] = [];
      const workers: Ranked[] = [];
      for (const name of stats.userNames()) {
        const u = stats.getUser(name);
        if (!u) continue;
        users.push({ name, rates: u.hashrate as Record<string, number> });
        for (const w of u.workers) workers.push({ name: w.name, rates: w.hashrate as Record<string, number> });
      }
      ranked = { at: now, users, workers };
      return ranked;
    };
    new Gauge({
      name: 'ckpool_user_hashrate', labelNames: ['user', 'window'], registers,
      help: `User hashrate in H/s by window; the ${max} highest (5m) users by name, the rest summed as user="${OTHER_LABEL}" (metricsmaxworkers)`,
      collect() {
        this.reset();
        setTop(this, 'user', topWithOther(rank().users, max, '5m', NAME_WINDOWS));
      },
    });
    new Gauge({
      name: 'ckpool_worker_hashrate', labelNames: ['worker', 'window'], registers,
      help: `Worker hashrate in H/s by window; the ${max} highest (5m) workers by name, the rest summed as worker="${OTHER_LABEL}" (metricsmaxworkers)`,
      collect() {
        this.reset();
        setTop(this, 'worker', topWithOther(rank().workers, max, '5m', NAME_WINDOWS));
      },
    });
  }

  // ------------------------------------------------------------------ work and nodes

  #workMetrics(): void {
    const g = this.#src.generator;
    const registers = [this.registry];
    new Gauge({
      name: 'ckpool_template_age_seconds', help: 'Age of the current block template (workbase)', registers,
      collect() { if (g.current) this.set((Date.now() - g.current.createdAt) / 1000); },
    });
    new Gauge({
      name: 'ckpool_block_height', help: 'Height of the block being mined', registers,
      collect() { if (g.current) this.set(g.current.height); },
    });
    new Gauge({
      name: 'ckpool_network_difficulty', help: 'Network difficulty of the current template', registers,
      collect() { if (g.current) this.set(g.current.networkDiff); },
    });
  }

  #nodeMetrics(): void {
    const set = this.#src.generator.servers;
    const registers = [this.registry];
    const latency = new Histogram({
      name: 'ckpool_bitcoind_rpc_duration_seconds', help: 'bitcoind JSON-RPC call time, by node (host:port) and method',
      labelNames: ['node', 'method'], buckets: LATENCY_BUCKETS, registers,
    });
    const errors = new Counter({
      name: 'ckpool_bitcoind_rpc_errors_total', help: 'bitcoind JSON-RPC calls that failed, by node and error code (CKP_ERR_RPC_*)',
      labelNames: ['node', 'code'], registers,
    });
    new Gauge({
      name: 'ckpool_bitcoind_up', help: 'Whether the node passed its last check (1) or is marked dead (0)', labelNames: ['node'], registers,
      collect() { for (const s of set.servers) this.set({ node: s.name }, s.alive ? 1 : 0); },
    });
    new Gauge({
      name: 'ckpool_bitcoind_current', help: 'The node work comes from (1), by priority order', labelNames: ['node'], registers,
      collect() {
        const cur = set.current();
        for (const s of set.servers) this.set({ node: s.name }, s === cur ? 1 : 0);
      },
    });
    for (const s of set.servers) {
      const node = s.name;
      const client = s.client;
      const hook = (method: string, seconds: number, error: unknown) => {
        latency.observe({ node, method }, seconds);
        if (error) errors.inc({ node, code: String((error as { code?: unknown }).code ?? 'UNKNOWN') });
      };
      client.onCall = hook;
      this.onClose(() => { if (client.onCall === hook) client.onCall = null; });
    }
  }

  // ------------------------------------------------------------------ fan-out and threads

  #fanoutMetrics(): void {
    const registers = [this.registry];
    const hist = new Histogram({
      name: 'ckpool_notify_fanout_seconds', registers, buckets: LATENCY_BUCKETS,
      help: 'Block change to the last clean mining.notify queued, per thread serving miners (from the new template in hand)',
    });
    const self = this;
    new Gauge({
      name: 'ckpool_notify_fanout_last_seconds', registers,
      help: 'The last block change\'s fan-out: to the last notify on the slowest thread',
      collect() { this.set(self.#fanoutLastMs / 1000); },
    });
    new Gauge({
      name: 'ckpool_notify_fanout_last_miners', registers,
      help: 'Miners sent the last block change\'s clean job (all threads)',
      collect() { this.set(self.#fanoutMiners); },
    });
    new Gauge({
      name: 'ckpool_thread_event_loop_delay_seconds', labelNames: ['thread', 'stat'], registers,
      help: 'Event-loop delay of each worker thread over its last 2 s report (mean, p99, max); the main thread\'s is nodejs_eventloop_lag_*',
      collect() {
        this.reset();
        for (const [thread, lag] of self.#threadLag) {
          for (const stat of ['mean', 'p99', 'max'] as const) this.set({ thread: String(thread), stat }, lag[stat]);
        }
      },
    });
    const onFanout = (f: FanoutInfo) => {
      if (f.miners === 0) return;
      hist.observe(f.ms / 1000);
      if (f.seq > this.#fanoutSeq) {
        this.#fanoutSeq = f.seq;
        this.#fanoutLastMs = f.ms;
        this.#fanoutMiners = f.miners;
      } else if (f.seq === this.#fanoutSeq) {
        this.#fanoutLastMs = Math.max(this.#fanoutLastMs, f.ms);
        this.#fanoutMiners += f.miners;
      }
    };
    const strat = this.#src.stratifier;
    strat.on('fanout', onFanout);
    this.onClose(() => strat.off('fanout', onFanout));
    const workers = this.#src.workers;
    if (workers) {
      const onPerf: ThreadPerfListener = (thread, r) => {
        if (r.fanout) onFanout(r.fanout);
        if (r.lag) this.#threadLag.set(thread, r.lag);
      };
      workers.perfListeners.add(onPerf);
      this.onClose(() => workers.perfListeners.delete(onPerf));
    }
  }

  // ------------------------------------------------------------------ blocks

  #blockMetrics(): void {
    const registers = [this.registry];
    const found = new Counter({ name: 'ckpool_blocks_found_total', help: 'Blocks this pool solved (written to logdir/blocks and submitted) since start', registers });
    const verdicts = new Counter({
      name: 'ckpool_blocks_total', labelNames: ['verdict'], registers,
      help: 'Found blocks by the verdict they reached (accepted by a node, rejected, orphaned later, inconclusive); a block counts once per verdict it reaches',
    });
    for (const verdict of VERDICTS) verdicts.inc({ verdict }, 0);
    const events = this.#src.events;
    if (!events) return;
    const onFound = () => found.inc();
    const onVerdict = (b: BlockRecord) => { if (b.verdict !== 'pending') verdicts.inc({ verdict: b.verdict }); };
    events.on('block_found', onFound);
    events.on('block_verdict', onVerdict);
    this.onClose(() => {
      events.off('block_found', onFound);
      events.off('block_verdict', onVerdict);
    });
  }
}

function setTop(g: Gauge<string>, label: string, r: { top: Ranked[]; other: Record<string, number> | null }): void {
  for (const e of r.top) for (const w of NAME_WINDOWS) g.set({ [label]: e.name, window: w }, e.rates[w] ?? 0);
  if (r.other) for (const w of NAME_WINDOWS) g.set({ [label]: OTHER_LABEL, window: w }, r.other[w] ?? 0);
}
