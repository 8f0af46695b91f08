/**
 * The types at the stratifier's boundary: its options, its events and what it tells
 * about a share. Kept apart from the class so that the modules which only talk to a
 * stratifier (worker threads, metrics, the proxy modes) need not read its logic.
 */
import type { Logger } from '../log/logger.js';
import type { StratumServer } from '../stratum/server.js';
import type { BlockSubmission } from '../work/generator.js';
import type { WorkSource } from '../work/source.js';
import type { Workbase } from '../work/workbase.js';
import type { StatsSink } from '../stats/stats.js';
import type { ShareLog } from '../stats/sharelog.js';
import type { Client } from './client.js';

export interface StratifierOptions {
  /** where work comes from: the Generator (bitcoinds), or an upstream pool */
  generator: WorkSource;
  /** the connector whose miners this stratifier serves (more can be attached later) */
  server?: StratumServer;
  /** pool-wide accounting: the PoolStats itself, or a worker thread's forwarder to it */
  stats?: StatsSink | null;
  shareLog?: ShareLog | null;
  /** -B: usernames are payout addresses */
  solo: boolean;
  mindiff: number;
  startdiff: number;
  highdiff: number;
  /** 0 = none */
  maxdiff: number;
  /** total extranonce1 bytes per client (prefix included) */
  nonce1length: number;
  nonce2length: number;
  /**
   * A fixed leading part of every client's extranonce1 (hex), e.g. an upstream pool's
   * extranonce1 in the proxy modes; the rest (nonce1length minus its length) is
   * allocated per client. With nothing left, one client at a time.
   */
  enonce1Prefix?: string;
  /**
   * One of `count` stratifiers sharing a pool (worker threads): this one hands out only
   * the extranonce1 values and session ids ≡ `index` (mod `count`), so every miner of the
   * pool still has its own extranonce1 (and duplicate checks stay exact per thread).
   */
  enonce1Slot?: { index: number; count: number };
  versionMask: number;
  /** seconds; also the get_txnhashes rate limit */
  updateInterval: number;
  /** for show messages, e.g. "ckpool-ts" or the instance name */
  poolName?: string;
  /** serverurl entries, for the share log's createinet */
  serverUrls?: string[];
  authTimeoutMs?: number;
  /**
   * ckpool 1.2's `dropidle` (in ms here): an authorised miner whose last counted share
   * (accepted, or stale but good), or its connection if it has sent none, is older than
   * this is disconnected. 0 or absent: never. Checked by the one client sweep.
   */
  dropIdleMs?: number;
  /**
   * Invalid submits in a row (no good share between) after which a client is dropped
   * at once as a flood; default 500. Load generators that send random shares on
   * purpose (ckpool-bench) need it raised.
   */
  invalidBurst?: number;
  /**
   * Told when a disconnected miner's session is remembered or resumed, so the other
   * stratifiers of one pool (worker threads) can mirror the table with sessionSaved /
   * sessionTaken: a miner may reconnect to any of them and still resume.
   */
  sessionEvents?: { saved(id: string, entry: SessionEntry): void; taken(id: string): void };
  logger?: Logger;
}

/** A disconnected miner's session, kept 10 minutes for resumption (ckpool). */
export interface SessionEntry {
  enonce1Hex: string;
  at: number;
}

export interface StratifierEvents {
  /** a share was judged (tests and the control API listen) */
  share: [client: Client, result: ShareVerdict];
  block: [client: Client, result: BlockSubmission];
  /** clean work (a new tip) was queued to every miner of this stratifier (metrics) */
  fanout: [info: FanoutInfo];
}

/** A block change's notify fan-out on one stratifier (the 'fanout' event). */
export interface FanoutInfo {
  /** the workbase's seq */
  seq: number;
  /** miners sent the clean job */
  miners: number;
  /** ms from the workbase's creation (template in hand) to the last miner's notify queued */
  ms: number;
}

/** What the stratifier decided about one submit (the 'share' event). */
export interface ShareVerdict {
  accepted: boolean;
  /** ckpool's reject-reason, null when accepted */
  reason: string | null;
  /** the share's own difficulty (-1 when it was never hashed) */
  sdiff: number;
  /** the difficulty it was judged and credited at */
  diff: number;
  /** block hash, display order ('' when never hashed) */
  hash: string;
  /**
   * The submit as the pool understood it (absent for an unknown job): what a proxy
   * forwards upstream. `flags` are the share check's FLAG_* bits (which reading of the
   * version bits it was judged on: see native/share.ts headerVersion).
   */
  work?: { wb: Workbase; nonce2: string; ntime: string; nonce: string; versionBits: number; flags: number };
}
