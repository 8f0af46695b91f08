/**
 * A raw transaction's txid, computed from its bytes: sha256d of the serialisation
 * without witness data (BIP144: drop the marker, the flag and the witness stacks).
 *
 * Node links need it because the two pools disagree on what they call a transaction's
 * `hash`: ckpool 0.9.9 keys its `transactions` messages by the template's `hash` (the
 * wtxid), but lists blocks by txid (`txn_hashes`), so a node that believed the key
 * would miss every segwit transaction. Hashing the data itself needs no trust in either.
 */
import { ckError } from '../errors.js';
import { sha256d, toDisplayHex } from '../native/core.js';

/** Bytes of a Bitcoin CompactSize at `off`: [value, length]; throws past the end. */
function compactSize(b: Buffer, off: number): [number, number] {
  const first = b[off];
  if (first === undefined) throw new RangeError('truncated');
  if (first < 0xfd) return [first, 1];
  if (first === 0xfd) return [b.readUInt16LE(off + 1), 3];
  if (first === 0xfe) return [b.readUInt32LE(off + 1), 5];
  const n = b.readBigUInt64LE(off + 1);
  if (n > BigInt(b.length)) throw new RangeError('count larger than the transaction');
  return [Number(n), 9];
}

/**
 * The txid (display order hex) of a raw transaction. Throws CKP_ERR_HEX for data that
 * is not a whole transaction (truncated, trailing bytes, bad hex).
 */
export function txidOf(raw: Buffer | string): string {
  const b = typeof raw === 'string' ? Buffer.from(raw, 'hex') : raw;
  if (typeof raw === 'string' && (raw.length !== 2 * b.length || raw.length === 0)) throw ckError('CKP_ERR_HEX', 'transaction', 'not a whole number of hex bytes');
  try {
    let off = 4;
    const segwit = b[4] === 0 && b[5] === 1;
    if (segwit) off += 2;
    const inputsStart = off;
    const [nin, l1] = compactSize(b, off);
    off += l1;
    for (let i = 0; i < nin; i++) {
      off += 36; // outpoint
      const [len, l] = compactSize(b, off);
      off += l + len + 4; // script, sequence
    }
    const [nout, l2] = compactSize(b, off);
    off += l2;
    for (let i = 0; i < nout; i++) {
      off += 8; // value
      const [len, l] = compactSize(b, off);
      off += l + len;
    }
    const outputsEnd = off;
    if (segwit) {
      for (let i = 0; i < nin; i++) {
        const [items, l] = compactSize(b, off);
        off += l;
        for (let j = 0; j < items; j++) {
          const [len, li] = compactSize(b, off);
          off += li + len;
        }
      }
    }
    off += 4; // lock time
    if (off !== b.length) throw new RangeError(off > b.length ? 'truncated' : `${b.length - off} bytes after the lock time`);
    const stripped = segwit ? Buffer.concat([b.subarray(0, 4), b.subarray(inputsStart, outputsEnd), b.subarray(off - 4, off)]) : b;
    return toDisplayHex(sha256d(stripped));
  } catch (e) {
    if (e instanceof RangeError) throw ckError('CKP_ERR_HEX', 'transaction', e.message);
    throw e;
  }
}
