/**
 * Messages between the pool's main thread and its worker threads (ts/pool/workers.ts,
 * ts/pool/worker-thread.ts). Plain data only: everything crosses postMessage.
 */
import type { StratumServerOptions } from '../stratum/server.js';
import type { NetworkName } from '../bitcoin/address.js';
import type { StatsEvents } from '../stats/forward.js';
import type { BlockMeta, BlockSubmission } from '../work/generator.js';
import type { WorkbaseSnapshot } from '../work/workbase.js';
import type { FanoutInfo, SessionEntry, StratifierOptions } from './stratifier.js';
import type { TlsCredentials } from '../tls/credentials.js';
import type { Sv2HostSettings } from '../sv2/host.js';

/** The stratifier settings a worker thread needs (the plain-data part of StratifierOptions). */
export type ThreadStratifierOptions = Pick<StratifierOptions,
  'solo' | 'mindiff' | 'startdiff' | 'highdiff' | 'maxdiff' | 'nonce1length' | 'nonce2length' | 'versionMask' |
  'updateInterval' | 'poolName' | 'serverUrls' | 'authTimeoutMs' | 'dropIdleMs' | 'invalidBurst'>;

export type ThreadServerOptions = Omit<StratumServerOptions, 'logger' | 'handoff'>;

/** A new workbase, as the generator made it, and which workbases are still kept. */
export interface WorkbaseNews {
  snapshot: WorkbaseSnapshot;
  clean: boolean;
  blockChangeSeq: number;
  keep: string[];
}

export interface WorkerInit {
  /** this thread's slot (1…count-1; slot 0 is the main thread's own stratifier) */
  index: number;
  count: number;
  stratifier: ThreadStratifierOptions;
  server: ThreadServerOptions;
  network: NetworkName | null;
  /** -L share logs: directory, or null */
  shareLogDir: string | null;
  logLevel: number;
  current: WorkbaseNews | null;
  /** the SV2 authority key and channel settings when the pool serves SV2 (null: it does not, or not yet) */
  sv2: Sv2HostSettings | null;
}

/** Selects miners for an operator action (control socket). */
export interface ClientFilter {
  user?: string;
  clientId?: number;
}

/** A miner as the control API shows it (ts/control/queries.ts clientInfo's input). */
export interface ClientRecord {
  id: number;
  /** protocol: 'sv2' for a Stratum V2 channel (ts/sv2/channel.ts); absent = V1 */
  conn: { address: string; port: number; serverIndex: number; connectedAt: number; protocol?: string };
  agent: string;
  subscribed: boolean;
  authorised: boolean;
  workername: string;
  username: string;
  sessionId: string;
  enonce1Hex: string;
  vd: { diff: number };
  accepted: number;
  rejected: number;
  bestDiff: number;
}

/** Operator actions a worker carries out on its own miners; each answers a number or records. */
export type ThreadCommand =
  | { op: 'clients'; filter?: ClientFilter }
  | { op: 'drop'; filter?: ClientFilter }
  | { op: 'reconnect'; host?: string; port?: number; filter?: ClientFilter }
  | { op: 'show'; text: string; filter?: ClientFilter }
  | { op: 'send'; clientId: number; msg: unknown }
  | { op: 'resetBest' }
  | { op: 'counts' };

/** What `counts` answers. */
export interface ThreadCounts {
  clients: number;
  /** open connections of the thread's server (clients counts the stratifier's miners) */
  connections: number;
  /** shares judged since the thread started (the stratifier's 'share' events) */
  shares: number;
  sessions: number;
  accepted: number;
  dropped: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  closing: number;
  blocked: number;
  /** SV2 connections the thread serves, and their open channels (each also one of `clients`) */
  sv2Connections: number;
  sv2Channels: number;
  /** per thread (one entry from each thread; PoolWorkers.counts joins them) */
  perThread: { thread: number; clients: number; sv2Connections: number; sv2Channels: number }[];
}

export type ToWorker =
  /** descriptors to adopt: [fd, serverIndex, highdiff (0/1)] triples */
  | { t: 'conns'; list: number[] }
  /** SV2 connections to adopt (Sv2Host): [fd, sv2url index] pairs */
  | { t: 'sv2conns'; list: number[] }
  /** serve SV2 from now on: the authority key and channel settings (PoolWorkers.enableSv2) */
  | { t: 'sv2'; settings: Sv2HostSettings }
  | ({ t: 'wb' } & WorkbaseNews)
  | { t: 'blockDone'; id: number; result: BlockSubmission }
  | { t: 'txns'; id: number; result: string[] | string }
  | { t: 'cmd'; id: number; cmd: ThreadCommand }
  | { t: 'level'; level: number }
  /** another stratifier of the pool remembered (entry) or resumed (null) a session */
  | { t: 'session'; id: string; entry: SessionEntry | null }
  /** a reloaded TLS certificate and key for new stratum+ssl:// connections (SIGHUP) */
  | { t: 'tls'; credentials: TlsCredentials }
  /** a passthrough link moved here from another thread (MovedLink) */
  | ({ t: 'link' } & MovedLink)
  | { t: 'stop' };

/**
 * A passthrough link on its way to the thread owning the extranonce1 slot its handshake
 * named (ts/modes/links.ts RESUME_PARAM): the connection's descriptor, its listener, and
 * the handshake line, which the new thread handles as the link's first line.
 */
export interface MovedLink {
  fd: number;
  serverIndex: number;
  highdiff: boolean;
  handshake: string;
}

/** A thread's event-loop delay over its last report period, seconds (perf_hooks monitorEventLoopDelay). */
export interface ThreadLag {
  mean: number;
  p99: number;
  max: number;
}

export type FromWorker =
  | { t: 'ready' }
  /** for the metrics: the event-loop delay (every few seconds) or a block change's fan-out (at once) */
  | { t: 'perf'; lag?: ThreadLag; fanout?: FanoutInfo }
  /**
   * stats events, log lines ([level, text]…), the live client count and how many handed-over
   * descriptors the thread has taken so far (adopted or refused)
   */
  | { t: 'ev'; ev: StatsEvents; log: (number | string)[]; clients: number; adopted: number }
  | { t: 'block'; id: number; jobId: string; header: Uint8Array; coinbase: Uint8Array; meta: BlockMeta }
  | { t: 'txns'; id: number; jobId: string; hashesOnly: boolean; maxBytes: number }
  | { t: 'cmdDone'; id: number; result: unknown }
  /** this thread remembered (entry) or resumed (null) a session: mirror it everywhere */
  | { t: 'session'; id: string; entry: SessionEntry | null }
  /** give this passthrough link to thread `to` (the owner of the extranonce1s it resumes) */
  | ({ t: 'link'; to: number } & MovedLink)
  | { t: 'stopped' };
