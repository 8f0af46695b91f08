/**
 * A node's jobs, rebuilt from the pool's ckpool-format workinfo and transactions
 * (./node-wire.ts) — the keys ckpool's own node reads, nothing else, so the same code
 * serves behind a ckpool-ts pool and behind a real ckpool.
 *
 * - TxTable: raw transactions by txid (hashed from the data itself: ckpool keys them by
 *   wtxid, its workinfo lists txids), kept while recent workinfos use them.
 * - buildJob: a Workbase (the shape the share checker and block assembly take) from a
 *   workinfo and its transactions. Its merkle branch is recomputed from the txids and
 *   must equal the `merklehash` sent; when the coinbase carries a witness commitment,
 *   the commitment is recomputed from the transactions and must match too — a job that
 *   could only produce invalid blocks is refused here, loudly, not at submission.
 * - JobTable: jobs by ckpool's integer job id, looked up by the hex job id in a miner's
 *   submit (ckpool's notify job id is that integer in hex, ours zero-padded to 16 digits).
 */
import { ckError } from '../errors.js';
import { prevhashFromStratum, sha256d, toDisplayHex } from '../native/core.js';
import { ShareChecker } from '../native/share.js';
import type { BlockTemplate } from '../node/rpc-types.js';
import { txidOf } from '../bitcoin/tx.js';
import { Workbase } from '../work/workbase.js';
import { hex8 } from './common.js';
import { commitmentIn, displayPrevhash, type NodeWorkinfo } from './node-wire.js';

export interface NodeJob {
  wb: Workbase;
  checker: ShareChecker;
  coinb1: Buffer;
  coinb2: Buffer;
  en1len: number;
  en2len: number;
}

interface TxEntry {
  data: string;
  wtxid: string;
  /** TxTable clock when last used or added */
  used: number;
}

/** Raw transactions by display txid. */
export class TxTable {
  readonly #m = new Map<string, TxEntry>();
  #clock = 0;

  constructor(readonly keepWorkinfos = 64) {}

  get size(): number {
    return this.#m.size;
  }

  /** Add one raw transaction (hex); its txid. Throws CKP_ERR_HEX when it is not one. */
  add(data: string): string {
    const raw = Buffer.from(data, 'hex');
    const txid = txidOf(data);
    const had = this.#m.get(txid);
    if (had) had.used = this.#clock;
    else this.#m.set(txid, { data: data.toLowerCase(), wtxid: toDisplayHex(sha256d(raw)), used: this.#clock });
    return txid;
  }

  has(txid: string): boolean {
    return this.#m.has(txid);
  }

  missing(txids: readonly string[]): string[] {
    return txids.filter((t) => !this.#m.has(t));
  }

  /** The template transactions for `txids` (all present: check missing() first); marks them used. */
  take(txids: readonly string[]): BlockTemplate['transactions'] {
    return txids.map((txid) => {
      const e = this.#m.get(txid);
      if (!e) throw ckError('CKP_ERR_PROXY_PROTOCOL', 'pool', 'workinfo', `transaction ${txid} unknown`);
      e.used = this.#clock;
      return { data: e.data, txid, hash: e.wtxid, depends: [], fee: 0, sigops: 0, weight: 0 };
    });
  }

  /** One workinfo went by: forget transactions no recent one used. */
  tick(): void {
    this.#clock++;
    if (this.#clock % 16 !== 0) return;
    for (const [txid, e] of this.#m) if (e.used < this.#clock - this.keepWorkinfos) this.#m.delete(txid);
  }
}

/** The node's job for a workinfo whose transactions are all at hand. */
export function buildJob(wi: NodeWorkinfo, txs: BlockTemplate['transactions'], versionMask: number): NodeJob {
  const bad = (what: string) => ckError('CKP_ERR_PROXY_PROTOCOL', 'pool', 'workinfo', what);
  if (wi.jobid >= 2n ** 64n) throw bad(`jobid ${wi.jobid} beyond 64 bits`);
  const commitment = commitmentIn(wi.coinb2);
  const template: BlockTemplate = {
    version: wi.version,
    // 'segwit' makes the Workbase recompute the commitment and insist it matches the coinbase's
    rules: commitment ? ['segwit'] : [],
    previousblockhash: displayPrevhash(wi.prevhash),
    transactions: txs,
    coinbaseaux: { flags: wi.flags },
    coinbasevalue: wi.coinbasevalue,
    target: wi.target,
    mintime: 0,
    mutable: [],
    noncerange: '00000000ffffffff',
    sigoplimit: 0,
    sizelimit: 0,
    curtime: wi.ntime,
    bits: hex8(wi.nbits),
    height: wi.height,
    ...(commitment ? { default_witness_commitment: commitment } : {}),
  };
  const wb = new Workbase({
    template, epoch: Number(wi.jobid >> 32n), seq: Number(wi.jobid & 0xffffffffn), payout: { script: null },
    nonce1length: wi.enonce1varlen, nonce2length: wi.enonce2varlen,
  });
  if (wb.branchHex.join(',') !== wi.merklehash.join(',')) throw bad('merklehash is not the merkle branch of txn_hashes');
  const checker = new ShareChecker({
    coinb1: wi.coinb1, coinb2: wi.coinb2, branch: wb.branch, version: wb.version, versionMask,
    prevhash: prevhashFromStratum(wi.prevhash), nbits: wb.nbits, extranonce1Len: wi.enonce1varlen, extranonce2Len: wi.enonce2varlen,
  });
  return { wb, checker, coinb1: wi.coinb1, coinb2: wi.coinb2, en1len: wi.enonce1varlen, en2len: wi.enonce2varlen };
}

const JOB_HEX = /^[0-9a-fA-F]{1,16}$/;

/** Jobs by integer job id, the newest `max` kept. */
export class JobTable {
  readonly #m = new Map<bigint, NodeJob>();

  constructor(readonly max = 64) {}

  get size(): number {
    return this.#m.size;
  }

  /** The job a miner's submit names (hex job id, any zero padding). */
  get(jobIdHex: string): NodeJob | undefined {
    return JOB_HEX.test(jobIdHex) ? this.#m.get(BigInt(`0x${jobIdHex}`)) : undefined;
  }

  has(jobIdHex: string): boolean {
    return this.get(jobIdHex) !== undefined;
  }

  set(jobid: bigint, job: NodeJob): void {
    this.#m.delete(jobid);
    this.#m.set(jobid, job);
    while (this.#m.size > this.max) this.#m.delete(this.#m.keys().next().value!);
  }
}
