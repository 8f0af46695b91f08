/**
 * What the stratifier needs from wherever its work comes from. The Generator (a pool's
 * bitcoinds) is one; the proxy modes' upstream connection will be another.
 */
import type { NetworkName } from '../bitcoin/address.js';
import type { BlockMeta, BlockSubmission } from './generator.js';
import type { Workbase } from './workbase.js';

export interface WorkSource {
  /** the newest workbase (null before the first) */
  readonly current: Workbase | null;
  /** seq of the first workbase on the current tip: jobs below it are stale */
  readonly blockChangeSeq: number;
  /** the chain's network, for solo usernames (null when unknown) */
  readonly network: NetworkName | null;
  /** a kept workbase by stratum job id */
  workbase(jobId: string): Workbase | undefined;
  /** a solved block: submit it (never throws) */
  submitBlock(wb: Workbase, header: Buffer, coinbaseLegacy: Buffer, meta?: BlockMeta): Promise<BlockSubmission>;
  /** payout script of a solo user's address (throws when invalid) */
  scriptForAddress(address: string): Buffer;
  /**
   * The transactions of a workbase that holds none itself (`wb.detached`, on a worker
   * thread): txids (hashesOnly) or raw data, or an error text (e.g. over `maxBytes`).
   */
  transactionsOf?(wb: Workbase, hashesOnly: boolean, maxBytes: number): Promise<string[] | string>;
  /** new work; `clean` when miners must drop older jobs */
  on(event: 'workbase', listener: (wb: Workbase, clean: boolean) => void): unknown;
}
