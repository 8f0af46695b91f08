/**
 * A whole pool in one object — the library's front door for embedding:
 *
 * ```ts
 * const pool = await Pool.start({ btcd: [{ url: '127.0.0.1:8332', cookie: '~/.bitcoin/.cookie' }],
 *                                 btcaddress: 'bc1q…', serverurl: ['0.0.0.0:3333'] });
 * pool.stratifier.on('share', (client, r) => …);
 * await pool.stop();
 * ```
 * Wires the generator (bitcoinds → workbases), the connector (TCP) and the
 * stratifier (miners, shares, blocks), plus the stats files and optional share logs.
 * Downstream passthrough and node instances connect like miners and become links
 * (ts/modes/links.ts): their miners are served as individual clients. `nodeserver`
 * urls are listened on after the serverurl ones and are the only ones accepting
 * node links.
 */
import { embeddedDemoConfig } from '../config/parse.js';
import type { CkpoolConfig } from '../config/types.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { ServerSet } from '../node/servers.js';
import { StratumServer, type StratumServerOptions } from '../stratum/server.js';
import { serverLimitsFromConfig } from '../stratum/server-types.js';
import { PoolStats } from '../stats/stats.js';
import { ShareLog } from '../stats/sharelog.js';
import { Generator } from '../work/generator.js';
import { LinkHub } from '../modes/links.js';
import { blockSolvedText } from './protocol.js';
import { Stratifier } from './stratifier.js';
import { PoolWorkers } from './workers.js';
import { PoolEvents } from '../events.js';
import { BlockLedger } from '../work/ledger.js';
import { Notifications, type NotifyTuning } from '../notify/service.js';
import { watchNodes } from '../notify/sources.js';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../api/server.js';
import { poolApiSource } from '../api/source.js';
import { HistoryStore } from '../history/store.js';
import { HistorySampler } from '../history/sampler.js';
import { PoolMetrics } from '../metrics/pool-metrics.js';
import { tlsCredentialsFor, type TlsCredentials } from '../tls/credentials.js';
import { startSv2 } from '../sv2/start.js';
import type { Sv2Listener } from '../sv2/listener.js';
import { logCertificate } from '../tls/reload.js';

export type PoolConfig = Pick<CkpoolConfig, 'btcd'> & Partial<Omit<CkpoolConfig, 'btcd'>>;

export interface PoolOptions {
  logger?: Logger;
  /** solo mode (-B): usernames are payout addresses */
  solo?: boolean;
  /** -L: write per-share logs */
  logShares?: boolean;
  /** instance name (stats, messages) */
  name?: string;
  /** how long start() waits for a bitcoind before failing, ms (default: wait forever) */
  nodeTimeoutMs?: number;
  /** stats file period, ms (default 60 000) */
  statsIntervalMs?: number;
  /** auth deadline for miners, ms (default 60 000) */
  authTimeoutMs?: number;
  /** drop miners with no share for this long, ms; 0 = never (default: the config's `dropidle` seconds) */
  dropIdleMs?: number;
  /** serve on these already-listening socket descriptors (a handover) instead of binding serverurl */
  listenFds?: number[];
  /** the same for the sv2url listeners (a handover passes them after serverurl and nodeserver) */
  sv2ListenFds?: number[];
  /** where the SV2 key files go when the config names none (ckpool's sockdir; default /tmp/<name>) */
  sockdir?: string;
  /**
   * Do not read pool/ and users/ back at start: the caller does (stats.readBack) once a
   * handover's old process has exited, so its final stats write is what is read and no
   * share it counted in its last minute is lost. The stats timers (and file writes)
   * start then too (stats.start).
   */
  deferReadBack?: boolean;
  /** where the once-a-second status line goes (ckpool's stdout throbber; the CLI passes stdout unless -q) */
  throbber?: { write(s: string): unknown } | null;
  /** invalid submits in a row before a client is dropped as a flood (default 500) */
  invalidBurst?: number;
  /** connector limits (line length, output bound, send timeout…) */
  server?: Omit<StratumServerOptions, 'urls' | 'logger' | 'handoff' | 'idStart' | 'idStep'>;
  /**
   * Worker threads serving the miners (ts/pool/workers.ts); 0 serves them on this thread.
   * Default: the config's `workers` (0 when absent).
   */
  workers?: number;
  /** Notification delivery pacing (retries, outbox rescans, presence checks); the webhooks are the config's `notifications`. */
  notify?: NotifyTuning;
  /**
   * The HTTP API (started when the config has `apiurl`): extra routes such as the
   * metrics module's /metrics, and the API server's limits.
   */
  api?: Omit<ApiServerOptions, 'url' | 'source' | 'token' | 'logger'>;
  /** How often the history (ts/history) takes its sample, ms (default 60 000: 1-minute points). */
  historyIntervalMs?: number;
  /**
   * Do not start the HTTP API (config `apiurl`) in start(): the caller does, with
   * startApi. A -H handover's new process does so once the old one has exited and so
   * closed the API's port (that listener is not handed over like the stratum ones).
   */
  deferApi?: boolean;
}

