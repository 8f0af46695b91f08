/**
 * A workbase: one block template turned into everything the stratum side needs —
 * coinbase halves around the extranonce, the merkle branch, header fields, targets,
 * and the data to assemble a solved block. Built once per template (ckpool's
 * stratifier.c:add_base / generate_coinbase), never per share.
 *
 * Job ids: `seq` is a pool-wide counter; the stratum job id is
 * `<pool start time, 8 hex><seq, 8 hex>` like ckpool's. A share's job is stale when
 * its seq is below the seq of the first workbase on the current tip — one integer
 * comparison.
 */
import { ckError } from '../errors.js';
import {
  buildCoinbase, difficultyFromNbits, fromDisplayHex, fromHex, hex32, merkleBranch, prevhashFromStratum, stratumPrevhash,
  targetFromNbits, toDisplayHex, witnessCommitment, type CoinbaseParts, type PayoutOutput,
} from '../native/core.js';
import type { BlockTemplate } from '../node/rpc-types.js';
import { templateHashes, templateTxData, templateTxids, templateWithoutTransactions } from '../node/template-reader.js';

/** The pool's tag in every coinbase scriptSig, after the extranonce. */
export const POOL_TAG = 'ckpool-ts';

export interface Payout {
  /** scriptPubKey of the pool payout; null in solo mode (each user's address is used) */
  script: Buffer | null;
  /** donation as a percentage of coinbasevalue (0 = none), with its script */
  donationPercent?: number;
  donationScript?: Buffer;
}

export interface WorkbaseOptions {
  template: BlockTemplate;
  seq: number;
  /** Unix time the pool started: the high half of every job id. */
  epoch: number;
  payout: Payout;
  btcsig?: string;
  nonce1length: number;
  nonce2length: number;
  /** Per-workbase randomiser pushed into the coinbase (ckpool: nanoseconds). */
  coinbaseNonce?: number;
}

/**
 * A job received over stratum (an upstream pool's mining.notify) rather than built from
 * a template: the coinbase halves, branch and header fields are taken as given. Used by
 * the proxy modes, and to replay recorded jobs.
 */
export interface StratumJobOptions {
  /** the 9 mining.notify params: job id, prevhash, coinb1, coinb2, branch, version, nbits, ntime, clean */
  notify: readonly unknown[];
  seq: number;
  epoch: number;
  nonce1length: number;
  nonce2length: number;
}

/**
 * Everything a worker thread needs to serve a workbase built elsewhere (ts/pool/workers.ts):
 * the template without its transactions, the computed branch, commitment and coinbase
 * inputs. Plain data, so it crosses postMessage cheaply; a 4000-transaction template's
 * snapshot is a few kilobytes. The transactions stay with the generator, which answers
 * get_transactions and assembles solved blocks.
 */
export interface WorkbaseSnapshot {
  seq: number;
  epoch: number;
  template: BlockTemplate;
  txCount: number;
  branchHex: string[];
  witnessCommitment: string | null;
  coinbaseNonce: number;
  payout: { script: string | null; donationPercent?: number; donationScript?: string };
  btcsig?: string;
  nonce1length: number;
  nonce2length: number;
  createdAt: number;
}

export interface PayoutSplit {
  pool: number;
  donation: number;
}

/** Donation amount the way ckpool computes it: floor(value / 100 × percent). */
export function splitPayout(coinbasevalue: number, donationPercent = 0): PayoutSplit {
  const donation = donationPercent > 0 ? Math.floor((coinbasevalue / 100) * donationPercent) : 0;
  return { pool: coinbasevalue - donation, donation };
}

