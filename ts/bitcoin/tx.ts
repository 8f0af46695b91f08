/**
 * A raw transaction's txid, computed from its bytes: sha256d of the serialisation
 * without witness data (BIP144), decoded with @scure/btc-signer's raw-transaction codec.
 *
 * Node links need it because the two pools disagree on what they call a transaction's
 * `hash`: ckpool 0.9.9 keys its `transactions` messages by the template's `hash` (the
 * wtxid), but lists blocks by txid (`txn_hashes`), so a node that believed the key
 * would miss every segwit transaction. Hashing the data itself needs no trust in either.
 */
import { RawTx } from '@scure/btc-signer';
import { ckError } from '../errors.js';
import { sha256d, toDisplayHex } from '../native/core.js';

/**
 * The txid (display order hex) of a raw transaction. Throws CKP_ERR_HEX for data that
 * is not a whole transaction (truncated, trailing bytes, bad hex).
 */
export function txidOf(raw: Buffer | string): string {
  const b = typeof raw === 'string' ? Buffer.from(raw, 'hex') : raw;
  if (typeof raw === 'string' && (raw.length !== 2 * b.length || raw.length === 0)) throw ckError('CKP_ERR_HEX', 'transaction', 'not a whole number of hex bytes');
  let tx;
  try {
    tx = RawTx.decode(b); // whole input or it throws (trailing bytes included)
  } catch (e) {
    throw ckError('CKP_ERR_HEX', 'transaction', (e as Error).message);
  }
  if (!tx.segwitFlag) return toDisplayHex(sha256d(b));
  // the legacy serialisation: no marker/flag, no witnesses
  return toDisplayHex(sha256d(Buffer.from(RawTx.encode({ ...tx, segwitFlag: false, witnesses: undefined }))));
}