export class Pool {
  /** The HTTP API and dashboard (config `apiurl`), null when off. */
  api: ApiServer | null = null;
  /** The Prometheus metrics the API serves as GET /metrics (ts/metrics), made with the API. */
  metrics: PoolMetrics | null = null;
  /** The Stratum V2 listeners (config `sv2url`, ts/sv2), null when none are configured. */
  sv2: Sv2Listener | null = null;
  /** Webhook notifications (config `notifications`, ts/notify), null when none are configured. */
  notifications: Notifications | null = null;
  /** The hashrate history (logdir/history.sqlite), kept while the API is on. */
  history: HistoryStore | null = null;
  #sampler: HistorySampler | null = null;

  private constructor(
    readonly config: CkpoolConfig,
    readonly generator: Generator,
    readonly server: StratumServer,
    readonly stratifier: Stratifier,
    readonly stats: PoolStats,
    readonly shareLog: ShareLog | null,
    readonly logger: Logger,
    /** passthrough and node links, and the miners behind them */
    readonly links: LinkHub,
    /** the worker threads that own the miners (null: this thread serves them) */
    readonly workers: PoolWorkers | null,
    /** operator events (blocks, worker presence, node state): ts/events.ts */
    readonly events: PoolEvents,
    /** the blocks this pool solved and their verdicts (logdir/blocks/) */
    readonly ledger: BlockLedger,
  ) {}

  /** Full config from a partial one, with ckpool's defaults. */
  static resolveConfig(partial: PoolConfig, solo = false): CkpoolConfig {
    const mode = solo ? 'solo' : 'pool';
    // every default of ckpool.conf (the demo config is exactly "all defaults"), then
    // the caller's values; a complete CkpoolConfig passes through unchanged
    if ((partial as CkpoolConfig).source !== undefined && (partial as CkpoolConfig).mode === mode) return partial as CkpoolConfig;
    return { ...embeddedDemoConfig(mode), ...partial, mode, embeddedDemo: false, source: '<library>' };
  }

