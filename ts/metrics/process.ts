/**
 * The process metrics every set exports, under prom-client's default names (so existing
 * Grafana panels work): RSS, CPU, heap, open descriptors, start time and the main thread's
 * event-loop delay. Everything is read at scrape time by `collect()` callbacks.
 *
 * Why not prom-client's collectDefaultMetrics: it also installs a PerformanceObserver for
 * every garbage collection (nodejs_gc_duration_seconds). The pool runs with a 1 MB young
 * generation (--max-semi-space-size=1: short scavenges, low latency), so it collects many
 * times a second under load, and that observer's callback and entry allocations cost
 * ~13 % of share throughput at 1000 miners (BENCHMARKS.md, "HTTP API under load"). Its
 * observer and event-loop monitor are also never stopped, so every pool started in one
 * process (tests, library users) left one behind.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';

const NS = 1e9;

/** Register the process metrics on `registry`; returns how to stop the loop monitor. */
export function registerProcessMetrics(registry: Registry): () => void {
  const registers = [registry];
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  new Gauge({
    name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', registers,
    collect() { this.set(process.memoryUsage.rss()); },
  });
  const cpu = (name: string, help: string, pick: (u: NodeJS.CpuUsage) => number) => new Counter({
    name, help, registers,
    collect() { this.reset(); this.inc(pick(process.cpuUsage()) / 1e6); },
  });
  cpu('process_cpu_user_seconds_total', 'User CPU time spent in seconds.', (u) => u.user);
  cpu('process_cpu_system_seconds_total', 'System CPU time spent in seconds.', (u) => u.system);
  cpu('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u) => u.user + u.system);
  new Gauge({
    name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers,
    collect() { this.set(startTime); },
  });
  if (process.platform === 'linux') {
    new Gauge({
      name: 'process_open_fds', help: 'Number of open file descriptors.', registers,
      collect() {
        try {
          this.set(readdirSync('/proc/self/fd').length - 1); // less the one readdir opened
        } catch {
          // /proc unavailable (a sandbox): leave the last value
        }
      },
    });
  }
  const heap = (name: string, help: string, pick: (m: NodeJS.MemoryUsage) => number) => new Gauge({
    name, help, registers,
    collect() { this.set(pick(process.memoryUsage())); },
  });
  heap('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', (m) => m.heapTotal);
  heap('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', (m) => m.heapUsed);
  heap('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', (m) => m.external);

  // The main thread's loop delay since the last scrape (10 ms resolution, as prom-client).
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const lag = (stat: string, pick: (h: IntervalHistogram) => number, reset = false) => new Gauge({
    name: `nodejs_eventloop_lag_${stat}_seconds`, help: `The ${stat} of the recorded event loop delays since the last scrape.`, registers,
    collect() {
      const v = pick(loop);
      this.set(Number.isFinite(v) ? v / NS : 0);
      if (reset) loop.reset();
    },
  });
  lag('min', (h) => h.min);
  lag('mean', (h) => h.mean);
  lag('p50', (h) => h.percentile(50));
  lag('p90', (h) => h.percentile(90));
  lag('max', (h) => h.max);
  // registered last, so the others read the same window before it is reset
  lag('p99', (h) => h.percentile(99), true);
  return () => loop.disable();
}
