/**
 * Prometheus metrics (prom-client, one Registry per pool): PoolMetrics for pool and solo
 * mode, ProxyMetrics for the proxy modes. The HTTP server (ts/api) serves `text()` as
 * GET /metrics; the metric names are listed in the README ("Prometheus metrics").
 */
export { PoolMetrics, type PoolMetricsSource } from './pool-metrics.js';
export { ProxyMetrics } from './proxy-metrics.js';
export { MetricsBase, DEFAULT_MAX_WORKERS, type MetricsOptions } from './registry.js';
export { OTHER_LABEL, topWithOther } from './top.js';