function checkTemplate(t: BlockTemplate): void {
  const bad = (what: string) => ckError('CKP_ERR_WORK_TEMPLATE', what);
  if (!t || typeof t !== 'object') throw bad('not an object');
  if (!/^[0-9a-fA-F]{64}$/.test(t.previousblockhash ?? '')) throw bad('previousblockhash missing or not 64 hex digits');
  if (!/^[0-9a-fA-F]{8}$/.test(t.bits ?? '')) throw bad('bits missing or not 8 hex digits');
  for (const k of ['height', 'curtime', 'version', 'coinbasevalue'] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 0) throw bad(`${k} missing or not a non-negative integer`);
  }
  // ckpool drops a template without coinbaseaux; Core 31 sends {}. Accept a missing one as {}.
  if (t.rules !== undefined && (!Array.isArray(t.rules) || !t.rules.every((r) => typeof r === 'string'))) {
    throw bad('rules not an array of strings');
  }
  for (const rule of t.rules ?? []) {
    if (rule.startsWith('!') && rule !== '!segwit') throw bad(`required rule not understood: ${rule}`);
  }
  // read natively: every transaction was checked there, and reading them here would
  // build the objects the native reader exists to avoid
  if (templateHashes(t)) return;
  if (!Array.isArray(t.transactions)) throw bad('transactions missing');
  // the txid/wtxid hex is validated where it is decoded (displayHashes)
  for (let i = 0; i < t.transactions.length; i++) {
    const tx = t.transactions[i];
    if (typeof tx?.data !== 'string' || (tx.txid ?? tx.hash) === undefined) throw bad(`transactions[${i}] lacks data or txid`);
  }
}

/** WorkbaseOptions rebuilt from a snapshot: the computed parts come along. */
interface DetachedOptions extends WorkbaseOptions {
  detached: { txCount: number; branchHex: string[]; witnessCommitment: string | null; createdAt: number };
}

/**
 * Every transaction's txid (or wtxid: 'hash') from display hex into one buffer in
 * internal byte order, for the native merkle and commitment calls. One allocation for
 * all of them: on the block-change path, 8000 small Buffers cost more than the hashing.
 */
function displayHashes(txs: BlockTemplate['transactions'], field: 'txid' | 'hash'): Buffer {
  const out = Buffer.allocUnsafe(32 * txs.length);
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]!;
    const hex = field === 'txid' ? (tx.txid ?? tx.hash) : (tx.hash ?? tx.txid);
    const off = 32 * i;
    // write() stops at the first non-hex pair: short means malformed
    if (typeof hex !== 'string' || hex.length !== 64 || out.write(hex, off, 32, 'hex') !== 32) {
      throw ckError('CKP_ERR_WORK_TEMPLATE', `transactions[${i}].${field} is not 64 hex digits`);
    }
    out.subarray(off, off + 32).reverse();
  }
  return out;
}

export class Workbase {
  readonly seq: number;
  readonly jobId: string;
  readonly template: BlockTemplate;
  readonly height: number;
  /** RPC display order */
  readonly prevhash: string;
  /** mining.notify order (word-swapped) */
  readonly stratumPrevhash: string;
  readonly version: number;
  readonly nbits: number;
  readonly ntime: number;
  /** network target, little-endian 32 bytes; and its difficulty (not clamped) */
  readonly networkTarget: Buffer;
  readonly networkDiff: number;
  readonly coinbasevalue: number;
  readonly split: PayoutSplit;
  readonly witnessCommitment: Buffer | null;
  /** merkle branch, internal order */
  readonly branch: Buffer[];
  readonly branchHex: string[];
  readonly coinb1: Buffer;
  readonly coinb2: Buffer;
  readonly nonce1length: number;
  readonly nonce2length: number;
  readonly createdAt: number;
  /** where the job came from: a node's block template, or an upstream stratum notify */
  readonly source: 'template' | 'stratum';
  /** a snapshot of a workbase built on another thread: no transaction data here */
  readonly detached: boolean;
  readonly #txCount: number;
  readonly #epoch: number;
  readonly #opts: WorkbaseOptions | null;
  readonly #coinbaseNonce: number;
  /** Solo mode: coinbase halves per payout script, made on first use. */
  readonly #perScript = new Map<string, CoinbaseParts>();

