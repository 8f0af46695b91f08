/**
 * The stratifier's share pipeline, minus the verdicts: reading a mining.submit's params,
 * and batching the shares of each native checker so that all of them are hashed in one
 * native call at the end of the current I/O turn (or as soon as a batch is full).
 * The verdicts, vardiff and the block path stay with the stratifier (they need its
 * clients and its work source).
 */
import type { ShareBatch, ShareChecker, ShareInput } from '../native/share.js';
import type { CoinbaseParts } from '../native/core.js';
import type { ShareLogEntry } from '../stats/sharelog.js';
import type { Client } from './client.js';
import type { Job } from './jobs.js';
import { ERRN, Reject, isHex, type RejectKind } from './protocol.js';

/** A submit waiting in a batch for its hash. */
export interface Pending {
  client: Client;
  id: unknown;
  job: Job;
  parts: CoinbaseParts;
  /** its record in the batch */
  index: number;
  en2: Buffer;
  ntime: number;
  nonce: number;
  vbits: number;
  diff: number;
  stale: boolean;
  nonce2Hex: string;
  ntimeHex: string;
  nonceHex: string;
}

/** A submit's fields as sent (hex as the miner wrote them), once its shape is right. */
export interface SubmitFields {
  jobId: string;
  nonce2: string;
  ntimeHex: string;
  nonceHex: string;
  vbits: number;
}

/**
 * Shares checked per native call. A batch runs as soon as it is full (and otherwise once
 * the event loop has read every ready socket), and its replies go out at the end of that
 * callback. Small batches keep replies flowing while the loop is still reading: with
 * 1000 miners at one share in flight each, 32 instead of 256 took the p99 latency from
 * ~2× the mean to ~1.5× (BENCHMARKS.md), and the native call costs little over 32 shares.
 */
export const BATCH = 32;

/**
 * The shape checks of mining.submit params (ckpool's order and messages). Returns the
 * fields, or the error message for the miner.
 */
export function parseSubmit(params: unknown, workername: string): SubmitFields | string {
  if (!Array.isArray(params)) return 'Params not array';
  if (params.length < 5) return 'Invalid array size';
  const [worker, jobId, nonce2, ntimeHex, nonceHex, vbitsHex] = params as unknown[];
  if (typeof worker !== 'string' || !worker) return 'No username';
  if (worker !== workername) return 'Worker mismatch';
  if (typeof jobId !== 'string' || !jobId) return 'No job_id';
  if (!isHex(nonce2)) return 'No nonce2';
  if (!isHex(ntimeHex) || ntimeHex.length !== 8) return 'No ntime';
  if (!isHex(nonceHex) || nonceHex.length !== 8) return 'No nonce';
  let vbits = 0;
  if (vbitsHex !== undefined && vbitsHex !== null) {
    if (!isHex(vbitsHex) || vbitsHex.length > 8) return 'Invalid version mask';
    vbits = parseInt(vbitsHex, 16) >>> 0;
  }
  return { jobId, nonce2, ntimeHex, nonceHex, vbits };
}

/**
 * ckpool normalises extranonce2 to exactly nonce2length bytes: longer is truncated,
 * shorter right-padded with zeros. Lower case; may still be of odd length (the caller
 * rejects that).
 */
export function normaliseNonce2(nonce2: string, nonce2length: number): string {
  const n2len = nonce2length * 2;
  return (nonce2.length >= n2len ? nonce2.slice(0, n2len) : nonce2 + '0'.repeat(n2len - nonce2.length)).toLowerCase();
}

/** The share batches of one stratifier, one per checker. */
export class ShareBatcher {
  readonly #batches = new Map<ShareChecker, { batch: ShareBatch; items: Pending[] }>();
  #flushScheduled = false;
  readonly #judge: (checker: ShareChecker, batch: ShareBatch, p: Pending) => void;
  readonly #failed: (items: Pending[], e: Error) => void;

  /**
   * @param judge called for each share of a batch once it is hashed, in submit order
   * @param failed called with a whole batch whose native run threw
   */
  constructor(judge: (checker: ShareChecker, batch: ShareBatch, p: Pending) => void, failed: (items: Pending[], e: Error) => void) {
    this.#judge = judge;
    this.#failed = failed;
  }

  /** Queue a share on its checker's batch; `item` gets the batch index. */
  add(checker: ShareChecker, input: ShareInput, item: Omit<Pending, 'index'>): void {
    let pend = this.#batches.get(checker);
    if (!pend) {
      pend = { batch: checker.batch(BATCH), items: [] };
      this.#batches.set(checker, pend);
    }
    const index = pend.batch.add(input);
    pend.items.push({ ...item, index });
    if (pend.batch.length >= BATCH) this.#run(checker, pend);
    else this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      for (const [checker, pend] of this.#batches) this.#run(checker, pend);
    });
  }

  #run(checker: ShareChecker, pend: { batch: ShareBatch; items: Pending[] }): void {
    this.#batches.delete(checker);
    try {
      pend.batch.run();
    } catch (e) {
      this.#failed(pend.items, e as Error);
      return;
    }
    for (const p of pend.items) this.#judge(checker, pend.batch, p);
  }
}

/** The share log's record of one judged submit (ckpool's sharelog fields). */
export function shareLogEntry(
  workinfoid: number, c: Client, p: Pending | null, raw: { nonce2Hex: string; ntimeHex: string; nonceHex: string } | null,
  kind: RejectKind | null, diff: number, sdiff: number, hash: string, now: number, createinet: string,
): ShareLogEntry {
  const accepted = kind === null;
  const [sec, ms] = [Math.floor(now / 1000), now % 1000];
  return {
    workinfoid,
    clientid: c.id,
    enonce1: c.enonce1Hex,
    nonce2: p?.nonce2Hex ?? raw?.nonce2Hex ?? '',
    nonce: p?.nonceHex ?? raw?.nonceHex ?? '',
    ntime: p?.ntimeHex ?? raw?.ntimeHex ?? '',
    diff,
    sdiff,
    hash,
    result: accepted,
    rejectReason: accepted ? undefined : Reject[kind!].reason,
    errn: ERRN[kind ?? 'VALID'],
    createdate: `${sec},${ms * 1_000_000}`,
    createinet,
    workername: c.workername,
    username: c.username,
    address: c.conn.address,
    agent: c.agent,
  };
}
