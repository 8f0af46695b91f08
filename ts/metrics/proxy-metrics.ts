/**
 * Prometheus metrics of the proxy modes (-p / -u): the local miners and their shares as
 * in pool mode (the proxy keeps its own PoolStats), plus the upstream side — which
 * upstream pool is connected, how often the link came and went, and the shares
 * forwarded upstream and what upstream answered.
 *
 * The forwarded-share counters listen to ProxyMode's 'forwarded' event (one per upstream
 * reply, only for shares good enough upstream); the rest is read at scrape time.
 */
import { Counter, Gauge } from 'prom-client';
import type { ForwardResult, ProxyMode } from '../modes/proxy.js';
import { DEFAULT_MAX_WORKERS, MetricsBase, type MetricsOptions } from './registry.js';
import { OTHER_LABEL, topWithOther, type Ranked } from './top.js';

/** An upstream url as a label: without credentials, should the url carry any. */
function upstreamLabel(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}

export class ProxyMetrics extends MetricsBase {
  constructor(mode: ProxyMode, opts: MetricsOptions = {}) {
    super(opts);
    const registers = [this.registry];
    const stats = mode.stats;
    const max = opts.maxWorkers ?? DEFAULT_MAX_WORKERS;
    new Gauge({
      name: 'ckpool_miners_connected', help: 'Miner connections being served', registers,
      collect() { this.set(mode.server.connections.size); },
    });
    new Gauge({
      name: 'ckpool_workers', help: 'Authorised miner connections (pool.status "Workers")', registers,
      collect() { this.set(stats.connectedWorkers()); },
    });
    const t = stats.totals;
    new Counter({
      name: 'ckpool_shares_accepted_total', help: 'Shares accepted locally since start', registers,
      collect() { this.reset(); this.inc(t.accepted); },
    });
    new Counter({
      name: 'ckpool_shares_rejected_total', help: 'Shares rejected locally since start, by reject reason', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of t.rejectedByReason()) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'ckpool_accepted_difficulty_total', help: 'Sum of the difficulty of locally accepted shares since start', registers,
      collect() { this.reset(); this.inc(t.acceptedDiff); },
    });
    new Gauge({
      name: 'ckpool_hashrate', help: 'Hashrate of the local miners in H/s by window', labelNames: ['window'], registers,
      collect() {
        const s = stats.snapshot(Date.now());
        for (const [w, v] of Object.entries(s.hashrate)) this.set({ window: w }, v);
      },
    });
    new Gauge({
      name: 'ckpool_worker_hashrate', labelNames: ['worker', 'window'], registers,
      help: `Worker hashrate in H/s by window; the ${max} highest (5m) by name, the rest as worker="${OTHER_LABEL}"`,
      collect() {
        this.reset();
        const all: Ranked[] = [];
        for (const name of stats.userNames()) {
          for (const w of stats.getUser(name)?.workers ?? []) all.push({ name: w.name, rates: w.hashrate as Record<string, number> });
        }
        const r = topWithOther(all, max, '5m', ['1m', '5m', '1h']);
        for (const e of r.top) for (const w of ['1m', '5m', '1h']) this.set({ worker: e.name, window: w }, e.rates[w] ?? 0);
        if (r.other) for (const [w, v] of Object.entries(r.other)) this.set({ worker: OTHER_LABEL, window: w }, v);
      },
    });

    // ---- upstream
    const main = mode.main;
    new Gauge({
      name: 'ckpool_upstream_up', labelNames: ['upstream'], registers,
      help: 'The proxy\'s own upstream pools (the "proxy" entries in priority order): 1 for the one connected, 0 for the others',
      collect() {
        const active = main.upstream.active;
        main.entries.forEach((e, i) => this.set({ upstream: upstreamLabel(e.url) }, active?.index === i ? 1 : 0));
      },
    });
    new Gauge({
      name: 'ckpool_upstream_sessions', labelNames: ['state'], registers,
      help: 'Upstream sessions (one; userproxy: one per miner credential) that have work (ready) or not',
      collect() {
        let ready = 0;
        for (const s of mode.sessions.values()) if (s.ready) ready++;
        this.set({ state: 'ready' }, ready);
        this.set({ state: 'not_ready' }, mode.sessions.size - ready);
      },
    });
    const links = new Counter({
      name: 'ckpool_upstream_link_events_total', labelNames: ['event'], registers,
      help: 'The proxy\'s own upstream link: handshakes completed (up) and losses (down)',
    });
    links.inc({ event: 'up' }, 0);
    links.inc({ event: 'down' }, 0);
    const onUp = () => links.inc({ event: 'up' });
    const onDown = () => links.inc({ event: 'down' });
    main.upstream.on('up', onUp);
    main.upstream.on('down', onDown);
    const forwarded = new Counter({
      name: 'ckpool_upstream_shares_total', labelNames: ['result'], registers,
      help: 'Shares forwarded upstream, by upstream\'s answer (accepted, rejected, unanswered)',
    });
    for (const result of ['accepted', 'rejected', 'unanswered']) forwarded.inc({ result }, 0);
    const onForwarded = (r: ForwardResult) => forwarded.inc({ result: r.reply === null ? 'unanswered' : r.accepted ? 'accepted' : 'rejected' });
    mode.on('forwarded', onForwarded);
    new Counter({
      name: 'ckpool_upstream_shares_unforwarded_total', registers,
      help: 'Shares good enough upstream that found no upstream connected (sessions still open)',
      collect() {
        this.reset();
        let n = 0;
        for (const s of mode.sessions.values()) n += s.counters.unforwarded;
        this.inc(n);
      },
    });
    this.onClose(() => {
      main.upstream.off('up', onUp);
      main.upstream.off('down', onDown);
      mode.off('forwarded', onForwarded);
    });
  }
}
