/**
 * ckpool-bench as a library: the stratum v1 load generator (any pool) and the fake
 * template source for benchmarks. The CLI is ts/cli/bench.ts.
 */
export { throughput, connect, broadcast, AGENT } from './modes.js';
export { flood, type FloodOptions, type FloodResult } from './flood.js';
export { sv2Throughput, sv2Connect, sv2Engine, type Sv2Options } from './sv2.js';
export type {
  CommonOptions, ThroughputOptions, ConnectOptions, BroadcastOptions,
  ThroughputResult, ConnectResult, BroadcastResult, BroadcastRound, Failures,
} from './modes.js';
export { BenchConn, LoadStats, SubmitTable, parseNotifyLine, SUBMIT_ID_BASE } from './conn.js';
export type { ConnOptions, ConnHooks, LoadSettings, JobInfo } from './conn.js';
export { Histogram, sortedQuantile, type LatencySummary } from './histogram.js';
export { sampleProcs, processTree, cpuPct, ownCpuPct, sampleSystem, machineLoad, type ProcSample, type SystemSample, type MachineLoad } from './procstat.js';
export { TemplateSource } from './template-source.js';
export type { TemplateSourceOptions, ChainName, SubmittedBlock } from './template-source.js';
export { triggerNewBlock, type NewBlock } from './trigger.js';
export { makeTransactions, decodeTransaction, type SyntheticTx } from './txgen.js';
export { formatResult, progressWriter, cpuNote, machineNote, type BenchResult } from './report.js';
