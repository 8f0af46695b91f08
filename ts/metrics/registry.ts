/**
 * The part every metrics set shares: its own prom-client Registry (never the global
 * one, so several pools in one process — tests, programs embedding the library — each
 * export their own figures), the process metrics under prom-client's default names
 * (./process.ts: RSS, CPU, heap, descriptors, the main thread's event-loop lag as
 * nodejs_eventloop_lag_*; no GC histogram, see there), the text exposition the HTTP
 * server's GET /metrics sends, and detaching from what was observed.
 */
import { Registry } from 'prom-client';
import { registerProcessMetrics } from './process.js';

export interface MetricsOptions {
  /**
   * Per-user and per-worker hashrate series: at most this many users and this many
   * workers get their own label value (the highest 5-minute hashrates); the rest are
   * summed under "__other__". Default 100 (config key `metricsmaxworkers`).
   */
  maxWorkers?: number;
  /** The process metrics (process_*, nodejs_*; ./process.ts); default true. */
  defaultMetrics?: boolean;
}

export const DEFAULT_MAX_WORKERS = 100;

/** Buckets for short durations (RPC calls, notify fan-out), seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export abstract class MetricsBase {
  readonly registry = new Registry();
  readonly #undo: (() => void)[] = [];
  #closed = false;

  protected constructor(opts: MetricsOptions) {
    if (opts.defaultMetrics !== false) this.onClose(registerProcessMetrics(this.registry));
  }

  /** The exposition format's content type (for the HTTP reply). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format (collect callbacks run now). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Remember how to detach a listener or hook, for close(). */
  protected onClose(undo: () => void): void {
    this.#undo.push(undo);
  }

  /** Detach every listener and hook; the registry keeps its last values. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#undo.splice(0)) u();
  }
}