  constructor(opts: WorkbaseOptions | StratumJobOptions | { snapshot: WorkbaseSnapshot }) {
    if ('snapshot' in opts) opts = Workbase.#fromSnapshot(opts.snapshot);
    this.#epoch = opts.epoch;
    this.detached = 'detached' in opts;
    this.seq = opts.seq;
    this.jobId = (opts.epoch >>> 0).toString(16).padStart(8, '0') + (opts.seq >>> 0).toString(16).padStart(8, '0');
    this.nonce1length = opts.nonce1length;
    this.nonce2length = opts.nonce2length;
    this.createdAt = Date.now();
    if ('notify' in opts) {
      // ---- a job from upstream: everything as the notify gives it
      const n = opts.notify;
      if (!Array.isArray(n) || n.length < 8 || !Array.isArray(n[4])) throw ckError('CKP_ERR_WORK_TEMPLATE', 'notify params must be the 9-element mining.notify list');
      this.source = 'stratum';
      this.#opts = null;
      this.#coinbaseNonce = 0;
      this.stratumPrevhash = fromHex('prevhash', n[1], 32).toString('hex');
      this.prevhash = toDisplayHex(prevhashFromStratum(this.stratumPrevhash));
      this.coinb1 = fromHex('coinb1', n[2]);
      this.coinb2 = fromHex('coinb2', n[3]);
      this.branch = (n[4] as unknown[]).map((b, i) => fromHex(`merkle_branch[${i}]`, b, 32));
      this.branchHex = this.branch.map((b) => b.toString('hex'));
      this.version = hex32('version', n[5]);
      this.nbits = hex32('nbits', n[6]);
      this.ntime = hex32('ntime', n[7]);
      this.height = 0;
      this.coinbasevalue = 0;
      this.split = { pool: 0, donation: 0 };
      this.witnessCommitment = null; // already inside coinb2 if there is one
      this.template = {
        version: this.version, rules: [], previousblockhash: this.prevhash, transactions: [], coinbaseaux: {},
        coinbasevalue: 0, target: '', mintime: 0, mutable: [], noncerange: '', sigoplimit: 0, sizelimit: 0,
        curtime: this.ntime, bits: (n[6] as string).toLowerCase(), height: 0,
      };
      this.networkTarget = targetFromNbits(this.nbits);
      this.networkDiff = difficultyFromNbits(this.nbits);
      this.#txCount = 0;
      return;
    }
    const t = opts.template;
    const detached = (opts as DetachedOptions).detached;
    if (!detached) checkTemplate(t);
    this.source = 'template';
    const hashes = detached ? undefined : templateHashes(t);
    this.#txCount = detached ? detached.txCount : hashes ? hashes.count : t.transactions.length;
    this.#opts = opts;
    this.template = t;
    this.height = t.height;
    this.prevhash = t.previousblockhash.toLowerCase();
    this.stratumPrevhash = stratumPrevhash(this.prevhash);
    this.version = t.version >>> 0;
    this.nbits = parseInt(t.bits, 16) >>> 0;
    this.ntime = t.curtime >>> 0;
    this.networkTarget = targetFromNbits(this.nbits);
    this.networkDiff = difficultyFromNbits(this.nbits);
    this.coinbasevalue = t.coinbasevalue;
    this.#coinbaseNonce = opts.coinbaseNonce ?? (Number(process.hrtime.bigint() % 0xffffffffn) >>> 0);
    if (detached) {
      // built and checked on the generator's thread: take its results as they are
      this.createdAt = detached.createdAt;
      this.branchHex = detached.branchHex;
      this.branch = detached.branchHex.map((h) => Buffer.from(h, 'hex'));
      this.witnessCommitment = detached.witnessCommitment ? Buffer.from(detached.witnessCommitment, 'hex') : null;
      this.split = splitPayout(this.coinbasevalue, opts.payout.donationScript ? opts.payout.donationPercent : 0);
      const own = opts.payout.script ? this.coinbaseFor(opts.payout.script) : null;
      this.coinb1 = own?.coinb1 ?? Buffer.alloc(0);
      this.coinb2 = own?.coinb2 ?? Buffer.alloc(0);
      return;
    }

    const txids = hashes ? hashes.txids : displayHashes(t.transactions, 'txid');
    this.branch = merkleBranch(txids);
    this.branchHex = this.branch.map((b) => b.toString('hex'));

    // Only commit when the node does (segwit active); compute it ourselves from the
    // wtxids and insist it matches, as a guard against a template we misread.
    this.witnessCommitment = null;
    // bcoin sends default_witness_commitment even before segwit activates (when a
    // committed block is rejected as unexpected-witness), so the rules decide.
    const segwit = (t.rules ?? []).some((r) => r === 'segwit' || r === '!segwit');
    if (segwit && t.default_witness_commitment) {
      const wtxids = hashes ? hashes.wtxids : displayHashes(t.transactions, 'hash');
      const ours = witnessCommitment(wtxids);
      const theirs = t.default_witness_commitment.toLowerCase();
      if (theirs !== '6a24aa21a9ed' + ours.toString('hex')) {
        throw ckError('CKP_ERR_WORK_TEMPLATE', `witness commitment mismatch: node ${theirs}, computed ${ours.toString('hex')}`);
      }
      this.witnessCommitment = ours;
    }

    this.split = splitPayout(this.coinbasevalue, opts.payout.donationScript ? opts.payout.donationPercent : 0);
    const parts = opts.payout.script ? this.coinbaseFor(opts.payout.script) : null;
    this.coinb1 = parts?.coinb1 ?? Buffer.alloc(0);
    this.coinb2 = parts?.coinb2 ?? Buffer.alloc(0);
  }

