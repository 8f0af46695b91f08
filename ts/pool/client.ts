/**
 * Per-miner state kept by the stratifier (ckpool's stratum_instance). Small on
 * purpose: thousands of idle clients must stay cheap.
 */
import type { StratumConnection } from '../stratum/server.js';
import type { VardiffState } from './vardiff.js';

export interface Client {
  readonly conn: StratumConnection;
  readonly id: number;
  /** subscription/session id (8 hex) */
  sessionId: string;
  enonce1: Buffer | null;
  enonce1Hex: string;
  agent: string;
  subscribed: boolean;
  authorised: boolean;
  /** full worker name as given (user.worker) */
  workername: string;
  username: string;
  /** solo mode: the user's payout script */
  script: Buffer | null;
  /** negotiated BIP310 mask (pool mask until mining.configure) */
  versionMask: number;
  vd: VardiffState;
  /** newest workbase seq this client was sent */
  lastSentSeq: number;
  /** time of the first invalid submit since the last good one (0 = none), and the step reached */
  invalidSince: number;
  invalidStep: number;
  /** invalid submits since the last good share */
  invalidRun: number;
  /** rate limit for get_transactions / get_txnhashes */
  lastTxnRequest: number;
  bestDiff: number;
  /** accepted shares and diff, for tests and the control API */
  accepted: number;
  rejected: number;
}
