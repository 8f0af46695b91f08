/** Pool statistics and ckpool-compatible stats files and share logs. */
export {
  BATCH_SECONDS,
  DecayingRates,
  NONCES,
  PERIOD_SECONDS,
  POOL_PERIODS,
  SPS_PERIODS,
  USER_PERIODS,
  decayTime,
  hashrateFromDsps,
  hashrateString,
  saneTdiff,
  suffixString,
  type PeriodName,
} from './decay.js';
export { dspsFromSuffixString, formatFixed, formatG, janssonReal } from './format.js';
export {
  IDLE_SECONDS,
  PoolStats,
  TICK_MS,
  WORKER_FILE_IDLE_SECONDS,
  type BestShareNews,
  type ClientView,
  type PoolSnapshot,
  type PoolStatsOptions,
  type ReadBackResult,
  type ShareEvent,
  type UserView,
  type WorkerView,
} from './stats.js';
export {
  ShareLog,
  formatCreatedate,
  formatShareLogLine,
  shareLogPath,
  type ShareLogEntry,
  type ShareLogOptions,
} from './sharelog.js';