  get txCount(): number {
    return this.#txCount;
  }

  /** This workbase as plain data for a worker thread (template workbases only). */
  snapshot(): WorkbaseSnapshot {
    if (!this.#opts) throw ckError('CKP_ERR_WORK_TEMPLATE', 'only a workbase built from a block template can be shared with workers');
    const { payout } = this.#opts;
    return {
      seq: this.seq,
      epoch: this.#epoch,
      template: templateWithoutTransactions(this.template),
      txCount: this.#txCount,
      branchHex: this.branchHex,
      witnessCommitment: this.witnessCommitment?.toString('hex') ?? null,
      coinbaseNonce: this.#coinbaseNonce,
      payout: {
        script: payout.script?.toString('hex') ?? null,
        donationPercent: payout.donationPercent,
        donationScript: payout.donationScript?.toString('hex'),
      },
      btcsig: this.#opts.btcsig,
      nonce1length: this.nonce1length,
      nonce2length: this.nonce2length,
      createdAt: this.createdAt,
    };
  }

  static #fromSnapshot(s: WorkbaseSnapshot): DetachedOptions {
    return {
      template: s.template, seq: s.seq, epoch: s.epoch, btcsig: s.btcsig, nonce1length: s.nonce1length,
      nonce2length: s.nonce2length, coinbaseNonce: s.coinbaseNonce,
      payout: {
        script: s.payout.script === null ? null : Buffer.from(s.payout.script, 'hex'),
        donationPercent: s.payout.donationPercent,
        donationScript: s.payout.donationScript === undefined ? undefined : Buffer.from(s.payout.donationScript, 'hex'),
      },
      detached: { txCount: s.txCount, branchHex: s.branchHex, witnessCommitment: s.witnessCommitment, createdAt: s.createdAt },
    };
  }

  /** Coinbase halves paying `script` (the pool's, or a solo miner's address). */
  coinbaseFor(script: Buffer): CoinbaseParts {
    const key = script.toString('hex');
    let parts = this.#perScript.get(key);
    if (parts) return parts;
    if (!this.#opts) throw ckError('CKP_ERR_WORK_TEMPLATE', 'a job from upstream has only its own coinbase; it cannot pay another address');
    const { payout } = this.#opts;
    const outputs: PayoutOutput[] = [{ script, value: this.split.pool }];
    if (this.split.donation > 0 && payout.donationScript) outputs.push({ script: payout.donationScript, value: this.split.donation });
    const flags = this.template.coinbaseaux?.flags;
    parts = buildCoinbase({
      height: this.height,
      auxFlags: flags && /^[0-9a-fA-F]*$/.test(flags) && flags.length % 2 === 0 ? Buffer.from(flags, 'hex') : undefined,
      timestamp: this.ntime,
      nonce: this.#coinbaseNonce,
      extranonce1Len: this.nonce1length,
      extranonce2Len: this.nonce2length,
      poolTag: POOL_TAG,
      btcsig: this.#opts.btcsig || undefined,
      outputs,
      witnessCommitment: this.witnessCommitment ?? undefined,
    });
    this.#perScript.set(key, parts);
    return parts;
  }

  /** mining.notify params (coinbase halves for `parts`, default the pool's). */
  notifyParams(clean: boolean, parts: CoinbaseParts = this): unknown[] {
    if (parts.coinb1.length === 0) throw ckError('CKP_ERR_WORK_TEMPLATE', 'solo workbase: pass the user\'s coinbase parts');
    return [
      this.jobId,
      this.stratumPrevhash,
      parts.coinb1.toString('hex'),
      parts.coinb2.toString('hex'),
      this.branchHex,
      this.version.toString(16).padStart(8, '0'),
      this.template.bits.toLowerCase(),
      this.ntime.toString(16).padStart(8, '0'),
      clean,
    ];
  }

  /** Raw transactions, hex, in template order (block assembly, mining.get_transactions). */
  txData(): string[] {
    return templateTxData(this.template);
  }

  /** RPC-order txids (for mining.get_txnhashes). */
  txids(): string[] {
    return templateTxids(this.template);
  }
}
