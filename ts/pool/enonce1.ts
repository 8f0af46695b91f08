/**
 * Extranonce1 and session-id allocation for one stratifier. Every miner of a pool must
 * get its own extranonce1 (otherwise two miners search the same space and the duplicate
 * check would be per thread only), so the stratifiers of one pool (worker threads) each
 * take a residue class (mod the thread count) of both spaces.
 */
import { ckError } from '../errors.js';

/** Which of `count` stratifiers sharing a pool this one is. */
export interface Enonce1Slot {
  index: number;
  count: number;
}

export class Enonce1Allocator {
  /** extranonce1 values (hex) held by a connected client */
  readonly inUse = new Set<string>();
  readonly slot: Enonce1Slot;
  readonly #prefix: string;
  readonly #nonce1length: number;
  #enonce1Counter: bigint;
  #sessionCounter: number;

  /**
   * @param prefix fixed leading hex of every extranonce1 (proxy modes: the upstream's)
   * @param nonce1length total extranonce1 bytes, prefix included
   * @param seed counter start (seconds since the epoch, as ckpool), so a restarted pool
   *   does not hand out the values it just did
   */
  constructor(prefix: string, nonce1length: number, slot: Enonce1Slot | undefined, seed: number) {
    if (!/^([0-9a-f]{2})*$/.test(prefix) || prefix.length / 2 > nonce1length) {
      throw ckError('CKP_ERR_STRATUM_OPTION', 'enonce1Prefix', `lower-case hex of at most nonce1length (${nonce1length}) bytes`, prefix);
    }
    const s = slot ?? { index: 0, count: 1 };
    if (!Number.isInteger(s.count) || s.count < 1 || !Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) {
      throw ckError('CKP_ERR_STRATUM_OPTION', 'enonce1Slot', 'integers with 0 <= index < count', JSON.stringify(s));
    }
    this.slot = s;
    this.#prefix = prefix;
    this.#nonce1length = nonce1length;
    this.#enonce1Counter = BigInt(seed);
    this.#sessionCounter = seed >>> 0;
  }

  /**
   * A free extranonce1: the prefix, then the low bytes of a counter seeded with the start
   * time (little-endian, as ckpool), skipping values in use. Null when the space is full.
   */
  next(): string | null {
    const prefix = this.#prefix;
    const len = this.#nonce1length - prefix.length / 2;
    if (len <= 0) return this.inUse.has(prefix) ? null : prefix;
    const { index, count } = this.slot;
    // this stratifier's share of the space: values v·count + index below 2^(8·len)
    const slots = 2n ** BigInt(8 * len) / BigInt(count);
    if (BigInt(this.inUse.size) >= slots) return null;
    const b = Buffer.alloc(8);
    for (let tries = 0; tries < 4096; tries++) {
      const v = (this.#enonce1Counter++ % slots) * BigInt(count) + BigInt(index);
      b.writeBigUInt64LE(v);
      const hex = prefix + b.subarray(0, len).toString('hex');
      if (!this.inUse.has(hex)) return hex;
    }
    return null;
  }

  /** An extranonce1 this stratifier could have handed out: the prefix, the length, its slot. */
  owns(hex: string): boolean {
    return enonce1SlotIndex(hex, this.#prefix, this.#nonce1length, this.slot.count) === this.slot.index;
  }

  /** 8 hex digits; ≡ slot index (mod slot count), so threads of one pool never share one */
  newSessionId(): string {
    const { index, count } = this.slot;
    // the counter picks the k-th value of this residue class (k·count + index < 2^32)
    const v = (this.#sessionCounter++ % Math.floor(2 ** 32 / count)) * count + index;
    return v.toString(16).padStart(8, '0');
  }

  /** A session id (8 lower-case hex) this stratifier could have made. */
  ownsSessionId(sid: string): boolean {
    return /^[0-9a-f]{8}$/.test(sid) && parseInt(sid, 16) % this.slot.count === this.slot.index;
  }
}

/**
 * The slot (worker thread) an extranonce1 of this layout belongs to, as the allocator
 * hands them out (the value after the prefix, little-endian, mod the slot count), or -1
 * when it is not of this layout (length, prefix, hex digits).
 */
export function enonce1SlotIndex(hex: string, prefix: string, nonce1length: number, count: number): number {
  if (hex.length !== nonce1length * 2 || !hex.startsWith(prefix) || !/^[0-9a-f]*$/.test(hex)) return -1;
  const b = Buffer.alloc(8);
  Buffer.from(hex.slice(prefix.length), 'hex').copy(b);
  return Number(b.readBigUInt64LE() % BigInt(count));
}
