/**
 * ckpool-ts library entry point: the building blocks the ckpool binaries use,
 * exported for other programs. Importing it starts nothing.
 */
// native share core: hashing, merkle, coinbase, headers, targets
export * from './native/core.js';
// share validator
export {
  ShareChecker, ShareBatch, checkShare, FLAG_MEETS_SHARE, FLAG_MEETS_NETWORK, FLAG_VERSION_OUTSIDE_MASK, FLAG_VERSION_DELTA, headerVersion,
  type JobSpec, type ShareInput, type ShareResult, type FullShare,
} from './native/share.js';
// addresses
export { addressToScript, decodeAddress, addressNetwork, NETWORKS, type NetworkName, type AddressType, type DecodedAddress } from './bitcoin/address.js';
// config loader (ckpool.conf)
export { loadConfig, parseConfig, embeddedDemoConfig } from './config/index.js';
export type { CkpoolConfig, BtcdEntry, ProxyEntry, Mode } from './config/types.js';
// bitcoind client: RPC, failover set, block watcher, bcoin regtest launcher
export { RpcClient, ServerSet, Server, BlockWatcher, startBcoin, BcoinNode } from './node/index.js';
export type { BlockTemplate, TemplateTransaction, BtcdConfig } from './node/index.js';
// work: workbases, generator, block assembly
export { Workbase, splitPayout, POOL_TAG, type Payout, type WorkbaseOptions } from './work/workbase.js';
export { Generator, networkOfChain, DONATION_ADDRESS, type GeneratorOptions, type BlockSubmission } from './work/generator.js';
export { assembleBlock, type SolvedBlock } from './work/block.js';
// stratum server (connector), stratifier, the whole pool
export { StratumServer, CloseReason, type StratumServerOptions, type StratumConnection } from './stratum/server.js';
export { Stratifier, type StratifierOptions } from './pool/stratifier.js';
export { Pool, type PoolConfig, type PoolOptions } from './pool/pool.js';
// worker threads (Pool's `workers` option) and the native getblocktemplate reader
export { PoolWorkers, type PoolWorkersOptions } from './pool/workers.js';
export type { ClientFilter, ClientRecord, ThreadCommand, ThreadCounts } from './pool/thread-protocol.js';
export { decodeTemplate, templateHashes, templateTxData, type TemplateHashes } from './node/template-reader.js';
export { StatsForwarder, replayStats, type StatsEvents } from './stats/forward.js';
// proxy modes: proxy/userproxy, passthrough/node/redirector, upstream failover, the pool's link side
export { ProxyMode, ProxySource, ProxySession, stratumHandshake, clientPart, type ProxyModeOptions } from './modes/proxy.js';
export { PassthroughMode, type PassthroughOptions, type PassthroughTap } from './modes/passthrough.js';
export { NodeTap, startNode } from './modes/node.js';
export { RedirectorTap, startRedirector } from './modes/redirector.js';
export { Upstream, UpstreamLink, type UpstreamEntry, type UpstreamOptions } from './modes/upstream.js';
export { LinkHub, Link } from './modes/links.js';
export { startMode } from './modes/start.js';
// stats, status files, share logs
export { PoolStats, ShareLog } from './stats/index.js';
export { decayTime, suffixString, hashrateFromDsps } from './stats/decay.js';
// webhook notifications (config `notifications`): the notifier, its outbox and event sources
export { Notifier, Notifications, Outbox, PresenceTracker, watchNodes, watchUpstream, renderBody, outboxDir } from './notify/index.js';
export type { NotifierOptions, NotificationsOptions, NotifyTuning, PendingInfo, NotifyRecord, NotifyType } from './notify/index.js';
export type { NotificationEntry, NotifyFormat, NotifyEventName } from './config/notifications.js';
// the operator event bus (blocks, worker presence, node/upstream state) the notifications listen on
export { PoolEvents, type PoolEventMap, type PoolEventName, type BlockRecord, type BlockVerdict, type WorkerPresence, type LinkState } from './events.js';
// the control socket (ckpmsg / notifier protocol)
export { ControlServer, sendControl } from './control/index.js';
// a stratum client (test miner, load generator)
export { StratumClient } from './miner/client.js';
export { CpuMiner, type CpuMinerOptions } from './miner/cpu.js';
// Prometheus metrics (GET /metrics of the HTTP API)
export { PoolMetrics, ProxyMetrics, type MetricsOptions } from './metrics/index.js';
// errors and logging
export { CkpoolError, ckError, isCkpoolError, catalogue, type ErrorCode } from './errors.js';
export { LogLevel, type Logger, ConsoleLogger, NullLogger, MemoryLogger } from './log/logger.js';
export { FileLogger } from './log/file.js';