  static async start(partial: PoolConfig | CkpoolConfig, opts: PoolOptions = {}): Promise<Pool> {
    const logger = opts.logger ?? new NullLogger();
    const solo = opts.solo ?? (partial as CkpoolConfig).mode === 'solo';
    const config = Pool.resolveConfig(partial, solo);
    const servers = new ServerSet({
      btcds: config.btcd.map((b) => ({ url: b.url, auth: b.auth, pass: b.pass, cookie: b.cookie, notify: b.notify })),
      logger,
    });
    const generator = new Generator({
      servers,
      btcaddress: solo ? undefined : config.btcaddress,
      btcsig: config.btcsig,
      donation: config.donation,
      nonce1length: config.nonce1length,
      nonce2length: config.nonce2length,
      updateInterval: config.updateInterval,
      blockpollMs: config.blockpoll,
      zmqblock: config.zmqblock,
      logdir: config.logdir,
      logger,
    });
    const stats = new PoolStats({ logdir: config.logdir, name: opts.name, logger, throbber: opts.throbber ?? null });
    const events = new PoolEvents();
    // node_down / node_up on the bus, per bitcoind
    watchNodes(servers, events);
    events.onListenerError = (name, e) => logger.err(`A ${name} event listener failed: ${(e as Error).message}`);
    const ledger = new BlockLedger({ logdir: config.logdir, events, logger });
    const shareLog = opts.logShares ? new ShareLog(config.logdir, logger) : null;
    const nthreads = opts.workers ?? config.workers ?? 0;
    const urls = [...config.serverurl, ...config.nodeserver];
    // stratum+ssl:// listeners: the certificate and key are read and checked before anything starts
    const tls = tlsCredentialsFor(config);
    if (tls) logCertificate(logger, 'Stratum TLS certificate', tls);
    const poolName = opts.name ?? 'ckpool-ts';
    // thread slots: 0 is this thread's own stratifier (node links), 1… the workers
    const slot = { index: 0, count: nthreads + 1 };
    let workers: PoolWorkers | null = null;
    let server: StratumServer | null = null;
    try {
      await ledger.load();
      ledger.attach(generator);
      await generator.start(opts.nodeTimeoutMs);
      if (!opts.deferReadBack) await stats.readBack(Date.now()).catch((e: Error) => logger.warning(`Could not read back stats: ${e.message}`));
      // with a deferred read-back the files stay the old process's until it is read
      if (!opts.deferReadBack) stats.start(opts.statsIntervalMs);
      const stratifierOptions = {
        solo,
        mindiff: config.mindiff, startdiff: config.startdiff, highdiff: config.highdiff, maxdiff: config.maxdiff,
        nonce1length: config.nonce1length, nonce2length: config.nonce2length, versionMask: config.versionMask,
        updateInterval: config.updateInterval, poolName, serverUrls: urls,
        authTimeoutMs: opts.authTimeoutMs, invalidBurst: opts.invalidBurst ?? (config.invalidburst === 0 ? Number.POSITIVE_INFINITY : config.invalidburst),
        dropIdleMs: opts.dropIdleMs ?? (config.dropidle ?? 0) * 1000,
      };
      const nodeServers = new Set(config.nodeserver.map((_, i) => config.serverurl.length + i));
      if (nthreads > 0) {
        workers = await PoolWorkers.start({
          count: nthreads, generator, stats, stratifier: stratifierOptions,
          server: { ...serverLimitsFromConfig(config), ...opts.server, urls, tls }, maxClients: opts.server?.maxClients ?? config.maxclients,
          shareLogDir: opts.logShares ? config.logdir : null, logger,
          blockMessage: (wb, who) => blockSolvedText(wb.height, who, poolName),
        });
        logger.notice(`Serving miners on ${nthreads} worker thread(s)`);
      }
      const w = workers;
      server = new StratumServer({
        maxClients: config.maxclients, ...serverLimitsFromConfig(config), ...opts.server, urls, tls, logger, idStart: urls.length, idStep: slot.count,
        // miners go to the worker threads; node links stay here, with the full templates
        handoff: w ? (socket, index, highdiff) => (nodeServers.has(index) ? 'local' : w.handoff(socket, index, highdiff)) : undefined,
      });
      const stratifier = new Stratifier({ generator, stats, shareLog, ...stratifierOptions, enonce1Slot: slot, logger });
      if (w) {
        // one session table and one block announcement for the whole pool
        const sessionEvents = w.attachMain(stratifier);
        stratifier.setSessionEvents(sessionEvents);
        stratifier.on('block', (c, r) => {
          if (r.accepted) w.announce(blockSolvedText(r.height, c.workername, poolName), 0);
        });
      }
      const links = new LinkHub({ server, stratifier, generator, nodeServers, idSlot: slot, logger });
      links.attach();
      if (opts.listenFds) await server.listenFds(opts.listenFds);
      else await server.listen();
      const pool = new Pool(config, generator, server, stratifier, stats, shareLog, logger, links, workers, events, ledger);
      if (config.sv2url.length) {
        try {
          pool.sv2 = await startSv2(pool, opts, () => links.nextSubId());
        } catch (e) {
          await pool.stop();
          throw e;
        }
      }
      try {
        pool.notifications = await Notifications.start({ config, events, stats, logger, name: poolName, tuning: opts.notify });
      } catch (e) {
        await pool.stop();
        throw e;
      }
      if (config.apiurl && !opts.deferApi) {
        try {
          await pool.startApi(config.apiurl, opts.api, opts.historyIntervalMs);
        } catch (e) {
          await pool.stop();
          throw e;
        }
      }
      return pool;
    } catch (e) {
      void ledger.close();
      generator.close();
      await server?.close().catch(() => undefined);
      await workers?.close().catch(() => undefined);
      await stats.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Start the HTTP API (and the history it serves) on `url`; Pool.start does this for `apiurl`. */
  async startApi(url: string, opts: PoolOptions['api'] = {}, historyIntervalMs?: number): Promise<ApiServer> {
    if (this.api) return this.api;
    this.history ??= HistoryStore.inLogdir(this.config.logdir, { logger: this.logger });
    this.#sampler ??= new HistorySampler(this.stats, this.history);
    this.#sampler.start(historyIntervalMs);
    this.metrics ??= new PoolMetrics(this, { maxWorkers: this.config.metricsmaxworkers });
    this.api = await startApiServer({ metrics: this.metrics, ...opts, url, source: poolApiSource(this, this.history), token: this.config.apitoken, logger: this.logger });
    this.logger.notice(`HTTP API and dashboard on ${this.api.url}`);
    return this.api;
  }

  /** Actual bound stratum addresses (ports resolved when configured as 0). */
  get addresses(): { host: string; port: number }[] {
    return this.server.addresses;
  }

  /**
   * Re-read `tlscert` / `tlskey` (SIGHUP, ts/tls/reload.ts): new TLS connections on every
   * thread get them, open ones keep theirs. Throws, changing nothing, if the files are
   * unusable; null when no url is TLS.
   */
  reloadTls(): TlsCredentials | null {
    const credentials = tlsCredentialsFor(this.config);
    if (!credentials) return null;
    this.server.setTlsCredentials(credentials);
    this.workers?.setTlsCredentials(credentials);
    return credentials;
  }

  /** Stop accepting, drop miners, flush stats and share logs, close node connections. */
  async stop(): Promise<void> {
    await this.api?.close();
    this.api = null;
    this.metrics?.close();
    this.#sampler?.stop();
    await this.sv2?.close();
    this.stratifier.close();
    await this.server.close();
    await this.workers?.close();
    this.generator.close();
    await this.ledger.close();
    // after everything that emits events; queued deliveries are on disk for the next process
    await this.notifications?.stop();
    await this.shareLog?.close();
    await this.stats.stop();
    // the last minute's point, then the file is left for the next process
    if (this.history) {
      this.#sampler?.sample(Date.now());
      this.history.close();
      this.history = null;
    }
  }
}
